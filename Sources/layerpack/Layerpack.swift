import ArgumentParser
import AWSClient
internal import CMalloc
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
        symlinks and compression_level; `layerpack help config` lists them), from the current folder or the \
        nearest parent folder that has one. Exit status: 0 success; 1 `check` found the sources changed or `diff` found a difference; \
        2 an error (bad config, unreadable file, AWS error); 64 a usage error.
        """,
        version: "0.1.0",
        subcommands: [Build.self, Hash.self, Check.self, Diff.self, Plan.self, Apply.self, Publish.self, Import.self, Init.self, Schema.self, ConfigKeys.self]
    )

    /// `layerpack/VERSION`, sent with every AWS request.
    static let userAgent = "layerpack/\(configuration.version)"

    /// The AWS settings for `profile` (nil: the SDKs' choice), resolved as the AWS CLI does, sending
    /// layerpack's User-Agent. Every command that talks to AWS starts here.
    static func aws(profile: String?) throws -> AWSConfiguration {
        try AWSConfiguration.resolve(profile: profile, userAgent: userAgent)
    }
}

/// Options every layer command takes.
struct LayerOptions: ParsableArguments {
    @Option(name: [.short, .customLong("config")],
            help: "The config file (default: layerpack.yml in the current folder or the nearest parent that has one).")
    var config: String?

    @Flag(help: "Print one JSON object on stdout instead of text.")
    var json = false

    @Flag(help: "Every layerpack.yml below the current folder (links not followed; hidden folders, node_modules and .build skipped). The exit status is the worst of them.")
    var all = false

    func validate() throws {
        if all && config != nil { throw ValidationError("--all and --config cannot be used together.") }
    }

    /// `--config`, else the nearest layerpack.yml (named relative to the current folder, as `../layerpack.yml`).
    func loadConfig() throws -> LayerConfig {
        try LayerConfig.load(path: try configPath())
    }

    /// `--config`, else the nearest layerpack.yml in the current folder or a parent.
    func configPath() throws -> String {
        guard let path = config ?? LayerConfig.find() else { throw ConfigError.noneFound(folder: FileManager.default.currentDirectoryPath) }
        return path
    }

    /// The configs this run covers: `--config` (else the nearest layerpack.yml), or with `--all` every one below.
    func configPaths() throws -> [String] {
        guard all else { return [try configPath()] }
        let folder = FileManager.default.currentDirectoryPath
        let found = try ConfigDiscovery.configs(below: folder)
        guard !found.isEmpty else { throw ValidationError("There is no \(LayerConfig.defaultFileName) below `\(folder)`.") }
        return found
    }

    /// The config at `path`, with its `requirements` or `package_lock` installed (or found installed) for the layer's target.
    func loadInstalledConfig(_ path: String, refreshDependencies: Bool = false) throws -> LayerConfig {
        try DependencyInstaller.install(for: try LayerConfig.load(path: path), refresh: refreshDependencies, progress: Console.progress)
    }

    /// A config's plan, dependencies installed; `ownFiles` are paths this run writes (an `--output` zip, a cache folder), never packed.
    func loadPlan(_ path: String, ownFiles: [String?] = [], refreshDependencies: Bool = false) throws -> LayerPlan {
        try LayerPlan(config: try loadInstalledConfig(path, refreshDependencies: refreshDependencies), ownFiles: ownFiles)
    }

    /// Runs `body` for each config, one layer after another (each uses every core). With `--all`, text
    /// output is headed `# <config>` per layer and `--json` prints `{"layers": [{"config", "result"}, …]}`.
    /// An error in one layer is reported and the others still run; the exit status is the worst.
    func forEachLayer(_ body: (_ config: String) throws -> LayerRun) throws {
        let paths = try reportingErrors { try configPaths() }
        var worst: Int32 = 0
        var documents: [String] = []
        for path in paths {
            if all && !json { Console.result("# \(path)") }
            do {
                let run = try reportingErrors { try body(path) }
                worst = max(worst, run.status)
                if let document = run.json {
                    documents.append(all ? "{\"config\":\(try Console.jsonLine(path)),\"result\":\(document)}" : document)
                }
            } catch let exit as ExitCode {
                worst = max(worst, exit.rawValue)
                if all && json { documents.append("{\"config\":\(try Console.jsonLine(path)),\"result\":null}") }
            }
        }
        if json {
            if all { Console.result("{\"layers\":[\(documents.joined(separator: ","))]}") } else if let document = documents.first { Console.result(document) }
        }
        if worst != 0 { throw ExitCode(worst) }
    }
}

/// glibc keeps freed small blocks in "fast bins" and merges them all, on one thread, whenever a large
/// block is freed or wanted: a large layer's 100,000s of entries leave that many (libzip's and ours), and
/// the merges took 0.4 s of a 3 s build of 100,000 files. Without fast bins, the per-thread cache still
/// serves small blocks.
private let withoutFastBins: Void = { _ = mallopt(M_MXFAST, 0) }()

/// What one layer's command produced: its JSON document (with `--json`) and the exit status it asks for.
struct LayerRun {
    var json: String?
    var status: Int32 = 0
}

/// Runs a command body, turning layerpack's errors into one paragraph on stderr and exit status 2.
/// Also the place every command starts handling Ctrl-C and SIGTERM, so an interrupted run cleans up.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    Shutdown.install()
    _ = withoutFastBins
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

    /// Zip paths that differ, one a line: `  added    PATH`, `  removed  PATH`, `  changed  PATH`.
    static func changes(added: [String], removed: [String], changed: [String]) {
        for path in added { result("  added    \(path)") }
        for path in removed { result("  removed  \(path)") }
        for path in changed { result("  changed  \(path)") }
    }

    /// A warning or error on stderr, as `location: severity: message`.
    static func report(_ diagnostic: Diagnostic) { progress(diagnostic.description) }

    /// `path` relative to the current folder, climbing with `../` to a shared folder other than `/`
    /// (a config found in a parent folder); else as it is.
    static func display(_ path: String) -> String {
        var base = FileManager.default.currentDirectoryPath
        var climb = ""
        while base != "/" && !base.isEmpty {
            if path.hasPrefix(base + "/") { return climb + path.dropFirst(base.count + 1) }
            base = (base as NSString).deletingLastPathComponent
            climb += "../"
        }
        return path
    }
}
