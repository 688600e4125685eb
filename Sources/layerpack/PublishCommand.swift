import AWSClient
import ArgumentParser
import Foundation
import LayerpackCore

struct Publish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a layer version, only when the zip or the version's metadata changed.",
        discussion: """
        For each target (each of `regions:`, else the configured region): observes what is published, \
        plans (publish, adopt or unchanged, with a reason) and applies exactly that: uploads to `s3_bucket` \
        when set, publishes only on a difference from the recorded version, deletes the replaced version \
        unless `skip_destroy: true`, and records it in layerpack.state.json. Builds only when the zip's bytes \
        are needed. AWS settings come from the environment and ~/.aws as the AWS SDKs read them. With \
        GITHUB_OUTPUT set, appends the outputs in the runner's format (the file is checked before anything is \
        published). A failed target makes the exit status 2.
        """)

    @OptionGroup var options: LayerOptions
    @OptionGroup var packing: PackingOptions

    @Option(name: [.short, .long], help: "The zip to publish (default: the config's `filename`).")
    var output: String?

    @Option(help: profileHelp)
    var profile: String?

    @Flag(help: "Print the decision and its reason; change nothing anywhere.")
    var dryRun = false

    func validate() throws {
        if options.all && output != nil { throw ValidationError("--all and --output cannot be used together: each layer publishes its own `filename`.") }
    }

    func run() throws {
        // GITHUB_OUTPUT is opened before anything remote changes; with --all it gets every layer's
        // targets at the end, in one `targets` line.
        let gitHubOutput = dryRun ? nil : try reportingErrors { try GitHubOutputFile.fromEnvironment() }
        var everyTarget: [[String: JSONValue]] = []
        defer {
            if options.all, let gitHubOutput, !everyTarget.isEmpty {
                do {
                    try gitHubOutput.append([("published", String(everyTarget.contains { $0["published"] == .bool(true) })),
                                             ("targets", try Console.jsonLine(everyTarget))])
                } catch {
                    Console.report(Diagnostic(error: error))
                }
            }
        }
        // Resolved once, after the first config is read, so a bad config is reported first.
        var resolved: AWSConfiguration?
        try options.forEachLayer { path in
            let config = try options.loadInstalledConfig(path, refreshDependencies: packing.refreshDeps)
            let aws = try resolved ?? Layerpack.aws(profile: profile)
            resolved = aws
            let publisher = Publisher(config: config, aws: aws, options: PublishOptions(dryRun: dryRun, output: output, build: packing.buildOptions(), progress: Console.progress))
            let report = try publisher.run()
            let objects = ReportOutput.present(report, json: options.json, config: options.all ? path : nil)
            everyTarget += objects
            if let gitHubOutput, !options.all { try ReportOutput.append(report, objects: objects, to: gitHubOutput) }
            let json = options.json ? try objects.count == 1 ? Console.jsonLine(objects[0]) : Console.jsonLine(["targets": objects]) : nil
            return LayerRun(json: json, status: report.failed ? 2 : 0)
        }
    }
}

/// How `publish` and `apply` show a report: diagnostics on stderr, `name: value` lines or JSON objects
/// on stdout, and the step outputs for GitHub Actions.
enum ReportOutput {
    /// Prints the diagnostics and, unless `json`, the outputs; returns one JSON object per target.
    static func present(_ report: PublishReport, json: Bool, config: String?) -> [[String: JSONValue]] {
        for result in report.targets { for diagnostic in result.diagnostics { Console.report(diagnostic) } }
        var objects = report.targets.map { jsonObject(report, $0) }
        if let config { for index in objects.indices { objects[index]["config"] = .string(config) } }
        if !json {
            for result in report.targets {
                if report.targets.count > 1 { Console.result("# \(result.target)") }
                for (name, value) in report.outputs(of: result) { if let value { Console.result("\(name): \(value)") } }
            }
        }
        return objects
    }

    /// One target's names as they are; several targets as `published` and a `targets` JSON line.
    static func append(_ report: PublishReport, objects: [[String: JSONValue]], to file: GitHubOutputFile) throws {
        let outputs = report.targets.count == 1
            ? report.outputs(of: report.targets[0])
            : [("published", String(report.targets.contains(where: \.published))), ("targets", try Console.jsonLine(objects))]
        try file.append(outputs)
    }

    /// One target's `--json` object: its outputs, with numbers and booleans as such.
    static func jsonObject(_ report: PublishReport, _ result: TargetResult) -> [String: JSONValue] {
        var object = Dictionary(uniqueKeysWithValues: report.outputs(of: result).map { ($0.0, $0.1.map(JSONValue.string) ?? .null) })
        object["published"] = .bool(result.published)
        object["dry_run"] = .bool(report.dryRun)
        object["action"] = result.action.map { .string($0.rawValue) } ?? .null
        if let version = result.layerVersion { object["version"] = .int(version.version) }
        if let size = result.layerVersion?.content?.codeSize { object["source_code_size"] = .int(size) }
        object["deleted_version"] = result.deletedVersions.first.map(JSONValue.int) ?? .null
        object["deleted_versions"] = .array(result.deletedVersions.map(JSONValue.int))
        object["permissions_added"] = .array(result.permissionsAdded.map(JSONValue.string))
        object["permissions_removed"] = .array(result.permissionsRemoved.map(JSONValue.string))
        if let error = result.diagnostics.first(where: { $0.severity == .error }) { object["error"] = .string(error.message) }
        return object
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Adopt an existing layer version into layerpack.state.json, as `terraform import` does.")

    @OptionGroup var options: LayerOptions

    @Argument(help: "The version's ARN: arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION.")
    var arn: String

    @Option(help: profileHelp)
    var profile: String?

    func validate() throws {
        if options.all { throw ValidationError("import adopts one version into one config: use --config instead of --all.") }
    }

    func run() throws {
        try reportingErrors {
            let config = try options.loadConfig()
            let version = try LayerImport.run(arn: arn, config: config, aws: try Layerpack.aws(profile: profile))
            Console.progress("Imported version \(version.version) of \(config.layerName) into \(Console.display(PublishState.path(for: config))).")
            if options.json {
                try Console.json(["arn": JSONValue.string(version.layerVersionArn), "version": .int(version.version),
                                  "source_code_hash": version.content?.codeSha256.map(JSONValue.string) ?? .null])
            } else {
                Console.result("arn: \(version.layerVersionArn)")
                Console.result("version: \(version.version)")
            }
        }
    }
}

/// `--profile`'s help: the order AWSConfiguration resolves the profile in, as the AWS SDKs do.
let profileHelp: ArgumentHelp = "The AWS profile (default: AWS_DEFAULT_PROFILE, else AWS_PROFILE, else `default`)."

/// A JSON value for objects whose fields mix types.
enum JSONValue: Encodable, Equatable {
    case string(String), int(Int), bool(Bool), null
    case object([String: JSONValue])
    case array([JSONValue])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .null: try container.encodeNil()
        case .object(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        }
    }
}
