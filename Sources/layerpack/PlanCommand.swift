import AWSClient
import ArgumentParser
import Foundation
import LayerpackCore

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the zip, observe every target and print (or write) what publish would do, for review.",
        discussion: "With -o, writes the plan for `layerpack apply`, which carries out exactly it and refuses it once the config, the zip or a target's versions changed. Changes nothing remotely.")

    @OptionGroup var options: LayerOptions
    @OptionGroup var packing: PackingOptions

    @Option(name: [.short, .customLong("out")], help: "Write the plan to this file (relative to the current folder).")
    var out: String?

    @Option(help: "The AWS profile (default: AWS_PROFILE, else `default`).")
    var profile: String?

    func validate() throws {
        if options.all && out != nil { throw ValidationError("--all and -o cannot be used together: write each layer's plan with --config.") }
    }

    func run() throws {
        var resolved: AWSConfiguration?
        try options.forEachLayer { path in
            let config = try options.loadInstalledConfig(path, refreshDependencies: packing.refreshDeps)
            let aws = try resolved ?? Layerpack.aws(profile: profile)
            resolved = aws
            let file = try Publisher(config: config, aws: aws, options: PublishOptions(build: packing.buildOptions(), progress: Console.progress)).plan()
            if let out {
                try file.write(to: URL(fileURLWithPath: out, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/")).path)
                Console.progress("Wrote the plan to \(out); carry it out with `layerpack apply \(out)`.")
            }
            if options.json { return LayerRun(json: try Console.jsonLine(file)) }
            Console.result("zip: \(file.plan.artifact.filename.map(Console.display) ?? "(the existing S3 object)")")
            Console.result("source_code_hash: \(file.plan.artifact.sourceCodeHash)")
            for target in file.plan.targets { Self.describe(target) }
            return LayerRun()
        }
    }

    /// A target's plan, readably: the action and reason, then what it changes.
    static func describe(_ target: TargetPlan) {
        Console.result("\(target.target): \(target.action.rawValue): \(target.reason)")
        if let s3 = target.s3, target.action == .publish {
            Console.result("  \(target.upload ? "upload to" : "publish from") s3://\(s3.bucket)/\(s3.key)")
        }
        for permission in target.addPermissions { Console.result("  add statement \(permission.statementID) (principal \(permission.principal)\(permission.organizationID.map { ", organization \($0)" } ?? ""))") }
        for statement in target.removeStatements { Console.result("  remove statement \(statement)") }
        for version in target.deleteVersions { Console.result("  delete version \(version)") }
        Console.result("  newest version seen: \(target.newestVersion.map(String.init) ?? "none")")
    }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Carry out exactly a plan written by `layerpack plan -o FILE`.",
        discussion: "Refuses the plan (exit 2) when the config or the zip changed since it was made, or when a target's newest version is no longer the one it saw. Writes GITHUB_OUTPUT as publish does.")

    @Argument(help: "The plan file (relative to the current folder).")
    var planFile: String

    @Option(help: "The AWS profile (default: AWS_PROFILE, else `default`).")
    var profile: String?

    @Flag(help: "Print one JSON object on stdout instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
            let file = try PlanFile.read(from: URL(fileURLWithPath: planFile, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/")).path)
            let gitHubOutput = try GitHubOutputFile.fromEnvironment()
            let config = try LayerConfig.load(path: file.config)
            let aws = try Layerpack.aws(profile: profile)
            let report = try Publisher(config: config, aws: aws, options: PublishOptions(progress: Console.progress)).apply(file)
            let objects = ReportOutput.present(report, json: json, config: nil)
            if let gitHubOutput { try ReportOutput.append(report, objects: objects, to: gitHubOutput) }
            if json { try objects.count == 1 ? Console.json(objects[0]) : Console.json(["targets": objects]) }
            if report.failed { throw ExitCode(2) }
        }
    }
}
