import AWSClient
import Foundation
import Synchronization
import Testing

/// A real `moto_server` on 127.0.0.1 with signature checking on, started once per test process.
///
/// ```swift
/// @Test func publishes() throws {
///     let moto = try MotoServer.shared()          // skips the test when moto cannot start (fails under CI=true)
///     let configuration = try moto.configuration()
///     let lambda = LambdaClient(configuration: configuration)
///     …
/// }
/// ```
/// Tests share the server: give buckets and layers names from `MotoServer.uniqueName(_:)`.
public struct MotoServer: Sendable {
    public let port: Int
    /// `http://127.0.0.1:PORT`
    public let endpoint: String
    public let region = "us-east-1"
    /// A real IAM user's key in moto, with an allow-all policy attached.
    public let accessKeyID: String
    public let secretAccessKey: String
    /// A role with an allow-all policy, for AssumeRoleWithWebIdentity.
    public let webIdentityRoleARN: String
    /// A role with an allow-all policy that any principal may assume with sts:AssumeRole.
    public let assumableRoleARN: String
    /// Holds an empty `config` and `credentials` file, and serves as `HOME`.
    public let scratchFolder: String

    private static let instance: Result<MotoServer, HelperError> = Result { try MotoServer.start() }.mapError { $0 as? HelperError ?? HelperError("\($0)") }
    private static let process = Mutex<HelperProcess?>(nil)

    /// The shared server. When it cannot start, the calling test is skipped with the reason, or, under
    /// `CI=true`, fails with it.
    public static func shared() throws -> MotoServer {
        switch instance {
        case .success(let server):
            return server
        case .failure(let error):
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                throw HelperError("moto_server is required under CI=true but could not start: \(error)")
            }
            try Test.cancel("Skipped: moto_server could not start (\(error)). Install it with `pip install 'moto[server]'`.")
        }
    }

    private static func start() throws -> MotoServer {
        let helper = try HelperProcess(script: "moto_harness.py", logName: "moto")
        process.withLock { $0 = helper }
        guard let port = helper.greeting["port"] as? Int, let id = helper.greeting["accessKeyID"] as? String,
              let secret = helper.greeting["secretAccessKey"] as? String, let role = helper.greeting["webIdentityRoleARN"] as? String,
              let assumable = helper.greeting["assumableRoleARN"] as? String
        else { throw HelperError("moto_harness.py answered without port, keys and role: \(helper.greeting.keys.sorted())") }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("layerpack-moto-\(getpid())")
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        for name in ["config", "credentials"] {
            _ = FileManager.default.createFile(atPath: scratch.appendingPathComponent(".aws/\(name)").path, contents: Data())
        }
        return MotoServer(
            port: port, endpoint: "http://127.0.0.1:\(port)", accessKeyID: id, secretAccessKey: secret,
            webIdentityRoleARN: role, assumableRoleARN: assumable, scratchFolder: scratch.path
        )
    }

    /// An environment for `AWSConfiguration.resolve`: every endpoint at `endpoint` (moto, or a fault proxy
    /// in front of it), the region, the keys, no instance metadata, and empty config files under a scratch
    /// `HOME`, so the developer's own `~/.aws` is never read. `overrides` replace or add entries; a value
    /// of nil removes one.
    public func environment(endpoint: String? = nil, _ overrides: [String: String?] = [:]) -> [String: String] {
        var environment = [
            "AWS_ENDPOINT_URL": endpoint ?? self.endpoint,
            "AWS_REGION": region,
            "AWS_ACCESS_KEY_ID": accessKeyID,
            "AWS_SECRET_ACCESS_KEY": secretAccessKey,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "\(scratchFolder)/.aws/config",
            "AWS_SHARED_CREDENTIALS_FILE": "\(scratchFolder)/.aws/credentials",
            "HOME": scratchFolder,
            "NO_PROXY": "127.0.0.1,localhost",
        ]
        for (name, value) in overrides { environment[name] = value }
        return environment
    }

    /// A configuration resolved from `environment(endpoint:overrides)`.
    public func configuration(endpoint: String? = nil, _ overrides: [String: String?] = [:], retryPolicy: RetryPolicy = RetryPolicy()) throws -> AWSConfiguration {
        try AWSConfiguration.resolve(environment: environment(endpoint: endpoint, overrides), retryPolicy: retryPolicy)
    }

    /// `prefix-` and a random suffix: a name for a bucket or layer no other test uses.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}
