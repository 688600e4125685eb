import Foundation
import Hashing
import Yams

/// A validated `layerpack.yml`. Keys are the Terraform resource's argument names plus the packaging keys
/// (`layout`, `sources`, `exclude`, `symlinks`, `compression_level`, `cache_dir`).
public struct LayerConfig: Sendable {
    /// One entry of `sources:`.
    public struct Source: Sendable, Equatable {
        /// The path as the config writes it.
        public let path: String
        /// The absolute path, resolved against the config file's folder.
        public let resolvedPath: String
        /// The zip path a folder's contents go under (`""` is the zip root), or a file's parent folder.
        public let destination: String
        /// True when `to:` names the exact zip path of a file source.
        public let destinationIsExact: Bool
        public let line: Int
    }

    /// `requirements:` (pip) or `package_lock:` (npm): dependencies layerpack installs for the layer's target.
    public struct Dependencies: Sendable, Equatable {
        public enum Installer: String, Sendable { case pip, npm }
        public let installer: Installer
        /// The requirements or lock file as the config writes it, and its absolute path.
        public let path: String
        public let resolvedPath: String
        /// `pip_args:`, passed to pip after layerpack's own arguments.
        public let arguments: [String]
        public let line: Int
        /// The config key naming the file.
        public var key: String { installer == .pip ? "requirements" : "package_lock" }
    }

    public enum SymlinkPolicy: String, Sendable, CaseIterable {
        /// A link resolving inside its source root is stored as what it points to.
        case follow
        /// A link resolving inside its source root is stored as a link.
        case preserve
    }

    /// The config file as the user named it, for messages.
    public let file: String
    /// The absolute folder of the config file; relative paths in the config resolve against it.
    public let directory: String

    public let layerName: String
    public let description: String?
    public let licenseInfo: String?
    public let compatibleRuntimes: [String]
    public let compatibleArchitectures: [String]
    /// The absolute path `build` writes the zip to.
    public let filename: String
    public let s3Bucket: String?
    public let s3Key: String?
    public let s3ObjectVersion: String?
    public let skipDestroy: Bool
    public let sourceCodeHash: String?
    /// `regions:`, the regions to publish to; empty means the one the AWS configuration names.
    public let regions: [String]
    /// `permissions:`, who may use the managed version; nil (the key absent) leaves policies alone.
    public let permissions: [LayerPermission]?
    /// `keep:`, how many of the newest versions remain after every publish; nil keeps today's rule.
    public let keep: Int?

    public let layout: Catalog.Layout
    /// `sources:`, then the installed dependencies once `DependencyInstaller` has added them.
    public internal(set) var sources: [Source]
    public let dependencies: Dependencies?
    public let exclude: [String]
    public let symlinks: SymlinkPolicy
    public let compressionLevel: Int
    /// `cache_dir`: the absolute folder where compressed entries are kept between builds, so a rebuild
    /// compresses only the files that changed. Default `.layerpack/cache` beside the config; a shared
    /// folder (e.g. `~/.cache/layerpack`) serves several layers. Safe to delete; trimmed to 512 MiB.
    public let cacheDirectory: String
    /// `verify:`: whether a file that would not load on the layer's target fails the build (default), warns, or is not looked for.
    public let verify: VerifyMode

    /// `.layerpack` beside the config: layerpack's own state (the stat cache, and by default the entry cache).
    public var stateDirectory: String { URL(fileURLWithPath: directory).appendingPathComponent(".layerpack").path }

    /// What each source file's `lstat` said when it was last hashed, so unchanged files are not hashed again.
    /// Each config has its own (`layerpack.yml`: `stat-cache`; `other.yml`: `other.stat-cache`), so two
    /// configs in one folder do not undo each other's.
    public var statCachePath: String {
        let name = URL(fileURLWithPath: file).lastPathComponent
        return stateDirectory + "/" + (name == LayerConfig.defaultFileName ? "stat-cache" : URL(fileURLWithPath: name).deletingPathExtension().lastPathComponent + ".stat-cache")
    }

    /// `path` relative to the config's folder when it is inside it, for messages.
    public func relativePath(_ path: String) -> String {
        path.hasPrefix(directory + "/") ? String(path.dropFirst(directory.count + 1)) : path
    }

