import Foundation
import Synchronization
import Hashing

/// Where the digests and zip bytes of a plan's entries come from, for `build`, `hash` and `check`
/// alike. The stat cache says which files are unchanged since they were last hashed; the previous zip
/// and the entry cache hold compressed bytes; everything else is read, hashed and, for a build,
/// compressed. Entries are named by their index in the plan. Safe to call from several threads at
/// once, for different entries.
final class ContentReader: Sendable {
    private let entries: [PlannedEntry]
    let statCache: StatCache?
    private let entryCache: EntryCache?
    private let previousZip: PreviousZip?
    private let workspaces: Pool<Workspace>
    private let counts = WorkCounter()

    /// `reusingZip`: whether to copy unchanged entries out of the zip the previous build wrote.
    init(plan: LayerPlan, options: BuildOptions, reusingZip: Bool = false) {
        let config = plan.config
        entries = plan.entries
        if options.useCache {
            let statCache = StatCache(path: config.statCachePath, entries: plan.entries, readOnly: options.readOnlyCache)
            self.statCache = statCache
            entryCache = config.compressionLevel > 0
                ? EntryCache(directory: options.cacheDirectory ?? config.cacheDirectory, level: config.compressionLevel,
                             readOnly: options.readOnlyCache)
                : nil
            if reusingZip, let lock = statCache.previous.lock, let zip = lock.zip, lock.compressionLevel == config.compressionLevel,
               lock.compressor == LayerBuilder.compressor(level: config.compressionLevel) {
                previousZip = PreviousZip(zip, entries: plan.entries)
            } else {
                previousZip = nil
            }
        } else {
            statCache = nil
            entryCache = nil
            previousZip = nil
        }
        let level = config.compressionLevel
        workspaces = Pool { Workspace(level: level) }
    }

    var statistics: WorkStatistics { counts.value }

    /// Throws when a file entries were copied from changed meanwhile (the previous zip, written in place).
    func checkSourcesOfCopies() throws {
        try previousZip?.checkUnchanged()
    }

    /// The fingerprint the stat cache holds for entry `index`, when the file is unchanged since.
    func trustedFingerprint(at index: Int) -> Fingerprint? {
        guard let known = statCache?.trustedFingerprint(at: index) else { return nil }
        statCache?.record(at: index, known, hashed: false)
        return known
    }

    /// The SHA-256 and CRC-32 of entry `index`'s content: from the stat cache when the file is unchanged, else read.
    func fingerprint(at index: Int) throws -> Fingerprint {
        if let known = trustedFingerprint(at: index) { return known }
        let entry = entries[index]
        let fingerprint: Fingerprint
        switch entry.kind {
        case .file: fingerprint = try FileIO.fingerprint(entry)
        case .symlink(let target): fingerprint = Array(target.utf8).withUnsafeBytes { Fingerprint(of: $0) }
        }
        counts.add(.hashed)
        statCache?.record(at: index, fingerprint, hashed: true)
        return fingerprint
    }

    /// Entry `index` as the zip stores it. An unchanged file whose compressed bytes are in the previous
    /// zip or the entry cache is not read at all; a file read anyway (changed, or not in the stat cache)
    /// still reuses compressed bytes when its content is known to either.
    func payload(at index: Int, method: EntryPayload.Method) throws -> EntryPayload {
        let entry = entries[index]
        let known = statCache?.trustedFingerprint(at: index)
        if let known, let reused = reusable(at: index, known, method: method) {
            statCache?.record(at: index, known, hashed: false)
            counts.add(.reused)
            return reused
        }
        return try workspaces.with { workspace in
            switch entry.kind {
            case .file:
                if method == .deflate, ChunkedDeflate.isChunked(size: Int(entry.size)), let compressor = workspace.compressor {
                    return try largePayload(at: index, known: known, level: compressor.level, workspace: workspace)
                }
                let content = try FileIO.read(entry, into: workspace.input, from: workspace.folders)
                return payload(at: index, method: method, content: content, known: known, workspace: workspace)
            case .symlink(let target):
                return Array(target.utf8).withUnsafeBytes { content in
                    payload(at: index, method: method, content: content, known: known, workspace: workspace)
                }
            }
        }
    }

    /// Compressed bytes of this content from the previous zip or the entry cache.
    private func reusable(at index: Int, _ fingerprint: Fingerprint, method: EntryPayload.Method) -> EntryPayload? {
        let size = entries[index].size
        if let previousZip, let statCache, let record = statCache.previousRecord(at: index),
           statCache.previous.lockedDigest(record, equals: fingerprint.digest),
           let payload = previousZip.payload(at: index, crc: fingerprint.crc, size: size, method: method, digest: fingerprint.digest) {
            return payload
        }
        if method == .deflate, let cached = entryCache?.payload(for: fingerprint.digest, size: size), cached.crc == fingerprint.crc {
            return cached
        }
        return nil
    }

    private func payload(at index: Int, method: EntryPayload.Method, content: UnsafeRawBufferPointer,
                         known: Fingerprint?, workspace: Workspace) -> EntryPayload {
        payload(at: index, method: method, size: content.count, fingerprint: Fingerprint(of: content), known: known) {
            method == .deflate ? workspace.compressor!.compress(content) : Array(content)
        }
    }

