import Foundation
import Testing
import TestSupport
@testable import LayerpackCore

/// `templates/layerpack.schema.json`, as `layerpack schema` prints it, against the parser and real configs.
@Suite struct ConfigSchemaTests {
    let schema: [String: Any]
    let properties: [String: [String: Any]]

    init() throws {
        schema = try #require(try JSONSerialization.jsonObject(with: Data(ConfigSchema.text().utf8)) as? [String: Any])
        properties = try #require(schema["properties"] as? [String: [String: Any]])
    }

    @Test func describesExactlyTheKeysTheParserAccepts() {
        #expect(properties.keys.sorted() == LayerConfig.knownKeys.sorted())
        for (name, property) in properties {
            #expect((property["description"] as? String)?.isEmpty == false, "`\(name)` has no description")
        }
    }

    @Test func enumsComeFromTheCatalog() throws {
        let runtimes = try #require((properties["compatible_runtimes"]?["items"] as? [String: Any])?["enum"] as? [String])
        #expect(runtimes == Catalog.standard.runtimes)
        let architectures = try #require((properties["compatible_architectures"]?["items"] as? [String: Any])?["enum"] as? [String])
        #expect(architectures == Catalog.standard.architectures)
        #expect(properties["layout"]?["enum"] as? [String] == Catalog.standard.layoutNames)
        #expect(!ConfigSchema.text().contains("{{"))
    }

    @Test func limitsMatchTheParser() {
        #expect(properties["compatible_runtimes"]?["maxItems"] as? Int == LayerConfig.limits.runtimes)
        #expect(properties["compatible_architectures"]?["maxItems"] as? Int == LayerConfig.limits.architectures)
        #expect(properties["description"]?["maxLength"] as? Int == LayerConfig.limits.description)
        #expect(properties["license_info"]?["maxLength"] as? Int == LayerConfig.limits.licenseInfo)
    }

    /// Every fixture and every `init` scaffold is valid; the bad configs the parser refuses for a schema
    /// reason are refused by the schema too, each for that reason.
    @Test func validatesFixturesAndScaffoldsWithPythonJSONSchema() throws {
        let folder = try TemporaryFolder()
        let schemaPath = try folder.write("layerpack.schema.json", ConfigSchema.text())
        var valid = try FileManager.default.contentsOfDirectory(atPath: fixturesFolder)
            .filter { FileManager.default.fileExists(atPath: "\(fixturesFolder)/\($0)/layerpack.yml") }
            .map { "\(fixturesFolder)/\($0)/layerpack.yml" }
        #expect(valid.count >= 6)
        for layout in Catalog.standard.layouts {
            let runtime = layout.runtimes.first { !Catalog.standard.deprecatedRuntimes.contains($0) } ?? "python3.13"
            for architecture in Catalog.standard.architectures {
                let text = try InitScaffold.render(runtime: runtime, layerName: "demo", layout: layout.name, architecture: architecture)
                valid.append(try folder.write("init-\(layout.name)-\(architecture).yml", text))
            }
        }
        let invalid = [
            "\(fixturesFolder)/bad-configs/unknown-key.yml": "Additional properties are not allowed",
            "\(fixturesFolder)/bad-configs/bad-runtime.yml": "is not one of",
            "\(fixturesFolder)/bad-configs/s3-key-without-bucket.yml": "'s3_bucket' is a dependency of 's3_key'",
            try folder.write("aarch64.yml", "layer_name: x\ncompatible_architectures: [aarch64]\nsources: [a]\n"): "is not one of",
            try folder.write("level.yml", "layer_name: x\ncompression_level: 10\nsources: [a]\n"): "10 is greater than the maximum of 9",
            try folder.write("no-sources.yml", "layer_name: x\nlayout: python\n"): "is not valid under any of the given schemas",
            try folder.write("regional.yml", "layer_name: x\nsources: [a]\ns3_bucket: Bad_Bucket\n"): "does not match",
        ]
        let outcome = try runPythonScript("validate_schema.py", [schemaPath] + valid + invalid.keys.sorted())
        try #require(outcome.status == 0, "validate_schema.py failed: \(outcome.stderr)")
        var errors: [String: [String]] = [:]
        for line in outcome.stdout.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            errors[try #require(object["path"] as? String)] = object["errors"] as? [String]
        }
        for path in valid { #expect(errors[path] == [], "\(path): \(errors[path] ?? ["not validated"])") }
        for (path, reason) in invalid {
            #expect(errors[path]?.contains { $0.contains(reason) } == true, "\(path): expected “\(reason)”, got \(errors[path] ?? ["not validated"])")
        }
    }

    @Test func acceptsARegionPlaceholderInTheBucket() throws {
        let pattern = try #require(properties["s3_bucket"]?["pattern"] as? String)
        let regex = try Regex(pattern)
        for bucket in ["artifacts-{region}", "{region}.layers", "plain-bucket"] { #expect(try regex.wholeMatch(in: bucket) != nil, "\(bucket)") }
        for bucket in ["Bad_Bucket", "-leading", "trailing-"] { #expect(try regex.wholeMatch(in: bucket) == nil, "\(bucket)") }
    }

    @Test func keyListNamesEveryKeyWithItsType() {
        let list = ConfigSchema.keyList()
        for key in LayerConfig.knownKeys { #expect(list.contains("\n\(key) (") || list.hasPrefix("\(key) ("), "`\(key)` is not listed") }
        #expect(!list.contains("\n\n"), "a blank line makes the man page generator's output warn")
        #expect(list.contains("layer_name (text, required): "))
        #expect(list.contains("compression_level (whole number): "))
        #expect(list.contains("One of: `follow`, `preserve`."))
    }
}
