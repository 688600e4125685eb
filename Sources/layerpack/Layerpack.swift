import ArgumentParser
import LayerpackCore

@main
struct Layerpack: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "layerpack")
}
