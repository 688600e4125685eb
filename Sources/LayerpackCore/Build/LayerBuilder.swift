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
    public let statistics: WorkStatistics
    /// Warnings and notes of the run (from `verify`), for the CLI to print.
    public var diagnostics: [Diagnostic] = []
}

/// `--json` of `build` and `hash`: the fields above but the lock and the statistics, in snake case.
extension BuildResult: Encodable {
    enum CodingKeys: String, CodingKey {
        case layerName = "layer_name", filename, sourceCodeHash = "source_code_hash", sourceCodeSize = "source_code_size"
        case fileCount = "file_count", unzippedSize = "unzipped_size"
    }
}

/// How `build`, `hash` and `check` go about their work; none of it changes the zip's bytes.
///
/// `BuildOptions()` is a full build on every core that reads and writes no cache; the command line
/// turns the caches on unless given `--no-cache`.
public struct BuildOptions: Sendable {
    /// Threads that read, hash and compress entries at once.
    public var jobs: Int
    /// Whether to use and update the compressed-entry cache and the stat cache.
    public var useCache: Bool
    /// Where compressed entries are cached, instead of the config's `cache_dir`.
    public var cacheDirectory: String?
    /// Use the caches but write nothing to them (`publish --dry-run` changes nothing anywhere).
    public var readOnlyCache = false
    /// Called on the calling thread after each entry is packed or checked.
    public var progress: (@Sendable (BuildProgress) -> Void)?

    /// More threads than this would only cost memory.
    public static let maxJobs = 256

    public init(jobs: Int = BuildOptions.defaultJobs, useCache: Bool = false, cacheDirectory: String? = nil,
                progress: (@Sendable (BuildProgress) -> Void)? = nil) {
        self.jobs = min(max(1, jobs), BuildOptions.maxJobs)
        self.useCache = useCache
        self.cacheDirectory = cacheDirectory
        self.progress = progress
    }

    /// The number of cores.
    public static var defaultJobs: Int { ProcessInfo.processInfo.activeProcessorCount }
}

/// How far a build or check has got.
public struct BuildProgress: Sendable {
    public let entriesDone: Int
    public let entriesTotal: Int
    public let bytesDone: Int64
    public let bytesTotal: Int64
}

