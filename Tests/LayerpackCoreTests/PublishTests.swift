import AWSClient
import Foundation
import Hashing
import Testing
import TestSupport
@testable import LayerpackCore

/// Integration tests against the shared signature-checking moto_server.
@Suite struct PublishAgainstMoto {
    let moto: MotoServer
    let folder: TemporaryFolder
    let layerName: String

    init() throws {
        moto = try MotoServer.shared()
        folder = try TemporaryFolder()
        layerName = MotoServer.uniqueName("layer")
        try folder.write("src/pkg/mod.py", "VALUE = 1\n")
    }

    func writeConfig(_ extra: String = "") throws -> LayerConfig {
        try folder.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\ndescription: first\nsources: [src]\n\(extra)")
    }

    /// Retries without real sleeping.
    func aws(endpoint: String? = nil, _ overrides: [String: String?] = [:]) throws -> AWSConfiguration {
        try moto.configuration(endpoint: endpoint, overrides, retryPolicy: RetryPolicy(sleep: { _ in }))
    }

    func publish(_ config: LayerConfig, endpoint: String? = nil, dryRun: Bool = false) throws -> PublishReport {
        try Publisher(config: config, aws: try aws(endpoint: endpoint), options: PublishOptions(dryRun: dryRun)).run()
    }

    func versions() throws -> [Int] {
        try LambdaClient(configuration: try aws()).listLayerVersions(layerName: layerName).map(\.version).sorted()
    }

    @Test func publishesOnlyWhenContentOrMetadataChange() throws {
        let first = try publish(try writeConfig())
        #expect(first.published)
        let version = try #require(first.layerVersion)
        #expect(version.version == 1)
        #expect(version.content?.codeSha256 == first.sourceCodeHash)
        #expect(first.sourceCodeHash == (try LockFile.read(at: folder.url("layerpack.lock")))?.sourceCodeHash)
        #expect(try PublishState.read(for: try writeConfig())?.version == 1)

        let again = try publish(try writeConfig())
        #expect(!again.published)
        #expect(again.layerVersion?.version == 1)
        #expect(try versions() == [1])

        try folder.write("src/pkg/mod.py", "VALUE = 2\n")
        let changed = try publish(try writeConfig())
        #expect(changed.published && changed.layerVersion?.version == 2)
        #expect(changed.reason.contains("content changed"))
        #expect(changed.deletedVersion == 1)
        #expect(try versions() == [2])

        let metadata = try publish(try folder.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12, python3.13]\ndescription: second\nsources: [src]\n"))
        #expect(metadata.published && metadata.layerVersion?.version == 3)
        #expect(metadata.reason.contains("`description` changed") && metadata.reason.contains("`compatible_runtimes` changed"))
        #expect(try versions() == [3])
    }

    @Test func skipDestroyKeepsTheReplacedVersion() throws {
        _ = try publish(try writeConfig("skip_destroy: true\n"))
        try folder.write("src/pkg/mod.py", "VALUE = 3\n")
        let report = try publish(try writeConfig("skip_destroy: true\n"))
        #expect(report.published && report.deletedVersion == nil)
        #expect(try versions() == [1, 2])
    }

    @Test func dryRunChangesNothing() throws {
        // With the caches on, as the command line runs it: not even they are written.
        let options = PublishOptions(dryRun: true, build: BuildOptions(useCache: true))
        let report = try Publisher(config: try writeConfig(), aws: try aws(), options: options).run()
        #expect(!report.published && report.dryRun)
        #expect(report.reason.hasPrefix("would publish"))
        #expect(try versions().isEmpty)
        #expect(try folder.list() == ["layerpack.yml", "src"])

        // Existing caches are read, not changed.
        _ = try LayerBuilder.build(try LayerPlan(config: try writeConfig()), options: BuildOptions(useCache: true))
        try folder.write("src/pkg/mod.py", "VALUE = 5\n")
        let before = try FileManager.default.subpathsOfDirectory(atPath: folder.url(".layerpack")).sorted()
        let statCache = try folder.read(".layerpack/stat-cache")
        _ = try Publisher(config: try writeConfig(), aws: try aws(), options: options).run()
        #expect(try FileManager.default.subpathsOfDirectory(atPath: folder.url(".layerpack")).sorted() == before)
        #expect(try folder.read(".layerpack/stat-cache") == statCache)
        #expect(try versions().isEmpty)
    }

