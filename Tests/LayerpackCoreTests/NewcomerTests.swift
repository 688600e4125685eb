import Foundation
import Testing
@testable import LayerpackCore

/// The messages and scaffolds a newcomer meets first (issue 16's paper cuts).
@Suite struct NewcomerMessages {
    let folder: TemporaryFolder

    init() throws {
        folder = try TemporaryFolder()
        try folder.write("src/mod.py", "x = 1\n")
    }

    @Test func anUnclosedBracketIsReportedWhereItOpens() {
        expectError("layerpack.yml:2:10:", "did not find expected ',' or ']'", "noticed at line 3") {
            _ = try folder.config("layer_name: x\nsources: [src, b\nexclude: []\n")
        }
    }

    @Test func anUnclosedQuoteIsReportedWhereItOpens() {
        expectError("layerpack.yml:1:13:", "quoted scalar") { _ = try folder.config("layer_name: \"x\nsources: [src]\n") }
    }

    @Test func aMisplacedColonKeepsItsOwnLine() {
        expectError("layerpack.yml:2:19:", "mapping values are not allowed") {
            _ = try folder.config("layer_name: x\ndescription: layer: with a colon\nsources: [src]\n")
        }
    }

    @Test func aTabInIndentationSaysTab() {
        expectError("layerpack.yml:3:", "indented with a tab", "spaces only") {
            _ = try folder.config("layer_name: x\nsources:\n\t- src\n")
        }
    }

    @Test(arguments: [("aarch64", "arm64"), ("amd64", "x86_64"), ("x86-64", "x86_64"), ("arm65", "arm64")])
    func architectureNamesOfOtherToolsSuggestLambdas(_ written: String, _ suggested: String) {
        expectError("`\(written)` is not a valid `compatible_architectures`", "Did you mean `\(suggested)`?") {
            _ = try folder.config("layer_name: x\nlayout: python\ncompatible_architectures: [\(written)]\nsources: [src]\n")
        }
    }

    @Test func deprecatedRuntimesAreNeitherSuggestedNorListed() throws {
        do {
            _ = try folder.config("layer_name: x\ncompatible_runtimes: [nodejs20.y]\nsources: [src]\n")
            Issue.record("nodejs20.y was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("Did you mean `nodejs22.x`?"))
            for deprecated in ["nodejs20.x", "python2.7", "python3.9", "go1.x", "dotnet6", "ruby3.2"] {
                #expect(!text.contains(deprecated + ","), "the message offers the deprecated `\(deprecated)`")
            }
            #expect(text.contains("python3.13"))
        }
    }

    @Test func deprecatedRuntimesStillLoad() throws {
        let config = try folder.config("layer_name: x\ncompatible_runtimes: [python3.8]\nsources: [src]\n")
        #expect(config.compatibleRuntimes == ["python3.8"])
    }

    @Test func initSuggestsARuntimeAsTheConfigDoes() {
        expectError("`pyhton3.13` is not a Lambda runtime", "Did you mean `python3.13`?") {
            _ = try InitScaffold.render(runtime: "pyhton3.13", layerName: "demo")
        }
    }

    @Test func initTakesAnArchitecture() throws {
        let text = try InitScaffold.render(runtime: "python3.12", layerName: "demo", architecture: "arm64")
        #expect(text.contains("compatible_architectures: [arm64]\n"))
        #expect(text.contains("--platform manylinux2014_aarch64 --only-binary=:all:"))
        #expect(text.contains("--python-version 3.12"))
        expectError("`aarch64` is not a Lambda architecture", "Did you mean `arm64`?") {
            _ = try InitScaffold.render(runtime: "python3.12", layerName: "demo", architecture: "aarch64")
        }
    }

    @Test(arguments: ["python3.13", "nodejs22.x", "ruby3.4", "java21", "provided.al2023"])
    func scaffoldsPointAtTheKeyListAndTheSchema(_ runtime: String) throws {
        let text = try InitScaffold.render(runtime: runtime, layerName: "demo")
        #expect(text.hasPrefix("# yaml-language-server: $schema=\(InitScaffold.schemaFileName)\n"))
        #expect(text.contains("Every key: `layerpack help config`"))
        #expect(!text.contains("{{"))
    }

    /// The ruby scaffold's comment and its `sources` name the same folder, the one bundler fills.
    @Test func rubyScaffoldAgreesWithItself() throws {
        let text = try InitScaffold.render(runtime: "ruby3.3", layerName: "demo")
        #expect(text.contains("puts them in build/ruby/3.3.0."))
        #expect(text.contains("sources:\n  - build/ruby/3.3.0\n"))
    }

    @Test func initWritesTheSchemaBesideTheConfigOnce() throws {
        let written = try InitScaffold.writeConfigAndSchema("layer_name: a\n", to: folder.url("layerpack.yml"))
        #expect(written == [folder.url("layerpack.yml"), folder.url("layerpack.schema.json")])
        #expect(try String(contentsOfFile: folder.url("layerpack.schema.json"), encoding: .utf8) == ConfigSchema.text())
        try FileManager.default.createDirectory(atPath: folder.url("other"), withIntermediateDirectories: true)
        try folder.write("other/layerpack.schema.json", "{}\n")
        let again = try InitScaffold.writeConfigAndSchema("layer_name: b\n", to: folder.url("other/layerpack.yml"))
        #expect(again == [folder.url("other/layerpack.yml")])
        #expect(try String(contentsOfFile: folder.url("other/layerpack.schema.json"), encoding: .utf8) == "{}\n")
    }
}

/// `LayerConfig.find`: the nearest layerpack.yml, as git finds its repository.
@Suite struct FindingTheConfig {
    @Test func findsItHereOrInTheNearestParent() throws {
        let folder = try TemporaryFolder()
        try folder.write("layerpack.yml", "layer_name: outer\n")
        try folder.write("inner/layerpack.yml", "layer_name: inner\n")
        try FileManager.default.createDirectory(atPath: folder.url("inner/src/deep"), withIntermediateDirectories: true)
        #expect(LayerConfig.find(from: folder.path) == "layerpack.yml")
        #expect(LayerConfig.find(from: folder.url("inner/src/deep")) == "../../layerpack.yml")
    }

    @Test func stopsAtTheRepositoryRoot() throws {
        let folder = try TemporaryFolder()
        try folder.write("layerpack.yml", "layer_name: outside\n")
        try FileManager.default.createDirectory(atPath: folder.url("repo/.git"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder.url("repo/sub"), withIntermediateDirectories: true)
        #expect(LayerConfig.find(from: folder.url("repo/sub")) == nil)
        try folder.write("repo/layerpack.yml", "layer_name: root\n")
        #expect(LayerConfig.find(from: folder.url("repo/sub")) == "../layerpack.yml")
    }

    @Test func aFolderNamedLikeTheConfigIsNotIt() throws {
        let folder = try TemporaryFolder()
        try folder.write("layerpack.yml", "layer_name: outer\n")
        try FileManager.default.createDirectory(atPath: folder.url("sub/layerpack.yml"), withIntermediateDirectories: true)
        #expect(LayerConfig.find(from: folder.url("sub")) == "../layerpack.yml")
    }
}
