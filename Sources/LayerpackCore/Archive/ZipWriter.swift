internal import CLibzip
import Foundation
import Hashing

/// An entry's bytes as the zip stores them, with what the zip's headers and our lock file need.
struct EntryPayload: Sendable {
    enum Method: Sendable { case store, deflate }

    let method: Method
    let crc: UInt32
    let uncompressedSize: Int
    /// The bytes written into the archive: the content itself when stored, raw DEFLATE otherwise.
    let bytes: PayloadBytes
    /// SHA-256 of the uncompressed content.
    let contentDigest: Digest

    init(method: Method, crc: UInt32, uncompressedSize: Int, bytes: PayloadBytes, contentDigest: Digest) {
        self.method = method
        self.crc = crc
        self.uncompressedSize = uncompressedSize
        self.bytes = bytes
        self.contentDigest = contentDigest
    }

    init(method: Method, crc: UInt32, uncompressedSize: Int, bytes: [UInt8], contentDigest: Digest) {
        self.init(method: method, crc: crc, uncompressedSize: uncompressedSize, bytes: PayloadBytes(bytes), contentDigest: contentDigest)
    }
}

/// Writes a zip with libzip from entries whose bytes are already compressed, so libzip only lays out
/// headers and data. Each entry gets a fixed timestamp and a normalised Unix mode, which its source tells
/// libzip when asked (its stat and its file attributes): no call per entry sets them.
///
/// libzip pulls every entry's data when the archive is closed, in the order entries were added; `load`
/// runs then, on the closing thread, with the entry's number (0 for the first added), so only the
/// entry being written has its bytes held by the writer. It writes the archive into a `ZipDestination`,
/// which hashes it on the way.
final class ZipWriter {
    private var archive: OpaquePointer?
    private let destination: ZipDestination
    private let load: (Int) throws -> EntryPayload
    /// Each libzip source's context: this writer and an entry number, in blocks that never move (libzip
    /// holds their addresses).
    private var blocks: [UnsafeMutablePointer<SourceContext>] = []
    private var count = 0
    private static let blockLength = 4096
    // Only libzip's thread touches `current` and `lastClosed`, a call at a time (several per entry): they are
    // not checked for overlapping access on each.
    /// The entry libzip is writing: it opens, reads and closes one entry before it asks for the next.
    @exclusivity(unchecked) private var current: OpenEntry?
    /// The last entry closed, should libzip ask its sizes again.
    @exclusivity(unchecked) private var lastClosed: (number: Int, stat: EntryStat)?
    private var loadError: Error?
    fileprivate var zipError = zip_error_t()

    /// The time of every entry: 1980-01-01 00:00:00 UTC, the earliest a zip can say (in DOS time, date 0x0021
    /// and time 0, which libzip writes from it in UTC).
    static let entryTime = time_t(315_532_800)

    /// Starts a new archive at `path`; nothing is written there until `close()`. Errors name `reportedPath`.
    init(path: String, reportedPath: String? = nil, blockSize: Int = ZipDestination.defaultBlockSize,
         load: @escaping (Int) throws -> EntryPayload) throws {
        // libzip turns DOS times into time_t and back through local time; in UTC that round trip is exact.
        ZipWriter.useUTC()
        destination = ZipDestination(path: path, reportedPath: reportedPath ?? path, blockSize: blockSize)
        self.load = load
        zip_error_init(&zipError)
        var error = zip_error_t()
        zip_error_init(&error)
        defer { zip_error_fini(&error) }
        // The source holds a reference to the destination until libzip frees it.
        let context = Unmanaged.passRetained(destination).toOpaque()
        guard let source = zip_source_function_create(zipDestinationCallback, context, &error) else {
            Unmanaged<ZipDestination>.fromOpaque(context).release()
            throw BuildError.archive(path: destination.reportedPath, reason: String(cString: zip_error_strerror(&error)))
        }
        guard let archive = zip_open_from_source(source, ZIP_CREATE | ZIP_TRUNCATE, &error) else {
            zip_source_free(source)
            throw BuildError.archive(path: destination.reportedPath, reason: String(cString: zip_error_strerror(&error)))
        }
        self.archive = archive
    }

