import AWSClient
import Foundation
import Testing
import TestSupport
@testable import LayerpackCore

/// A folder under the system temp folder, removed when the value goes away.
final class TemporaryFolder {
    let path: String

    init() throws {
        let template = NSTemporaryDirectory() + "/layerpack-test-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw CocoaError(.fileWriteUnknown) }
        path = URL(fileURLWithPath: String(cString: made)).resolvingSymlinksInPath().path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func url(_ relative: String) -> String { path + "/" + relative }

    @discardableResult
    func write(_ relative: String, _ text: String, mode: Int = 0o644) throws -> String {
        let file = url(relative)
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        chmod(file, mode_t(mode))
        return file
    }

    func symlink(_ relative: String, to target: String) throws {
        let file = url(relative)
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: target)
    }

    func read(_ relative: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: url(relative))) }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: url(relative)) }

    /// The names in a folder, hidden ones included.
    func list(_ relative: String = "") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: relative.isEmpty ? path : url(relative)).sorted()
    }

    func config(_ yaml: String, name: String = "layerpack.yml") throws -> LayerConfig {
        try write(name, yaml)
        return try LayerConfig.load(path: url(name))
    }
}

/// The repository's folder.
let repositoryFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

extension TemporaryFolder {
    /// A folder whose `src/pkg/mod.py` is the source of the layers the publish tests configure.
    static func withModule() throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        try folder.write("src/pkg/mod.py", "VALUE = 1\n")
        return folder
    }

    /// A python3.12 layer of `src` named `layerName`, with `extra` config lines.
    func layerConfig(_ layerName: String, _ extra: String = "") throws -> LayerConfig {
        try config("layer_name: \(layerName)\ncompatible_runtimes: [python3.12]\nsources: [src]\n\(extra)")
    }
}

/// The folder of the repository's `Fixtures/`.
let fixturesFolder = repositoryFolder + "/Fixtures"

/// Runs a program found on PATH and returns its exit status and standard output.
@discardableResult
func run(_ arguments: [String], in folder: String? = nil) throws -> (status: Int32, output: String) {
    let outcome = try runProcess("/usr/bin/env", arguments, in: folder)
    return (outcome.status, outcome.stdout)
}

/// Builds the layer for the config text in `folder` and returns the zip's bytes.
func buildZip(_ folder: TemporaryFolder, config: String = "layerpack.yml") throws -> (result: BuildResult, bytes: Data) {
    let plan = try LayerPlan(config: try LayerConfig.load(path: folder.url(config)))
    let result = try LayerBuilder.build(plan)
    return (result, try Data(contentsOf: URL(fileURLWithPath: result.filename)))
}

/// Expects `body` to throw an error whose description contains every fragment.
func expectError(_ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error containing \(fragments)", sourceLocation: sourceLocation)
    } catch {
        let text = "\(error)"
        for fragment in fragments where !text.contains(fragment) {
            Issue.record("error `\(text)` lacks `\(fragment)`", sourceLocation: sourceLocation)
        }
    }
}

/// Single-region publishes, read as one target.
extension PublishReport {
    var single: TargetResult {
        precondition(targets.count == 1, "expected one target, got \(targets.count)")
        return targets[0]
    }
    var published: Bool { single.published }
    var reason: String { single.reason }
    var layerVersion: LayerVersion? { single.layerVersion }
    var deletedVersion: Int? { single.deletedVersions.first }
    var s3Bucket: String? { single.s3?.bucket }
    var s3Key: String? { single.s3?.key }
    var s3ObjectVersion: String? { single.s3?.objectVersion }
}

/// A state with one target, read as that target's record.
extension PublishState {
    var version: Int? { targets.count == 1 ? targets[0].version : nil }
    var arn: String? { targets.count == 1 ? targets[0].arn : nil }
    var s3ObjectVersion: String? { targets.count == 1 ? targets[0].s3ObjectVersion : nil }
}
