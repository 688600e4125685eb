import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The layer version layerpack manages, as `publish` and `import` last recorded it beside the config
/// (`layerpack.state.json`). Holds no secrets; safe to commit.
public struct PublishState: Codable, Equatable, Sendable {
    public let layerName: String
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
        case layerName = "layer_name", layerArn = "layer_arn", arn, version, createdDate = "created_date"
        case sourceCodeHash = "source_code_hash", sourceCodeSize = "source_code_size"
        case s3Bucket = "s3_bucket", s3Key = "s3_key", s3ObjectVersion = "s3_object_version"
    }

    /// `layerpack.yml` → `layerpack.state.json`, beside it.
    public static func path(for config: LayerConfig) -> String { config.publishStatePath }

    public static func read(for config: LayerConfig) throws -> PublishState? {
        let path = path(for: config)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(PublishState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw BuildError.unreadable(path: path, reason: "it is not a layerpack state file; delete it (layerpack then compares with the newest published version) or run `layerpack import ARN`")
        }
    }

    public func write(for config: LayerConfig) throws {
        var data = try stableJSONEncoder.encode(self)
        data.append(0x0a)
        try FileIO.writeAtomically(data, to: PublishState.path(for: config))
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