    deinit {
        // libzip lets go of every source when the archive is closed or discarded, before the contexts go.
        if let archive { zip_discard(archive) }
        for block in blocks { block.deallocate() }
        zip_error_fini(&zipError)
    }

    /// Adds the next entry; its payload is asked of `load` when the archive is closed.
    func add(name: String, mode: UInt32, method: EntryPayload.Method) throws {
        guard let archive else { preconditionFailure("entry added to a closed ZipWriter") }
        if count % ZipWriter.blockLength == 0 { blocks.append(.allocate(capacity: ZipWriter.blockLength)) }
        let context = blocks[blocks.count - 1] + count % ZipWriter.blockLength
        context.initialize(to: SourceContext(writer: Unmanaged.passUnretained(self), number: count, mode: mode))
        count += 1
        guard let source = zip_source_function(archive, entrySourceCallback, context) else { throw failure(archive) }
        let index = name.withCString { zip_file_add(archive, $0, source, zip_flags_t(ZIP_FL_ENC_UTF_8)) }
        guard index >= 0 else {
            zip_source_free(source)
            throw failure(archive)
        }
        // A stored entry must say so, or libzip would deflate it; a deflated one is passed through as is, its
        // method taken from the source's stat.
        if method == .store, zip_set_file_compression(archive, zip_uint64_t(index), ZIP_CM_STORE, 0) != 0 { throw failure(archive) }
    }

    /// Writes the archive and returns its SHA-256 and size, taken as it was written.
    func close() throws -> (digest: Digest, size: Int64) {
        guard let archive else { preconditionFailure("ZipWriter closed twice") }
        self.archive = nil
        let closed = zip_close(archive) == 0
        if !closed {
            let error = loadError ?? destination.failure ?? failure(archive)
            zip_discard(archive)
            throw error
        }
        // libzip writes nothing for an archive without entries.
        guard let written = destination.written else {
            throw BuildError.archive(path: destination.reportedPath, reason: "it has no entries")
        }
        return written
    }

    private func failure(_ archive: OpaquePointer) -> BuildError {
        BuildError.archive(path: destination.reportedPath, reason: String(cString: zip_error_strerror(zip_get_error(archive))))
    }

    private static let utc: Void = {
        setenv("TZ", "UTC", 1)
        tzset()
    }()

    static func useUTC() { _ = utc }

    /// Entry `number`'s sizes, method and CRC, its payload loaded if it is not yet.
    fileprivate func stat(_ number: Int) -> EntryStat? {
        if let lastClosed, lastClosed.number == number { return lastClosed.stat }
        return entry(number)?.stat
    }

    /// Entry `number`, its payload loaded the first time libzip asks for it.
    fileprivate func entry(_ number: Int) -> OpenEntry? {
        if let current, current.number == number { return current }
        // Entries come one at a time and in order (the payloads are loaded so).
        guard current == nil, number > (lastClosed?.number ?? -1) else {
            zip_error_set(&zipError, ZIP_ER_INTERNAL, 0)
            return nil
        }
        do {
            let entry = OpenEntry(number: number, payload: try load(number))
            current = entry
            return entry
        } catch {
            loadError = loadError ?? error
            zip_error_set(&zipError, ZIP_ER_READ, 0)
            return nil
        }
    }

    /// Loads entry `number` if need be, to be read from its first byte.
    fileprivate func startReading(_ number: Int) -> Bool {
        guard let entry = entry(number) else { return false }
        entry.offset = 0
        return true
    }

    /// Copies up to `length` more bytes of entry `number` to `data`; how many, or nil on an error.
    fileprivate func read(_ number: Int, into data: UnsafeMutableRawPointer, length: Int) -> Int? {
        entry(number)?.read(into: data, length: length)
    }

    /// Lets go of entry `number`'s bytes.
    fileprivate func release(_ number: Int) {
        guard let current, current.number == number else { return }
        lastClosed = (number, current.stat)
        self.current = nil
    }
}

/// What libzip asks a source for besides its bytes.
private typealias EntryStat = (method: EntryPayload.Method, crc: UInt32, size: Int, compressedSize: Int)