    /// Where `publish` and `import` record the managed version: `layerpack.state.json` beside the config.
    public var publishStatePath: String {
        URL(fileURLWithPath: lockFilePath).deletingPathExtension().appendingPathExtension("state.json").path
    }

    /// The lock file: the config's name with `.lock` for its extension, beside it (`layerpack.lock`).
    public var lockFilePath: String {
        let url = URL(fileURLWithPath: directory).appendingPathComponent(URL(fileURLWithPath: file).lastPathComponent)
        return url.deletingPathExtension().appendingPathExtension("lock").path
    }

    public static let defaultFileName = "layerpack.yml"
    public static let defaultCompressionLevel = 6
    /// Always excluded, whatever `exclude` says.
    public static let defaultExcludes = ["**/__pycache__/", "**/*.pyc", "**/.DS_Store", "**/.git/"]

    static let limits = (runtimes: 15, architectures: 2, description: 256, licenseInfo: 512, layerName: 140)

    static let knownKeys = [
        "layer_name", "description", "license_info", "compatible_runtimes", "compatible_architectures",
        "filename", "s3_bucket", "s3_key", "s3_object_version", "skip_destroy", "source_code_hash",
        "layout", "sources", "exclude", "symlinks", "compression_level", "cache_dir", "regions", "permissions", "keep", "verify",
        "requirements", "pip_args", "package_lock",
    ]

    /// The bucket for a region: `s3_bucket` with `{region}` replaced.
    public func s3Bucket(in region: String) -> String? {
        s3Bucket?.replacingOccurrences(of: "{region}", with: region)
    }

    /// The nearest `layerpack.yml`, as git finds its repository: in `folder`, else in the nearest parent
    /// folder that has one, up to the repository's root (a folder with `.git`) or `/`. The path is relative
    /// to `folder` (`layerpack.yml`, `../../layerpack.yml`); nil when there is none.
    public static func find(from folder: String = FileManager.default.currentDirectoryPath) -> String? {
        var current = URL(fileURLWithPath: folder).standardizedFileURL
        var climb = ""
        while true {
            let candidate = current.appendingPathComponent(defaultFileName).path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue {
                return climb + defaultFileName
            }
            let parent = current.deletingLastPathComponent()
            if FileManager.default.fileExists(atPath: current.appendingPathComponent(".git").path) || parent.path == current.path {
                return nil
            }
            current = parent
            climb += "../"
        }
    }

    /// Reads and validates the config at `path` (relative to the current folder, or absolute), and checks
    /// that its sources exist.
    public static func load(path: String, catalog: Catalog = .standard) throws -> LayerConfig {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw ConfigError.notFound(path: path)
        }
        let text: String
        do { text = try String(contentsOfFile: absolute, encoding: .utf8) } catch {
            throw ConfigError.unreadable(path: path, reason: "it is not readable UTF-8 text")
        }
        let config = try parse(text, file: path, directory: URL(fileURLWithPath: absolute).deletingLastPathComponent().path, catalog: catalog)
        try config.checkSources()
        return config
    }

    /// Checks what `parse` leaves to the disk: that every source and the requirements or lock file
    /// exist. A separate step, so that an install step can create sources between the two.
    public func checkSources() throws {
        if let dependencies, !FileManager.default.fileExists(atPath: dependencies.resolvedPath) {
            throw ConfigError.dependencies(file: file, line: dependencies.line,
                problem: "The `\(dependencies.key)` file `\(dependencies.path)` does not exist (looked for `\(dependencies.resolvedPath)`; paths are relative to the config file's folder).")
        }
        for source in sources where !FileManager.default.fileExists(atPath: source.resolvedPath) {
            throw ConfigError.sourceMissing(file: file, line: source.line, path: source.path, resolved: source.resolvedPath)
        }
    }

    /// Validates config text without touching the disk; `file` names it in messages and `directory`
    /// anchors its relative paths.
    public static func parse(_ text: String, file: String, directory: String, catalog: Catalog = .standard) throws -> LayerConfig {
        var reader = try Reader(text: text, file: file)
        return try reader.read(directory: directory, catalog: catalog)
    }
}

/// Walks the YAML node tree key by key, so every error can name its line.
private struct Reader {
    let file: String
    let root: Node.Mapping
    var lines: [String: Int] = [:]

