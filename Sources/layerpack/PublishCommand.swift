import AWSClient
import ArgumentParser
import Foundation
import LayerpackCore

struct Publish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a layer version, only when the zip or the version's metadata changed.",
        discussion: """
        Builds unless the zip on disk matches the sources, uploads to `s3_bucket` when set, compares with \
        the version in layerpack.state.json (else the newest published), publishes only on a difference, \
        deletes the replaced version unless `skip_destroy: true`, and records the new one. AWS settings come \
        from the environment and ~/.aws as the AWS SDKs read them. With GITHUB_OUTPUT set, appends \
        the outputs to that file (checked before anything is published) in the runner's format.
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
            let config = try LayerConfig.load(path: options.config)
            let aws = try AWSConfiguration.resolve(profile: profile)
            let gitHubOutput = dryRun ? nil : try GitHubOutputFile.fromEnvironment()
            let publisher = Publisher(config: config, aws: aws, options: PublishOptions(dryRun: dryRun, output: output, build: packing.buildOptions(), progress: Console.progress))
            let report = try publisher.run()
            for warning in report.warnings { Console.progress("warning: \(warning)") }
            if options.json {
                var object = Dictionary(uniqueKeysWithValues: report.outputs.map { ($0.0, $0.1.map(JSONValue.string) ?? .null) })
                object["published"] = .bool(report.published)
                object["dry_run"] = .bool(report.dryRun)
                if let version = report.layerVersion { object["version"] = .int(version.version) }
                if let size = report.layerVersion?.content?.codeSize { object["source_code_size"] = .int(size) }
                object["deleted_version"] = report.deletedVersion.map(JSONValue.int) ?? .null
                try Console.json(object)
            } else {
                for (name, value) in report.outputs { if let value { Console.result("\(name): \(value)") } }
            }
            try gitHubOutput?.append(report.outputs)
        }
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

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}
