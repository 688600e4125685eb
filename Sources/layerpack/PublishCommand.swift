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
        GITHUB_OUTPUT set, appends the outputs. A failed target makes the exit status 2.
        """)

    @OptionGroup var options: LayerOptions
    @OptionGroup var packing: PackingOptions

    @Option(name: [.short, .long], help: "The zip to publish (default: the config's `filename`).")
    var output: String?

    @Option(help: "The AWS profile (default: AWS_PROFILE, else `default`).")
    var profile: String?

    @Flag(help: "Print the decision and its reason; change nothing anywhere.")
    var dryRun = false

    func run() throws {
        try reportingErrors {
            let config = try options.loadConfig(refreshDependencies: packing.refreshDeps)
            let aws = try AWSConfiguration.resolve(profile: profile)
            let publisher = Publisher(config: config, aws: aws, options: PublishOptions(dryRun: dryRun, output: output, build: packing.buildOptions(), progress: Console.progress))
            let report = try publisher.run()
            for result in report.targets { for diagnostic in result.diagnostics { Console.report(diagnostic) } }
            let objects = report.targets.map { jsonObject(report, $0) }
            if options.json {
                if objects.count == 1 { try Console.json(objects[0]) } else { try Console.json(["targets": objects]) }
            } else {
                for result in report.targets {
                    if report.targets.count > 1 { Console.result("# \(result.target)") }
                    for (name, value) in report.outputs(of: result) { if let value { Console.result("\(name): \(value)") } }
                }
            }
            if !dryRun {
                let outputs = report.targets.count == 1
                    ? report.outputs(of: report.targets[0])
                    : [("published", String(report.targets.contains(where: \.published))), ("targets", try Console.jsonLine(objects))]
                try GitHubOutput.append(outputs)
            }
            if report.failed { throw ExitCode(2) }
        }
    }

    /// One target's `--json` object: its outputs, with numbers and booleans as such.
    func jsonObject(_ report: PublishReport, _ result: TargetResult) -> [String: JSONValue] {
        var object = Dictionary(uniqueKeysWithValues: report.outputs(of: result).map { ($0.0, $0.1.map(JSONValue.string) ?? .null) })
        object["published"] = .bool(result.published)
        object["dry_run"] = .bool(report.dryRun)
        object["action"] = result.action.map { .string($0.rawValue) } ?? .null
        if let version = result.layerVersion { object["version"] = .int(version.version) }
        if let size = result.layerVersion?.content?.codeSize { object["source_code_size"] = .int(size) }
        object["deleted_version"] = result.deletedVersion.map(JSONValue.int) ?? .null
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

    @Option(help: "The AWS profile (default: AWS_PROFILE, else `default`).")
    var profile: String?

    func run() throws {
        try reportingErrors {
            let config = try LayerConfig.load(path: options.config)
            let version = try LayerImport.run(arn: arn, config: config, aws: try AWSConfiguration.resolve(profile: profile))
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

/// A JSON value for objects whose fields mix types.
enum JSONValue: Encodable {
    case string(String), int(Int), bool(Bool), null
    case object([String: JSONValue])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .null: try container.encodeNil()
        case .object(let value): try container.encode(value)
        }
    }
}

/// GitHub Actions step outputs: `name=value` lines appended to the file `GITHUB_OUTPUT` names.
enum GitHubOutput {
    static func append(_ outputs: [(String, String?)]) throws {
        guard let path = ProcessInfo.processInfo.environment["GITHUB_OUTPUT"], !path.isEmpty else { return }
        let lines = outputs.map { "\($0.0)=\($0.1 ?? "")\n" }.joined()
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw BuildError.cannotWrite(path: path, reason: "GITHUB_OUTPUT names a file that cannot be opened for appending")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(lines.utf8))
    }
}
