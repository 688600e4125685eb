import Foundation

/// An AWS shared `config` or `credentials` file: INI sections of `key = value` lines.
///
/// `key = value` or `key: value`; keys are lower-cased (as botocore's parser does); `#` and `;` start comment lines. Indented lines under
/// a key with an empty value are nested settings, kept as `parent.key` (`lambda =` /
/// `  endpoint_url = …` in a `[services name]` section is `lambda.endpoint_url`); other indented lines
/// continue a value and are skipped, as nothing this client reads spans lines.
struct ProfileFile {
    let path: String
    /// Section name (whitespace runs folded to one space) → settings.
    let sections: [String: [String: String]]

    /// Reads `path`; a missing file reads as empty, like the SDKs treat it.
    static func load(path: String) throws -> ProfileFile {
        guard FileManager.default.fileExists(atPath: path) else { return ProfileFile(path: path, sections: [:]) }
        // Read through a handle, so `/dev/null` (a common way to say "no file") reads as empty.
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() ?? Data() else {
            throw AWSClientError.unreadableFile(path: path, reason: "it exists but cannot be opened")
        }
        try? handle.close()
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    static func parse(_ text: String, path: String) throws -> ProfileFile {
        var sections: [String: [String: String]] = [:]
        var current: String?
        // The key with an empty value that indented lines below it belong to.
        var parent: String?
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if let first = line.first, first == " " || first == "\t", let section = current {
                if let parent, let equals = delimiter(in: trimmed) {
                    let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
                    sections[section]!["\(parent).\(key)"] = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                }
                continue
            }
            if trimmed.hasPrefix("[") && trimmed.hasSuffix("]") {
                let name = trimmed.dropFirst().dropLast().split(whereSeparator: \.isWhitespace).joined(separator: " ")
                current = name
                parent = nil
                sections[name, default: [:]] = sections[name] ?? [:]
            } else if let equals = delimiter(in: trimmed), let section = current {
                let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
                let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                sections[section]![key] = value
                parent = value.isEmpty ? key : nil
            } else {
                // Never echo the line: it may hold a secret key.
                let problem = delimiter(in: trimmed) != nil
                    ? "a `key = value` setting comes before any `[section]` header"
                    : "this line is neither a `[section]`, a `key = value` setting nor a comment"
                throw AWSClientError.malformedConfigFile(path: path, line: index + 1, problem: problem)
            }
        }
        return ProfileFile(path: path, sections: sections)
    }

    /// A profile's settings in a `config` file: `[default]` or `[profile name]`. A bare `[name]` there is
    /// not a profile.
    func configProfile(_ name: String) -> [String: String]? {
        if name == "default" { return sections["profile default"] ?? sections["default"] }
        return sections["profile \(name)"]
    }

    /// Where a setting's key ends: the first `=` or `:`, as botocore's parser (Python's configparser)
    /// accepts both.
    private static func delimiter(in line: String) -> String.Index? {
        line.firstIndex { $0 == "=" || $0 == ":" }
    }

    /// A `[services name]` section: nested `service.endpoint_url` settings.
    func servicesSection(_ name: String) -> [String: String]? { sections["services \(name)"] }

    /// An `[sso-session name]` section.
    func ssoSession(_ name: String) -> [String: String]? { sections["sso-session \(name)"] }

    /// A profile's settings in a `credentials` file: `[name]`.
    func credentialsProfile(_ name: String) -> [String: String]? { sections[name] }
}
