import Foundation
import Testing
import TestSupport

/// A monorepo: two layers in subfolders, driven with `--all`.
@Suite struct AllLayers {
    final class Repository {
        let path = NSTemporaryDirectory() + "/layerpack-all-\(UUID().uuidString)"

        init(names: [String] = []) throws {
            for layer in ["shared-python", "tools"] {
                let name = "\(layer)-\(UUID().uuidString.prefix(6).lowercased())"
                try write("layers/\(layer)/src/\(layer).py", "NAME = '\(layer)'\n")
                try write("layers/\(layer)/layerpack.yml", "layer_name: \(name)\ncompatible_runtimes: [python3.12]\nsources: [src]\n")
            }
            // Never searched: hidden folders, dependencies, build output.
            for skipped in [".hidden", "node_modules/pkg", ".build/x"] {
                try write("\(skipped)/layerpack.yml", "this: is not searched\n")
            }
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        func write(_ relative: String, _ text: String) throws {
            let file = path + "/" + relative
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        }
    }

    @Test func buildCheckAndPublishEveryLayer() throws {
        let repository = try Repository()
        let build = try layerpack(["build", "--all"], in: repository.path)
        #expect(build.status == 0, "\(build.stderr)")
        #expect(build.stdout.contains("# layers/shared-python/layerpack.yml\n") && build.stdout.contains("# layers/tools/layerpack.yml\n"))
        for layer in ["shared-python", "tools"] {
            #expect(FileManager.default.fileExists(atPath: repository.path + "/layers/\(layer)/layerpack.lock"))
        }

        #expect(try layerpack(["check", "--all"], in: repository.path).status == 0)
        try repository.write("layers/tools/src/tools.py", "NAME = 'changed'\n")
        let drift = try layerpack(["check", "--all"], in: repository.path)
        #expect(drift.status == 1)
        #expect(drift.stdout.contains("# layers/tools/layerpack.yml\nlayers/tools/layerpack.lock does not match the sources:\n  changed  python/tools.py"), "\(drift.stdout)")
        #expect(drift.stdout.contains("layers/shared-python/layerpack.lock matches the sources."))

        let json = try layerpack(["check", "--all", "--json"], in: repository.path)
        let layers = try #require((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["layers"] as? [[String: Any]])
        #expect(layers.map { $0["config"] as? String } == ["layers/shared-python/layerpack.yml", "layers/tools/layerpack.yml"])
        #expect(layers.map { ($0["result"] as? [String: Any])?["clean"] as? Bool } == [true, false])

        let moto = try MotoServer.shared()
        let outputs = repository.path + "/github-output"
        _ = FileManager.default.createFile(atPath: outputs, contents: nil)
        var environment = moto.environment().compactMapValues { $0 }
        environment["GITHUB_OUTPUT"] = outputs
        let publish = try layerpack(["publish", "--all", "--json"], in: repository.path, environment: environment)
        #expect(publish.status == 0, "\(publish.stderr)")
        let published = try #require((try JSONSerialization.jsonObject(with: Data(publish.stdout.utf8)) as? [String: Any])?["layers"] as? [[String: Any]])
        let results = published.compactMap { $0["result"] as? [String: Any] }
        #expect(results.count == 2 && results.allSatisfy { $0["published"] as? Bool == true && $0["version"] as? Int == 1 })
        let targetsLine = try #require(try String(contentsOfFile: outputs, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("targets=") })
        let targets = try #require(try JSONSerialization.jsonObject(with: Data(targetsLine.dropFirst(8).utf8)) as? [[String: Any]])
        #expect(targets.map { $0["config"] as? String } == ["layers/shared-python/layerpack.yml", "layers/tools/layerpack.yml"])
    }

    @Test func oneBrokenLayerIsReportedAndTheOthersStillRun() throws {
        let repository = try Repository()
        try repository.write("layers/tools/layerpack.yml", "layer_name: tools\nsources: [missing]\nlayout: python\n")
        let build = try layerpack(["build", "--all"], in: repository.path)
        #expect(build.status == 2)
        #expect(build.stderr.contains("layers/tools/layerpack.yml:2: error: The source `missing` does not exist"))
        #expect(FileManager.default.fileExists(atPath: repository.path + "/layers/shared-python/layerpack.lock"))
    }

    @Test func allAndConfigTogetherAreAUsageError() throws {
        let repository = try Repository()
        #expect(try layerpack(["check", "--all", "--config", "layers/tools/layerpack.yml"], in: repository.path).status == 64)
    }
}
