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
        guard let lock = try LockFile.read(at: lockPath) else {
            return CheckReport(lockFile: lockPath, lockMissing: true, added: plan.entries.map(\.zipPath), removed: [], changed: [],
                               settings: [], statistics: WorkStatistics())
        }
        let added = plan.entries.filter { lock.entries[$0.zipPath] == nil }.map(\.zipPath)
        let locked = plan.entries.compactMap { entry in lock.entries[entry.zipPath].map { (entry: entry, recorded: $0) } }
        // Digests are computed on worker threads (or come from the stat cache) and compared here in order.
        let reader = ContentReader(config: plan.config, options: options)
        let prefetcher = Prefetcher(costs: locked.map(\.entry.size), jobs: options.jobs, budget: .max) { index in
            try reader.fingerprint(of: locked[index].entry).digest
        }
        defer { prefetcher.finish() }
        let progress = ProgressCounter(locked.map(\.entry), report: options.progress)
        var changed: [String] = []
        for (index, (entry, recorded)) in locked.enumerated() {
            let digest = try prefetcher.take(index)
            if recorded.mode != LockFile.mode(entry.mode) || recorded.sha256 != digest.hex {
                changed.append(entry.zipPath)
            }
            progress.advance(by: entry)
        }
        prefetcher.finish()
        reader.finish()
        let present = Set(plan.entries.map(\.zipPath))
        let removed = lock.entries.keys.filter { !present.contains($0) }.sorted(by: bytewiseLess)
        var settings: [String] = []
        if lock.layerName != plan.config.layerName { settings.append("layer_name: \(lock.layerName) → \(plan.config.layerName)") }
        if lock.compressionLevel != plan.config.compressionLevel {
            settings.append("compression_level: \(lock.compressionLevel) → \(plan.config.compressionLevel)")
        }
        return CheckReport(lockFile: lockPath, lockMissing: false, added: added, removed: removed, changed: changed, settings: settings,
                           statistics: reader.statistics)
    }
}
