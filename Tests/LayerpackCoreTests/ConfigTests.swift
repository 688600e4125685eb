import Foundation
import Testing
@testable import LayerpackCore

@Suite struct ConfigValidation {
    let folder: TemporaryFolder

    init() throws {
        folder = try TemporaryFolder()
        try folder.write("src/mod.py", "x = 1\n")
    }

    func load(_ yaml: String) throws -> LayerConfig { try folder.config(yaml) }

    @Test func minimalConfigGetsDefaults() throws {
        let config = try load("layer_name: deps\ncompatible_runtimes: [python3.12]\nsources: [src]\n")
        #expect(config.layerName == "deps")
        #expect(config.layout.name == "python")
        #expect(config.filename == folder.url("dist/deps.zip"))
        #expect(config.sources.first?.destination == "python")
        #expect(config.compressionLevel == 6)
        #expect(config.symlinks == .follow)
        #expect(config.skipDestroy == false)
        #expect(config.lockFilePath == folder.url("layerpack.lock"))
    }

    @Test func missingLayerName() {
        expectError("layerpack.yml", "`layer_name`", "missing") { _ = try load("sources: [src]\n") }
    }

    @Test(arguments: ["has space", "dots.not.allowed", String(repeating: "a", count: 141), "ünïcode"])
    func invalidLayerName(_ name: String) {
        expectError("layerpack.yml:1:", "`layer_name`", "1 to 140") { _ = try load("layer_name: \"\(name)\"\nlayout: python\nsources: [src]\n") }
    }

    /// Found with the config fuzz harness (`Fuzz/seeds/config/alias-bomb-key.yml`): each level of aliases
    /// multiplies the tree by ten, and Yams hashed all 10^9 nodes of the key. The limit only proves the hang is gone.
    @Test(.timeLimit(.minutes(1))) func anchorsAndAliasesAreRefusedBeforeTheyExpand() {
        var yaml = "layer_name: deps\ndescription: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        let keys = ["license_info", "compatible_runtimes", "filename", "s3_bucket", "s3_key", "s3_object_version", "exclude", "layout"]
        for (level, key) in keys.enumerated() {
            yaml += "\(key): &a\(level + 1) [" + Array(repeating: "*a\(level)", count: 10).joined(separator: ", ") + "]\n"
        }
        yaml += "? *a8\n: 1\n"
        expectError("layerpack.yml:2:", "YAML anchors and aliases (`&name`, `*name`) are not accepted") { _ = try load(yaml) }
    }

    @Test func ampersandsAndStarsInsideValuesAreText() throws {
        let config = try load("""
            layer_name: deps
            # &notes on *the config
            description: R&D for Tom & Jerry, *the* layer
            compatible_runtimes: [python3.12]
            exclude: ["*.md", '**/tests/**', a&b]
            sources: [src]

            """)
        #expect(config.description == "R&D for Tom & Jerry, *the* layer")
        #expect(config.exclude == ["*.md", "**/tests/**", "a&b"])
    }

    @Test func anEscapedAmpersandOrStarIsNeverAnAnchor() throws {
        let config = try load("layer_name: deps\ndescription: \"Tom \\x26Jerry, \\x2athe\\x2a layer\"\nlayout: python\nsources: [src]\n")
        #expect(config.description == "Tom &Jerry, *the* layer")
    }

    @Test func unknownKeySuggestsTheRightOne() {
        expectError("layerpack.yml:2:", "Unknown key `compatible_runtime`", "Did you mean `compatible_runtimes`?") {
            _ = try load("layer_name: deps\ncompatible_runtime: [python3.12]\nsources: [src]\n")
        }
    }

    @Test func unknownRuntimeNamesTheValueAndSuggests() {
        expectError("layerpack.yml:2:", "`python3.21`", "compatible_runtimes", "python3.12") {
            _ = try load("layer_name: deps\ncompatible_runtimes: [python3.21]\nsources: [src]\n")
        }
    }

    @Test func tooManyRuntimesStatesTheLimit() {
        let runtimes = ["python3.8", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
                        "python3.6", "python3.7", "python2.7", "nodejs18.x", "nodejs20.x", "nodejs22.x", "java21", "java17", "ruby3.3"]
        expectError("16 values", "at most 15") {
            _ = try load("layer_name: deps\nlayout: python\ncompatible_runtimes: [\(runtimes.joined(separator: ", "))]\nsources: [src]\n")
        }
    }

    @Test func unknownArchitecture() {
        expectError("`amd64`", "`x86_64`", "`arm64`") {
            _ = try load("layer_name: deps\nlayout: python\ncompatible_architectures: [amd64]\nsources: [src]\n")
        }
    }

    @Test func tooManyArchitectures() {
        expectError("3 values", "at most 2") {
            _ = try load("layer_name: deps\nlayout: python\ncompatible_architectures: [x86_64, arm64, x86]\nsources: [src]\n")
        }
    }