    init(text: String, file: String) throws {
        self.file = file
        if let line = Reader.lineOfAnchorOrAlias(in: text) { throw ConfigError.anchorOrAlias(file: file, line: line) }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch let error as YamlError {
            throw Reader.syntaxError(error, file: file, text: text)
        }
        guard let node else { throw ConfigError.missingKey(file: file, key: "layer_name", hint: "The config is empty; `layerpack init` writes a starter one.") }
        guard case .mapping(let mapping) = node else { throw ConfigError.notAMapping(file: file) }
        root = mapping
        for (key, _) in mapping {
            let name = key.string ?? "\(key)"
            let line = Reader.line(of: key)
            guard LayerConfig.knownKeys.contains(name) else {
                throw ConfigError.unknownKey(file: file, line: line, key: name,
                                             suggestion: closestMatch(to: name, in: LayerConfig.knownKeys),
                                             accepted: LayerConfig.knownKeys)
            }
            lines[name] = line
        }
    }

    static func line(of node: Node) -> Int { node.mark?.line ?? 1 }

    /// The line of the first YAML anchor (`&name`) or alias (`*name`) that `text` may hold, when it holds
    /// both kinds: a few nested aliases of one anchor make a tree of billions of nodes, which Yams hashes
    /// whole when one is a mapping key. Looks where a node can start (after a line's indentation, a space,
    /// `[`, `{`, `,` or `:`), outside whole-line comments; so it never misses one, and text in a value
    /// such as `R&D` or `"*.md"` does not count.
    static func lineOfAnchorOrAlias(in text: String) -> Int? {
        var anchorLine: Int?, aliasLine: Int?
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let characters = Array(line.drop { $0 == " " || $0 == "\t" })
            if characters.first == "#" { continue }
            for (position, character) in characters.enumerated() where character == "&" || character == "*" {
                let before = position == 0 ? " " : characters[position - 1]
                guard position + 1 < characters.count, " \t\r[{,:".contains(before), !" \t\r,[]{}".contains(characters[position + 1]) else { continue }
                if character == "&" { anchorLine = anchorLine ?? index + 1 } else { aliasLine = aliasLine ?? index + 1 }
            }
        }
        guard let anchorLine, let aliasLine else { return nil }
        return min(anchorLine, aliasLine)
    }

    static func syntaxError(_ error: YamlError, file: String, text: String) -> ConfigError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            // A tab in a line's indentation is the usual cause of a scanner error near it.
            let tabbed = [context?.mark.line, mark.line].compactMap { $0 }.first { line in
                line >= 1 && line <= lines.count && lines[line - 1].prefix { $0 == " " || $0 == "\t" }.contains("\t")
            }
            if let tabbed {
                return .syntax(file: file, line: tabbed, column: 1,
                               problem: "line \(tabbed) is indented with a tab; YAML indents with spaces only, so replace the tab with spaces")
            }
            // libyaml notices an unclosed bracket or quote where the text runs out; its context marks where it opened.
            let start = context?.mark ?? mark
            var detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
            if start.line != mark.line { detail += " (noticed at line \(mark.line), column \(mark.column))" }
            return .syntax(file: file, line: start.line, column: start.column, problem: detail)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted()
            // Yams marks the mapping; point at the key's last occurrence instead, where it was repeated.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let repeated = lines.lastIndex { line in
                keys.contains { line.trimmingCharacters(in: .whitespaces).hasPrefix($0 + ":") }
            }
            return .syntax(file: file, line: repeated.map { $0 + 1 } ?? context.mark.line, column: 1,
                           problem: "the key \(keys.map { "`\($0)`" }.joined(separator: ", ")) appears more than once in one mapping; keep one")
        default:
            let summary = "\(error)".split(separator: "\n").first.map(String.init) ?? "unreadable YAML"
            return .syntax(file: file, line: 1, column: 1, problem: summary)
        }
    }

    func line(_ key: String) -> Int { lines[key] ?? 1 }

    /// The value of `key`, or nil when it is absent or null.
    func value(_ key: String) -> Node? {
        guard let node = root[Node(key)] else { return nil }
        if case .scalar(let scalar) = node, scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
            return nil
        }
        return node
    }

    func string(_ key: String) throws -> String? {
        guard let node = value(key) else { return nil }
        guard case .scalar(let scalar) = node else { throw ConfigError.wrongType(file: file, line: line(key), key: key, expected: "a single text value") }
        return scalar.string
    }

    func strings(_ key: String, example: String) throws -> [String]? {
        guard let node = value(key) else { return nil }
        guard case .sequence(let sequence) = node else {
            throw ConfigError.wrongType(file: file, line: line(key), key: key, expected: "a list, such as `\(key): \(example)`")
        }
        return try sequence.map { item in
            guard case .scalar(let scalar) = item else {
                throw ConfigError.wrongType(file: file, line: Reader.line(of: item), key: key, expected: "a list of text values, such as `\(key): \(example)`")
            }
            return scalar.string
        }
    }

    mutating func read(directory: String, catalog: Catalog) throws -> LayerConfig {
        // layer_name
        guard let layerName = try string("layer_name") else {
            throw ConfigError.missingKey(file: file, key: "layer_name", hint: "Add e.g. `layer_name: shared-deps` (letters, digits, `-` and `_`, up to 140 characters).")
        }
        let nameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        if layerName.isEmpty || layerName.count > LayerConfig.limits.layerName || !layerName.allSatisfy(nameCharacters.contains) {
            throw ConfigError.invalidValue(file: file, line: line("layer_name"), key: "layer_name", value: layerName,
                                           accepted: "A layer name is 1 to 140 letters, digits, `-` or `_`.")
        }

        // description, license_info
        let description = try string("description")
        if let description, description.count > LayerConfig.limits.description {
            throw ConfigError.tooLong(file: file, line: line("description"), key: "description", length: description.count, limit: LayerConfig.limits.description)
        }
        let licenseInfo = try string("license_info")
        if let licenseInfo, licenseInfo.count > LayerConfig.limits.licenseInfo {
            throw ConfigError.tooLong(file: file, line: line("license_info"), key: "license_info", length: licenseInfo.count, limit: LayerConfig.limits.licenseInfo)
        }

        // compatible_runtimes, compatible_architectures
        let runtimes = uniqued(try strings("compatible_runtimes", example: "[python3.12, python3.13]") ?? [])
        if runtimes.count > LayerConfig.limits.runtimes {
            throw ConfigError.tooMany(file: file, line: line("compatible_runtimes"), key: "compatible_runtimes", count: runtimes.count, limit: LayerConfig.limits.runtimes)
        }
        for runtime in runtimes where catalog.layout(forRuntime: runtime) == nil {
            throw ConfigError.invalidValue(file: file, line: line("compatible_runtimes"), key: "compatible_runtimes", value: runtime,
                                           accepted: catalog.runtimeHint(for: runtime))
        }
        let architectures = uniqued(try strings("compatible_architectures", example: "[x86_64, arm64]") ?? [])
        if architectures.count > LayerConfig.limits.architectures {
            throw ConfigError.tooMany(file: file, line: line("compatible_architectures"), key: "compatible_architectures", count: architectures.count, limit: LayerConfig.limits.architectures)
        }
        for architecture in architectures where !catalog.architectures.contains(architecture) {
            throw ConfigError.invalidValue(file: file, line: line("compatible_architectures"), key: "compatible_architectures", value: architecture,
                                           accepted: catalog.architectureHint(for: architecture))
        }

        // filename and the S3 location
        let filename = try string("filename") ?? "dist/\(layerName).zip"
        if filename.isEmpty || filename.hasSuffix("/") {
            throw ConfigError.invalidValue(file: file, line: line("filename"), key: "filename", value: filename,
                                           accepted: "`filename` is the zip's path, relative to the config or absolute, e.g. `dist/\(layerName).zip`.")
        }
        let s3Bucket = try string("s3_bucket")
        if let s3Bucket, !LayerConfig.isBucketName(s3Bucket.replacingOccurrences(of: "{region}", with: "us-east-1")) {
            throw ConfigError.invalidValue(file: file, line: line("s3_bucket"), key: "s3_bucket", value: s3Bucket,
                                           accepted: "A bucket name is 3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit; `{region}` stands for each region published to, e.g. `artifacts-{region}`.")
        }
        let regions = uniqued(try strings("regions", example: "[us-east-1, eu-west-1]") ?? [])
        for region in regions where !LayerConfig.isRegionName(region) {
            throw ConfigError.invalidValue(file: file, line: line("regions"), key: "regions", value: region,
                                           accepted: "A region name such as `us-east-1`, `eu-west-1` or `ap-southeast-2`.")
        }
        let s3Key = try string("s3_key")
        if let s3Key, s3Key.isEmpty || s3Key.hasPrefix("/") || s3Key.utf8.count > 1024 {
            throw ConfigError.invalidValue(file: file, line: line("s3_key"), key: "s3_key", value: s3Key,
                                           accepted: "An S3 key is 1 to 1,024 bytes and does not start with `/`, e.g. `layers/\(layerName).zip`.")
        }
        let s3ObjectVersion = try string("s3_object_version")
        for key in ["s3_key", "s3_object_version"] where value(key) != nil && s3Bucket == nil {
            throw ConfigError.requires(file: file, line: line(key), key: key, other: "s3_bucket")
        }
        if s3ObjectVersion != nil && s3Key == nil {
            throw ConfigError.requires(file: file, line: line("s3_object_version"), key: "s3_object_version", other: "s3_key")
        }
        let skipDestroy = try bool("skip_destroy") ?? false
        let keep = try integer("keep", range: 1...10_000)
        if keep != nil && skipDestroy {
            throw ConfigError.conflict(file: file, line: line("keep"), keys: ["keep", "skip_destroy: true"],
                                       reason: "`keep` deletes all but the newest versions, and `skip_destroy: true` deletes none. Use one of them.")
        }
        let permissions = try readPermissions()
        let sourceCodeHash = try string("source_code_hash")
        if let sourceCodeHash, Data(base64Encoded: sourceCodeHash)?.count != 32 {
            throw ConfigError.invalidValue(file: file, line: line("source_code_hash"), key: "source_code_hash", value: sourceCodeHash,
                                           accepted: "It must be the base64 of a SHA-256 (44 characters), as Terraform's `filebase64sha256(\"layer.zip\")` or `layerpack hash FILE` prints it.")
        }

        // packaging keys
        let layout = try resolveLayout(runtimes: runtimes, catalog: catalog)
        let rubyVersion = rubyVersion(of: runtimes, catalog: catalog)
        let exclude = try strings("exclude", example: "[\"**/tests/**\"]") ?? []
        let symlinksValue = try string("symlinks") ?? LayerConfig.SymlinkPolicy.follow.rawValue
        guard let symlinks = LayerConfig.SymlinkPolicy(rawValue: symlinksValue) else {
            throw ConfigError.invalidValue(file: file, line: line("symlinks"), key: "symlinks", value: symlinksValue,
                                           accepted: "Accepted: `follow` (store what a link points to) or `preserve` (store the link).")
        }
        let compressionLevel = try integer("compression_level", range: 0...9) ?? LayerConfig.defaultCompressionLevel
        let cacheDir = try string("cache_dir")
        if cacheDir?.isEmpty == true {
            throw ConfigError.invalidValue(file: file, line: line("cache_dir"), key: "cache_dir", value: "",
                                           accepted: "`cache_dir` is a folder, relative to the config or absolute, e.g. `cache_dir: ~/.cache/layerpack`.")
        }
        let cacheDirectory = cacheDir.map { absolutePath(NSString(string: $0).expandingTildeInPath, in: directory) }
            ?? URL(fileURLWithPath: directory).appendingPathComponent(".layerpack/cache").path
        let verifyValue = try string("verify") ?? VerifyMode.error.rawValue
        guard let verify = VerifyMode(rawValue: verifyValue) else {
            throw ConfigError.invalidValue(file: file, line: line("verify"), key: "verify", value: verifyValue,
                                           accepted: "Accepted: `error` (a file that would not load on the layer's target fails the build), `warn` (it is a warning) or `off` (nothing is checked).")
        }
        let dependencies = try readDependencies(directory: directory, layout: layout, runtimes: runtimes)
        let sources = try readSources(directory: directory, layout: layout, rubyVersion: rubyVersion,
                                      sourcesOptional: s3Bucket != nil && s3Key != nil || dependencies != nil)

        return LayerConfig(
            file: file, directory: directory, layerName: layerName, description: description, licenseInfo: licenseInfo,
            compatibleRuntimes: runtimes, compatibleArchitectures: architectures,
            filename: absolutePath(filename, in: directory),
            s3Bucket: s3Bucket, s3Key: s3Key, s3ObjectVersion: s3ObjectVersion,
            skipDestroy: skipDestroy, sourceCodeHash: sourceCodeHash, regions: regions, permissions: permissions, keep: keep,
            layout: layout, sources: sources, dependencies: dependencies, exclude: exclude, symlinks: symlinks, compressionLevel: compressionLevel,
            cacheDirectory: cacheDirectory, verify: verify)
    }

    func bool(_ key: String) throws -> Bool? {
        guard let node = value(key) else { return nil }
        guard case .scalar(let scalar) = node, let value = Bool.construct(from: scalar) else {
            throw ConfigError.wrongType(file: file, line: line(key), key: key, expected: "`true` or `false`")
        }
        return value
    }

    func integer(_ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard let node = value(key) else { return nil }
        guard case .scalar(let scalar) = node, let value = Int(scalar.string), range.contains(value) else {
            throw ConfigError.wrongType(file: file, line: line(key), key: key, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func resolveLayout(runtimes: [String], catalog: Catalog) throws -> Catalog.Layout {
        if let name = try string("layout") {
            guard let layout = catalog.layout(named: name) else {
                throw ConfigError.invalidValue(file: file, line: line("layout"), key: "layout", value: name,
                                               accepted: "Accepted: \(catalog.layoutNames.map { "`\($0)`" }.joined(separator: ", ")).")
            }
            return layout
        }
        let families = uniqued(runtimes.compactMap { catalog.layout(forRuntime: $0)?.name })
        if families.count == 1, let layout = catalog.layout(named: families[0]) { return layout }
        let reason = families.isEmpty
            ? "There is no `layout:` and no `compatible_runtimes` to infer it from."
            : "`compatible_runtimes` mixes the \(families.map { "`\($0)`" }.joined(separator: " and ")) families, so the layout cannot be inferred."
        throw ConfigError.layoutNeeded(file: file, reason: reason, accepted: catalog.layoutNames)
    }

    /// `requirements` with `pip_args`, or `package_lock`, each only for its layout.
    func readDependencies(directory: String, layout: Catalog.Layout, runtimes: [String]) throws -> LayerConfig.Dependencies? {
        let requirements = try string("requirements")
        let lock = try string("package_lock")
        let arguments = try strings("pip_args", example: "[--index-url, https://packages.example.com/simple]")
        if arguments != nil && requirements == nil {
            throw ConfigError.requires(file: file, line: line("pip_args"), key: "pip_args", other: "requirements")
        }
        for (key, value, needed) in [("requirements", requirements, "python"), ("package_lock", lock, "nodejs")] where value != nil {
            guard layout.name == needed else {
                throw ConfigError.dependencies(file: file, line: line(key),
                    problem: "`\(key)` installs \(needed == "python" ? "Python packages with pip" : "npm packages") into the `\(needed)` layout, but this layer's layout is `\(layout.name)`. Remove `\(key)`, or build a \(needed) layer.")
            }
            if value?.isEmpty == true || value?.hasSuffix("/") == true {
                throw ConfigError.invalidValue(file: file, line: line(key), key: key, value: value ?? "",
                                               accepted: "`\(key)` names a file, relative to the config or absolute, e.g. `\(key): \(needed == "python" ? "requirements.txt" : "package-lock.json")`.")
            }
        }
        if let requirements {
            guard runtimes.contains(where: { $0.hasPrefix("python3.") }) else {
                throw ConfigError.dependencies(file: file, line: line("requirements"),
                    problem: "`requirements` installs packages for the Python version of the layer's runtime, but `compatible_runtimes` names no python3 runtime. Add one, e.g. `compatible_runtimes: [python3.12]`.")
            }
            return LayerConfig.Dependencies(installer: .pip, path: requirements, resolvedPath: absolutePath(requirements, in: directory),
                                            arguments: arguments ?? [], line: line("requirements"))
        }
        if let lock {
            return LayerConfig.Dependencies(installer: .npm, path: lock, resolvedPath: absolutePath(lock, in: directory), arguments: [], line: line("package_lock"))
        }
        return nil
    }

    /// `3.3.0` for ruby3.3; nil when the ruby runtimes are absent or disagree.
    func rubyVersion(of runtimes: [String], catalog: Catalog) -> String? {
        let versions = uniqued(runtimes.compactMap(catalog.rubyVersion(of:)))
        return versions.count == 1 ? versions[0] : nil
    }

    /// `permissions:`: `{principal: "123456789012"}`, `{principal: "*"}`, or `{principal: "*", organization_id: "o-…"}`.
    func readPermissions() throws -> [LayerPermission]? {
        guard let node = value("permissions") else { return nil }
        let example = "`permissions: [{principal: \"123456789012\"}, {principal: \"*\", organization_id: o-abc123def4}]`"
        guard case .sequence(let items) = node else {
            throw ConfigError.wrongType(file: file, line: line("permissions"), key: "permissions", expected: "a list, such as \(example)")
        }
        var seen = Set<LayerPermission>()
        return try items.compactMap { item in
            let itemLine = Reader.line(of: item)
            guard case .mapping(let mapping) = item else {
                throw ConfigError.wrongType(file: file, line: itemLine, key: "permissions", expected: "a list of `{principal: …}` entries, such as \(example)")
            }
            for (key, _) in mapping where !["principal", "organization_id"].contains(key.string ?? "") {
                let name = key.string ?? "\(key)"
                throw ConfigError.unknownKey(file: file, line: Reader.line(of: key), key: "permissions: \(name)",
                                             suggestion: closestMatch(to: name, in: ["principal", "organization_id"]).map { "permissions: \($0)" },
                                             accepted: ["principal", "organization_id"])
            }
            guard let principal = mapping["principal"]?.string, principal == "*" || (principal.count == 12 && principal.allSatisfy(\.isASCIIDigit)) else {
                throw ConfigError.invalidValue(file: file, line: itemLine, key: "principal", value: mapping["principal"]?.string ?? "",
                                               accepted: "A principal is a 12-digit AWS account id, or `\"*\"` for every account (with `organization_id` to limit it to an organisation).")
            }
            let organization = mapping["organization_id"]?.string
            if let organization {
                guard principal == "*" else {
                    throw ConfigError.invalidValue(file: file, line: itemLine, key: "organization_id", value: organization,
                                                   accepted: "AWS accepts `organization_id` only with `principal: \"*\"`.")
                }
                let body = organization.dropFirst(2)
                guard organization.hasPrefix("o-"), (10...32).contains(body.count), body.allSatisfy({ $0.isASCIIDigit || ("a"..."z").contains($0) }) else {
                    throw ConfigError.invalidValue(file: file, line: itemLine, key: "organization_id", value: organization,
                                                   accepted: "An organisation id is `o-` and 10 to 32 lowercase letters or digits, e.g. `o-abc123def4`.")
                }
            }
            let permission = LayerPermission(principal: principal, organizationID: organization)
            return seen.insert(permission).inserted ? permission : nil
        }
    }

    func readSources(directory: String, layout: Catalog.Layout, rubyVersion: String?, sourcesOptional: Bool) throws -> [LayerConfig.Source] {
        guard let node = value("sources") else {
            if sourcesOptional { return [] }
            throw ConfigError.missingKey(file: file, key: "sources", hint: "List the folders and files that go into the layer, e.g. `sources: [build/python]`.")
        }
        guard case .sequence(let items) = node else {
            throw ConfigError.wrongType(file: file, line: line("sources"), key: "sources", expected: "a list of paths or `{path: ..., to: ...}` entries")
        }
        return try items.map { item in
            let itemLine = Reader.line(of: item)
            var path: String
            var to: String?
            switch item {
            case .scalar(let scalar):
                path = scalar.string
            case .mapping(let mapping):
                for (key, _) in mapping where !["path", "to"].contains(key.string ?? "") {
                    let name = key.string ?? "\(key)"
                    throw ConfigError.unknownKey(file: file, line: Reader.line(of: key), key: "sources: \(name)",
                                                 suggestion: closestMatch(to: name, in: ["path", "to"]).map { "sources: \($0)" }, accepted: ["path", "to"])
                }
                guard let value = mapping["path"]?.string, !value.isEmpty else {
                    throw ConfigError.wrongType(file: file, line: itemLine, key: "sources", expected: "an entry with a `path:`, such as `{path: vendor/tool, to: bin/tool}`")
                }
                path = value
                if let node = mapping["to"] {
                    guard case .scalar(let scalar) = node else {
                        throw ConfigError.wrongType(file: file, line: Reader.line(of: node), key: "to", expected: "a single zip path, such as `to: bin/tool`")
                    }
                    to = scalar.string
                }
            default:
                throw ConfigError.wrongType(file: file, line: itemLine, key: "sources", expected: "a list of paths or `{path: ..., to: ...}` entries")
            }
            let resolved = absolutePath(path, in: directory)
            if let to {
                let trimmed = to.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
                let segments = trimmed.split(separator: "/")
                if to.hasPrefix("/") || segments.contains("..") || segments.contains(".") || to.contains("\\") {
                    throw ConfigError.invalidValue(file: file, line: itemLine, key: "to", value: to,
                                                   accepted: "`to:` is a path inside the zip, relative to its root, without `.`, `..` or a leading `/` (e.g. `bin/tool`).")
                }
                return LayerConfig.Source(path: path, resolvedPath: resolved, destination: trimmed,
                                          destinationIsExact: !to.hasSuffix("/") && !trimmed.isEmpty, line: itemLine)
            }
            var prefix = layout.prefix
            if prefix.contains("{ruby_version}") {
                guard let rubyVersion else {
                    throw ConfigError.destinationNeeded(file: file, line: itemLine, path: path,
                        reason: "the `ruby` layout puts gems under `ruby/gems/X.Y.0/`, and X.Y comes from exactly one ruby runtime in `compatible_runtimes`. List one ruby runtime, or write `{path: \(path), to: ruby/gems/3.3.0}`.")
                }
                prefix = prefix.replacingOccurrences(of: "{ruby_version}", with: rubyVersion)
            }
            return LayerConfig.Source(path: path, resolvedPath: resolved, destination: String(prefix.trimmingSuffix("/")),
                                      destinationIsExact: false, line: itemLine)
        }
    }
}

/// One statement of a layer version's policy: who may use it (`lambda:GetLayerVersion`).
public struct LayerPermission: Hashable, Sendable, Codable {
    /// A 12-digit account id, or `*`.
    public let principal: String
    /// With `*`: only this organisation's accounts.
    public let organizationID: String?

    enum CodingKeys: String, CodingKey {
        case principal, organizationID = "organization_id"
    }

    public init(principal: String, organizationID: String? = nil) {
        self.principal = principal
        self.organizationID = organizationID
    }

    /// The statement ids layerpack adds start with this; it touches no others.
    public static let statementPrefix = "layerpack-"

    /// `layerpack-` and 12 hex digits of the SHA-256 of the principal and organisation: the same
    /// permission gets the same id in every run and region, so statements are compared by id.
    public var statementID: String {
        let digest = SHA256.hash(Data("\(principal)\n\(organizationID ?? "")".utf8))
        return LayerPermission.statementPrefix + digest.hex.prefix(12)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension LayerConfig {
    static func isBucketName(_ name: String) -> Bool {
        let allowed = name.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
        guard allowed, (3...63).contains(name.utf8.count), let first = name.first, let last = name.last else { return false }
        return (first.isLetter || first.isNumber) && (last.isLetter || last.isNumber)
    }

    /// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`: lowercase words joined by `-`, ending in a number.
    static func isRegionName(_ name: String) -> Bool {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, let last = parts.last, !last.isEmpty, last.allSatisfy(\.isNumber) else { return false }
        return parts.dropLast().allSatisfy { !$0.isEmpty && $0.allSatisfy { ("a"..."z").contains($0) } }
    }
}

func absolutePath(_ path: String, in directory: String) -> String {
    let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: directory).appendingPathComponent(path)
    return url.standardizedFileURL.path
}

func uniqued(_ values: [String]) -> [String] {
    var seen = Set<String>()
    return values.filter { seen.insert($0).inserted }
}

/// The candidate nearest to `word` by edit distance, when it is near enough to be a likely typo.
func closestMatch(to word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var current = [i + 1]
            for (j, cb) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
    let target = Array(word.lowercased())
    let scored = candidates.map { ($0, distance(target, Array($0.lowercased()))) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(2, word.count / 3) ? best.0 : nil
}

extension String {
    func trimmingSuffix(_ suffix: String) -> Substring {
        var result = Substring(self)
        while result.hasSuffix(suffix) { result = result.dropLast(suffix.count) }
        return result
    }
}
