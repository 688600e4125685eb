import Foundation
import Hashing
import Shutdown
#if canImport(Glibc)
import Glibc
#endif

/// What stops dependencies from being installed, naming the file and the target they were resolved for.
public enum DependencyError: Error, CustomStringConvertible, Equatable, DiagnosticConvertible {
    case toolMissing(command: String, reason: String)
    case installFailed(file: String, line: Int, key: String, path: String, tool: String, target: String, detail: String)

    public var description: String { diagnostic.description }

    public var diagnostic: Diagnostic {
        switch self {
        case .toolMissing(let command, let reason):
            return Diagnostic(.error, "Could not run `\(command)`, which installs the layer's dependencies: \(reason).")
        case .installFailed(let file, let line, let key, let path, let tool, let target, let detail):
            let hint = key == "requirements"
                ? "Check the requirement's name and version, and that it publishes a wheel for this target (layerpack installs wheels only, `--only-binary=:all:`)."
                : "Check that `package.json` and the lock agree (`npm install` updates the lock) and that every package has a build for this target."
            return Diagnostic(.error, "\(tool) could not install `\(path)` (`\(key)`) for \(target): \(detail) \(hint) Nothing was cached.",
                              at: .file(path: file, line: line))
        }
    }
}

/// The machine pip installs for: a CPython version, an architecture and the manylinux tags its glibc loads.
public struct PipTarget: Sendable, Equatable, CustomStringConvertible {
    /// `3.12`
    public let pythonVersion: String
    /// `x86_64` or `aarch64`
    public let machine: String
    /// The OS glibc the wheels must load on.
    public let glibc: GlibcVersion
    /// One `--platform` per tag that glibc can load, oldest first.
    public var platforms: [String] {
        let legacy = machine == "x86_64" ? ["manylinux1_x86_64", "manylinux2010_x86_64"] : []
        let newest = glibc.parts.count > 1 && glibc.parts[0] == 2 ? max(glibc.parts[1], 17) : 17
        return legacy + ["manylinux2014_\(machine)"] + (17...newest).map { "manylinux_2_\($0)_\(machine)" }
    }

    public var description: String { "CPython \(pythonVersion) on \(machine) with glibc \(glibc) (up to `manylinux_\(glibc.parts.prefix(2).map(String.init).joined(separator: "_"))_\(machine)`)" }

    /// For the lowest python runtime of the config; arm64 only when it is the one architecture, as
    /// Lambda's default is x86_64; the oldest glibc among the runtimes' systems.
    init(config: LayerConfig, systems: RuntimeSystems) {
        let minors = config.compatibleRuntimes.compactMap { $0.hasPrefix("python3.") ? Int($0.dropFirst("python3.".count)) : nil }
        pythonVersion = "3.\(minors.min() ?? 12)"
        machine = config.compatibleArchitectures == ["arm64"] ? "aarch64" : "x86_64"
        glibc = config.compatibleRuntimes.compactMap { systems.system(for: $0)?.glibc }.min() ?? GlibcVersion("2.17")!
    }
}

/// The machine npm installs for: Linux on one CPU.
public struct NpmTarget: Sendable, Equatable, CustomStringConvertible {
    /// `x64` or `arm64`, as npm names them.
    public let cpu: String

    public var description: String { "linux on \(cpu)" }

    /// arm64 only when it is the one architecture, as Lambda's default is x86_64.
    init(config: LayerConfig) {
        cpu = config.compatibleArchitectures == ["arm64"] ? "arm64" : "x64"
    }
}

