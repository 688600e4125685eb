import ArgumentParser
import Foundation
import LayerpackCore

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a starter layerpack.yml for a runtime (never overwrites one).",
        discussion: "Also writes layerpack.schema.json beside it, unless one is there, for editors (see `layerpack schema`).")

    @Option(name: [.short, .customLong("config")], help: "Where to write it.")
    var config: String = LayerConfig.defaultFileName

    @Option(help: "A Lambda runtime, e.g. python3.13, nodejs22.x, ruby3.4, java21, provided.al2023.")
    var runtime: String = "python3.13"

    @Option(help: "The layer name (default: the current folder's name).")
    var name: String?

    @Option(help: "The layout, when it is not the runtime's own (e.g. extension).")
    var layout: String?

    @Option(help: "The architecture the layer is for: x86_64 or arm64.")
    var architecture: String = "x86_64"

    func run() throws {
        try reportingErrors {
            let text = try InitScaffold.render(runtime: runtime, layerName: name ?? InitScaffold.defaultName(), layout: layout,
                                               architecture: architecture)
            let written = try InitScaffold.writeConfigAndSchema(text, to: config)
            Console.progress("Wrote \(written.joined(separator: " and ")). Edit `sources:`, then run `layerpack build`.")
            for path in written { Console.result(path) }
        }
    }
}
