import ArgumentParser
import LayerpackCore

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema of layerpack.yml, for editors.",
        discussion: """
        `layerpack init` writes it beside the config as layerpack.schema.json, and the config's first line, \
        `# yaml-language-server: $schema=layerpack.schema.json`, points editors at it. After upgrading \
        layerpack: `layerpack schema > layerpack.schema.json`.
        """)

    /// The text ends with its own newline.
    func run() throws { print(ConfigSchema.text(), terminator: "") }
}

struct ConfigKeys: ParsableCommand {
    /// Computed, so the list comes from the schema the binary embeds. The argument parser asks every
    /// command for its configuration at each start; the list (milliseconds to build) is only made when
    /// help may be shown.
    static var configuration: CommandConfiguration {
        let helpWords: Set<String> = ["help", "--help", "-h", "--experimental-dump-help"]
        let showsHelp = CommandLine.arguments.dropFirst().contains(where: helpWords.contains)
        return CommandConfiguration(
            commandName: "config",
            abstract: "List every layerpack.yml key (also: layerpack help config).",
            discussion: "Paths are relative to the config file. The keys:\n" + (showsHelp ? ConfigSchema.keyList() : "…"))
    }

    func run() throws { Console.result(ConfigSchema.keyList()) }
}
