import Foundation
import Testing
import TestSupport

/// What a newcomer runs first: `init`, `help config`, `schema`, and commands run from a subfolder.
@Suite struct NewcomerCommandLine {
    @Test func helpConfigListsEveryKeyTheSchemaDescribes() throws {
        let schemaText = try layerpack(["schema"], in: fixtures).stdout
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(schemaText.utf8)) as? [String: Any])
        let keys = try #require(schema["properties"] as? [String: Any]).keys
        let help = try layerpack(["help", "config"], in: fixtures, environment: ["COLUMNS": "200"])
        #expect(help.status == 0)
        for key in keys { #expect(help.stdout.contains("\n\(key) ("), "`layerpack help config` does not list `\(key)`") }
        let list = try layerpack(["config"], in: fixtures)
        for key in keys { #expect(list.stdout.contains("\(key) ("), "`layerpack config` does not list `\(key)`") }
    }

    @Test func initWritesTheSchemaAndPointsAtIt() throws {
        let folder = NSTemporaryDirectory() + "/layerpack-init-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let outcome = try layerpack(["init", "--runtime", "python3.13", "--architecture", "arm64", "--name", "deps"], in: folder)
        #expect(outcome.status == 0)
        #expect(outcome.stdout == "layerpack.yml\nlayerpack.schema.json\n")
        let config = try String(contentsOfFile: folder + "/layerpack.yml", encoding: .utf8)
        #expect(config.hasPrefix("# yaml-language-server: $schema=layerpack.schema.json\n"))
        #expect(config.contains("compatible_architectures: [arm64]\n"))
        #expect(try String(contentsOfFile: folder + "/layerpack.schema.json", encoding: .utf8) == (try layerpack(["schema"], in: folder).stdout))
    }

    @Test(arguments: [(["--runtime", "pyhton3.13"], "Did you mean `python3.13`?"), (["--architecture", "aarch64"], "Did you mean `arm64`?")])
    func initSuggests(_ arguments: [String], _ suggestion: String) throws {
        let folder = NSTemporaryDirectory() + "/layerpack-init-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let outcome = try layerpack(["init"] + arguments, in: folder)
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains(suggestion))
        #expect(!FileManager.default.fileExists(atPath: folder + "/layerpack.yml"))
    }

    @Test func commandsFindTheConfigInAParentFolder() throws {
        let layer = try FixtureCopy("python-layer")
        let deep = layer.path + "/site-packages/deep"
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        let check = try layerpack(["check"], in: deep)
        #expect(check.status == 0)
        #expect(check.stdout == "../../layerpack.lock matches the sources.\n")
        let hash = try layerpack(["hash"], in: deep)
        #expect(hash.stdout == "dTpLxKKBuwitxuSnFK83UjIFlmDgEEllmGdXEZH/gPE=\n")
        // Messages name the config by the path found, relative to where the command ran.
        try "layer_name: deps\nlayout: python\nsources: [nowhere]\n".write(toFile: layer.path + "/layerpack.yml", atomically: true, encoding: .utf8)
        let broken = try layerpack(["check"], in: deep)
        #expect(broken.status == 2)
        #expect(broken.stderr.hasPrefix("../../layerpack.yml:3: error: The source `nowhere` does not exist"))
    }

    @Test func noConfigAnywhereSaysWhereItLooked() throws {
        let folder = NSTemporaryDirectory() + "/layerpack-none-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/.git", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let outcome = try layerpack(["build"], in: folder + "/sub")
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("There is no layerpack.yml in `"))
        #expect(outcome.stderr.contains("/sub` or the folders above it"))
    }

    @Test func aConfigOptionIsNotSearchedFor() throws {
        let layer = try FixtureCopy("python-layer")
        try FileManager.default.createDirectory(atPath: layer.path + "/sub", withIntermediateDirectories: true)
        let outcome = try layerpack(["check", "-c", "layerpack.yml"], in: layer.path + "/sub")
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("No layerpack config at `layerpack.yml`"))
    }
}
