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
/// headers and data. Each entry gets a fixed timestamp and a normalised Unix mode.
///
/// libzip pulls every entry's data when the archive is closed, in the order entries were added; `load`
/// runs then, on the closing thread, with the entry's number (0 for the first added), so only one
/// entry's bytes are held by the writer at a time. It writes the archive into a `ZipDestination`,
/// which hashes it on the way.
final class ZipWriter {
    private var archive: OpaquePointer?
    private let destination: ZipDestination
    private let load: (Int) throws -> EntryPayload
    /// One libzip source state per entry, in blocks that never move (libzip holds their addresses).
    private var blocks: [UnsafeMutablePointer<EntrySource>] = []
    private var count = 0
    private static let blockLength = 4096

    /// DOS date and time of every entry: 1980-01-01 00:00:00, the earliest a zip can say.
    static let dosDate: UInt16 = (0 << 9) | (1 << 5) | 1
    static let dosTime: UInt16 = 0

    /// Starts a new archive at `path`; nothing is written there until `close()`. Errors name `reportedPath`.
    init(path: String, reportedPath: String? = nil, blockSize: Int = ZipDestination.defaultBlockSize,
         load: @escaping (Int) throws -> EntryPayload) throws {
        // libzip turns DOS times into time_t and back through local time; in UTC that round trip is exact.
        ZipWriter.useUTC()
        destination = ZipDestination(path: path, reportedPath: reportedPath ?? path, blockSize: blockSize)
        self.load = load
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
        // libzip lets go of every source when the archive is closed or discarded, before the states go.
        if let archive { zip_discard(archive) }
        for (number, block) in blocks.enumerated() {
            let used = min(ZipWriter.blockLength, count - number * ZipWriter.blockLength)
            for index in 0..<used { zip_error_fini(&block[index].zipError) }
            block.deinitialize(count: used)
            block.deallocate()
        }
    }

    /// Adds the next entry; its payload is asked of `load` when the archive is closed.
    func add(name: String, mode: UInt32, method: EntryPayload.Method) throws {
        guard let archive else { preconditionFailure("entry added to a closed ZipWriter") }
        if count % ZipWriter.blockLength == 0 { blocks.append(.allocate(capacity: ZipWriter.blockLength)) }
        let slot = blocks[blocks.count - 1] + count % ZipWriter.blockLength
        slot.initialize(to: EntrySource(writer: Unmanaged.passUnretained(self), number: count))
        zip_error_init(&slot.pointee.zipError)
        count += 1
        guard let source = zip_source_function(archive, entrySourceCallback, slot) else { throw failure(archive) }
        let index = zip_file_add(archive, name, source, zip_flags_t(ZIP_FL_ENC_UTF_8))
        guard index >= 0 else {
            zip_source_free(source)
            throw failure(archive)
        }
        let entryIndex = zip_uint64_t(index)
        // A stored entry must say so, or libzip would deflate it; a deflated one is passed through as is.
        let compression = method == .store ? ZIP_CM_STORE : ZIP_CM_DEFLATE
        guard zip_set_file_compression(archive, entryIndex, compression, 0) == 0,
              zip_file_set_dostime(archive, entryIndex, ZipWriter.dosTime, ZipWriter.dosDate, 0) == 0,
              zip_file_set_external_attributes(archive, entryIndex, 0, zip_uint8_t(ZIP_OPSYS_UNIX), mode << 16) == 0
        else { throw failure(archive) }
    }

    /// Writes the archive and returns its SHA-256 and size, taken as it was written.
    func close() throws -> (digest: Digest, size: Int64) {
        guard let archive else { preconditionFailure("ZipWriter closed twice") }
        self.archive = nil
        let closed = zip_close(archive) == 0
        if !closed {
            let error = firstLoadError ?? destination.failure ?? failure(archive)
            zip_discard(archive)
            throw error
        }
        // libzip writes nothing for an archive without entries.
        guard let written = destination.written else {
            throw BuildError.archive(path: destination.reportedPath, reason: "it has no entries")
        }
        return written
    }

