import AWSClient
import Foundation

/// Where a layer is published: a layer name in a region of an account.
public struct PublishTarget: Codable, Hashable, Sendable, CustomStringConvertible {
    public let layerName: String
    public let region: String
    /// The credentials' account, from Lambda's answers; nil while the layer has no version there.
    public var account: String?

    public init(layerName: String, region: String, account: String? = nil) {
        self.layerName = layerName
        self.region = region
        self.account = account
    }

    enum CodingKeys: String, CodingKey {
        case layerName = "layer_name", region, account
    }

    public var description: String { "\(layerName) in \(region)" + (account.map { " (account \($0))" } ?? "") }
}

/// What exists remotely for one target: the output of observe, and all plan needs to know of AWS.
public struct TargetObservation: Codable, Sendable {
    public var target: PublishTarget
    /// The state's record for this target, when its version still exists.
    public var recorded: TargetRecord?
    /// The recorded version as Lambda describes it now.
    public var recordedVersion: LayerVersion?
    /// Every version number, newest first.
    public var versions: [Int]
    /// The newest version and the versions just below it with the same content and metadata, newest
    /// first: duplicates of one change published at once, the lowest of which is the one to keep.
    public var newestRun: [LayerVersion]
    /// The zip's hash as the S3 object the zip would be uploaded to says it holds (`x-amz-meta-layerpack-sha256`).
    public var objectHash: String?
    /// That object's version id (a versioned bucket), so a publish from it needs no second look.
    public var objectVersion: String?
    /// With `permissions:`, the policy statement ids of the versions that may stay managed (the recorded
    /// one, the lowest of the newest duplicates), by version number.
    public var policies: [String: [String]] = [:]

    public init(target: PublishTarget, recorded: TargetRecord? = nil, recordedVersion: LayerVersion? = nil, versions: [Int] = [],
                newestRun: [LayerVersion] = [], objectHash: String? = nil) {
        self.target = target
        self.recorded = recorded
        self.recordedVersion = recordedVersion
        self.versions = versions
        self.newestRun = newestRun
        self.objectHash = objectHash
    }
}

/// The zip a plan publishes, identified by its hash.
public struct PlannedArtifact: Codable, Sendable, Equatable {
    public let sourceCodeHash: String
    public let sourceCodeSize: Int64?
    /// The local zip (not necessarily written yet: publish builds only when the bytes are needed); nil
    /// when an existing S3 object is published.
    public let filename: String?

    enum CodingKeys: String, CodingKey {
        case sourceCodeHash = "source_code_hash", sourceCodeSize = "source_code_size", filename
    }
}

/// What publish will do for every target, and why: the output of plan, the input of apply.
public struct PublishPlan: Codable, Sendable {
    public let layerName: String
    public let artifact: PlannedArtifact
    public let targets: [TargetPlan]

    enum CodingKeys: String, CodingKey {
        case layerName = "layer_name", artifact, targets
    }

    /// Whether applying needs the zip's bytes: a version is published from the local zip, directly or
    /// by uploading it.
    public var needsZip: Bool {
        artifact.filename != nil && targets.contains { $0.action == .publish && ($0.s3 == nil || $0.upload) }
    }
}

public struct TargetPlan: Codable, Sendable {
    public enum Action: String, Codable, Sendable {
        /// Publish a new version.
        case publish
        /// Record a version that already holds this content and metadata instead of the recorded one.
        case adopt
        /// The managed version already holds this content and metadata.
        case unchanged
    }

    public let target: PublishTarget
    public let action: Action
    public let reason: String
    /// The version kept (unchanged) or adopted; nil when publishing.
    public let version: LayerVersion?
    /// The version the new or adopted one replaces, deleted unless `skip_destroy`.
    public let replacedVersion: Int?
    /// The newest version observed.
    public let newestVersion: Int?
    /// Publishing: where the zip goes in S3 (nil: sent in the request); unchanged: where it came from, if recorded.
    public let s3: S3Location?
    /// Publishing through S3: whether the object must be uploaded (it does not hold this zip yet).
    public let upload: Bool
    /// Statements to add to the managed version's policy (`permissions:`).
    public let addPermissions: [LayerPermission]
    /// Statement ids (layerpack's own) to remove from the managed version's policy.
    public let removeStatements: [String]
    /// Versions to delete once the managed version is in place: the replaced one (unless `skip_destroy`),
    /// or, with `keep: N`, all but the newest N.
    public let deleteVersions: [Int]

