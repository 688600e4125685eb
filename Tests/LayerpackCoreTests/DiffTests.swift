import AWSClient
import Foundation
import Testing
import TestSupport
@testable import LayerpackCore

/// `diff` reads a published zip's central directory by ranges and compares it with the sources.
@Suite struct DiffAgainstPublished {
    let folder: TemporaryFolder
    let layerName = MotoServer.uniqueName("diffed")

    init() throws {
        folder = try TemporaryFolder()
        try folder.write("src/pkg/mod.py", "VALUE = 1\n")
        try folder.write("src/pkg/util.py", "def f(): pass\n")
        // A large incompressible file, so reading the whole zip would show.
        var generator = SystemRandomNumberGenerator()
        try Data((0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: folder.url("src/pkg/blob.bin")))
    }

    func config(_ extra: String = "") throws -> LayerConfig {
        try folder.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\nsources: [src]\n\(extra)")
    }

    @Test func equalAfterPublishingThenExactlyTheChangedAndAddedPaths() throws {
        let moto = try MotoServer.shared()
        let aws = try moto.configuration()
        let bucket = MotoServer.uniqueName("bucket")
        try S3Client(configuration: aws).createBucket(bucket)
        let config = try config("s3_bucket: \(bucket)\n")
        let published = try Publisher(config: config, aws: aws).run()
        let zipSize = try #require(published.layerVersion?.content?.codeSize)

        let same = try LayerDiff.run(try LayerPlan(config: config), aws: aws)
        #expect(same.isEqual && same.version == 1)
        #expect(same.readFrom == "s3://\(bucket)/\(published.s3Key!)")
        // Ranges, not the whole zip: the directory is a few hundred bytes of a 3 MB zip.
        #expect(same.bytesRead > 0 && same.bytesRead < Int64(zipSize) / 10, "read \(same.bytesRead) of \(zipSize)")

        try folder.write("src/pkg/mod.py", "VALUE = 2\n")
        try folder.write("src/pkg/new.py", "NEW = True\n")
        try FileManager.default.removeItem(atPath: folder.url("src/pkg/util.py"))
        _ = try LayerBuilder.build(try LayerPlan(config: config), options: BuildOptions(useCache: true))
        let changed = try LayerDiff.run(try LayerPlan(config: config), aws: aws, options: BuildOptions(useCache: true))
        #expect(changed.changed == ["python/pkg/mod.py"])
        #expect(changed.added == ["python/pkg/new.py"])
        #expect(changed.removed == ["python/pkg/util.py"])
    }

    @Test func aPresignedLocationIsReadByRanges() throws {
        // moto's `Content.Location` is the literal `s3://`, so this path runs against a small local server
        // that answers as Lambda documents it (no signature checks) and serves the zip by `Range`.
        let built = try LayerBuilder.build(try LayerPlan(config: try config()))
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.serve("/presigned/layer.zip", file: built.filename)
        let arn = "arn:aws:lambda:us-east-1:123456789012:layer:\(layerName)"
        try server.route("GET", "/2018-10-31/layers/\(layerName)/versions", body: """
            {"LayerVersions": [{"LayerVersionArn": "\(arn):4", "Version": 4}]}
            """)
        try server.route("GET", "/2018-10-31/layers/\(layerName)/versions/4", body: """
            {"LayerArn": "\(arn)", "LayerVersionArn": "\(arn):4", "Version": 4, "CompatibleRuntimes": ["python3.12"],
             "Content": {"Location": "\(server.endpoint)/presigned/layer.zip?X-Amz-Signature=abc", "CodeSha256": "\(built.sourceCodeHash)", "CodeSize": \(built.sourceCodeSize)}}
            """)
        let aws = try AWSConfiguration.resolve(environment: [
            "AWS_ACCESS_KEY_ID": "AKIDDIFF", "AWS_SECRET_ACCESS_KEY": "diff-secret-0123456789", "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": server.endpoint, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1",
        ])
        let report = try LayerDiff.run(try LayerPlan(config: try config()), aws: aws)
        #expect(report.isEqual && report.version == 4 && report.readFrom == "Content.Location")
        let served = try server.requestLog().filter { $0.hasPrefix("served ") }
        #expect(!served.isEmpty && served.allSatisfy { $0.contains("(range ") }, "\(served)")
        #expect(report.bytesRead < built.sourceCodeSize / 10)
    }
}
