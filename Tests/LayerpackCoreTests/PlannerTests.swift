import AWSClient
import Foundation
import Testing
@testable import LayerpackCore

/// The publish decision over hand-built observations: no server, no disk.
@Suite struct Planner {
    static let hash = Data(repeating: 1, count: 32).base64EncodedString()
    static let otherHash = Data(repeating: 2, count: 32).base64EncodedString()
    let target = PublishTarget(layerName: "deps", region: "eu-west-1", account: "123456789012")

    func config(_ extra: String = "") throws -> LayerConfig {
        try LayerConfig.parse("layer_name: deps\ncompatible_runtimes: [python3.12]\ndescription: shared\nsources: [src]\n\(extra)",
                              file: "layerpack.yml", directory: "/work")
    }

    func version(_ number: Int, hash: String = Planner.hash, description: String? = "shared") -> LayerVersion {
        let arn = "arn:aws:lambda:eu-west-1:123456789012:layer:deps"
        return LayerVersion(layerArn: arn, layerVersionArn: "\(arn):\(number)", version: number, description: description,
                            compatibleRuntimes: ["python3.12"], content: .init(codeSha256: hash, codeSize: 100))
    }

    func record(_ number: Int) throws -> TargetRecord { try TargetRecord(version(number), hash: Planner.hash, s3: nil) }

    func plan(_ observation: TargetObservation, config: LayerConfig? = nil, filename: String? = "/work/dist/deps.zip") throws -> TargetPlan {
        let artifact = PlannedArtifact(sourceCodeHash: Planner.hash, sourceCodeSize: 100, filename: filename)
        return PublishPlanner.plan(config: try config ?? self.config(), artifact: artifact, observations: [observation]).targets[0]
    }

    @Test func nothingPublishedYetIsPublished() throws {
        let decision = try plan(TargetObservation(target: PublishTarget(layerName: "deps", region: "eu-west-1")))
        #expect(decision.action == .publish)
        #expect(decision.reason == "no version of `deps` is published yet")
        #expect(decision.replacedVersion == nil && decision.s3 == nil && decision.newestVersion == nil)
    }

    @Test func theRecordedVersionWithThisContentIsUnchanged() throws {
        let decision = try plan(TargetObservation(target: target, recorded: try record(3), recordedVersion: version(3),
                                                  versions: [4, 3], newestRun: [version(4, hash: Planner.otherHash)]))
        #expect(decision.action == .unchanged)
        #expect(decision.version?.version == 3)
        #expect(decision.reason == "version 3 already has this content and metadata; nothing to publish")
    }

    @Test func aNewerVersionWithThisContentIsAdoptedInsteadOfTheRecordedOne() throws {
        let decision = try plan(TargetObservation(target: target, recorded: try record(2), recordedVersion: version(2, hash: Planner.otherHash),
                                                  versions: [5, 4, 2], newestRun: [version(5), version(4)]))
        #expect(decision.action == .adopt)
        // The lowest of the duplicates is the one every publisher keeps.
        #expect(decision.version?.version == 4 && decision.replacedVersion == 2)
        #expect(decision.reason.contains("version 4, newer than the recorded version 2"))
    }

    @Test func withoutAStateTheLowestOfTheNewestDuplicatesIsUnchanged() throws {
        let decision = try plan(TargetObservation(target: target, versions: [7, 6], newestRun: [version(7), version(6)]))
        #expect(decision.action == .unchanged && decision.version?.version == 6)
    }

    @Test(arguments: [
        ("content", "the content changed (version 3 has"),
        ("description", "`description` changed"),
    ])
    func aDifferenceFromTheRecordedVersionIsPublished(_ what: String, _ reason: String) throws {
        let recorded = what == "content" ? version(3, hash: Planner.otherHash) : version(3, description: "old")
        let decision = try plan(TargetObservation(target: target, recorded: try record(3), recordedVersion: recorded,
                                                  versions: [3], newestRun: [recorded]))
        #expect(decision.action == .publish && decision.replacedVersion == 3 && decision.newestVersion == 3)
        #expect(decision.reason.hasPrefix(reason))
    }

    @Test func runtimesAndArchitecturesCompareAsSets() throws {
        var published = version(1)
        published.compatibleRuntimes = ["python3.13", "python3.12"]
        let config = try config().replacing(runtimes: ["python3.12", "python3.13"])
        let unchanged = try plan(TargetObservation(target: target, versions: [1], newestRun: [published]), config: config)
        #expect(unchanged.action == .unchanged)
        published.compatibleArchitectures = ["arm64"]
        let changed = try plan(TargetObservation(target: target, versions: [1], newestRun: [published]), config: config)
        #expect(changed.action == .publish && changed.reason == "`compatible_architectures` changed; deleting version 1")
    }