/// An entry whose payload libzip is reading.
private final class OpenEntry {
    let number: Int
    let payload: EntryPayload
    /// Where the next read starts (libzip's thread alone reads it).
    @exclusivity(unchecked) var offset = 0

    init(number: Int, payload: EntryPayload) {
        self.number = number
        self.payload = payload
    }

    var stat: EntryStat { (payload.method, payload.crc, payload.uncompressedSize, payload.bytes.count) }

    /// Copies up to `length` more bytes to `data`; how many.
    func read(into data: UnsafeMutableRawPointer, length: Int) -> Int {
        let count = min(length, payload.bytes.count - offset)
        guard count > 0 else { return 0 }
        payload.bytes.withUnsafeBytes { data.copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
        offset += count
        return count
    }
}

/// A libzip source's context.
private struct SourceContext {
    let writer: Unmanaged<ZipWriter>
    let number: Int
    let mode: UInt32
}

private let supportedCommands: zip_int64_t = [ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                              ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_SUPPORTS, ZIP_SOURCE_GET_FILE_ATTRIBUTES]
    .reduce(0) { $0 | (zip_int64_t(1) << zip_int64_t($1.rawValue)) }

private let entrySourceCallback: zip_source_callback = { context, data, length, command in
    let source = context!.assumingMemoryBound(to: SourceContext.self).pointee
    // The writer outlives its sources: no reference is taken per call (several per entry).
    return source.writer._withUnsafeGuaranteedRef { writer in entryCommand(writer, source, data, length, command) }
}

private func entryCommand(_ writer: ZipWriter, _ source: SourceContext, _ data: UnsafeMutableRawPointer?, _ length: zip_uint64_t,
                          _ command: zip_source_cmd_t) -> zip_int64_t {
    let number = source.number
    switch command {
    case ZIP_SOURCE_SUPPORTS:
        return supportedCommands
    case ZIP_SOURCE_STAT:
        guard let stat = writer.stat(number), let data else { return -1 }
        let out = data.assumingMemoryBound(to: zip_stat_t.self)
        zip_stat_init(out)
        out.pointee.valid = zip_uint64_t(ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC | ZIP_STAT_MTIME)
        out.pointee.size = zip_uint64_t(stat.size)
        out.pointee.comp_size = zip_uint64_t(stat.compressedSize)
        out.pointee.comp_method = zip_uint16_t(stat.method == .store ? ZIP_CM_STORE : ZIP_CM_DEFLATE)
        out.pointee.crc = stat.crc
        out.pointee.mtime = ZipWriter.entryTime
        return zip_int64_t(MemoryLayout<zip_stat_t>.size)
    case ZIP_SOURCE_GET_FILE_ATTRIBUTES:
        guard let data, length >= MemoryLayout<zip_file_attributes_t>.size else {
            zip_error_set(&writer.zipError, ZIP_ER_INVAL, 0)
            return -1
        }
        let out = data.assumingMemoryBound(to: zip_file_attributes_t.self)
        out.pointee.valid |= zip_uint64_t(ZIP_FILE_ATTRIBUTES_HOST_SYSTEM | ZIP_FILE_ATTRIBUTES_EXTERNAL_FILE_ATTRIBUTES)
        out.pointee.host_system = zip_uint8_t(ZIP_OPSYS_UNIX)
        out.pointee.external_file_attributes = source.mode << 16
        return 0
    case ZIP_SOURCE_OPEN:
        return writer.startReading(number) ? 0 : -1
    case ZIP_SOURCE_READ:
        guard let data else {
            zip_error_set(&writer.zipError, ZIP_ER_INTERNAL, 0)
            return -1
        }
        guard let count = writer.read(number, into: data, length: Int(length)) else { return -1 }
        return zip_int64_t(count)
    case ZIP_SOURCE_CLOSE, ZIP_SOURCE_FREE:
        writer.release(number)
        return 0
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&writer.zipError, data, length)
    default:
        zip_error_set(&writer.zipError, ZIP_ER_OPNOTSUPP, 0)
        return -1
    }
}
