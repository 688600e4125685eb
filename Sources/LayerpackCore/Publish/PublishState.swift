import AWSClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The layer versions layerpack manages, one record per target (account and region), as `publish`
/// and `import` last recorded them beside the config (`layerpack.state.json`). Holds no secrets; safe
/// to commit. Switching region or account adds a record and never loses another's.
public struct PublishState: Codable, Equatable, Sendable {
    public static let currentVersion = 2

    public var stateVersion: Int
    public var layerName: String
    /// Sorted by region, then account.
    public var targets: [TargetRecord]

    enum CodingKeys: String, CodingKey {
        case stateVersion = "state_version", layerName = "layer_name", targets
    }

    public init(layerName: String, targets: [TargetRecord] = []) {
        stateVersion = PublishState.currentVersion
        self.layerName = layerName
        self.targets = targets
    }

    /// `layerpack.yml` → `layerpack.state.json`, beside it.
    public static func path(for config: LayerConfig) -> String { config.publishStatePath }

    /// The state beside the config; the first format (one record at the top level) is read as one target.
    public static func read(for config: LayerConfig) throws -> PublishState? {
        let path = path(for: config)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let unreadable = BuildError.unreadable(path: path, reason: "it is not a layerpack state file; delete it (layerpack then compares with the newest published version) or run `layerpack import ARN`")
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            if let state = try? JSONDecoder().decode(PublishState.self, from: data) { return state }
            let first = try JSONDecoder().decode(TargetRecord.FirstFormat.self, from: data)
            guard let record = TargetRecord(first) else { throw unreadable }
            return PublishState(layerName: first.layerName, targets: [record])
        } catch {
            throw unreadable
        }
    }

    /// The records of a region (several when several accounts publish there).
    public func records(in region: String) -> [TargetRecord] { targets.filter { $0.region == region } }

    /// Adds the record, replacing the one for the same account and region.
    public mutating func update(_ record: TargetRecord) {
        targets.removeAll { $0.region == record.region && $0.account == record.account }
        targets.append(record)
        targets.sort { ($0.region, $0.account) < ($1.region, $1.account) }
    }

    public func write(for config: LayerConfig) throws {
        var data = try stableJSONEncoder.encode(self)
        data.append(0x0a)
        try FileIO.writeAtomically(data, to: PublishState.path(for: config))
    }
}

/// One target's managed version.
public struct TargetRecord: Codable, Equatable, Sendable {
    public let account: String
    public let region: String
    public let layerArn: String
    public let arn: String
    public let version: Int
    public let createdDate: String?
    public let sourceCodeHash: String?
    public let sourceCodeSize: Int?
    public let s3Bucket: String?
    public let s3Key: String?
    public let s3ObjectVersion: String?

    enum CodingKeys: String, CodingKey {
        case account, region, layerArn = "layer_arn", arn, version, createdDate = "created_date"
        case sourceCodeHash = "source_code_hash", sourceCodeSize = "source_code_size"
        case s3Bucket = "s3_bucket", s3Key = "s3_key", s3ObjectVersion = "s3_object_version"
    }

    /// The record of `version`, published from `s3` (when known).
    public init(_ version: LayerVersion, hash: String?, s3: S3Location?) throws {
        let arn = try LayerVersionARN(version.layerVersionArn)
        account = arn.account
        region = arn.region
        layerArn = version.layerArn
        self.arn = version.layerVersionArn
        self.version = version.version
        createdDate = version.createdDate
        sourceCodeHash = version.content?.codeSha256 ?? hash
        sourceCodeSize = version.content?.codeSize
        s3Bucket = s3?.bucket
        s3Key = s3?.key
        s3ObjectVersion = s3?.objectVersion
    }

    /// Where the version's zip was uploaded, when this record knows.
    public var s3Location: S3Location? {
        guard let s3Bucket, let s3Key else { return nil }
        return S3Location(bucket: s3Bucket, key: s3Key, objectVersion: s3ObjectVersion)
    }

    /// The state file's first format: one record at the top level, its region and account in its ARN.
    struct FirstFormat: Decodable {
        let layerName: String
        let layerArn: String
        let arn: String
        let version: Int
        let createdDate: String?
        let sourceCodeHash: String?
        let sourceCodeSize: Int?
        let s3Bucket: String?
        let s3Key: String?
        let s3ObjectVersion: String?

        enum CodingKeys: String, CodingKey {
            case layerName = "layer_name", layerArn = "layer_arn", arn, version, createdDate = "created_date"
            case sourceCodeHash = "source_code_hash", sourceCodeSize = "source_code_size"
            case s3Bucket = "s3_bucket", s3Key = "s3_key", s3ObjectVersion = "s3_object_version"
        }
    }

    init?(_ first: FirstFormat) {
        guard let arn = try? LayerVersionARN(first.arn) else { return nil }
        account = arn.account
        region = arn.region
        layerArn = first.layerArn
        self.arn = first.arn
        version = first.version
        createdDate = first.createdDate
        sourceCodeHash = first.sourceCodeHash
        sourceCodeSize = first.sourceCodeSize
        s3Bucket = first.s3Bucket
        s3Key = first.s3Key
        s3ObjectVersion = first.s3ObjectVersion
    }
}

/// Where a layer's zip is in S3.
public struct S3Location: Codable, Equatable, Sendable {
    public let bucket: String
    public let key: String
    public let objectVersion: String?

    enum CodingKeys: String, CodingKey {
        case bucket = "s3_bucket", key = "s3_key", objectVersion = "s3_object_version"
    }

    public init(bucket: String, key: String, objectVersion: String?) {
        self.bucket = bucket
        self.key = key
        self.objectVersion = objectVersion
    }
}

/// A layer version ARN: `arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME:VERSION`.
public struct LayerVersionARN: Equatable, Sendable {
    public let region: String
    public let account: String
    public let layerName: String
    public let version: Int

    public init(_ text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 8, parts[0] == "arn", parts[1].hasPrefix("aws"), parts[2] == "lambda", parts[5] == "layer",
              !parts[3].isEmpty, parts[4].count == 12, parts[4].allSatisfy(\.isNumber),
              !parts[6].isEmpty, parts[6].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }),
              let version = Int(parts[7]), version > 0
        else { throw PublishError.invalidLayerVersionARN(text) }
        region = parts[3]
        account = parts[4]
        layerName = parts[6]
        self.version = version
    }
}

/// One `publish` of a layer from a folder at a time on this machine: an exclusive `flock` on
/// `.layerpack/<state file>.lock`, held from the first look at Lambda until the state is recorded.
/// The state file itself is replaced by a rename on every write, so it cannot carry the lock. The
/// kernel releases the lock when the process ends, however it ends.
struct PublishTurn {
    private let descriptor: Int32

    init(config: LayerConfig, waiting: (String) -> Void) throws {
        let path = config.stateDirectory + "/" + URL(fileURLWithPath: config.publishStatePath).lastPathComponent + ".lock"
        guard FileIO.makeStateFolder(config.stateDirectory) else {
            throw BuildError.cannotWrite(path: path, reason: "its folder `\(config.stateDirectory)` could not be created")
        }
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw BuildError.cannotWrite(path: path, reason: FileIO.describeWriteError(errno)) }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            waiting("Another layerpack publish of \(config.layerName) from this folder is running; waiting for it to finish.")
            while flock(descriptor, LOCK_EX) != 0 && errno == EINTR {}
        }
    }

    func release() { close(descriptor) }
}
