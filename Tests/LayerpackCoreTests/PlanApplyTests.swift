import AWSClient
import Foundation
import Testing
import TestSupport
@testable import LayerpackCore

/// `plan` then `apply`, against moto: exactly the reviewed plan, or a refusal.
@Suite struct PlanThenApply {
    let moto: MotoServer
    let folder: TemporaryFolder
    let layerName = MotoServer.uniqueName("reviewed")

    init() throws {
        moto = try MotoServer.shared()
        folder = try TemporaryFolder.withModule()
    }

    func config(_ extra: String = "") throws -> LayerConfig { try folder.layerConfig(layerName, extra) }

    func publisher(_ config: LayerConfig) throws -> Publisher { Publisher(config: config, aws: try moto.configuration()) }

    func versions() throws -> [Int] {
        try LambdaClient(configuration: try moto.configuration()).listLayerVersions(layerName: layerName).map(\.version).sorted()
    }

    /// Writes the plan to disk and reads it back, as `plan -o` and `apply` do.
    func roundTrip(_ file: PlanFile) throws -> PlanFile {
        try file.write(to: folder.url("plan.json"))
        return try PlanFile.read(from: folder.url("plan.json"))
    }

    @Test func aPlanIsAppliedAsMade() throws {
        let file = try roundTrip(try publisher(try config()).plan())
        #expect(file.plan.targets.map(\.action) == [.publish])
        #expect(folder.exists("dist/\(layerName).zip"))
        #expect(try versions().isEmpty)
        let report = try publisher(try config()).apply(file)
        #expect(report.published && report.layerVersion?.version == 1)
        #expect(report.layerVersion?.content?.codeSha256 == file.plan.artifact.sourceCodeHash)
        #expect(try versions() == [1])
    }

    @Test func applyRefusesAZipThatChanged() throws {
        let file = try roundTrip(try publisher(try config()).plan())
        try folder.write("src/pkg/mod.py", "VALUE = 2\n")
        _ = try LayerBuilder.build(try LayerPlan(config: try config()))
        expectError("The zip changed since the plan", file.plan.artifact.sourceCodeHash, "layerpack plan") { _ = try publisher(try config()).apply(file) }
        #expect(try versions().isEmpty)
    }

    @Test func applyRefusesAPlanOvertakenByAnotherPublish() throws {
        let file = try roundTrip(try publisher(try config()).plan())
        // Someone publishes meanwhile (another machine, with another checkout of the config).
        let other = try TemporaryFolder()
        try other.write("src/pkg/mod.py", "VALUE = 3\n")
        _ = try Publisher(config: try other.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\nsources: [src]\n"),
                          aws: try moto.configuration()).run()
        expectError("Stale plan", "version 1 was published since", "run `layerpack plan` again") { _ = try publisher(try config()).apply(file) }
        #expect(try versions() == [1])
    }

    @Test func applyRefusesAConfigThatChanged() throws {
        let file = try roundTrip(try publisher(try config()).plan())
        let changed = try config("description: edited after review\n")
        expectError("changed since the plan was made") { _ = try publisher(changed).apply(file) }
        #expect(try versions().isEmpty)
    }
}
