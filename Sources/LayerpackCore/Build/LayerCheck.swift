import Foundation
import Hashing

/// `layerpack check`: whether the sources still match the lock file, without writing anything.
public struct CheckReport: Sendable, Equatable {
    public let lockFile: String
    public let lockMissing: Bool
    public let added: [String]
    public let removed: [String]
    public let changed: [String]
    /// Config settings that change the zip and differ from the lock, as `key: lock → config`.
    public let settings: [String]

    public var isClean: Bool { !lockMissing && added.isEmpty && removed.isEmpty && changed.isEmpty && settings.isEmpty }
}

public enum LayerCheck {
    public static func run(_ plan: LayerPlan) throws -> CheckReport {
        let lockPath = plan.config.lockFilePath
        guard let lock = try LockFile.read(at: lockPath) else {
            return CheckReport(lockFile: lockPath, lockMissing: true, added: plan.entries.map(\.zipPath), removed: [], changed: [], settings: [])
        }
        var added: [String] = []
        var changed: [String] = []
        for entry in plan.entries {
            guard let locked = lock.entries[entry.zipPath] else {
                added.append(entry.zipPath)
                continue
            }
            let digest = try contentDigest(of: entry)
            if locked.mode != LockFile.mode(entry.mode) || locked.sha256 != digest.hex {
                changed.append(entry.zipPath)
            }
        }
        let present = Set(plan.entries.map(\.zipPath))
        let removed = lock.entries.keys.filter { !present.contains($0) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var settings: [String] = []
        if lock.layerName != plan.config.layerName { settings.append("layer_name: \(lock.layerName) → \(plan.config.layerName)") }
        if lock.compressionLevel != plan.config.compressionLevel {
            settings.append("compression_level: \(lock.compressionLevel) → \(plan.config.compressionLevel)")
        }
        return CheckReport(lockFile: lockPath, lockMissing: false, added: added, removed: removed, changed: changed, settings: settings)
    }

    static func contentDigest(of entry: PlannedEntry) throws -> Digest {
        switch entry.kind {
        case .file:
            return try SHA256.hash(fileAt: entry.sourcePath)
        case .symlink(let target):
            return SHA256.hash(Data(target.utf8))
        }
    }
}