    enum CodingKeys: String, CodingKey {
        case target, action, reason, version, replacedVersion = "replaced_version", newestVersion = "newest_version", s3, upload
        case addPermissions = "add_permissions", removeStatements = "remove_statements", deleteVersions = "delete_versions"
    }

    /// Whether applying changes anything remotely.
    public var changesSomething: Bool { action != .unchanged || !addPermissions.isEmpty || !removeStatements.isEmpty || !deleteVersions.isEmpty }
}

/// The decision: a pure function of the config, the artifact and the observations.
public enum PublishPlanner {
    public static func plan(config: LayerConfig, artifact: PlannedArtifact, observations: [TargetObservation]) -> PublishPlan {
        PublishPlan(layerName: config.layerName, artifact: artifact,
                    targets: observations.map { plan(config: config, artifact: artifact, observation: $0) })
    }

    static func plan(config: LayerConfig, artifact: PlannedArtifact, observation: TargetObservation) -> TargetPlan {
        let decision = decide(config: config, artifact: artifact, observation: observation)
        let managed = decision.version?.version
        // Permissions: the managed version gets exactly the configured statements (a new version has none).
        let present = Set((managed.flatMap { observation.policies[String($0)] } ?? []).filter { $0.hasPrefix(LayerPermission.statementPrefix) })
        let wanted = config.permissions ?? []
        let add = config.permissions == nil ? [] : wanted.filter { !present.contains($0.statementID) }
        let remove = config.permissions == nil ? [] : present.subtracting(wanted.map(\.statementID)).sorted()
        // Versions to delete: with `keep: N`, all but the newest N (never the managed one); else the replaced one.
        var delete: [Int]
        if let keep = config.keep {
            let survivors = decision.action == .publish ? keep - 1 : keep
            delete = Array(observation.versions.dropFirst(survivors)).filter { $0 != managed }
        } else {
            delete = decision.replaced.map { [$0] } ?? []
            if config.skipDestroy || decision.replaced == managed { delete = [] }
        }
        var reason = decision.reason
        var changes: [String] = []
        if !add.isEmpty { changes.append("adding the permission for \(add.map(\.summary).joined(separator: ", "))") }
        if !remove.isEmpty { changes.append("removing the statements \(remove.map { "`\($0)`" }.joined(separator: ", "))") }
        if !delete.isEmpty { changes.append("deleting version\(delete.count == 1 ? "" : "s") \(delete.map(String.init).joined(separator: ", "))") }
        if !changes.isEmpty { reason += "; " + changes.joined(separator: "; ") }
        return TargetPlan(target: observation.target, action: decision.action, reason: reason, version: decision.version,
                          replacedVersion: decision.replaced, newestVersion: observation.versions.first, s3: decision.s3,
                          upload: decision.upload, addPermissions: add, removeStatements: remove, deleteVersions: delete)
    }

    /// The action for the content and metadata alone.
    private static func decide(config: LayerConfig, artifact: PlannedArtifact, observation: TargetObservation)
        -> (action: TargetPlan.Action, reason: String, version: LayerVersion?, replaced: Int?, s3: S3Location?, upload: Bool) {
        let hash = artifact.sourceCodeHash
        if let recorded = observation.recordedVersion, differences(from: recorded, config: config, hash: hash).isEmpty {
            return (.unchanged, "version \(recorded.version) already has this content and metadata; nothing to publish",
                    recorded, nil, observation.recorded?.s3Location, false)
        }
        if let top = observation.newestRun.first, let lowest = observation.newestRun.last,
           differences(from: top, config: config, hash: hash).isEmpty {
            guard let recorded = observation.recordedVersion else {
                return (.unchanged, "version \(lowest.version) already has this content and metadata; nothing to publish", lowest, nil, nil, false)
            }
            return (.adopt, "version \(lowest.version), newer than the recorded version \(recorded.version), already has this content and metadata; adopting it",
                    lowest, recorded.version, nil, false)
        }
        let managed = observation.recordedVersion ?? observation.newestRun.first
        let reasons = managed.map { differences(from: $0, config: config, hash: hash) } ?? ["no version of `\(config.layerName)` is published yet"]
        // The object version: the configured one for an existing object, the observed one for an object that already holds the zip.
        let upload = artifact.filename != nil && observation.objectHash != hash
        let s3 = config.s3Bucket(in: observation.target.region).map {
            S3Location(bucket: $0, key: config.s3Key ?? defaultS3Key(config: config, hash: hash),
                       objectVersion: artifact.filename == nil ? config.s3ObjectVersion : upload ? nil : observation.objectVersion)
        }
        return (.publish, reasons.joined(separator: "; "), nil, managed?.version, s3, s3 != nil && upload)
    }

