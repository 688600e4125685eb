/// The files of `templates/`, embedded at build time by the EmbedTemplates plugin.
enum Templates {
    static func text(_ path: String) -> String? { EmbeddedTemplates.files[path] }
}
