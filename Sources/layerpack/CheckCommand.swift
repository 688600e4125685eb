import ArgumentParser
import LayerpackCore

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when the sources still match layerpack.lock, 1 when they changed (a pre-commit hook).",
        discussion: "Lists each added, removed and changed zip path. Writes neither the zip nor the lock; it updates its stat cache in .layerpack/ (not with --no-cache) so that it hashes only files that changed. Errors exit 2.")

    @OptionGroup var options: LayerOptions
    @OptionGroup var packing: PackingOptions

    func run() throws {
        try options.forEachLayer { path in
            let progress = TerminalProgress(label: "Checking")
            let report = try LayerCheck.run(try options.loadPlan(path, ownFiles: [packing.cacheDirectory], refreshDependencies: packing.refreshDeps), options: packing.buildOptions(progress: progress))
            progress?.finish()
            let status: Int32 = report.isClean ? 0 : 1
            if !report.isClean {
                Console.progress("Run `layerpack build\(options.all ? " --config \(path)" : "")` to rebuild the layer and update the lock file.")
            }
            if options.json { return LayerRun(json: try Console.jsonLine(report), status: status) }
            if report.isClean {
                Console.result("\(Console.display(report.lockFile)) matches the sources.")
            } else if report.lockMissing {
                Console.result("There is no \(Console.display(report.lockFile)) yet.")
            } else {
                Console.result("\(Console.display(report.lockFile)) does not match the sources:")
                Console.changes(added: report.added, removed: report.removed, changed: report.changed)
                for setting in report.settings { Console.result("  setting  \(setting)") }
            }
            return LayerRun(status: status)
        }
    }
}
