import Yams

/// The layout catalog from `templates/layouts.yml`: which runtimes exist, the layout family of each,
/// and where a family's files go inside a layer.
public struct Catalog: Sendable {
    public struct Layout: Sendable, Equatable {
        public let name: String
        /// Where a plain source folder's contents go; may contain `{ruby_version}`.
        public let prefix: String
        public let runtimes: [String]
    }

    public let layouts: [Layout]
    public let architectures: [String]
    /// Other names for an architecture (`aarch64`), each with Lambda's (`arm64`).
    public let architectureAliases: [String: String]
    /// Runtimes Lambda has deprecated: accepted, never suggested.
    public let deprecatedRuntimes: Set<String>

    public var layoutNames: [String] { layouts.map(\.name) }
    public var runtimes: [String] { layouts.flatMap(\.runtimes) }
    /// The runtimes Lambda still supports, the ones messages offer.
    public var supportedRuntimes: [String] { runtimes.filter { !deprecatedRuntimes.contains($0) } }

    /// A supported runtime close to `runtime`, for "did you mean".
    public func suggestion(forRuntime runtime: String) -> String? { closestMatch(to: runtime, in: supportedRuntimes) }

    /// Lambda's name for an architecture another tool named (`aarch64` → `arm64`), or one close to it.
    public func suggestion(forArchitecture architecture: String) -> String? {
        architectureAliases[architecture.lowercased()] ?? closestMatch(to: architecture, in: architectures)
    }

    /// `3.3.0` for ruby3.3: the folder under `ruby/gems/` the ruby layout puts gems in; nil for other runtimes.
    public func rubyVersion(of runtime: String) -> String? {
        guard layout(forRuntime: runtime)?.name == "ruby" else { return nil }
        return "\(runtime.dropFirst("ruby".count)).0"
    }

    public func layout(named name: String) -> Layout? { layouts.first { $0.name == name } }
    public func layout(forRuntime runtime: String) -> Layout? { layouts.first { $0.runtimes.contains(runtime) } }

    /// The catalog embedded in this binary from `templates/layouts.yml`.
    public static let standard = embeddedTable("layouts.yml", Catalog.init(yaml:))

    init(yaml: String) throws {
        struct Malformed: Error {}
        guard let root = try Yams.compose(yaml: yaml), let entries = root["layouts"]?.mapping else { throw Malformed() }
        layouts = try entries.map { key, value in
            guard let name = key.string, let prefix = value["prefix"]?.string,
                  let runtimes = value["runtimes"]?.sequence?.compactMap(\.string) else { throw Malformed() }
            return Layout(name: name, prefix: prefix, runtimes: runtimes)
        }
        architectures = root["architectures"]?.sequence?.compactMap(\.string) ?? []
        architectureAliases = Dictionary(uniqueKeysWithValues: (root["architecture_aliases"]?.mapping ?? [:]).compactMap { key, value in
            key.string.flatMap { name in value.string.map { (name, $0) } }
        })
        deprecatedRuntimes = Set(root["deprecated"]?.sequence?.compactMap(\.string) ?? [])
    }
}

/// A table of facts from `templates/`, embedded in this binary at build time. A missing or malformed
/// one is a build mistake, not a user's, so it stops the program.
func embeddedTable<Table>(_ name: String, _ parse: (String) throws -> Table) -> Table {
    guard let text = EmbeddedTemplates.files[name] else {
        fatalError("templates/\(name) was not embedded at build time; rebuild layerpack.")
    }
    do { return try parse(text) } catch {
        fatalError("templates/\(name) is malformed: \(error)")
    }
}

/// Access to the scaffolds in `templates/init/`, embedded at build time.
public enum Scaffold {
    /// The starter `layerpack.yml` for a layout family, its `{{placeholders}}` filled in.
    public static func text(layout: String, layerName: String, runtime: String, architecture: String, catalog: Catalog = .standard) -> String? {
        guard var text = EmbeddedTemplates.files["init/\(layout).yml"] else { return nil }
        let values = [
            "layer_name": layerName, "runtime": runtime, "architecture": architecture,
            "ruby_version": catalog.rubyVersion(of: runtime) ?? "3.4.0",
            "python_version": runtime.hasPrefix("python") ? String(runtime.dropFirst("python".count)) : "3.13",
            // pip's name for Lambda's platform (glibc 2.17 or newer) on that architecture.
            "pip_platform": architecture == "arm64" ? "manylinux2014_aarch64" : "manylinux2014_x86_64",
        ]
        for (name, value) in values { text = text.replacingOccurrences(of: "{{\(name)}}", with: value) }
        return text
    }
}

extension Catalog {
    /// What to say about a runtime Lambda does not know: the likely one, then the supported ones.
    public func runtimeHint(for runtime: String) -> String {
        let guess = suggestion(forRuntime: runtime).map { "Did you mean `\($0)`? " } ?? ""
        return "\(guess)Lambda's supported runtimes are: \(supportedRuntimes.joined(separator: ", "))."
    }

    /// What to say about an architecture Lambda does not know: Lambda's name for it, then the accepted ones.
    public func architectureHint(for architecture: String) -> String {
        let guess = suggestion(forArchitecture: architecture).map { "Did you mean `\($0)`? " } ?? ""
        return "\(guess)Accepted: \(architectures.map { "`\($0)`" }.joined(separator: ", "))."
    }
}