    @Test func overLongDescriptionAndLicense() {
        expectError("`description` is 257 characters", "at most 256") {
            _ = try load("layer_name: deps\nlayout: python\ndescription: \(String(repeating: "d", count: 257))\nsources: [src]\n")
        }
        expectError("`license_info` is 513 characters", "at most 512") {
            _ = try load("layer_name: deps\nlayout: python\nlicense_info: \(String(repeating: "l", count: 513))\nsources: [src]\n")
        }
    }

    @Test func s3KeyWithoutBucket() {
        expectError("layerpack.yml:3:", "`s3_key` needs `s3_bucket`") {
            _ = try load("layer_name: deps\nlayout: python\ns3_key: layers/deps.zip\nsources: [src]\n")
        }
        expectError("`s3_object_version` needs `s3_bucket`") {
            _ = try load("layer_name: deps\nlayout: python\ns3_object_version: abc\nsources: [src]\n")
        }
    }

    @Test func missingSourceNamesItAndWhereItLooked() {
        expectError("layerpack.yml:4:", "`build/nothing`", folder.url("build/nothing")) {
            _ = try load("layer_name: deps\nlayout: python\nsources:\n  - build/nothing\n")
        }
    }

    @Test func yamlSyntaxErrorHasFileAndLine() {
        expectError("layerpack.yml:2:", "not valid YAML", "mapping values") {
            _ = try load("layer_name: deps\ndescription: a: b\nsources: [src]\n")
        }
    }

    @Test func duplicateKeyNamesItsSecondLine() {
        expectError("layerpack.yml:3:", "`layer_name` appears more than once") {
            _ = try load("layer_name: a\nlayout: python\nlayer_name: b\nsources: [src]\n")
        }
    }

    @Test func emptyFilenameMalformedToAndBadS3Key() {
        expectError("layerpack.yml:3:", "`filename`", "dist/a.zip") { _ = try load("layer_name: a\nlayout: python\nfilename: \"\"\nsources: [src]\n") }
        expectError("layerpack.yml:4:", "`to` must be a single zip path") { _ = try load("layer_name: a\nlayout: python\nsources:\n  - {path: src, to: [a]}\n") }
        expectError("layerpack.yml:4:", "`/abs.zip`", "does not start with `/`") {
            _ = try load("layer_name: a\nlayout: python\ns3_bucket: my-bucket\ns3_key: /abs.zip\nsources: [src]\n")
        }
    }

    @Test func layoutIsInferredOrAskedFor() throws {
        #expect(try load("layer_name: n\ncompatible_runtimes: [nodejs20.x, nodejs22.x]\nsources: [src]\n").layout.name == "nodejs")
        #expect(try load("layer_name: n\ncompatible_runtimes: [java21]\nsources: [src]\n").sources[0].destination == "java/lib")
        #expect(try load("layer_name: n\ncompatible_runtimes: [provided.al2023]\nsources: [src]\n").sources[0].destination == "")
        #expect(try load("layer_name: n\nlayout: extension\nsources: [src]\n").sources[0].destination == "extensions")
        expectError("mixes", "`python`", "`nodejs`", "Set `layout:`") {
            _ = try load("layer_name: n\ncompatible_runtimes: [python3.12, nodejs22.x]\nsources: [src]\n")
        }
        expectError("no `compatible_runtimes`", "Set `layout:`") { _ = try load("layer_name: n\nsources: [src]\n") }
        expectError("`rust`", "`layout`", "`python`") { _ = try load("layer_name: n\nlayout: rust\nsources: [src]\n") }
    }

    @Test func rubyPrefixComesFromTheRuntime() throws {
        #expect(try load("layer_name: r\ncompatible_runtimes: [ruby3.3]\nsources: [src]\n").sources[0].destination == "ruby/gems/3.3.0")
        expectError("needs a `to:`", "ruby/gems/X.Y.0") {
            _ = try load("layer_name: r\ncompatible_runtimes: [ruby3.3, ruby3.4]\nsources: [src]\n")
        }
        let explicit = try load("layer_name: r\ncompatible_runtimes: [ruby3.3, ruby3.4]\nsources:\n  - {path: src, to: ruby/gems/3.4.0}\n")
        #expect(explicit.sources[0].destination == "ruby/gems/3.4.0")
    }

    @Test func destinationMustStayInsideTheZip() {
        for to in ["/abs", "../up", "a/../b"] {
            expectError("`\(to)`", "inside the zip") {
                _ = try load("layer_name: n\nlayout: python\nsources:\n  - {path: src, to: \"\(to)\"}\n")
            }
        }
    }