/// Packs a `LayerPlan` into a deterministic zip.
public enum LayerBuilder {
    /// `layerpack build`: writes the zip to `output` (default: the config's `filename`) and the lock
    /// file beside the config. Both are staged as temporary files first, so a failure changes neither.
    public static func build(_ plan: LayerPlan, output: String? = nil, options: BuildOptions = BuildOptions()) throws -> BuildResult {
        let target = output.map { absolutePath($0, in: FileManager.default.currentDirectoryPath) } ?? plan.config.filename
        let diagnostics = try LayerVerification.run(plan)
        try FileIO.createParentFolder(of: target)
        let result = try StagingName.withStagedPath(beside: target) { stagedZip in
            // The lock and the stat cache are laid out on other threads while libzip finishes the zip (its
            // central directory), once every entry's digest is known; the zip's hash and identity, and the
            // lock's digest, are filled in after.
            var lockHead: InBackground<[UInt8]>?
            var statCache: InBackground<StatCache.PreparedSave?>?
            // Not left running should the build fail.
            defer { lockHead?.wait(); statCache?.wait() }
            let packed = try pack(plan, to: stagedZip, reportedPath: target, options: options) { reader, digests in
                let lock = LayerBuilder.lock(of: plan, digests: digests, zipHash: "", zipSize: 0)
                lockHead = InBackground { lock.encodedUpToZip() }
                let unknown = Digest(bytes: [UInt8](repeating: 0, count: 32))
                let unnamed = LockMirror(lockDigest: unknown, layerName: lock.layerName, compressionLevel: lock.compressionLevel,
                                         compressor: lock.compressor,
                                         zip: ZipIdentity(path: target, device: 0, inode: 0, size: 0, modifiedNanoseconds: 0,
                                                          changedNanoseconds: 0, digest: unknown))
                statCache = InBackground { reader.prepareFinish(.packed(unnamed, digests)) }
            }
            var result = packed.result
            result.diagnostics = diagnostics
            // The lock is committed last: a run killed between the two leaves a zip whose hash is not the
            // lock's `source_code_hash`, which `publish` notices (it rebuilds) and the next build repairs.
            let lock = result.lock
            let lockBytes = lockHead.map { lock.encoded(completing: $0.take()) } ?? lock.encoded()
            let stagedLock = try FileIO.stage(lockBytes, for: plan.config.lockFilePath)
            try FileIO.commit(stagedZip, to: target)
            try stagedLock.commit()
            // The stat cache mirrors the lock and names the zip; without one, neither is hashed or looked up.
            let mirror = packed.reader.statCache == nil ? nil
                : LockMirror(lock, bytes: lockBytes, zip: ZipIdentity(path: target, digest: packed.zipDigest))
            packed.reader.finish(statCache?.take(), naming: mirror)
            return result
        }
        // What runs killed mid-write left beside the files this run wrote.
        for folder in Set([target, plan.config.lockFilePath].map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }) {
            StagingName.removeAbandoned(in: folder)
        }
        return result
    }

    /// `layerpack hash`: the result a build would have, leaving no file behind.
    public static func dryRun(_ plan: LayerPlan, options: BuildOptions = BuildOptions()) throws -> BuildResult {
        let diagnostics = try LayerVerification.run(plan)
        var result = try StagingName.withStagedPath(beside: NSTemporaryDirectory() + "/layerpack.zip") { scratch in
            let packed = try pack(plan, to: scratch, reportedPath: plan.config.filename, options: options)
            packed.reader.finish()
            return packed.result
        }
        result.diagnostics = diagnostics
        return result
    }

    /// What compressed the entries at `level`, as the lock records it: nil when nothing is compressed.
    static func compressor(level: Int) -> String? { level > 0 ? deflateCompressorVersion : nil }

    /// The lock of a build of `plan` whose entries' contents have `digests`, into a zip of that hash and size.
    static func lock(of plan: LayerPlan, digests: [Digest], zipHash: String, zipSize: Int64) -> LockFile {
        LockFile(layerName: plan.config.layerName, sourceCodeHash: zipHash, sourceCodeSize: zipSize,
                 compressionLevel: plan.config.compressionLevel, compressor: compressor(level: plan.config.compressionLevel),
                 planned: plan.entries, digests: digests)
    }

    /// A packed zip, with the reader whose caches are saved once the zip is in place.
    struct Packed {
        let result: BuildResult
        let zipDigest: Digest
        let reader: ContentReader
    }

    /// Writes the zip at `path`, hashed as it is written. Worker threads prepare entries ahead of libzip, which
    /// takes them in plan order, so the bytes do not depend on `options.jobs`.
    ///
    /// `afterLastEntry` runs on this thread once every entry's payload is taken, with the content digests, while
    /// libzip is still to write the central directory.
    static func pack(_ plan: LayerPlan, to path: String, reportedPath: String, options: BuildOptions,
                     afterLastEntry: ((ContentReader, [Digest]) -> Void)? = nil) throws -> Packed {
        // Before any thread starts: setting TZ while another thread reads the environment is unsafe.
        ZipWriter.useUTC()
        let level = plan.config.compressionLevel
        let entries = plan.entries
        let methods = entries.map { StoragePolicy.method(for: $0, level: level) }
        // The caches are read and the workers started on another thread while this one adds the entries to libzip.
        let starting = InBackground {
            let reader = ContentReader(plan: plan, options: options, reusingZip: true)
            // Workers run ahead of the writer by up to `jobs` times the largest entry (at least 16 MiB each),
            // so a large file being compressed does not stall the others, and memory stays bounded.
            let budget = Int64(options.jobs) * max(entries.map(\.size).max() ?? 0, 16 << 20)
            let prefetcher = Prefetcher(costs: entries.map(\.size), jobs: options.jobs, budget: budget) { index in
                try reader.payload(at: index, method: methods[index])
            }
            return (reader, prefetcher)
        }
        defer { starting.value.1.finish() }
        let taken = TakenPayloads(count: entries.count)
        let progress = ProgressCounter(plan.entries, report: options.progress)
        // libzip pulls the entries in order on this thread, as it writes them, once they are all added.
        let writer = try ZipWriter(path: path, reportedPath: reportedPath) { index in
            let payload = try taken.prefetcher!.take(index)
            taken.digests.append(payload.contentDigest)
            progress.advance(by: entries[index])
            if taken.digests.count == entries.count { afterLastEntry?(starting.value.0, taken.digests) }
            return payload
        }
        for index in entries.indices {
            try writer.add(name: entries[index].zipPath, mode: entries[index].mode, method: methods[index])
        }
        let reader = starting.value.0
        taken.prefetcher = starting.value.1
        let (digest, size) = try writer.close()
        let digests = taken.digests
        starting.value.1.finish()
        try reader.checkSourcesOfCopies()
        let lock = LayerBuilder.lock(of: plan, digests: digests, zipHash: digest.base64, zipSize: size)
        let result = BuildResult(layerName: plan.config.layerName, filename: reportedPath, sourceCodeHash: digest.base64,
                                 sourceCodeSize: size, fileCount: plan.entries.count, unzippedSize: plan.totalSize, lock: lock,
                                 statistics: reader.statistics)
        return Packed(result: result, zipDigest: digest, reader: reader)
    }
}

