import Foundation

/// `layerpack init`: a starter config from the scaffolds in `templates/init/`.
public enum InitScaffold {
    public enum Failure: Error, CustomStringConvertible {
        case unknownRuntime(String, hint: String)
        case unknownArchitecture(String, hint: String)
        case unknownLayout(String, accepted: [String])
        case badName(String)
        case exists(String)

        public var description: String {
            switch self {
            case .unknownRuntime(let runtime, let hint):
                return "`\(runtime)` is not a Lambda runtime (`--runtime`). \(hint)"
            case .unknownArchitecture(let architecture, let hint):
                return "`\(architecture)` is not a Lambda architecture (`--architecture`). \(hint)"
            case .unknownLayout(let layout, let accepted):
                return "`\(layout)` is not a layout. Accepted: \(accepted.map { "`\($0)`" }.joined(separator: ", "))."
            case .badName(let name):
                return "`\(name)` is not a valid layer name: use 1 to 140 letters, digits, `-` or `_` (pass `--name`)."
            case .exists(let path):
                return "`\(path)` already exists; layerpack init never overwrites a config. Edit it, or pass `--config` another path."
            }
        }
    }

    public static func render(runtime: String, layerName: String, layout: String? = nil, architecture: String = "x86_64",
                              catalog: Catalog = .standard) throws -> String {
        guard let family = catalog.layout(forRuntime: runtime) else { throw Failure.unknownRuntime(runtime, hint: catalog.runtimeHint(for: runtime)) }
        guard catalog.architectures.contains(architecture) else {
            throw Failure.unknownArchitecture(architecture, hint: catalog.architectureHint(for: architecture))
        }
        let layoutName = layout ?? family.name
        guard catalog.layout(named: layoutName) != nil,
              let text = Scaffold.text(layout: layoutName, layerName: layerName, runtime: runtime, architecture: architecture, catalog: catalog) else {
            throw Failure.unknownLayout(layoutName, accepted: catalog.layoutNames)
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        guard !layerName.isEmpty, layerName.count <= 140, layerName.allSatisfy(allowed.contains) else { throw Failure.badName(layerName) }
        return text
    }

    /// The current folder's name, with characters a layer name cannot hold replaced by `-`.
    public static func defaultName() -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        let folder = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).lastPathComponent
        let name = String(folder.map { allowed.contains($0) ? $0 : "-" }.prefix(140))
        return name.isEmpty ? "my-layer" : name
    }

    /// The schema file `init` writes beside the config, which the scaffolds' `$schema` line names.
    public static let schemaFileName = "layerpack.schema.json"

    /// Writes the config at `path` and, unless one is there, the JSON Schema beside it; returns the paths written.
    public static func writeConfigAndSchema(_ text: String, to path: String, catalog: Catalog = .standard) throws -> [String] {
        try write(text, to: path)
        let folder = (path as NSString).deletingLastPathComponent
        let schema = folder.isEmpty ? schemaFileName : (folder as NSString).appendingPathComponent(schemaFileName)
        guard !FileManager.default.fileExists(atPath: schema) else { return [path] }
        try write(ConfigSchema.text(catalog: catalog), to: schema)
        return [path, schema]
    }

    /// Creates the file only if nothing is there, atomically (O_EXCL through a hard link of a staged file).
    public static func write(_ text: String, to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw Failure.exists(path) }
        let staged = try FileIO.stage(Data(text.utf8), for: path)
        defer { staged.discard() }
        guard link(staged.path, path) == 0 else {
            if errno == EEXIST { throw Failure.exists(path) }
            throw BuildError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
