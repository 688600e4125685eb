import AWSClient
import Foundation
import Testing
import TestSupport
@testable import LayerpackCore

/// Regions, a state record per target, and the CI fast path, against moto (one server serves every region).
@Suite struct PublishTargets {
    let moto: MotoServer
    let folder: TemporaryFolder
    let layerName = MotoServer.uniqueName("targets")

    init() throws {
        moto = try MotoServer.shared()
        folder = try TemporaryFolder.withModule()
    }

    func config(_ extra: String = "") throws -> LayerConfig { try folder.layerConfig(layerName, extra) }

    func aws(region: String = "us-east-1", endpoint: String? = nil) throws -> AWSConfiguration {
        try moto.configuration(endpoint: endpoint, ["AWS_REGION": region], retryPolicy: RetryPolicy(sleep: { _ in }))
    }

    func versions(in region: String) throws -> [Int] {
        try LambdaClient(configuration: try aws(region: region)).listLayerVersions(layerName: layerName).map(\.version).sorted()
    }

    @Test func twoRegionsArePublishedThenUnchangedInBoth() throws {
        let config = try config("regions: [us-east-1, eu-west-1]\n")
        let first = try Publisher(config: config, aws: try aws()).run()
        #expect(first.targets.map(\.target.region) == ["us-east-1", "eu-west-1"])
        #expect(first.targets.allSatisfy { $0.published && $0.layerVersion?.version == 1 })
        #expect(first.targets.map { $0.layerVersion?.layerVersionArn.contains(":\($0.target.region):") } == [true, true])
        #expect(try versions(in: "us-east-1") == [1] && versions(in: "eu-west-1") == [1])
        let state = try #require(try PublishState.read(for: config))
        #expect(state.targets.map(\.region) == ["eu-west-1", "us-east-1"])

        let again = try Publisher(config: config, aws: try aws()).run()
        #expect(again.targets.map(\.action) == [.unchanged, .unchanged])
        #expect(try versions(in: "us-east-1") == [1] && versions(in: "eu-west-1") == [1])
    }

    @Test func eachRegionUsesItsOwnBucketAndAFailingRegionDoesNotUndoTheOther() throws {
        let bucket = "\(layerName)-{region}"
        let east = S3Client(configuration: try aws(region: "us-east-1"))
        try east.createBucket("\(layerName)-us-east-1")
        // No bucket in eu-west-1 yet: that region fails, us-east-1 goes ahead.
        let config = try config("regions: [us-east-1, eu-west-1]\ns3_bucket: \(bucket)\n")
        let report = try Publisher(config: config, aws: try aws()).run()
        #expect(report.failed)
        let (ok, failed) = (report.targets[0], report.targets[1])
        #expect(ok.published && ok.s3?.bucket == "\(layerName)-us-east-1")
        #expect(failed.failed && failed.diagnostics.first?.location == .target(failed.target))
        #expect(failed.diagnostics.first?.message.contains("NoSuchBucket") == true)
        #expect(try versions(in: "us-east-1") == [1] && versions(in: "eu-west-1").isEmpty)

        try S3Client(configuration: try aws(region: "eu-west-1")).createBucket("\(layerName)-eu-west-1")
        let retried = try Publisher(config: config, aws: try aws()).run()
        #expect(!retried.failed)
        #expect(retried.targets.map(\.action) == [.unchanged, .publish])
        #expect(retried.targets[1].s3?.bucket == "\(layerName)-eu-west-1")
    }

    @Test func switchingRegionKeepsBothRecords() throws {
        let config = try config()
        _ = try Publisher(config: config, aws: try aws(region: "us-east-1")).run()
        _ = try Publisher(config: config, aws: try aws(region: "ap-southeast-2")).run()
        let state = try #require(try PublishState.read(for: config))
        #expect(state.targets.map(\.region) == ["ap-southeast-2", "us-east-1"])
        // Back to the first region: its record is still there and its version unchanged.
        let back = try Publisher(config: config, aws: try aws(region: "us-east-1")).run()
        #expect(back.single.action == .unchanged && back.layerVersion?.version == 1)
        #expect(try versions(in: "us-east-1") == [1])
    }

    @Test func theFirstStateFormatIsReadAsOneTarget() throws {
        let config = try config()
        let published = try Publisher(config: config, aws: try aws()).run()
        let arn = try #require(published.layerVersion?.layerVersionArn)
        try folder.write("layerpack.state.json", """
            {"arn": "\(arn)", "layer_arn": "\(arn.dropLast(2))", "layer_name": "\(layerName)", "version": 1,
             "source_code_hash": "\(published.targets[0].layerVersion?.content?.codeSha256 ?? "")"}
            """)
        let state = try #require(try PublishState.read(for: config))
        #expect(state.targets.count == 1 && state.targets[0].region == "us-east-1" && state.targets[0].account == "123456789012")
        let again = try Publisher(config: config, aws: try aws()).run()
        #expect(again.single.action == .unchanged)
        #expect(try folder.read("layerpack.state.json").contains(Data("\"state_version\" : 2".utf8)))
    }

    @Test func theFastPathBuildsNothingWhenNothingChanged() throws {
        let config = try config()
        _ = try Publisher(config: config, aws: try aws()).run()
        // A fresh clone: the committed lock, no zip, no caches.
        try FileManager.default.removeItem(atPath: folder.url("dist"))
        try FileManager.default.removeItem(atPath: folder.url(".layerpack"))
        let report = try Publisher(config: config, aws: try aws()).run()
        #expect(report.single.action == .unchanged)
        #expect(!folder.exists("dist"))
    }

    @Test func theFastPathPublishesFromTheObjectAlreadyInTheBucketWithoutUploading() throws {
        let bucket = MotoServer.uniqueName("bucket")
        try S3Client(configuration: try aws()).createBucket(bucket)
        let first = try Publisher(config: try config("s3_bucket: \(bucket)\n"), aws: try aws()).run()
        #expect(first.published)
        // Only the metadata changes: the object at the content-addressed key holds this zip already.
        try FileManager.default.removeItem(atPath: folder.url("dist"))
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        let second = try Publisher(config: try config("s3_bucket: \(bucket)\ndescription: changed\n"), aws: try aws(endpoint: proxy.endpoint)).run()
        #expect(second.published && second.s3Key == first.s3Key)
        #expect(try proxy.requestLog().filter { $0.hasPrefix("PUT ") || $0.hasPrefix("POST /\(bucket)") }.isEmpty)
        #expect(!folder.exists("dist"))
    }
}

@Suite struct TwoConfigsInOneFolder {
    @Test func eachKeepsItsOwnStatCache() throws {
        let folder = try TemporaryFolder()
        for index in 0..<20 {
            try folder.write("first/m\(index).py", "x = \(index)\n")
            try folder.write("second/m\(index).py", "y = \(index)\n")
        }
        let first = try folder.config("layer_name: first\nlayout: python\nsources: [first]\n", name: "first.yml")
        let second = try folder.config("layer_name: second\nlayout: python\nsources: [second]\n", name: "second.yml")
        usleep(50_000)
        let options = BuildOptions(useCache: true)
        _ = try LayerBuilder.build(try LayerPlan(config: first), options: options)
        _ = try LayerBuilder.build(try LayerPlan(config: second), options: options)
        #expect(first.statCachePath != second.statCachePath)
        // Neither run undid the other's cache: checking either hashes nothing.
        #expect(try LayerCheck.run(try LayerPlan(config: first), options: options).statistics.hashed == 0)
        #expect(try LayerCheck.run(try LayerPlan(config: second), options: options).statistics.hashed == 0)
    }
}
