import Foundation
import Hashing
import Shutdown
#if canImport(Glibc)
import Glibc
#endif

/// What stops dependencies from being installed, naming the file and the target they were resolved for.
public enum DependencyError: Error, CustomStringConvertible, Equatable, DiagnosticConvertible {
    case toolMissing(command: String, reason: String)
    case installFailed(file: String, line: Int, key: String, path: String, target: String, detail: String)

    public var description: String { diagnostic.description }

    public var diagnostic: Diagnostic {
        switch self {
        case .toolMissing(let command, let reason):
            return Diagnostic(.error, "Could not run `\(command)`: \(reason). layerpack installs `requirements` with pip: install it (Debian: `apt-get install python3-pip`), or set LAYERPACK_PYTHON to a Python that has it.")
        case .installFailed(let file, let line, let key, let path, let target, let detail):
            return Diagnostic(.error, "pip could not install `\(path)` (`\(key)`) for \(target): \(detail) Check the requirement's name and version, and that it publishes a wheel for this target (layerpack installs wheels only, `--only-binary=:all:`). Nothing was cached.",
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

/// Installs `requirements` into `.layerpack/deps/<key>/` and adds the installed tree to the config's
/// sources under the layout's prefix. The key covers everything that decides the result (the file's
/// bytes, the target, pip's version and `pip_args`), so an unchanged key is reused without running
/// pip, and a rebuild works offline.
public enum DependencyInstaller {
    /// The config with its installed dependencies as a source (unchanged without `requirements`).
    /// - Parameters:
    ///   - refresh: install again even when the cache holds this key (`--refresh-deps`).
    ///   - python: the Python whose pip runs; `LAYERPACK_PYTHON`, else `python3` on PATH.
    ///   - progress: one line per step, for stderr. pip's own output goes to stderr directly.
    public static func install(for config: LayerConfig, refresh: Bool = false, python: String? = nil,
                               systems: RuntimeSystems = .standard, progress: (String) -> Void = { _ in }) throws -> LayerConfig {
        guard let dependencies = config.dependencies, dependencies.installer == .pip else { return config }
        let python = python ?? ProcessInfo.processInfo.environment["LAYERPACK_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } ?? "python3"
        let target = PipTarget(config: config, systems: systems)
        let requirements: Data
        do { requirements = try Data(contentsOf: URL(fileURLWithPath: dependencies.resolvedPath)) } catch {
            throw BuildError.unreadable(path: dependencies.resolvedPath, reason: "\(error.localizedDescription)")
        }
        let pipVersion = try self.pipVersion(python: python)
        let key = cacheKey(["pip \(pipVersion)", target.pythonVersion, target.platforms.joined(separator: " "),
                            dependencies.arguments.joined(separator: "\u{0}")], content: requirements)
        let folders = config.stateDirectory + "/deps"
        let folder = folders + "/" + key
        var installed = config
        installed.sources.append(LayerConfig.Source(path: config.relativePath(folder + "/python"), resolvedPath: folder + "/python",
                                                    destination: String(config.layout.prefix.trimmingSuffix("/")),
                                                    destinationIsExact: false, line: dependencies.line))
        if !refresh, FileManager.default.fileExists(atPath: folder + "/python") {
            progress("Using the dependencies installed for \(target) in \(config.relativePath(folder))")
            return installed
        }
        removeAbandoned(in: folders)
        progress("Installing `\(dependencies.path)` with pip \(pipVersion) for \(target)")
        let staging = StagingName.path(beside: folder)
        let removeStaging: @Sendable () -> Void = { try? FileManager.default.removeItem(atPath: staging) }
        let cleanup = Shutdown.onInterrupt(removeStaging)
        defer {
            removeStaging()
            Shutdown.unregister(cleanup)
        }
        guard FileIO.makeStateFolder(config.stateDirectory), FileIO.makeFolder(folders), FileIO.makeFolder(staging), FileIO.makeFolder(staging + "/python") else {
            throw BuildError.cannotWrite(path: staging, reason: String(cString: strerror(errno)))
        }
        var arguments = ["-m", "pip", "install", "--target", staging + "/python", "--only-binary=:all:", "--implementation", "cp",
                         "--python-version", target.pythonVersion, "--no-compile", "--disable-pip-version-check", "--no-input"]
        arguments += target.platforms.flatMap { ["--platform", $0] }
        if isatty(STDERR_FILENO) != 1 { arguments += ["--progress-bar", "off"] }
        arguments += ["-r", dependencies.resolvedPath] + dependencies.arguments
        let outcome = try run(python, arguments, in: config.directory)
        guard outcome.status == 0 else {
            let said = outcome.errorLines.map { $0.hasPrefix("ERROR: ") ? String($0.dropFirst("ERROR: ".count)) : $0 }
            let errors = said.isEmpty ? "pip exited with status \(outcome.status)." : "pip said: \(said.joined(separator: "; ")).".replacingOccurrences(of: "..", with: ".")
            throw DependencyError.installFailed(file: config.file, line: dependencies.line, key: dependencies.key, path: dependencies.path,
                                               target: target.description, detail: errors)
        }
        // Console scripts name the build machine's interpreter in their first line; they would not run on Lambda.
        try? FileManager.default.removeItem(atPath: staging + "/python/bin")
        if FileManager.default.fileExists(atPath: folder) {
            let old = StagingName.path(beside: folder)
            guard rename(folder, old) == 0 else { throw BuildError.cannotWrite(path: folder, reason: String(cString: strerror(errno))) }
            try? FileManager.default.removeItem(atPath: old)
        }
        guard rename(staging, folder) == 0 else { throw BuildError.cannotWrite(path: folder, reason: String(cString: strerror(errno))) }
        return installed
    }

    /// 32 hex digits of the SHA-256 of the settings, one a line, and the file's bytes.
    static func cacheKey(_ settings: [String], content: Data) -> String {
        var text = Data(settings.map { $0 + "\n" }.joined().utf8)
        text.append(content)
        return String(SHA256.hash(text).hex.prefix(32))
    }

    /// pip's version, read from its package without running pip.
    static func pipVersion(python: String) throws -> String {
        let outcome = try run(python, ["-c", "import pip; print(pip.__version__)"], in: nil, forwardOutput: false)
        let version = outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard outcome.status == 0, !version.isEmpty else {
            throw DependencyError.toolMissing(command: "\(python) -m pip", reason: outcome.errorLines.last ?? "it has no pip module")
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
    private static func run(_ python: String, _ arguments: [String], in folder: String?, forwardOutput: Bool = true) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python] + arguments
        if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = forwardOutput ? FileHandle.standardError : output
        process.standardError = errors
        do { try process.run() } catch {
            throw DependencyError.toolMissing(command: "\(python) \(arguments.prefix(2).joined(separator: " "))", reason: error.localizedDescription)
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
        let marked = lines.filter { $0.hasPrefix("ERROR:") }
        return Outcome(status: process.terminationStatus, output: String(decoding: captured, as: UTF8.self),
                       errorLines: marked.isEmpty ? Array(lines.suffix(1)) : marked)
    }
}
