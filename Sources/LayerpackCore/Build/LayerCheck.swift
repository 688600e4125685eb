import Foundation
import Hashing

/// `layerpack check`: whether the sources still match the lock file. It never writes the zip or the
/// lock; with the caches on, it updates the stat cache so the next check is as quick.
public struct CheckReport: Sendable, Equatable {
    public let lockFile: String
    public let lockMissing: Bool
    public let added: [String]
    public let removed: [String]
    public let changed: [String]
    /// Config settings that change the zip and differ from the lock, as `key: lock → config`.
    public let settings: [String]
    public let statistics: WorkStatistics

    public var isClean: Bool { !lockMissing && added.isEmpty && removed.isEmpty && changed.isEmpty && settings.isEmpty }
}

/// `check --json`: `clean` and the lists, in snake case.
extension CheckReport: Encodable {
    enum CodingKeys: String, CodingKey {
        case clean, lockFile = "lock_file", lockMissing = "lock_missing", added, removed, changed, settings
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(isClean, forKey: .clean)
        try container.encode(lockFile, forKey: .lockFile)
        try container.encode(lockMissing, forKey: .lockMissing)
        try container.encode(added, forKey: .added)
        try container.encode(removed, forKey: .removed)
        try container.encode(changed, forKey: .changed)
        try container.encode(settings, forKey: .settings)
    }
}

public enum LayerCheck {
    public static func run(_ plan: LayerPlan, options: BuildOptions = BuildOptions()) throws -> CheckReport {
        let lockPath = plan.config.lockFilePath
        guard FileManager.default.fileExists(atPath: lockPath) else {
            return CheckReport(lockFile: lockPath, lockMissing: true, added: plan.entries.map(\.zipPath), removed: [], changed: [],
                               settings: [], statistics: WorkStatistics())
        }
        let reader = ContentReader(plan: plan, options: options)
        let locked = try LockedView(path: lockPath, plan: plan, statCache: reader.statCache)
        let entries = plan.entries
        // Entries the stat cache vouches for are compared here; the rest are hashed on worker threads.
        var changed: [Int] = []
        var toHash: [Int] = []
        var added: [String] = []
        let progress = ProgressCounter(entries, report: options.progress)
        for index in entries.indices {
            guard let mode = locked.mode(at: index) else {
                added.append(entries[index].zipPath)
                continue
            }
            if mode != LockFile.modeValue(entries[index].mode) {
                changed.append(index)
            } else if let same = locked.trustedContentIsLocked(at: index, reader) {
                if !same { changed.append(index) }
                progress.advance(by: entries[index])
            } else {
                toHash.append(index)
            }
        }
        let hashing = toHash
        let prefetcher = Prefetcher(costs: hashing.map { entries[$0].size }, jobs: options.jobs, budget: .max) { item in
            try reader.fingerprint(at: hashing[item]).digest
        }
        defer { prefetcher.finish() }
        for (item, index) in toHash.enumerated() {
            if try prefetcher.take(item) != locked.entry(at: index)?.digest { changed.append(index) }
            progress.advance(by: entries[index])
        }
        prefetcher.finish()
        reader.finish(locked.forStatCache)
        var settings: [String] = []
        if locked.layerName != plan.config.layerName { settings.append("layer_name: \(locked.layerName) → \(plan.config.layerName)") }
        if locked.compressionLevel != plan.config.compressionLevel {
            settings.append("compression_level: \(locked.compressionLevel) → \(plan.config.compressionLevel)")
        }
        if let compressor = locked.compressor, let now = LayerBuilder.compressor(level: plan.config.compressionLevel),
           locked.compressionLevel == plan.config.compressionLevel, compressor != now {
            settings.append("compressor: \(compressor) → \(now)")
        }
        return CheckReport(lockFile: lockPath, lockMissing: false, added: added, removed: locked.removed,
                           changed: changed.sorted().map { entries[$0].zipPath }, settings: settings, statistics: reader.statistics)
    }
}

/// What the lock file says of each plan entry: from the stat cache's mirror of it when the lock file's
/// bytes are those the mirror was made from (nothing is parsed), else from the lock file itself.
private struct LockedView {
    private enum Source {
        case mirror(StatCache)
        /// By plan index: the lock's digest and mode for the entry's zip path.
        case parsed([(digest: Digest, mode: UInt32)?])
    }

    private let source: Source
    let layerName: String
    let compressionLevel: Int
    let compressor: String?
    let removed: [String]
    /// What the stat cache should record of the lock.
    let forStatCache: StatCache.LockedEntries

    /// The lock file is hashed as it is read, a block at a time, and held whole only when it must be parsed.
    init(path: String, plan: LayerPlan, statCache: StatCache?) throws {
        if let statCache, let mirror = statCache.previous.lock, (try? SHA256.hash(fileAt: path)) == mirror.lockDigest {
            source = .mirror(statCache)
            (layerName, compressionLevel, compressor) = (mirror.layerName, mirror.compressionLevel, mirror.compressor)
            removed = statCache.lockedRecordsNotPlanned().map { statCache.previous.zipPath($0) }
            forStatCache = .previous
            return
        }
        guard let bytes = try LockFile.readBytes(at: path) else { throw BuildError.unreadable(path: path, reason: "it was removed") }
        let lock = try LockFile.parse(bytes, path: path)
        source = .parsed(plan.entries.map { lock.entries[$0.zipPath]?.parsed })
        (layerName, compressionLevel, compressor) = (lock.layerName, lock.compressionLevel, lock.compressor)
        let present = Set(plan.entries.map(\.zipPath))
        removed = lock.entries.keys.filter { !present.contains($0) }.sorted(by: bytewiseLess)
        forStatCache = .parsed(LockMirror(lock, bytes: bytes, zip: nil), lock.entries)
    }

    /// The locked mode (as `LockFile.modeValue` gives it) of plan entry `index`; nil when the lock lacks the entry.
    func mode(at index: Int) -> UInt32? {
        switch source {
        case .mirror(let statCache):
            guard let record = statCache.previousRecord(at: index) else { return nil }
            let mode = statCache.previous.lockedMode(record)
            return mode == 0 ? nil : mode
        case .parsed: return entry(at: index)?.mode
        }
    }

    /// Whether plan entry `index`'s content is the locked one, when the stat cache vouches for its file;
    /// nil when the file must be hashed. From the mirror, both digests are compared where they lie.
    func trustedContentIsLocked(at index: Int, _ reader: ContentReader) -> Bool? {
        switch source {
        case .mirror(let statCache):
            return statCache.trustedRecord(at: index).map(statCache.previous.contentIsLocked)
        case .parsed:
            return reader.trustedFingerprint(at: index).map { $0.digest == entry(at: index)?.digest }
        }
    }

    /// The locked digest and mode (as `LockFile.modeValue` gives it) of plan entry `index`; nil when the lock lacks it.
    func entry(at index: Int) -> (digest: Digest, mode: UInt32)? {
        switch source {
        case .mirror(let statCache):
            guard let record = statCache.previousRecord(at: index), let digest = statCache.previous.lockedDigest(record) else { return nil }
            return (digest, statCache.previous.lockedMode(record))
        case .parsed(let locked):
            return locked[index]
        }
    }
}
