import AWSClient
import Foundation
import Testing
import TestSupport

@Suite struct PublishTargetsCommandLine {
    @Test func severalRegionsPrintOneObjectPerTargetAndOneGitHubOutputLine() throws {
        let moto = try MotoServer.shared()
        let (layer, name) = try renamedPythonLayer("regions")
        let config = try String(contentsOfFile: layer.path + "/layerpack.yml", encoding: .utf8)
        let outputs = layer.path + "/github-output"
        _ = FileManager.default.createFile(atPath: outputs, contents: nil)
        var environment = moto.environment().compactMapValues { $0 }
        environment["GITHUB_OUTPUT"] = outputs

        // One target: today's object, plus layer_name and region.
        let single = try layerpack(["publish", "--json"], in: layer.path, environment: environment)
        #expect(single.status == 0, "\(single.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(single.stdout.utf8)) as? [String: Any])
        #expect(object["layer_name"] as? String == name && object["region"] as? String == "us-east-1")
        #expect(object["version"] as? Int == 1 && object["action"] as? String == "publish")

        try Data((config + "regions: [us-east-1, eu-central-1]\n").utf8).write(to: URL(fileURLWithPath: layer.path + "/layerpack.yml"))
        let several = try layerpack(["publish", "--json"], in: layer.path, environment: environment)
        #expect(several.status == 0, "\(several.stderr)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(several.stdout.utf8)) as? [String: Any])
        let targets = try #require(root["targets"] as? [[String: Any]])
        #expect(targets.map { $0["region"] as? String } == ["us-east-1", "eu-central-1"])
        #expect(targets.map { $0["action"] as? String } == ["unchanged", "publish"])

        let lines = try String(contentsOfFile: outputs, encoding: .utf8).split(separator: "\n")
        let targetsLine = try #require(lines.last { $0.hasPrefix("targets=") })
        let written = try #require(try JSONSerialization.jsonObject(with: Data(targetsLine.dropFirst("targets=".count).utf8)) as? [[String: Any]])
        #expect(written.map { $0["arn"] as? String }.allSatisfy { $0?.hasSuffix(":layer:\(name):1") == true })
    }

    @Test func aRegionThatFailsExits2AndSaysWhichWhileTheOtherIsPublished() throws {
        let moto = try MotoServer.shared()
        let (layer, name) = try renamedPythonLayer("failing")
        try Data("regions: [us-east-1, eu-west-2]\ns3_bucket: \(name)-{region}\n".utf8).append(to: layer.path + "/layerpack.yml")
        try S3Client(configuration: try moto.configuration()).createBucket("\(name)-us-east-1")
        var east = moto.environment().compactMapValues { $0 }
        east["AWS_REGION"] = "us-east-1"
        let outcome = try layerpack(["publish"], in: layer.path, environment: east)
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("\(name) in eu-west-2: error:") && outcome.stderr.contains("NoSuchBucket"), "\(outcome.stderr)")
        #expect(outcome.stdout.contains("# \(name) in us-east-1") && outcome.stdout.contains("published: true"))
    }
}

@Suite struct PlanAndApplyCommandLine {
    @Test func planWritesAFileApplyCarriesOut() throws {
        let moto = try MotoServer.shared()
        let (layer, name) = try renamedPythonLayer("planned")
        let environment = moto.environment().compactMapValues { $0 }
        try FileManager.default.createDirectory(atPath: layer.path + "/review", withIntermediateDirectories: true)

        let plan = try layerpack(["plan", "-o", "review/plan.json"], in: layer.path, environment: environment)
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("\(name) in us-east-1: publish: no version of `\(name)` is published yet"))
        #expect(FileManager.default.fileExists(atPath: layer.path + "/review/plan.json"))

        // Applied from another folder: the plan file is relative to the current one, the config is in the plan.
        let apply = try layerpack(["apply", "plan.json"], in: layer.path + "/review", environment: environment)
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("published: true") && apply.stdout.contains("version: 1"))

        let again = try layerpack(["apply", "review/plan.json"], in: layer.path, environment: environment)
        #expect(again.status == 2)
        #expect(again.stderr.contains("Stale plan") && again.stderr.contains("version 1 was published since"), "\(again.stderr)")
    }
}

@Suite struct DiffCommandLine {
    @Test func diffExits0WhenEqualAnd1WhenTheSourcesDiffer() throws {
        let moto = try MotoServer.shared()
        let bucket = MotoServer.uniqueName("bucket")
        try S3Client(configuration: try moto.configuration()).createBucket(bucket)
        let (layer, _) = try renamedPythonLayer("diffcli", extra: "s3_bucket: \(bucket)\n")
        let environment = moto.environment().compactMapValues { $0 }
        #expect(try layerpack(["publish"], in: layer.path, environment: environment).status == 0)

        let equal = try layerpack(["diff"], in: layer.path, environment: environment)
        #expect(equal.status == 0, "\(equal.stderr)")
        #expect(equal.stdout.hasPrefix("The sources match version 1"))

        try Data("# changed\n".utf8).write(to: URL(fileURLWithPath: layer.path + "/site-packages/greeting/core.py"))
        let differ = try layerpack(["diff", "--json"], in: layer.path, environment: environment)
        #expect(differ.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(differ.stdout.utf8)) as? [String: Any])
        #expect(object["changed"] as? [String] == ["python/greeting/core.py"] && object["equal"] as? Bool == false)
    }
}

extension Data {
    /// Appends these bytes to the file at `path`.
    func append(to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: self)
    }
}
