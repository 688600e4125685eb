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

    public var layoutNames: [String] { layouts.map(\.name) }
    public var runtimes: [String] { layouts.flatMap(\.runtimes) }

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
    /// The starter `layerpack.yml` for a runtime's layout family.
    public static func text(layout: String, layerName: String, runtime: String) -> String? {
        EmbeddedTemplates.files["init/\(layout).yml"]?
            .replacingOccurrences(of: "{{layer_name}}", with: layerName)
            .replacingOccurrences(of: "{{runtime}}", with: runtime)
    }
}
