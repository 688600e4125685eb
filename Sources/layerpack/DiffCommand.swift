import AWSClient
import ArgumentParser
import Foundation
import LayerpackCore

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the local sources with a published version, zip path by zip path (exit 0 equal, 1 different).",
        discussion: "Reads only the published zip's central directory, by HTTP range requests: from the S3 object the state recorded, else from Lambda's presigned Content.Location. Compares size, CRC-32 and mode.")

    @OptionGroup var options: LayerOptions
    @OptionGroup var packing: PackingOptions

    @Option(help: "The version to compare with (default: the one layerpack manages, else the newest).")
    var version: Int?

    @Option(help: "The region to compare in (default: the configured region).")
    var region: String?

    @Option(help: "The AWS profile (default: AWS_PROFILE, else `default`).")
    var profile: String?

    func validate() throws {
        if options.all { throw ValidationError("diff compares one layer: use --config instead of --all.") }
    }

    func run() throws {
        try options.forEachLayer { path in
            let plan = try options.loadPlan(path, ownFiles: [packing.cacheDirectory], refreshDependencies: packing.refreshDeps)
            var aws = try Layerpack.aws(profile: profile)
            if let region { aws.region = region }
            let report = try LayerDiff.run(plan, aws: aws, version: version, options: packing.buildOptions())
            let status: Int32 = report.isEqual ? 0 : 1
            Console.progress("Read \(report.bytesRead) bytes of the published zip from \(report.readFrom).")
            if options.json { return LayerRun(json: try Console.jsonLine(report), status: status) }
            if report.isEqual {
                Console.result("The sources match version \(report.version) (\(report.arn)).")
            } else {
                Console.result("The sources differ from version \(report.version) (\(report.arn)):")
                Console.changes(added: report.added, removed: report.removed, changed: report.changed)
            }
            return LayerRun(status: status)
        }
    }
}