/// Installs `requirements` (pip) or `package_lock` (npm) into `.layerpack/deps/<key>/` and adds the
/// installed tree to the config's sources under the layout's prefix. The key covers everything that
/// decides the result (the files' bytes, the target, the tool's version and `pip_args`), so an
/// unchanged key is reused without installing, and a rebuild works offline.
public enum DependencyInstaller {
    /// The config with its installed dependencies as a source (unchanged without `requirements` or `package_lock`).
    /// - Parameters:
    ///   - refresh: install again even when the cache holds this key (`--refresh-deps`).
    ///   - python: the Python whose pip runs; `LAYERPACK_PYTHON`, else `python3` on PATH.
    ///   - progress: one line per step, for stderr. The tool's own output goes to stderr directly.
    public static func install(for config: LayerConfig, refresh: Bool = false, python: String? = nil,
                               systems: RuntimeSystems = .standard, progress: (String) -> Void = { _ in }) throws -> LayerConfig {
        guard let dependencies = config.dependencies else { return config }
        let job: Job
        switch dependencies.installer {
        case .pip:
            let python = python ?? ProcessInfo.processInfo.environment["LAYERPACK_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } ?? "python3"
            job = try pipJob(config, dependencies, python: python, target: PipTarget(config: config, systems: systems))
        case .npm:
            job = try npmJob(config, dependencies, target: NpmTarget(config: config))
        }
        let folders = config.stateDirectory + "/deps"
        let folder = folders + "/" + job.key
        var installed = config
        installed.sources.append(LayerConfig.Source(path: config.relativePath(folder + "/" + job.tree), resolvedPath: folder + "/" + job.tree,
                                                    destination: String(config.layout.prefix.trimmingSuffix("/")),
                                                    destinationIsExact: false, line: dependencies.line))
        if !refresh, FileManager.default.fileExists(atPath: folder + "/" + job.tree) {
            progress("Using the dependencies installed for \(job.target) in \(config.relativePath(folder))")
            return installed
        }
        removeAbandoned(in: folders)
        progress("Installing `\(dependencies.path)` with \(job.tool) for \(job.target)")
        let staging = StagingName.path(beside: folder)
        let removeStaging: @Sendable () -> Void = { try? FileManager.default.removeItem(atPath: staging) }
        let cleanup = Shutdown.onInterrupt(removeStaging)
        defer {
            removeStaging()
            Shutdown.unregister(cleanup)
        }
        let workingFolder = staging + "/" + job.workingFolder
        guard FileIO.makeStateFolder(config.stateDirectory), FileIO.makeFolder(folders), FileIO.makeFolder(staging + "/" + job.tree),
              FileIO.makeFolder(workingFolder) else {
            throw BuildError.cannotWrite(path: staging, reason: String(cString: strerror(errno)))
        }
        for (name, data) in job.files { try FileIO.writeAtomically(data, to: workingFolder + "/" + name) }
        let outcome = try run(job.command[0], Array(job.command.dropFirst()) + job.arguments(staging), in: job.workingFolder.isEmpty ? config.directory : workingFolder)
        guard outcome.status == 0 else {
            let said = outcome.errorLines.map { line in
                ["ERROR: ", "npm error "].first(where: line.hasPrefix).map { String(line.dropFirst($0.count)) } ?? line
            }
            let errors = said.isEmpty ? "\(job.tool) exited with status \(outcome.status)." : "\(job.tool) said: \(said.joined(separator: "; ")).".replacingOccurrences(of: "..", with: ".")
            throw DependencyError.installFailed(file: config.file, line: dependencies.line, key: dependencies.key, path: dependencies.path,
                                               tool: job.tool, target: job.target, detail: errors)
        }
        for path in job.leaveOut { try? FileManager.default.removeItem(atPath: staging + "/" + path) }
        if FileManager.default.fileExists(atPath: folder) {
            let old = StagingName.path(beside: folder)
            guard rename(folder, old) == 0 else { throw BuildError.cannotWrite(path: folder, reason: String(cString: strerror(errno))) }
            try? FileManager.default.removeItem(atPath: old)
        }
        guard rename(staging, folder) == 0 else { throw BuildError.cannotWrite(path: folder, reason: String(cString: strerror(errno))) }
        return installed
    }

    /// One install as the shared steps above carry it out, in a staging folder renamed to its key.
    struct Job {
        /// `pip 24.0`, `npm 10.8.2`.
        let tool: String
        let target: String
        let key: String
        /// The installed tree inside the key's folder, packed under the layout's prefix.
        let tree: String
        /// Where the tool runs, inside the staging folder; "" for the config's folder.
        let workingFolder: String
        /// Files written into the working folder first.
        let files: [(name: String, data: Data)]
        let command: [String]
        /// The arguments after `command`, given the staging folder.
        let arguments: (String) -> [String]
        /// Paths inside the staging folder removed after a successful install.
        let leaveOut: [String]
    }

    static func pipJob(_ config: LayerConfig, _ dependencies: LayerConfig.Dependencies, python: String, target: PipTarget) throws -> Job {
        let requirements = try read(dependencies.resolvedPath)
        let version = try toolVersion([python, "-c", "import pip; print(pip.__version__)"], name: "\(python) -m pip",
                                      hint: "install it (Debian: `apt-get install python3-pip`), or set LAYERPACK_PYTHON to a Python that has it")
        let key = cacheKey(["pip \(version)", target.pythonVersion, target.platforms.joined(separator: " "),
                            dependencies.arguments.joined(separator: "\u{0}")], content: [requirements])
        return Job(tool: "pip \(version)", target: target.description, key: key, tree: "python", workingFolder: "", files: [],
                   command: [python, "-m", "pip", "install"], arguments: { staging in
            ["--target", staging + "/python", "--only-binary=:all:", "--implementation", "cp", "--python-version", target.pythonVersion,
             "--no-compile", "--disable-pip-version-check", "--no-input"]
                + target.platforms.flatMap { ["--platform", $0] }
                + (isatty(STDERR_FILENO) == 1 ? [] : ["--progress-bar", "off"])
                + ["-r", dependencies.resolvedPath] + dependencies.arguments
        },
        // Console scripts name the build machine's interpreter in their first line; they would not run on Lambda.
        leaveOut: ["python/bin"])
    }

    /// `npm ci` in a folder holding copies of `package.json`, the lock and any `.npmrc` beside the lock,
    /// with relative `file:` paths made absolute.
    static func npmJob(_ config: LayerConfig, _ dependencies: LayerConfig.Dependencies, target: NpmTarget) throws -> Job {
        let folder = URL(fileURLWithPath: dependencies.resolvedPath).deletingLastPathComponent().path
        let manifest = folder + "/package.json"
        guard FileManager.default.fileExists(atPath: manifest) else {
            throw ConfigError.dependencies(file: config.file, line: dependencies.line,
                problem: "`npm ci` needs the `package.json` beside `\(dependencies.path)`, and there is none (looked for `\(manifest)`).")
        }
        let version = try toolVersion(["npm", "--version"], name: "npm", hint: "install npm 10.1 or newer")
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2, (parts[0], parts[1]) >= (10, 1) else {
            throw DependencyError.toolMissing(command: "npm", reason: "it is version \(version), and installing for another CPU (`--os`, `--cpu`) needs npm 10.1 or newer; upgrade it with `npm install -g npm@10`")
        }
        var files = [(name: "package.json", data: try absoluteFilePaths(in: read(manifest), from: folder, file: manifest)),
                     (name: "package-lock.json", data: try absoluteFilePaths(in: read(dependencies.resolvedPath), from: folder, file: dependencies.resolvedPath))]
        if FileManager.default.fileExists(atPath: folder + "/.npmrc") { files.append((name: ".npmrc", data: try read(folder + "/.npmrc"))) }
        let key = cacheKey(["npm \(version)", "linux", target.cpu] + files.map(\.name), content: files.map(\.data))
        return Job(tool: "npm \(version)", target: target.description, key: key, tree: "nodejs/node_modules", workingFolder: "nodejs",
                   files: files, command: ["npm", "ci"], arguments: { _ in
            ["--omit=dev", "--os=linux", "--cpu=\(target.cpu)", "--install-links", "--no-audit", "--no-fund"]
                + (isatty(STDERR_FILENO) == 1 ? [] : ["--progress=false"])
        },
        // npm's record of what it installed names this machine's paths.
        leaveOut: ["nodejs/node_modules/.package-lock.json"])
    }

    /// The JSON with each `file:` value's relative path made absolute against `folder`.
    static func absoluteFilePaths(in data: Data, from folder: String, file: String) throws -> Data {
        func rewrite(_ value: Any) -> Any {
            switch value {
            case let text as String where text.hasPrefix("file:") && !text.hasPrefix("file:/"):
                return "file:" + absolutePath(String(text.dropFirst("file:".count)), in: folder)
            case let object as [String: Any]: return object.mapValues(rewrite)
            case let array as [Any]: return array.map(rewrite)
            default: return value
            }
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) else {
            throw BuildError.unreadable(path: file, reason: "it is not valid JSON")
        }
        return try JSONSerialization.data(withJSONObject: rewrite(json), options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    }

    private static func read(_ path: String) throws -> Data {
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw BuildError.unreadable(path: path, reason: error.localizedDescription)
        }
    }

    /// 32 hex digits of the SHA-256 of the settings, one a line, and each file's length and bytes.
    static func cacheKey(_ settings: [String], content: [Data]) -> String {
        var text = Data(settings.map { $0 + "\n" }.joined().utf8)
        for data in content { text.append(Data("\(data.count)\n".utf8) + data) }
        return String(SHA256.hash(text).hex.prefix(32))
    }

    /// The version a tool prints (pip's is read from its package, without running pip).
    static func toolVersion(_ command: [String], name: String, hint: String) throws -> String {
        let outcome = try run(command[0], Array(command.dropFirst()), in: nil, forwardOutput: false)
        let version = outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard outcome.status == 0, !version.isEmpty else {
            throw DependencyError.toolMissing(command: name, reason: "\(outcome.errorLines.last ?? "it printed no version"); \(hint)")
        }
        return version
    }

    /// Folders left in `.layerpack/deps` by installs that were killed.
    private static func removeAbandoned(in folder: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where StagingName.isStaging(name) && StagingName.writerIsGone(name) {
            try? FileManager.default.removeItem(atPath: folder + "/" + name)
        }
    }

    private struct Outcome {
        let status: Int32
        let output: String
        /// pip's `ERROR:` lines (or its last line of stderr when it printed none).
        let errorLines: [String]
    }

    /// Runs `python` with `arguments`. Its stdout goes to our stderr when `forwardOutput`, else it is
    /// returned; its stderr is passed on to ours after it exits, and its error lines returned.
    private static func run(_ program: String, _ arguments: [String], in folder: String?, forwardOutput: Bool = true) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = forwardOutput ? FileHandle.standardError : output
        process.standardError = errors
        do { try process.run() } catch {
            throw DependencyError.toolMissing(command: program, reason: error.localizedDescription)
        }
        let errorReader = DispatchQueue(label: "pip-stderr")
        nonisolated(unsafe) var errorData = Data()
        let handle = errors.fileHandleForReading
        errorReader.async { errorData = handle.readDataToEndOfFile() }
        let captured = forwardOutput ? Data() : output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        errorReader.sync {}
        let errorText = String(decoding: errorData, as: UTF8.self)
        if forwardOutput, !errorData.isEmpty { FileHandle.standardError.write(errorData) }
        let lines = errorText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let marked = lines.filter { $0.hasPrefix("ERROR:") || $0.hasPrefix("npm error") && !$0.contains("A complete log of this run") }
        return Outcome(status: process.terminationStatus, output: String(decoding: captured, as: UTF8.self),
                       errorLines: marked.isEmpty ? Array(lines.suffix(1)) : marked)
    }
}
