import AWSClient
import Foundation
import Testing
import TestSupport
@testable import LayerpackCore

/// A content is published once, also when runs are killed or race each other (against moto).
@Suite struct PublishConverges {
    let moto: MotoServer
    let layerName = MotoServer.uniqueName("converge")

    init() throws { moto = try MotoServer.shared() }

    func aws(endpoint: String? = nil) throws -> AWSConfiguration {
        try moto.configuration(endpoint: endpoint, retryPolicy: RetryPolicy(sleep: { _ in }))
    }

    /// A checkout of the layer: the same sources and config in a folder of its own.
    func checkout(_ value: Int = 1, extra: String = "") throws -> (TemporaryFolder, LayerConfig) {
        let folder = try TemporaryFolder()
        try folder.write("src/pkg/mod.py", "VALUE = \(value)\n")
        return (folder, try folder.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\nsources: [src]\n\(extra)"))
    }

    func versions() throws -> [Int] {
        try LambdaClient(configuration: try aws()).listLayerVersions(layerName: layerName).map(\.version).sorted()
    }

    @Test func aVersionPublishedButNeverRecordedIsAdopted() throws {
        let (folder, config) = try checkout()
        _ = try Publisher(config: config, aws: try aws()).run()
        // A run that was killed right after Lambda answered: the version exists, the state names version 1.
        try folder.write("src/pkg/mod.py", "VALUE = 2\n")
        let built = try LayerBuilder.build(try LayerPlan(config: config))
        let orphan = try LambdaClient(configuration: try aws()).publishLayerVersion(PublishLayerVersionRequest(
            layerName: layerName, content: .zipFile(try Data(contentsOf: URL(fileURLWithPath: built.filename))),
            compatibleRuntimes: ["python3.12"]))
        #expect(try orphan.version == 2 && PublishState.read(for: config)?.version == 1)

        let report = try Publisher(config: config, aws: try aws()).run()
        #expect(!report.published)
        #expect(report.reason.contains("adopting it"))
        #expect(report.layerVersion?.version == 2 && report.deletedVersion == 1)
        #expect(try versions() == [2])
        #expect((try PublishState.read(for: config))?.version == 2)
    }

    @Test func publishersOnSeveralMachinesEndWithOneVersion() throws {
        let checkouts = try (0..<3).map { _ in try checkout() }
        let configs = checkouts.map(\.1)
        let aws = try aws()
        let reports = Reports()
        DispatchQueue.concurrentPerform(iterations: configs.count) { index in
            reports.add(Result { try Publisher(config: configs[index], aws: aws).run() })
        }
        let arns = try reports.all.map { try #require(try $0.get().layerVersion?.layerVersionArn) }
        #expect(Set(arns).count == 1, "\(arns)")
        #expect(try versions().count == 1)
        #expect(try versions() == [try LayerVersionARN(arns[0]).version])
        for (_, config) in checkouts { #expect((try PublishState.read(for: config))?.arn == arns[0]) }
    }

    @Test func publishersInOneFolderTakeTurns() throws {
        let (folder, config) = try checkout()
        defer { withExtendedLifetime(folder) {} }
        let aws = try aws()
        let reports = Reports()
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            reports.add(Result { try Publisher(config: config, aws: aws).run() })
        }
        let all = try reports.all.map { try $0.get() }
        // Each waited for the one before: one published, the others found it unchanged.
        #expect(all.filter(\.published).count == 1)
        #expect(Set(all.map { $0.layerVersion?.version }) == [1])
        #expect(try versions() == [1])
    }

    @Test func aStaleLockBesideANewerZipIsRepairedBeforePublishing() throws {
        let (folder, config) = try checkout()
        _ = try LayerBuilder.build(try LayerPlan(config: config))
        let oldLock = try folder.read("layerpack.lock")
        try folder.write("src/pkg/mod.py", "VALUE = 2\n")
        let newer = try LayerBuilder.build(try LayerPlan(config: config))
        let newLock = try folder.read("layerpack.lock")
        // As if a build was killed between committing the zip and the lock.
        try oldLock.write(to: URL(fileURLWithPath: folder.url("layerpack.lock")))
        #expect(!(try LayerCheck.run(try LayerPlan(config: config))).isClean)

        let artifact = try Publisher(config: config, aws: try aws()).prepareArtifact()
        #expect(artifact.artifact.sourceCodeHash == newer.sourceCodeHash)
        #expect(try folder.read("layerpack.lock") == newLock)
    }

    @Test func completeMultipartAnswered200WithAnErrorIsRetried() throws {
        let bucket = MotoServer.uniqueName("bucket")
        try S3Client(configuration: try aws()).createBucket(bucket)
        let folder = try TemporaryFolder()
        var generator = SystemRandomNumberGenerator()
        let file = folder.url("big.bin")
        try Data((0..<(9 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: file))
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        try proxy.inject(.errorWithStatus200(code: "InternalError"), matching: "POST /\(bucket)/big.bin?uploadId=")
        let s3 = S3Client(configuration: try aws(endpoint: proxy.endpoint))
        let result = try s3.upload(fileAt: file, bucket: bucket, key: "big.bin", contentType: "application/octet-stream")
        #expect(result.partCount == 2)
        #expect(try proxy.requestLog().filter { $0.hasPrefix("POST /\(bucket)/big.bin?uploadId=") }.count == 2)
        #expect(try s3.headObject(bucket: bucket, key: "big.bin")?.size == 9 << 20)
        #expect(try s3.listMultipartUploads(bucket: bucket).isEmpty)
    }
}

/// Results gathered from several threads.
private final class Reports: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<PublishReport, any Error>] = []
    var all: [Result<PublishReport, any Error>] { lock.withLock { results } }
    func add(_ result: Result<PublishReport, any Error>) { lock.withLock { results.append(result) } }
}
