import Foundation
import PackagePlugin

/// Embeds every file under the package's `templates/` folder into the target as Swift string
/// literals, so the binary carries the layout catalog and scaffolds and `templates/` stays their
/// only copy.
@main
struct EmbedTemplates: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let templates = context.package.directoryURL.appendingPathComponent("templates")
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedTemplates.swift")
        let files = (FileManager.default.enumerator(at: templates, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL } ?? [])
            .filter { !$0.hasDirectoryPath }
            .sorted { $0.path < $1.path }
        return [
            .buildCommand(
                displayName: "Embedding templates/ into \(target.name)",
                executable: try context.tool(named: "embed-templates").url,
                arguments: [templates.path, output.path],
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }
}
