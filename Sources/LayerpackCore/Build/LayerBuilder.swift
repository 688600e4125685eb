import Foundation
import Hashing

/// What a build produced; the seed's `source_code_hash` and `source_code_size` among it.
public struct BuildResult: Sendable {
    public let layerName: String
    /// The absolute path of the zip (for `hash`, the path it would have).
    public let filename: String
    /// Base64 SHA-256 of the zip: Terraform's `filebase64sha256()`, Lambda's `CodeSha256`.
    public let sourceCodeHash: String
    /// Bytes of the zip.
    public let sourceCodeSize: Int64
    public let fileCount: Int
    /// Bytes of the entries, unzipped.
    public let unzippedSize: Int64
    public let lock: LockFile
}

public struct BuildOptions: Sendable {
    public init() {}
}

/// Packs a `LayerPlan` into a deterministic zip.
public enum LayerBuilder {
    /// `layerpack build`: writes the zip to `output` (default: the config's `filename`) and the lock
    /// file beside the config. Both are staged as temporary files first, so a failure changes neither.
    public static func build(_ plan: LayerPlan, output: String? = nil, options: BuildOptions = BuildOptions()) throws -> BuildResult {
        let target = output.map { absolutePath($0, in: FileManager.default.currentDirectoryPath) } ?? plan.config.filename
        try FileIO.createParentFolder(of: target)
        let stagedZip = FileIO.temporaryPath(beside: target)
        defer { unlink(stagedZip) }
        let result = try pack(plan, to: stagedZip, reportedPath: target, options: options)
        let stagedLock = try FileIO.stage(result.lock.encoded(), for: plan.config.lockFilePath)
        defer { unlink(stagedLock) }
        try FileIO.commit(stagedZip, to: target)
        try FileIO.commit(stagedLock, to: plan.config.lockFilePath)
        return result
    }

    /// `layerpack hash`: the result a build would have, leaving no file behind.
    public static func dryRun(_ plan: LayerPlan, options: BuildOptions = BuildOptions()) throws -> BuildResult {
        let scratch = FileIO.temporaryPath(beside: NSTemporaryDirectory() + "/layerpack.zip")
        defer { unlink(scratch) }
        return try pack(plan, to: scratch, reportedPath: plan.config.filename, options: options)
    }

    /// Writes the zip at `path` and hashes it.
    static func pack(_ plan: LayerPlan, to path: String, reportedPath: String, options: BuildOptions) throws -> BuildResult {
        let level = plan.config.compressionLevel
        let compressor = level > 0 ? DeflateCompressor(level: level) : nil
        let manifest = ManifestCollector()
        let writer = try ZipWriter(path: path)
        for entry in plan.entries {
            let method = StoragePolicy.method(for: entry, level: level)
            try writer.add(name: entry.zipPath, mode: entry.mode, method: method) {
                let payload = try EntryPayload.make(for: entry, method: method, compressor: compressor)
                manifest.record(entry, payload)
                return payload
            }
        }
        try writer.close()
        let digest = try SHA256.hash(fileAt: path)
        let size = try fileSize(path)
        let lock = LockFile(layerName: plan.config.layerName, sourceCodeHash: digest.base64, sourceCodeSize: size,
                            compressionLevel: level, entries: manifest.entries)
        return BuildResult(layerName: plan.config.layerName, filename: reportedPath, sourceCodeHash: digest.base64,
                           sourceCodeSize: size, fileCount: plan.entries.count, unzippedSize: plan.totalSize, lock: lock)
    }

    static func fileSize(_ path: String) throws -> Int64 { Int64(try lstatOrThrow(path).st_size) }
}

/// Which entries are deflated and which stored. Decided from the plan alone, before any byte is
/// read, because libzip must know an entry's method when it is added.
enum StoragePolicy {
    static func method(for entry: PlannedEntry, level: Int) -> EntryPayload.Method {
        if level == 0 || entry.size == 0 { return .store }
        if case .symlink = entry.kind { return .store }
        return .deflate
    }
}

extension EntryPayload {
    /// Reads the entry's content and turns it into the bytes the zip stores.
    static func make(for entry: PlannedEntry, method: Method, compressor: DeflateCompressor?) throws -> EntryPayload {
        let content: [UInt8]
        switch entry.kind {
        case .file: content = try FileIO.read(entry.sourcePath)
        case .symlink(let target): content = Array(target.utf8)
        }
        return content.withUnsafeBytes { raw in
            let digest = SHA256.hash(raw)
            let checksum = crc32(raw)
            let bytes = method == .deflate ? compressor!.compress(raw) : content
            return EntryPayload(method: method, crc: checksum, uncompressedSize: content.count, bytes: bytes, contentDigest: digest)
        }
    }
}

/// Gathers each entry's digest as libzip pulls it, for the lock file.
private final class ManifestCollector: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var entries: [String: LockFile.Entry] = [:]

    func record(_ entry: PlannedEntry, _ payload: EntryPayload) {
        lock.withLock { entries[entry.zipPath] = LockFile.Entry(sha256: payload.contentDigest.hex, mode: LockFile.mode(entry.mode)) }
    }
}
