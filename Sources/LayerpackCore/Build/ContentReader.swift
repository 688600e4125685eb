import Foundation
import Hashing

/// Where the digests and zip bytes of a plan's entries come from, for `build`, `hash` and `check`
/// alike. The stat cache says which files are unchanged since they were last hashed; the entry
/// cache holds their compressed bytes; everything else is read, hashed and, for a build, compressed.
/// Safe to call from several threads at once.
final class ContentReader: Sendable {
    private let statCache: StatCache?
    private let entryCache: EntryCache?
    private let workspaces: WorkspacePool
    private let counts = WorkCounter()

    init(config: LayerConfig, options: BuildOptions) {
        if options.useCache {
            statCache = StatCache(path: config.statCachePath, readOnly: options.readOnlyCache)
            entryCache = config.compressionLevel > 0
                ? EntryCache(directory: options.cacheDirectory ?? config.cacheDirectory, level: config.compressionLevel,
                             readOnly: options.readOnlyCache)
                : nil
        } else {
            statCache = nil
            entryCache = nil
        }
        workspaces = WorkspacePool(level: config.compressionLevel)
    }

    var statistics: WorkStatistics { counts.value }

    /// The SHA-256 and CRC-32 of the entry's content: from the stat cache when the file is unchanged, else read.
    func fingerprint(of entry: PlannedEntry) throws -> Fingerprint {
        if let known = statCache?.trustedFingerprint(for: entry) {
            statCache?.record(entry, known, hashed: false)
            return known
        }
        let fingerprint: Fingerprint
        switch entry.kind {
        case .file: fingerprint = try FileIO.fingerprint(entry)
        case .symlink(let target): fingerprint = Array(target.utf8).withUnsafeBytes { Fingerprint(of: $0) }
        }
        counts.add(\.hashed)
        statCache?.record(entry, fingerprint, hashed: true)
        return fingerprint
    }

    /// The entry as the zip stores it. An unchanged file whose compressed bytes are cached is not read
    /// at all; a file read anyway (changed, or not in the stat cache) still reuses cached bytes when
    /// its content is known to the entry cache.
    func payload(for entry: PlannedEntry, method: EntryPayload.Method) throws -> EntryPayload {
        let known = statCache?.trustedFingerprint(for: entry)
        if method == .deflate, let known, let cached = entryCache?.payload(for: known.digest, size: entry.size) {
            statCache?.record(entry, known, hashed: false)
            counts.add(\.reused)
            return cached
        }
        return try workspaces.withWorkspace { workspace in
            switch entry.kind {
            case .file:
                let content = try FileIO.read(entry, into: workspace.input)
                return payload(for: entry, method: method, content: content, known: known, workspace: workspace)
            case .symlink(let target):
                return Array(target.utf8).withUnsafeBytes { content in
                    payload(for: entry, method: method, content: content, known: known, workspace: workspace)
                }
            }
        }
    }

    private func payload(for entry: PlannedEntry, method: EntryPayload.Method, content: UnsafeRawBufferPointer,
                         known: Fingerprint?, workspace: Workspace) -> EntryPayload {
        let fingerprint = Fingerprint(of: content)
        let (digest, crc) = (fingerprint.digest, fingerprint.crc)
        counts.add(\.hashed)
        statCache?.record(entry, fingerprint, hashed: fingerprint != known)

        if method == .deflate, known == nil, let cached = entryCache?.payload(for: digest, size: Int64(content.count)), cached.crc == crc {
            counts.add(\.reused)
            return cached
        }
        let bytes: [UInt8]
        switch method {
        case .store: bytes = Array(content)
        case .deflate:
            bytes = workspace.compressor!.compress(content)
            counts.add(\.compressed)
        }
        let payload = EntryPayload(method: method, crc: crc, uncompressedSize: content.count, bytes: bytes, contentDigest: digest)
        if method == .deflate { entryCache?.store(payload) }
        return payload
    }

    /// Saves the new stat cache and trims the entry cache, once the work is done.
    func finish() {
        statCache?.save()
        if statistics.compressed > 0 { entryCache?.trim() }
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

private final class WorkCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var counts = WorkStatistics()

    var value: WorkStatistics { lock.withLock { counts } }

    func add(_ field: WritableKeyPath<WorkStatistics, Int>) { lock.withLock { counts[keyPath: field] += 1 } }
}

/// What one worker needs to turn a file into an entry: a compressor and a buffer to read into. Lent
/// out one at a time per thread and kept for the next entry, so their memory is reused.
final class Workspace {
    let compressor: DeflateCompressor?
    let input = ScratchBuffer()

    init(level: Int) { compressor = level > 0 ? DeflateCompressor(level: level) : nil }
}

private final class WorkspacePool: @unchecked Sendable {
    private let level: Int
    private let lock = NSLock()
    private var idle: [Workspace] = []

    init(level: Int) { self.level = level }

    func withWorkspace<T>(_ body: (Workspace) throws -> T) rethrows -> T {
        let workspace = lock.withLock { idle.popLast() } ?? Workspace(level: level)
        defer { lock.withLock { idle.append(workspace) } }
        return try body(workspace)
    }
}
