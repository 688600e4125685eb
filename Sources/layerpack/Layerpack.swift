import ArgumentParser
import AWSClient
import Foundation
import LayerpackCore
import Shutdown

@main
struct Layerpack: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layerpack",
        abstract: "Package AWS Lambda layers into deterministic zips and publish them only when they change.",
        discussion: """
        Reads layerpack.yml (keys as Terraform's aws_lambda_layer_version, plus layout, sources, exclude, \
        symlinks and compression_level). Exit status: 0 success; 1 `check` found the sources changed; \
        2 an error (bad config, unreadable file, AWS error); 64 a usage error.
        """,
        version: "0.1.0",
        subcommands: [Build.self, Hash.self, Check.self, Publish.self, Import.self, Init.self]
    )
}

/// Options every layer command takes.
struct LayerOptions: ParsableArguments {
    @Option(name: [.short, .customLong("config")], help: "The config file (default: ./layerpack.yml).")
    var config: String = LayerConfig.defaultFileName

    @Flag(help: "Print one JSON object on stdout instead of text.")
    var json = false

    /// The config, with its `requirements` installed (or found installed) for the layer's target.
    func loadConfig(refreshDependencies: Bool = false) throws -> LayerConfig {
        try DependencyInstaller.install(for: try LayerConfig.load(path: config), refresh: refreshDependencies, progress: Console.progress)
    }

    /// The config's plan; `ownFiles` are paths this run writes (an `--output` zip, a cache folder), never packed.
    func loadPlan(ownFiles: [String?] = [], refreshDependencies: Bool = false) throws -> LayerPlan {
        try LayerPlan(config: try loadConfig(refreshDependencies: refreshDependencies), ownFiles: ownFiles)
    }
}

/// Runs a command body, turning layerpack's errors into one paragraph on stderr and exit status 2.
/// Also the place every command starts handling Ctrl-C and SIGTERM, so an interrupted run cleans up.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    Shutdown.install()
    do {
        return try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        Console.report(Diagnostic(error: error))
        throw ExitCode(2)
    }
}

enum Console {
    /// A result, for scripts to capture.
    static func result(_ line: String) { print(line) }

    /// Progress and errors may quote a server or a URL, so they pass through `Redaction` first.
    static func progress(_ line: String) { FileHandle.standardError.write(Data((Redaction.redact(line) + "\n").utf8)) }

    /// One JSON object with sorted keys on stdout; the value's coding keys name its fields.
    static func json(_ value: some Encodable) throws { print(try jsonLine(value)) }

    /// A value as one line of JSON with sorted keys.
    static func jsonLine(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A warning or error on stderr, as `location: severity: message`.
    static func report(_ diagnostic: Diagnostic) { progress(diagnostic.description) }

    /// `path` relative to the current folder when it is inside it.
    static func display(_ path: String) -> String {
        let current = FileManager.default.currentDirectoryPath
        return path.hasPrefix(current + "/") ? String(path.dropFirst(current.count + 1)) : path
    }
}