    @Test func typesAreChecked() {
        expectError("`compatible_runtimes` must be a list") { _ = try load("layer_name: n\ncompatible_runtimes: python3.12\nsources: [src]\n") }
        expectError("`skip_destroy` must be `true` or `false`") { _ = try load("layer_name: n\nlayout: python\nskip_destroy: maybe\nsources: [src]\n") }
        expectError("`compression_level` must be a whole number from 0 to 9") { _ = try load("layer_name: n\nlayout: python\ncompression_level: 11\nsources: [src]\n") }
        expectError("`symlinks`", "`follow`", "`preserve`") { _ = try load("layer_name: n\nlayout: python\nsymlinks: copy\nsources: [src]\n") }
        expectError("Unknown key `sources: too`", "Did you mean `sources: to`?") { _ = try load("layer_name: n\nlayout: python\nsources:\n  - {path: src, too: x}\n") }
    }

    @Test func sourceCodeHashMustBeABase64SHA256() {
        expectError("`source_code_hash`", "44 characters") {
            _ = try load("layer_name: n\nlayout: python\nsource_code_hash: abc\nsources: [src]\n")
        }
    }

    @Test func bucketsAndRegions() throws {
        expectError("layerpack.yml:3:", "`My_Bucket` is not a valid `s3_bucket`", "`{region}`") {
            _ = try load("layer_name: a\nlayout: python\ns3_bucket: My_Bucket\nsources: [src]\n")
        }
        expectError("layerpack.yml:3:", "`moon-1` is not a valid `regions`", "`eu-west-1`") {
            _ = try load("layer_name: a\nlayout: python\nregions: [us-east-1, moon-1]\nsources: [src]\n")
        }
        let config = try load("layer_name: a\nlayout: python\ns3_bucket: artifacts-{region}\nregions: [us-east-1, eu-west-1, us-east-1]\nsources: [src]\n")
        #expect(config.regions == ["us-east-1", "eu-west-1"])
        #expect(config.s3Bucket(in: "eu-west-1") == "artifacts-eu-west-1")
    }

    @Test func permissionsAndKeep() throws {
        expectError("layerpack.yml:4:", "`keep` and `skip_destroy: true` cannot be used together") {
            _ = try load("layer_name: a\nlayout: python\nskip_destroy: true\nkeep: 2\nsources: [src]\n")
        }
        expectError("`keep` must be a whole number from 1") { _ = try load("layer_name: a\nlayout: python\nkeep: 0\nsources: [src]\n") }
        expectError("layerpack.yml:4:", "`o-short` is not a valid `organization_id`", "10 to 32") {
            _ = try load("layer_name: a\nlayout: python\npermissions:\n  - {principal: \"*\", organization_id: o-short}\nsources: [src]\n")
        }
        expectError("only with `principal: \"*\"`") {
            _ = try load("layer_name: a\nlayout: python\npermissions: [{principal: \"111122223333\", organization_id: o-abc123def4}]\nsources: [src]\n")
        }
        expectError("`12345` is not a valid `principal`") { _ = try load("layer_name: a\nlayout: python\npermissions: [{principal: \"12345\"}]\nsources: [src]\n") }
        let config = try load("layer_name: a\nlayout: python\nkeep: 3\npermissions: [{principal: \"*\"}, {principal: \"*\"}]\nsources: [src]\n")
        #expect(config.keep == 3 && config.permissions == [LayerPermission(principal: "*")])
        #expect(config.permissions?[0].statementID.hasPrefix("layerpack-") == true && config.permissions?[0].statementID.count == 22)
    }

    @Test func parsingTouchesNoDiskAndSourcesAreCheckedApart() throws {
        let config = try LayerConfig.parse("layer_name: a\nlayout: python\nsources: [not-yet]\n", file: "layerpack.yml", directory: "/nonexistent")
        #expect(config.sources.map(\.resolvedPath) == ["/nonexistent/not-yet"])
        expectError("layerpack.yml:3:", "`not-yet` does not exist") { try config.checkSources() }
    }

    @Test func sourcesMayBeAbsentOnlyWhenPublishingAnExistingObject() throws {
        expectError("`sources` is missing") { _ = try load("layer_name: n\nlayout: python\n") }
        let config = try load("layer_name: n\nlayout: python\ns3_bucket: my-bucket\ns3_key: k.zip\ns3_object_version: v1\nsource_code_hash: \(String(repeating: "A", count: 43))=\n")
        #expect(config.sources.isEmpty)
    }

    @Test func missingConfigFile() {
        expectError("No layerpack config at", "layerpack init") { _ = try LayerConfig.load(path: folder.url("absent.yml")) }
    }

    @Test func lockFileIsNamedAfterTheConfig() throws {
        let config = try folder.config("layer_name: n\nlayout: python\nsources: [src]\n", name: "other.yml")
        #expect(config.lockFilePath == folder.url("other.lock"))
    }
}