    /// Why `version` differs from what the config and the zip ask for; empty when it does not.
    public static func differences(from version: LayerVersion, config: LayerConfig, hash: String) -> [String] {
        var changes: [String] = []
        let published = version.content?.codeSha256 ?? "unknown"
        if published != hash { changes.append("the content changed (version \(version.version) has \(published), the zip has \(hash))") }
        if (version.description ?? "") != (config.description ?? "") { changes.append("`description` changed") }
        if (version.licenseInfo ?? "") != (config.licenseInfo ?? "") { changes.append("`license_info` changed") }
        if Set(version.compatibleRuntimes) != Set(config.compatibleRuntimes) { changes.append("`compatible_runtimes` changed") }
        if Set(version.compatibleArchitectures) != Set(config.compatibleArchitectures) { changes.append("`compatible_architectures` changed") }
        return changes
    }

    /// `layerpack/<layer>/<sha256 hex>.zip`: content-addressed, so any run with the same zip finds it.
    public static func defaultS3Key(config: LayerConfig, hash: String) -> String {
        let hex = Data(base64Encoded: hash).map { $0.map { String(format: "%02x", $0) }.joined() } ?? hash
        return "layerpack/\(config.layerName)/\(hex).zip"
    }
}

extension LayerPermission {
    /// `123456789012`, `every account`, or `the organisation o-…`, for reasons.
    var summary: String {
        if let organizationID { return "the organisation `\(organizationID)`" }
        return principal == "*" ? "every account" : "the account `\(principal)`"
    }
}

extension LayerVersion {
    /// Same content and metadata: duplicates of one publish.
    func isDuplicate(of other: LayerVersion) -> Bool {
        content?.codeSha256 == other.content?.codeSha256 && (description ?? "") == (other.description ?? "")
            && (licenseInfo ?? "") == (other.licenseInfo ?? "") && Set(compatibleRuntimes) == Set(other.compatibleRuntimes)
            && Set(compatibleArchitectures) == Set(other.compatibleArchitectures)
    }
}

/// What `layerpack plan -o FILE` writes and `layerpack apply FILE` reads: the plan, and the config it
/// was made from (its path and SHA-256, so apply refuses a config that changed since).
public struct PlanFile: Codable, Sendable {
    public static let currentVersion = 1

    public let planVersion: Int
    /// The config's absolute path.
    public let config: String
    public let configSHA256: String
    public let plan: PublishPlan

    enum CodingKeys: String, CodingKey {
        case planVersion = "plan_version", config, configSHA256 = "config_sha256", plan
    }

    init(config: LayerConfig, plan: PublishPlan) throws {
        planVersion = PlanFile.currentVersion
        self.config = URL(fileURLWithPath: config.directory).appendingPathComponent(URL(fileURLWithPath: config.file).lastPathComponent).path
        configSHA256 = try FileIO.digestOfConfig(config)
        self.plan = plan
    }

    public func write(to path: String) throws {
        var data = try stableJSONEncoder.encode(self)
        data.append(0x0a)
        try FileIO.writeAtomically(data, to: path)
    }

    public static func read(from path: String) throws -> PlanFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw BuildError.unreadable(path: path, reason: "no such plan file; write one with `layerpack plan -o \(path)`")
        }
        guard let file = try? JSONDecoder().decode(PlanFile.self, from: data), file.planVersion == currentVersion else {
            throw BuildError.unreadable(path: path, reason: "it is not a plan written by this layerpack's `layerpack plan -o`")
        }
        return file
    }
}
