import Foundation

/// The JSON Schema of `layerpack.yml`, for editors: `templates/layerpack.schema.json` with the catalog's
/// runtimes, architectures and layouts filled in, so `templates/` stays the one source of both.
public enum ConfigSchema {
    /// The schema as `layerpack schema` prints it.
    public static func text(catalog: Catalog = .standard) -> String {
        guard var text = EmbeddedTemplates.files["layerpack.schema.json"] else {
            fatalError("templates/layerpack.schema.json was not embedded at build time; rebuild layerpack.")
        }
        let lists = ["runtimes": catalog.runtimes, "architectures": catalog.architectures, "layouts": catalog.layoutNames]
        for (name, values) in lists {
            text = text.replacingOccurrences(of: "\"{{\(name)}}\"", with: "[" + values.map { "\"\($0)\"" }.joined(separator: ", ") + "]")
        }
        return text
    }

    /// One key of the schema, for `layerpack help config`.
    public struct Key: Sendable, Equatable {
        public let name: String
        /// `text`, `list of text`, `true or false`, ...
        public let type: String
        public let required: Bool
        public let description: String
        /// The values an enum allows, when there are few enough to list.
        public let accepted: [String]
    }

    /// Every key the schema describes, in the order the parser lists them; a key the parser accepts
    /// but the schema lacks is listed without a description.
    public static func keys(catalog: Catalog = .standard) -> [Key] {
        guard let schema = try? JSONSerialization.jsonObject(with: Data(text(catalog: catalog).utf8)) as? [String: Any],
              let properties = schema["properties"] as? [String: [String: Any]] else { return [] }
        let required = schema["required"] as? [String] ?? []
        let names = LayerConfig.knownKeys + properties.keys.filter { !LayerConfig.knownKeys.contains($0) }.sorted()
        return names.map { name in
            let property = properties[name] ?? [:]
            let items = property["items"] as? [String: Any]
            let enumValues = (property["enum"] ?? items?["enum"]) as? [Any] ?? []
            let accepted = enumValues.compactMap { $0 as? String }
            return Key(name: name, type: typeName(property), required: required.contains(name),
                       description: property["description"] as? String ?? "", accepted: accepted.count <= 8 ? accepted : [])
        }
    }

    /// The keys as `layerpack help config` prints them: one line each (help wraps it; the man page, whose
    /// generator takes the text as it is, would warn about blank lines between them).
    public static func keyList(catalog: Catalog = .standard) -> String {
        keys(catalog: catalog).map { key in
            let accepted = key.accepted.isEmpty ? "" : " One of: " + key.accepted.map { "`\($0)`" }.joined(separator: ", ") + "."
            return "\(key.name) (\(key.type)\(key.required ? ", required" : "")): \(key.description)\(accepted)"
        }.joined(separator: "\n")
    }

    static func typeName(_ property: [String: Any]) -> String {
        let types = (property["type"] as? [String] ?? [property["type"] as? String].compactMap { $0 }).filter { $0 != "null" }
        let names = ["string": "text", "integer": "whole number", "boolean": "true or false", "object": "mapping"]
        guard let type = types.first else { return "any" }
        if type == "array" {
            let items = property["items"] as? [String: Any] ?? [:]
            return items["anyOf"] != nil ? "list of paths or {path, to} entries" : "list of " + typeName(items)
        }
        return names[type] ?? type
    }
}