@Suite struct Globs {
    @Test(arguments: [
        ("**/tests/**", "a/tests/x.py", true), ("**/tests/**", "tests/x.py", true), ("**/tests/**", "tests", true),
        ("**/tests/**", "a/testsuite/x.py", false), ("*.md", "deep/down/README.md", true), ("*.md", "README.mdx", false),
        ("docs/*.txt", "docs/a.txt", true), ("docs/*.txt", "x/docs/a.txt", false), ("**/__pycache__/", "a/__pycache__", true),
        ("a/**/b", "a/b", true), ("a/**/b", "a/x/y/b", true), ("a/?.py", "a/xy.py", false), ("[ab].py", "b.py", true),
    ])
    func patternMatches(_ pattern: String, _ path: String, _ expected: Bool) {
        let isFolder = !path.contains(".")
        #expect(GlobPattern(pattern).matches(path.split(separator: "/"), isFolder: isFolder) == expected)
    }

    /// Literal names and `*suffix` segments skip `fnmatch`: they must answer as it does, byte for byte.
    @Test func aNameMatchesAsFnmatchWouldWhateverTheSegmentsForm() {
        let patterns = ["*.pyc", ".DS_Store", "*", "README", "\u{E9}.txt", "*\u{E9}", "a*b", "*.[ch]", "\\*.md", "*?", "*\u{301}"]
        let names = [".pyc", "x.pyc", "x.pyc.bak", ".DS_Store", ".ds_store", "README", "README.md", "\u{E9}.txt", "e\u{301}.txt",
                     "caf\u{E9}", "cafe\u{301}", "ab", "axxb", "x.c", "x.h", "*.md", "x.md", "\u{301}", ".hidden"]
        for pattern in patterns {
            for name in names {
                let expected = fnmatch(pattern, name, 0) == 0
                #expect(GlobPattern("/" + pattern).matches([Substring(name)], isFolder: false) == expected, "\(pattern) ~ \(name)")
            }
        }
    }

    @Test func trailingSlashMatchesFoldersOnly() {
        #expect(!GlobPattern(".git/").matches([".git"], isFolder: false))
        #expect(GlobPattern(".git/").matches([".git"], isFolder: true))
    }
}

@Suite struct Templates {
    @Test func catalogListsEveryFamily() {
        #expect(Catalog.standard.layoutNames == ["python", "nodejs", "ruby", "java", "provided", "extension"])
        #expect(Catalog.standard.layout(forRuntime: "python3.14")?.prefix == "python/")
        #expect(Catalog.standard.architectures == ["x86_64", "arm64"])
    }

    @Test(arguments: ["python3.13", "nodejs22.x", "ruby3.4", "java21", "provided.al2023"])
    func everyScaffoldIsAValidConfig(_ runtime: String) throws {
        let folder = try TemporaryFolder()
        let text = try InitScaffold.render(runtime: runtime, layerName: "demo")
        try folder.write("layerpack.yml", text)
        // Make whatever the scaffold names as sources exist, then it must load.
        for line in text.split(separator: "\n") where line.hasPrefix("  - ") && !line.contains("\"") {
            let path = line.dropFirst(4).replacingOccurrences(of: "path: ", with: "")
            try FileManager.default.createDirectory(atPath: folder.url(String(path)), withIntermediateDirectories: true)
        }
        let config = try LayerConfig.load(path: folder.url("layerpack.yml"))
        #expect(config.layerName == "demo")
        #expect(config.compatibleRuntimes == [runtime])
    }

    @Test func initNeverOverwrites() throws {
        let folder = try TemporaryFolder()
        try folder.write("layerpack.yml", "mine\n")
        expectError("already exists") { try InitScaffold.write("new\n", to: folder.url("layerpack.yml")) }
        #expect(try String(contentsOfFile: folder.url("layerpack.yml"), encoding: .utf8) == "mine\n")
    }
}

/// `man/layerpack.yml.5`, the config's man page, documents exactly the keys the reader accepts.
@Suite struct ConfigManualPage {
    let page: String

    init() throws {
        page = try String(contentsOfFile: repositoryFolder + "/man/layerpack.yml.5", encoding: .utf8)
    }

    @Test func documentsEveryKeyAndNoOther() throws {
        let keysSection = try #require(page.components(separatedBy: ".Sh KEYS\n").dropFirst().first?.components(separatedBy: "\n.Sh ").first)
        let documented = keysSection.split(separator: "\n").filter { $0.hasPrefix(".It Cm ") }.map { String($0.dropFirst(".It Cm ".count)) }
        #expect(documented.sorted() == LayerConfig.knownKeys.sorted())
    }

    @Test func namesEveryLayout() {
        for layout in Catalog.standard.layoutNames {
            #expect(page.contains(".Ql \(layout)\n"), "layerpack.yml.5 does not name the `\(layout)` layout")
        }
    }
}