    /// A large file, read chunk by chunk by the threads that compress it, and hashed on one more meanwhile.
    private func largePayload(at index: Int, known: Fingerprint?, level: Int, workspace: Workspace) throws -> EntryPayload {
        let entry = entries[index]
        let hasher = FingerprintHasher()
        let compressed = try FileIO.read(entry, inPiecesInto: workspace.input) { content, load in
            try ChunkedDeflate.compress(content, level: level, loading: load, hashing: hasher.add)
        }
        return payload(at: index, method: .deflate, size: Int(entry.size), fingerprint: hasher.finish(), known: known) { compressed }
    }

    /// The payload of content with this fingerprint: reused when the content is known to the previous zip or
    /// the entry cache, else `bytes()` (the content stored or compressed).
    private func payload(at index: Int, method: EntryPayload.Method, size: Int, fingerprint: Fingerprint, known: Fingerprint?,
                         bytes: () -> [UInt8]) -> EntryPayload {
        counts.add(.hashed)
        statCache?.record(at: index, fingerprint, hashed: fingerprint != known)
        if known == nil, let reused = reusable(at: index, fingerprint, method: method) {
            counts.add(.reused)
            return reused
        }
        if method == .deflate { counts.add(.compressed) }
        let payload = EntryPayload(method: method, crc: fingerprint.crc, uncompressedSize: size, bytes: bytes(),
                                   contentDigest: fingerprint.digest)
        if method == .deflate { entryCache?.store(payload) }
        return payload
    }

    /// Saves the new stat cache, with what it now knows of the lock, and trims the entry cache, once the work is done.
    func finish(_ locked: StatCache.LockedEntries = .previous) {
        finish(prepareFinish(locked), naming: nil)
    }

    /// The new stat cache laid out, for `finish(_:naming:)`; safe to call on another thread once the work is done.
    func prepareFinish(_ locked: StatCache.LockedEntries) -> StatCache.PreparedSave? {
        statCache?.prepareSave(locked)
    }

    /// `finish` with a prepared stat cache, and the mirror to name in it (see `StatCache.save(_:naming:)`).
    func finish(_ prepared: consuming StatCache.PreparedSave?, naming mirror: LockMirror?) {
        statCache?.save(consume prepared, naming: mirror)
        entryCache?.trim()
    }
}

/// What identifies a file's content: its SHA-256 (the lock's) and its CRC-32 (the zip's).
struct Fingerprint: Equatable, Sendable {
    let digest: Digest
    let crc: UInt32

    init(digest: Digest, crc: UInt32) {
        self.digest = digest
        self.crc = crc
    }

    init(of bytes: UnsafeRawBufferPointer) {
        self.init(digest: SHA256.hash(bytes), crc: crc32(bytes))
    }

    var crcHex: String {
        let hex = String(crc, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}

/// A fingerprint taken piece by piece, in order, on one thread; finished after that thread is done.
final class FingerprintHasher: @unchecked Sendable {
    private var sha: SHA256? = SHA256()
    private var crc: UInt32 = 0

    func add(_ piece: UnsafeRawBufferPointer) {
        sha!.update(piece)
        crc = crc32(piece, continuing: crc)
    }

    /// The fingerprint of all that was added; nothing can be added after.
    func finish() -> Fingerprint { Fingerprint(digest: sha.take()!.finalize(), crc: crc) }
}

/// How much work a build or check did, for progress messages and tests.
public struct WorkStatistics: Sendable, Equatable {
    /// Files read and hashed (the others were known unchanged from the stat cache).
    public var hashed = 0
    /// Entries compressed now.
    public var compressed = 0
    /// Entries whose compressed bytes came from the cache.
    public var reused = 0

    public init(hashed: Int = 0, compressed: Int = 0, reused: Int = 0) {
        self.hashed = hashed
        self.compressed = compressed
        self.reused = reused
    }
}

/// Counts kept by every worker at once, without a lock per entry.
private final class WorkCounter: Sendable {
    enum Field { case hashed, compressed, reused }
    private let hashed = Atomic(0), compressed = Atomic(0), reused = Atomic(0)

    var value: WorkStatistics {
        WorkStatistics(hashed: hashed.load(ordering: .relaxed), compressed: compressed.load(ordering: .relaxed),
                       reused: reused.load(ordering: .relaxed))
    }

    func add(_ field: Field) {
        switch field {
        case .hashed: hashed.wrappingAdd(1, ordering: .relaxed)
        case .compressed: compressed.wrappingAdd(1, ordering: .relaxed)
        case .reused: reused.wrappingAdd(1, ordering: .relaxed)
        }
    }
}

/// What one worker needs to turn a file into an entry: a compressor and a buffer to read into. Lent
/// out one at a time per thread and kept for the next entry, so their memory is reused.
final class Workspace {
    let compressor: DeflateCompressor?
    let input = ScratchBuffer()
    let folders = LastFolder()

    init(level: Int) { compressor = level > 0 ? DeflateCompressor(level: level) : nil }
}

/// Objects lent to one thread at a time and kept for the next borrower, so their memory is reused
/// (workers' workspaces, chunked compression's compressors).
final class Pool<Item>: @unchecked Sendable {
    private let make: () -> Item
    private let lock = NSLock()
    private var idle: [Item] = []

    init(make: @escaping () -> Item) { self.make = make }

    func with<T>(_ body: (Item) throws -> T) rethrows -> T {
        let item = lock.withLock { idle.popLast() } ?? make()
        defer { lock.withLock { idle.append(item) } }
        return try body(item)
    }
}
