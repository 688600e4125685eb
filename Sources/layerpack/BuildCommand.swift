import ArgumentParser
import LayerpackCore

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the layer zip and layerpack.lock.",
        discussion: "Writes the zip to `filename` (default dist/<layer_name>.zip) or --output, and the lock file beside the config, each through a temporary file renamed into place.")

    @OptionGroup var options: LayerOptions
    @OptionGroup var packing: PackingOptions

    @Option(name: [.short, .long], help: "Write the zip here instead of the config's `filename`.")
    var output: String?

    func validate() throws {
        if options.all && output != nil { throw ValidationError("--all and --output cannot be used together: each layer writes its own `filename`.") }
    }

    func run() throws {
        try options.forEachLayer { path in
            let plan = try options.loadPlan(path, ownFiles: [output, packing.cacheDirectory], refreshDependencies: packing.refreshDeps)
            Console.progress("Packing \(plan.entries.count) files (\(plan.totalSize) bytes) for layer \(plan.config.layerName)")
            let progress = TerminalProgress(label: "Packing")
            let result = try LayerBuilder.build(plan, output: output, options: packing.buildOptions(progress: progress))
            progress?.finish()
            result.diagnostics.forEach(Console.report)
            let work = result.statistics
            if work.reused > 0 {
                Console.progress("Compressed \(work.compressed) files, reused \(work.reused) from the cache")
            }
            Console.progress("Wrote \(Console.display(result.filename)) and \(Console.display(plan.config.lockFilePath))")
            if options.json { return LayerRun(json: try Console.jsonLine(result)) }
            Console.result("filename: \(Console.display(result.filename))")
            Console.result("source_code_hash: \(result.sourceCodeHash)")
            Console.result("source_code_size: \(result.sourceCodeSize)")
            Console.result("file_count: \(result.fileCount)")
            return LayerRun()
        }
    }
}
