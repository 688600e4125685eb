import AWSClient
import Foundation
import Testing
import TestSupport
@testable import LayerpackCore

/// `permissions:` and `keep:` against moto.
@Suite struct SharingAndRetention {
    let moto: MotoServer
    let folder: TemporaryFolder
    let layerName = MotoServer.uniqueName("shared")

    init() throws {
        moto = try MotoServer.shared()
        folder = try TemporaryFolder.withModule()
    }

    func publish(_ extra: String) throws -> PublishReport {
        let config = try folder.layerConfig(layerName, extra)
        return try Publisher(config: config, aws: try moto.configuration(retryPolicy: RetryPolicy(sleep: { _ in }))).run()
    }

    var lambda: LambdaClient { get throws { LambdaClient(configuration: try moto.configuration()) } }

    func statements(_ version: Int) throws -> [String] {
        try lambda.layerVersionPolicyStatementIDs(layerName: layerName, version: version).sorted()
    }

    func versions() throws -> [Int] { try lambda.listLayerVersions(layerName: layerName).map(\.version).sorted() }

    @Test func thePolicyFollowsTheConfigWithoutNewVersions() throws {
        let account = LayerPermission(principal: "111122223333")
        let organisation = LayerPermission(principal: "*", organizationID: "o-abc123def4")
        let first = try publish("permissions: [{principal: \"111122223333\"}]\n")
        #expect(first.published && first.single.permissionsAdded == [account.statementID])
        #expect(try statements(1) == [account.statementID])
        // A statement someone else added is never touched.
        try lambda.addLayerVersionPermission(layerName: layerName, version: 1, statementID: "added-by-hand", principal: "444455556666", organizationID: nil)

        let changed = try publish("permissions: [{principal: \"*\", organization_id: o-abc123def4}]\n")
        #expect(!changed.published && changed.single.action == .unchanged)
        #expect(changed.reason.contains("adding the permission for the organisation `o-abc123def4`"))
        #expect(changed.single.permissionsAdded == [organisation.statementID] && changed.single.permissionsRemoved == [account.statementID])
        #expect(try statements(1) == ["added-by-hand", organisation.statementID].sorted())

        let unchanged = try publish("permissions: [{principal: \"*\", organization_id: o-abc123def4}]\n")
        #expect(unchanged.single.permissionsAdded.isEmpty && unchanged.single.permissionsRemoved.isEmpty)

        let removed = try publish("permissions: []\n")
        #expect(removed.single.permissionsRemoved == [organisation.statementID])
        #expect(try statements(1) == ["added-by-hand"])
        #expect(try versions() == [1])
    }

    @Test func aNewVersionGetsThePermissionsAndTheOldOneKeepsWhatItHad() throws {
        let account = LayerPermission(principal: "111122223333")
        _ = try publish("skip_destroy: true\npermissions: [{principal: \"111122223333\"}]\n")
        try folder.write("src/pkg/mod.py", "VALUE = 2\n")
        let second = try publish("skip_destroy: true\npermissions: [{principal: \"111122223333\"}]\n")
        #expect(second.published && second.layerVersion?.version == 2)
        #expect(try statements(2) == [account.statementID] && statements(1) == [account.statementID])
    }

    @Test func keepLeavesTheNewestVersions() throws {
        for value in 1...4 {
            try folder.write("src/pkg/mod.py", "VALUE = \(value)\n")
            let report = try publish("keep: 2\n")
            #expect(report.published)
        }
        #expect(try versions() == [3, 4])
        // An unchanged publish enforces it too, and the plan says what it deletes.
        try lambda.deleteLayerVersion(layerName: layerName, version: 3)
        let config = try folder.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\nsources: [src]\nkeep: 1\n")
        _ = try Publisher(config: config, aws: try moto.configuration()).run()
        #expect(try versions() == [4])
    }

    @Test func keepInThePlanListsEachDeletion() throws {
        for value in 1...3 {
            try folder.write("src/pkg/mod.py", "VALUE = \(value)\n")
            _ = try publish("skip_destroy: true\n")
        }
        try folder.write("src/pkg/mod.py", "VALUE = 9\n")
        let config = try folder.config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\nsources: [src]\nkeep: 2\n")
        let dry = try Publisher(config: config, aws: try moto.configuration(), options: PublishOptions(dryRun: true)).run()
        #expect(dry.reason.contains("deleting versions 2, 1"))
        #expect(try versions() == [1, 2, 3])
    }
}