/// The payloads libzip takes as it writes the zip, and their content digests, gathered in order. One thread
/// touches them, a few times per entry: they are not checked for overlapping access on each.
private final class TakenPayloads {
    @exclusivity(unchecked) var prefetcher: Prefetcher<EntryPayload>?
    @exclusivity(unchecked) var digests: [Digest] = []

    init(count: Int) { digests.reserveCapacity(count) }
}

/// A value computed on a thread of GCD's while the caller goes on; `value` waits for it.
final class InBackground<Value>: @unchecked Sendable {
    private let done = DispatchGroup()
    private var result: Value?

    init(_ work: @escaping @Sendable () -> Value) {
        DispatchQueue.global().async(group: done) { [self] in result = work() }
    }

    var value: Value {
        done.wait()
        return result!
    }

    func wait() { done.wait() }

    /// The value, no longer held here (so that a value type's storage is not shared).
    func take() -> Value {
        done.wait()
        return result.take()!
    }
}

/// Which entries are deflated and which stored. Decided from the plan alone, before any byte is
/// read, because libzip must know an entry's method when it is added.
///
/// Files in formats that deflate cannot shrink are stored. The list is measured, not guessed: at
/// level 6, libdeflate took under 0.35% off `.xz`, `.zst` and `.woff2` files, so they are stored.
/// It took a median 2–30% off `.png`, `.jpg`, `.gif`, `.gz`, `.bz2`, `.zip`, `.jar`, `.whl` and `.npz`
/// files (zip-based formats often hold stored members; image files are often poorly compressed), so
/// those are deflated like anything else.
enum StoragePolicy {
    static let storedExtensions: Set<String> = ["xz", "txz", "zst", "tzst", "woff2"]

    static func method(for entry: PlannedEntry, level: Int) -> EntryPayload.Method {
        if level == 0 || entry.size == 0 { return .store }
        if case .symlink = entry.kind { return .store }
        if let dot = entry.zipPath.lastIndex(of: "."), storedExtensions.contains(entry.zipPath[entry.zipPath.index(after: dot)...].lowercased()) {
            return .store
        }
        return .deflate
    }
}

/// Counts entries and bytes done for `BuildOptions.progress`.
final class ProgressCounter {
    private let report: (@Sendable (BuildProgress) -> Void)?
    private let entriesTotal: Int
    private let bytesTotal: Int64
    private var entriesDone = 0
    private var bytesDone: Int64 = 0

    init(_ entries: [PlannedEntry], report: (@Sendable (BuildProgress) -> Void)?) {
        self.report = report
        entriesTotal = entries.count
        bytesTotal = entries.reduce(0) { $0 + $1.size }
    }

    func advance(by entry: PlannedEntry) {
        guard let report else { return }
        entriesDone += 1
        bytesDone += entry.size
        report(BuildProgress(entriesDone: entriesDone, entriesTotal: entriesTotal, bytesDone: bytesDone, bytesTotal: bytesTotal))
    }
}
