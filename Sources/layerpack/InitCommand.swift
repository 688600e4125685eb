import ArgumentParser
import Foundation
import LayerpackCore

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a starter layerpack.yml for a runtime (never overwrites one).")

    @Option(name: [.short, .customLong("config")], help: "Where to write it.")
    var config: String = LayerConfig.defaultFileName

    @Option(help: "A Lambda runtime, e.g. python3.13, nodejs22.x, ruby3.4, java21, provided.al2023.")
    var runtime: String = "python3.13"

    @Option(help: "The layer name (default: the current folder's name).")
    var name: String?

    @Option(help: "The layout, when it is not the runtime's own (e.g. extension).")
    var layout: String?

    func run() throws {
        try reportingErrors {
            let text = try InitScaffold.render(runtime: runtime, layerName: name ?? InitScaffold.defaultName(), layout: layout)
            try InitScaffold.write(text, to: config)
            Console.progress("Wrote \(config). Edit `sources:`, then run `layerpack build`.")
            Console.result(config)
        }
    }
}