    @Test func throughS3TheRegionsBucketAndAContentAddressedKeyAreUsedAndAnObjectHoldingTheZipIsNotUploadedAgain() throws {
        let config = try config("s3_bucket: artifacts-{region}\n")
        let key = "layerpack/deps/" + String(repeating: "01", count: 32) + ".zip"
        let fresh = try plan(TargetObservation(target: target), config: config)
        #expect(fresh.s3 == S3Location(bucket: "artifacts-eu-west-1", key: key, objectVersion: nil))
        #expect(fresh.upload)
        let present = try plan(TargetObservation(target: target, objectHash: Planner.hash), config: config)
        #expect(!present.upload)
        #expect(!PublishPlan(layerName: "deps", artifact: PlannedArtifact(sourceCodeHash: Planner.hash, sourceCodeSize: 1, filename: "/z"), targets: [present]).needsZip)
        #expect(PublishPlan(layerName: "deps", artifact: PlannedArtifact(sourceCodeHash: Planner.hash, sourceCodeSize: 1, filename: "/z"), targets: [fresh]).needsZip)
    }

    @Test func permissionsAreReconciledByStatementIdOnTheManagedVersionOnly() throws {
        let wanted = LayerPermission(principal: "*", organizationID: "o-abc123def4")
        let config = try config("permissions: [{principal: \"*\", organization_id: o-abc123def4}]\n")
        var observation = TargetObservation(target: target, recorded: try record(3), recordedVersion: version(3), versions: [3], newestRun: [version(3)])
        observation.policies = ["3": ["layerpack-000000000000", "set-by-hand"]]
        let decision = try plan(observation, config: config)
        #expect(decision.action == .unchanged && decision.changesSomething)
        #expect(decision.addPermissions == [wanted] && decision.removeStatements == ["layerpack-000000000000"])
        // Without the key, policies are left alone.
        let untouched = try plan(observation)
        #expect(untouched.addPermissions.isEmpty && untouched.removeStatements.isEmpty && !untouched.changesSomething)
    }

    @Test func keepDeletesAllButTheNewestAndNeverTheManagedVersion() throws {
        let publishing = try plan(TargetObservation(target: target, versions: [6, 5, 4, 3], newestRun: [version(6, hash: Planner.otherHash)]),
                                  config: try config("keep: 2\n"))
        // The new version will be the newest, so one of the existing ones stays.
        #expect(publishing.action == .publish && publishing.deleteVersions == [5, 4, 3])
        let unchanged = try plan(TargetObservation(target: target, recorded: try record(3), recordedVersion: version(3), versions: [6, 5, 4, 3],
                                                   newestRun: [version(6, hash: Planner.otherHash)]), config: try config("keep: 1\n"))
        #expect(unchanged.action == .unchanged && unchanged.deleteVersions == [5, 4])
        // Without keep, the replaced version goes unless skip_destroy.
        let replacing = try plan(TargetObservation(target: target, versions: [2], newestRun: [version(2, hash: Planner.otherHash)]))
        #expect(replacing.deleteVersions == [2])
        let keeping = try plan(TargetObservation(target: target, versions: [2], newestRun: [version(2, hash: Planner.otherHash)]),
                               config: try config("skip_destroy: true\n"))
        #expect(keeping.deleteVersions.isEmpty)
    }

    @Test func thePlanIsAValueThatRoundTripsThroughJSON() throws {
        let observation = TargetObservation(target: target, recorded: try record(2), recordedVersion: version(2, hash: Planner.otherHash),
                                            versions: [2], newestRun: [version(2, hash: Planner.otherHash)])
        let plan = PublishPlanner.plan(config: try config(), artifact: PlannedArtifact(sourceCodeHash: Planner.hash, sourceCodeSize: 100, filename: nil),
                                       observations: [observation])
        let decoded = try JSONDecoder().decode(PublishPlan.self, from: try JSONEncoder().encode(plan))
        #expect(decoded.targets.map(\.action) == [.publish])
        #expect(decoded.targets[0].target == target && decoded.targets[0].replacedVersion == 2)
    }
}

extension LayerConfig {
    func replacing(runtimes: [String]) throws -> LayerConfig {
        try LayerConfig.parse("layer_name: \(layerName)\ncompatible_runtimes: [\(runtimes.joined(separator: ", "))]\ndescription: \(description ?? "")\nsources: [src]\n",
                              file: file, directory: directory)
    }
}