    private var firstLoadError: Error? {
        for (number, block) in blocks.enumerated() {
            for index in 0..<min(ZipWriter.blockLength, count - number * ZipWriter.blockLength) {
                if let error = block[index].error { return error }
            }
        }
        return nil
    }

    private func failure(_ archive: OpaquePointer) -> BuildError {
        BuildError.archive(path: destination.reportedPath, reason: String(cString: zip_error_strerror(zip_get_error(archive))))
    }

    private static let utc: Void = {
        setenv("TZ", "UTC", 1)
        tzset()
    }()

    static func useUTC() { _ = utc }

    /// Loads entry `number`'s payload unless what is asked for is already here (the stat, or the bytes too).
    fileprivate func ensureLoaded(_ entry: UnsafeMutablePointer<EntrySource>, bytes: Bool) -> Bool {
        if entry.pointee.stat != nil && (!bytes || entry.pointee.payload != nil) { return true }
        do {
            let payload = try load(entry.pointee.number)
            entry.pointee.payload = payload
            entry.pointee.stat = (payload.method, payload.crc, payload.uncompressedSize, payload.bytes.count)
            return true
        } catch {
            entry.pointee.error = error
            zip_error_set(&entry.pointee.zipError, ZIP_ER_READ, 0)
            return false
        }
    }
}

/// The state behind one libzip source: its entry's number, the payload while libzip reads it, and
/// how far it has read.
private struct EntrySource {
    let writer: Unmanaged<ZipWriter>
    let number: Int
    var payload: EntryPayload?
    var stat: (method: EntryPayload.Method, crc: UInt32, size: Int, compressedSize: Int)?
    var offset = 0
    var error: Error?
    var zipError = zip_error_t()

    init(writer: Unmanaged<ZipWriter>, number: Int) {
        self.writer = writer
        self.number = number
    }
}

private let supportedCommands: zip_int64_t = [ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                              ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_SUPPORTS]
    .reduce(0) { $0 | (zip_int64_t(1) << zip_int64_t($1.rawValue)) }

private let entrySourceCallback: zip_source_callback = { context, data, length, command in
    let entry = context!.assumingMemoryBound(to: EntrySource.self)
    switch command {
    case ZIP_SOURCE_SUPPORTS:
        return supportedCommands
    case ZIP_SOURCE_STAT:
        guard entry.pointee.writer.takeUnretainedValue().ensureLoaded(entry, bytes: false), let stat = entry.pointee.stat,
              let data else { return -1 }
        let out = data.assumingMemoryBound(to: zip_stat_t.self)
        zip_stat_init(out)
        out.pointee.valid = zip_uint64_t(ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC)
        out.pointee.size = zip_uint64_t(stat.size)
        out.pointee.comp_size = zip_uint64_t(stat.compressedSize)
        out.pointee.comp_method = zip_uint16_t(stat.method == .store ? ZIP_CM_STORE : ZIP_CM_DEFLATE)
        out.pointee.crc = stat.crc
        return zip_int64_t(MemoryLayout<zip_stat_t>.size)
    case ZIP_SOURCE_OPEN:
        guard entry.pointee.writer.takeUnretainedValue().ensureLoaded(entry, bytes: true) else { return -1 }
        entry.pointee.offset = 0
        return 0
    case ZIP_SOURCE_READ:
        guard let data, let count = entry.pointee.payload.map({ min(Int(length), $0.bytes.count - entry.pointee.offset) }) else {
            zip_error_set(&entry.pointee.zipError, ZIP_ER_INTERNAL, 0)
            return -1
        }
        guard count > 0 else { return 0 }
        entry.pointee.payload!.bytes.withUnsafeBytes { bytes in
            data.copyMemory(from: bytes.baseAddress! + entry.pointee.offset, byteCount: count)
        }
        entry.pointee.offset += count
        return zip_int64_t(count)
    case ZIP_SOURCE_CLOSE:
        entry.pointee.payload = nil
        return 0
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&entry.pointee.zipError, data, length)
    case ZIP_SOURCE_FREE:
        entry.pointee.payload = nil
        return 0
    default:
        zip_error_set(&entry.pointee.zipError, ZIP_ER_OPNOTSUPP, 0)
        return -1
    }
}
