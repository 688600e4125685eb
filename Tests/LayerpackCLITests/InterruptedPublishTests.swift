import AWSClient
import Foundation
import Testing
import TestSupport

/// `layerpack publish` killed or interrupted at the worst moments, then run again (the binary, against
/// moto behind the fault proxy, which holds a chosen request so the test can strike while it is open).
@Suite struct InterruptedPublish {
    let moto: MotoServer
    let layerName = MotoServer.uniqueName("interrupted")
    let folder: String

    init() throws {
        moto = try MotoServer.shared()
        folder = NSTemporaryDirectory() + "/layerpack-interrupted-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/src", withIntermediateDirectories: true)
        try write("src/mod.py", "VALUE = 1\n")
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/" + name))
    }

    func configure(_ extra: String = "") throws {
        try write("layerpack.yml", "layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\nsources: [src]\n\(extra)")
    }

    func environment(_ endpoint: String? = nil) -> [String: String] {
        moto.environment(endpoint: endpoint).compactMapValues { $0 }
    }

    func start(through endpoint: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["publish"]
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        process.environment = ProcessInfo.processInfo.environment.merging(environment(endpoint)) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    func versions() throws -> [Int] {
        try LambdaClient(configuration: try moto.configuration()).listLayerVersions(layerName: layerName).map(\.version).sorted()
    }

    /// A source file too large for one PutObject, so the zip goes up in parts.
    func addLargeFile() throws {
        var generator = SystemRandomNumberGenerator()
        try Data((0..<(12 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: folder + "/src/blob.bin"))
    }

    /// A publish of a zip that goes up in two parts, caught while the second part is held open.
    func publishHeldAtTheSecondPart() throws -> (S3Client, String, FaultProxy, Process) {
        let bucket = MotoServer.uniqueName("bucket")
        let s3 = S3Client(configuration: try moto.configuration())
        try s3.createBucket(bucket)
        try addLargeFile()
        try configure("s3_bucket: \(bucket)\n")
        let proxy = try FaultProxy(upstream: moto)
        try proxy.inject(.hold, matching: "partNumber=2")
        let publish = try start(through: proxy.endpoint)
        try #require(try proxy.waitForHeldRequest())
        return (s3, bucket, proxy, publish)
    }

    @Test func killedAfterLambdaAnsweredThenPublishedAgainLeavesOneVersion() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try configure()
        #expect(try layerpack(["publish"], in: folder, environment: environment()).status == 0)
        try write("src/mod.py", "VALUE = 2\n")
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        try proxy.inject(.holdResponseAfterForwarding, matching: "POST /2018-10-31/layers/")
        let publish = try start(through: proxy.endpoint)
        #expect(try proxy.waitForHeldRequest())
        kill(publish.processIdentifier, SIGKILL)
        publish.waitUntilExit()
        try proxy.release()
        #expect(try versions() == [1, 2])

        let again = try layerpack(["publish"], in: folder, environment: environment())
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("published: false") && again.stdout.contains("version: 2"))
        #expect(try versions() == [2])
    }

    @Test func uploadsAKilledRunLeftOpenAreAbortedByTheNextPublish() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (s3, bucket, proxy, publish) = try publishHeldAtTheSecondPart()
        defer { proxy.stop() }
        kill(publish.processIdentifier, SIGKILL)
        publish.waitUntilExit()
        try proxy.release()
        #expect(try s3.listMultipartUploads(bucket: bucket).count == 1)

        let again = try layerpack(["publish"], in: folder, environment: environment())
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("aborting an unfinished upload"))
        #expect(try s3.listMultipartUploads(bucket: bucket).isEmpty)
        #expect(try versions() == [1])
    }

    @Test func anInterruptedUploadIsAbortedBeforeExiting() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (s3, bucket, proxy, publish) = try publishHeldAtTheSecondPart()
        defer { proxy.stop() }
        #expect(try s3.listMultipartUploads(bucket: bucket).count == 1)
        kill(publish.processIdentifier, SIGINT)
        publish.waitUntilExit()
        #expect(publish.terminationReason == .exit && publish.terminationStatus == 130)
        #expect(try s3.listMultipartUploads(bucket: bucket).isEmpty)
        #expect(try versions().isEmpty)
        let leftovers = (FileManager.default.subpaths(atPath: folder) ?? []).filter { $0.contains(".layerpack-tmp.") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        try proxy.release()
    }
}
