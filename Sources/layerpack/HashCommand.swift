import ArgumentParser
import Hashing
import LayerpackCore

struct Hash: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the layer's source_code_hash without writing the zip or the lock, or the hash of FILE.",
        discussion: "The hash is the standard base64 of the SHA-256 of the zip: Terraform's filebase64sha256() and Lambda's CodeSha256. It uses and updates the caches in .layerpack/ unless given --no-cache.")

    @OptionGroup var options: LayerOptions
    @OptionGroup var packing: PackingOptions

    @Argument(help: "Any file: print the base64 SHA-256 of its bytes.")
    var file: String?

    func run() throws {
        if let file {
            try reportingErrors {
                let hash = try SHA256.hash(fileAt: file).base64
                if options.json { try Console.json(["filename": file, "source_code_hash": hash]) } else { Console.result(hash) }
            }
            return
        }
        try options.forEachLayer { path in
            let progress = TerminalProgress(label: "Hashing")
            let result = try LayerBuilder.dryRun(try options.loadPlan(path, ownFiles: [packing.cacheDirectory], refreshDependencies: packing.refreshDeps), options: packing.buildOptions(progress: progress))
            progress?.finish()
            if options.json { return LayerRun(json: try Console.jsonLine(result)) }
            Console.result(result.sourceCodeHash)
            return LayerRun()
        }
    }
}