    @Test func publishesThroughAVersionedBucket() throws {
        let bucket = MotoServer.uniqueName("bucket")
        let s3 = S3Client(configuration: try aws())
        try s3.createBucket(bucket)
        try s3.enableVersioning(bucket: bucket)
        let config = try writeConfig("s3_bucket: \(bucket)\n")
        let report = try publish(config)
        #expect(report.published)
        let key = try #require(report.s3Key)
        let objectVersion = try #require(report.s3ObjectVersion)
        let object = try #require(try s3.headObject(bucket: bucket, key: key))
        #expect(object.versionID == objectVersion)
        #expect(object.metadata["layerpack-sha256"] == report.sourceCodeHash)
        #expect(object.contentType == "application/zip")
        #expect(Int64(object.size) == (try LockFile.read(at: config.lockFilePath))?.sourceCodeSize)

        // Metadata change only: publish again, but the object already holds this zip.
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        let second = try publish(try folder.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\ndescription: changed\nsources: [src]\ns3_bucket: \(bucket)\n"), endpoint: proxy.endpoint)
        #expect(second.published)
        #expect(second.s3ObjectVersion == objectVersion)
        #expect(try proxy.requestLog().filter { $0.hasPrefix("PUT ") }.isEmpty)

        // Unchanged: the report and the state keep the S3 location the version was published from.
        let third = try publish(try folder.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\ndescription: changed\nsources: [src]\ns3_bucket: \(bucket)\n"))
        #expect(!third.published)
        #expect(third.s3Bucket == bucket && third.s3Key == key && third.s3ObjectVersion == objectVersion)
        #expect(try PublishState.read(for: try writeConfig())?.s3ObjectVersion == objectVersion)
    }

    @Test func largeZipGoesUpInParts() throws {
        let bucket = MotoServer.uniqueName("bucket")
        try S3Client(configuration: try aws()).createBucket(bucket)
        var random = SystemRandomNumberGenerator()
        let noise = Data((0..<(12 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
        try noise.write(to: URL(fileURLWithPath: folder.url("src/blob.bin")))
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        let report = try publish(try writeConfig("s3_bucket: \(bucket)\ns3_key: layers/big.zip\n"), endpoint: proxy.endpoint)
        #expect(report.published && report.s3Key == "layers/big.zip")
        let log = try proxy.requestLog()
        #expect(log.contains { $0.hasPrefix("POST /\(bucket)/layers/big.zip?uploads") })
        #expect(log.filter { $0.hasPrefix("PUT /\(bucket)/layers/big.zip?") && $0.contains("partNumber=") }.count == 2)
        #expect(try S3Client(configuration: try aws()).listMultipartUploads(bucket: bucket).isEmpty)
    }

    @Test func publishesAnExistingObjectByItsSourceCodeHash() throws {
        let bucket = MotoServer.uniqueName("bucket")
        let s3 = S3Client(configuration: try aws())
        try s3.createBucket(bucket)
        let built = try LayerBuilder.build(try LayerPlan(config: try writeConfig()))
        _ = try s3.upload(fileAt: built.filename, bucket: bucket, key: "prebuilt.zip", contentType: "application/zip")
        let config = try folder.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\ndescription: first\ns3_bucket: \(bucket)\ns3_key: prebuilt.zip\nsource_code_hash: \(built.sourceCodeHash)\n")
        let report = try publish(config)
        #expect(report.published)
        #expect(report.layerVersion?.content?.codeSha256 == built.sourceCodeHash)
        #expect(!(try publish(config)).published)
    }

    @Test func directUploadOver50MBIsRefusedBeforeAnyRequest() throws {
        let big = FileHandle(forWritingAtPath: try folder.write("src/big.bin", ""))!
        var random = SystemRandomNumberGenerator()
        for _ in 0..<51 { try big.write(contentsOf: Data((0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })) }
        try big.close()
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        expectError("over the 52428800-byte (50 MB) limit", "Set `s3_bucket`") { _ = try publish(try writeConfig(), endpoint: proxy.endpoint) }
        #expect(try proxy.requestLog().isEmpty)
    }

    @Test func lostResponseStillPublishesExactlyOnce() throws {
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        try proxy.inject(.dropResponseAfterForwarding, matching: "POST /2018-10-31/layers/")
        let report = try publish(try writeConfig(), endpoint: proxy.endpoint)
        #expect(report.published)
        #expect(report.layerVersion?.version == 1)
        #expect(try versions() == [1])
        #expect(try proxy.requestLog().filter { $0.hasPrefix("POST ") }.count == 1)
    }

    @Test(arguments: [FaultProxy.Fault.status(503, code: "ServiceException", json: true),
                      .status(429, code: "TooManyRequestsException", retryAfter: 0, json: true), .connectionReset])
    func transientFailuresAreRetriedWithoutDuplicates(_ fault: FaultProxy.Fault) throws {
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        try proxy.inject(fault, count: 1, matching: "POST /2018-10-31/layers/")
        let report = try publish(try writeConfig(), endpoint: proxy.endpoint)
        #expect(report.published)
        #expect(try versions() == [1])
    }

    @Test func importAdoptsAVersion() throws {
        let first = try publish(try writeConfig("skip_destroy: true\n"))
        try folder.write("src/pkg/mod.py", "VALUE = 9\n")
        _ = try publish(try writeConfig("skip_destroy: true\n"))
        let arn = try #require(first.layerVersion?.layerVersionArn)
        let imported = try LayerImport.run(arn: arn, config: try writeConfig(), aws: try aws())
        #expect(imported.version == 1)
        #expect(try PublishState.read(for: try writeConfig())?.arn == arn)
        expectError("not a layer version ARN", "arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION") {
            _ = try LayerImport.run(arn: "arn:aws:lambda:us-east-1:layer:x", config: try writeConfig(), aws: try aws())
        }
        expectError("does not exist") {
            _ = try LayerImport.run(arn: String(arn.dropLast(2)) + ":77", config: try writeConfig(), aws: try aws())
        }
        expectError("in the account `999999999999`", "credentials are for the account `123456789012`") {
            _ = try LayerImport.run(arn: arn.replacingOccurrences(of: ":123456789012:", with: ":999999999999:"), config: try writeConfig(), aws: try aws())
        }
        expectError("manages `\(layerName)`") {
            _ = try LayerImport.run(arn: "arn:aws:lambda:us-east-1:123456789012:layer:other:1", config: try writeConfig(), aws: try aws())
        }
    }

    @Test func wrongSecretIsRejectedAndNotPrinted() throws {
        let secret = "definitely-not-the-secret-\(UUID().uuidString)"
        let aws = try aws(["AWS_SECRET_ACCESS_KEY": secret])
        let report = try Publisher(config: try writeConfig(), aws: aws).run()
        #expect(report.failed)
        let text = report.single.diagnostics.map(\.description).joined()
        #expect(text.contains("SignatureDoesNotMatch"))
        #expect(!text.contains(secret))
        #expect(!folder.exists("layerpack.state.json"))
    }
}

/// The file GITHUB_OUTPUT names, read back as the runner reads it.
@Suite struct GitHubOutputs {
    @Test func everyValueReadsBackAsWrittenAndAddsNoOutput() throws {
        let outputs: [(String, String?)] = [
            ("published", "true"),
            ("filename", "dist/x\nversion=666\n.zip"),
            ("layer_arn", "dist/y\nversion=667"),
            ("s3_key", "a\r\nversion=777\rb"),
            ("reason", "ends with a newline\n"),
            ("arn", "x\nlayerpack_eof_\nEOF"),
            ("version", "1"),
            ("s3_bucket", nil),
        ]
        let text = GitHubOutputFile.format(outputs)
        let read = try readGitHubOutputs(text)
        #expect(read.map(\.name) == outputs.map(\.0))
        #expect(read.map(\.value) == outputs.map { $0.1 ?? "" })
        #expect(text.hasPrefix("published=true\nfilename<<layerpack_eof_"))
        #expect(text.contains("\nversion=1\ns3_bucket=\n"))
    }

    @Test func eachMultiLineValueHasItsOwnDelimiter() throws {
        let text = GitHubOutputFile.format([("a", "1\n2"), ("b", "3\n4")])
        let delimiters = text.split(separator: "\n").filter { $0.contains("<<") }.map { $0.split(separator: "<").last! }
        #expect(delimiters.count == 2 && delimiters[0] != delimiters[1])
    }

    @Test func appendsToWhatIsThereAndCreatesAMissingFile() throws {
        let folder = try TemporaryFolder()
        let existing = try folder.write("outputs", "earlier=kept\n")
        try GitHubOutputFile(path: existing).append([("version", "2")])
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "earlier=kept\nversion=2\n")
        try GitHubOutputFile(path: folder.url("new")).append([("version", "3")])
        #expect(try String(contentsOfFile: folder.url("new"), encoding: .utf8) == "version=3\n")
    }

    @Test(arguments: ["missing-folder/outputs", ""])
    func aFileThatCannotBeAppendedToIsRefusedOnOpening(_ relative: String) throws {
        let folder = try TemporaryFolder()
        let path = folder.url(relative)
        #expect { _ = try GitHubOutputFile(path: path) } throws: { error in
            let message = "\(error)"
            return message.contains("`\(path)`") && message.contains("Nothing was published")
        }
    }
}
