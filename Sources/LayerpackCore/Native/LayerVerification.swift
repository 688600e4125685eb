import Foundation
import Synchronization

/// `verify:`: what a build does when a file in the layer would not load on the layer's Lambda target.
public enum VerifyMode: String, Sendable, CaseIterable {
    /// The build fails, naming every such file.
    case error
    /// The build goes on; each file is a warning.
    case warn
    /// Nothing is checked or read.
    case off
}

/// One file that would not load on the layer's target, and what to do about it.
public struct VerificationFinding: Sendable, Equatable {
    /// Where the file goes in the zip.
    public let zipPath: String
    /// A full sentence naming the file, what is wrong and the fix.
    public let message: String
}

/// A layer refused by `verify: error`.
public enum VerificationError: Error, CustomStringConvertible, Equatable, DiagnosticConvertible {
    case wouldNotLoad(file: String, findings: [VerificationFinding])

    public var description: String { diagnostic.description }

    public var diagnostic: Diagnostic {
        switch self {
        case .wouldNotLoad(let file, let findings):
            let count = findings.count == 1 ? "1 file" : "\(findings.count) files"
            let list = findings.map { "\n  - \($0.message)" }.joined()
            return Diagnostic(.error, "The layer holds \(count) that would not load on its Lambda target, so nothing was written:\(list)\n"
                              + "Fix them, or set `verify: warn` to build anyway.", at: .file(path: file, line: nil))
        }
    }
}

/// Checks every native file of a plan against the layer's targets before anything is packed: the ELF
/// machine against `compatible_architectures`, the glibc symbol versions against the OS of each runtime
/// in `compatible_runtimes` (`templates/runtimes.yml`), and Python extension modules and wheel tags
/// against the python runtimes; and that nothing sits in a folder no runtime looks in.
///
/// ELF files are looked for among the files named `*.so`, `*.so.N…` or `*.node` and the executable
/// files; only their headers and `.gnu.version_r` are read.
public enum LayerVerification {
    /// Warnings (with `verify: warn`) and notes about checks that could not be made.
    /// - Throws: `VerificationError` with `verify: error` when a file would not load.
    public static func run(_ plan: LayerPlan, systems: RuntimeSystems = .standard) throws -> [Diagnostic] {
        guard plan.config.verify != .off else { return [] }
        let (findings, notes) = try examine(plan, systems: systems)
        if plan.config.verify == .error, !findings.isEmpty {
            throw VerificationError.wouldNotLoad(file: plan.config.file, findings: findings)
        }
        return notes + findings.map { Diagnostic(.warning, $0.message) }
    }

    /// The findings, in zip path order, and the notes about skipped checks. Runs of entries are examined on
    /// every core at once (this runs for every entry before anything is packed); their findings are joined
    /// in order, and the first error in zip path order is thrown.
    static func examine(_ plan: LayerPlan, systems: RuntimeSystems) throws -> (findings: [VerificationFinding], notes: [Diagnostic]) {
        let target = Target(config: plan.config, systems: systems)
        let runLength = 4096
        let runs = (plan.entries.count + runLength - 1) / runLength
        let results = Mutex([Result<Examined, any Error>?](repeating: nil, count: runs))
        DispatchQueue.concurrentPerform(iterations: runs) { run in
            let entries = plan.entries[(run * runLength)..<min((run + 1) * runLength, plan.entries.count)]
            let result = Result { try examine(entries, in: plan, target: target) }
            results.withLock { $0[run] = result }
        }
        var findings: [VerificationFinding] = []
        var sawNativeCode = false
        var sawPythonBuild = false
        for result in results.withLock({ $0 }) {
            let examined = try result!.get()
            findings += examined.findings
            sawNativeCode = sawNativeCode || examined.sawNativeCode
            sawPythonBuild = sawPythonBuild || examined.sawPythonBuild
        }
        for unreached in findingsForUnreachedFolders(in: plan) {
            findings.insert(unreached, at: findings.firstIndex { !bytewiseLess($0.zipPath, unreached.zipPath) } ?? findings.endIndex)
        }
        var notes: [Diagnostic] = []
        if sawNativeCode || sawPythonBuild, plan.config.compatibleRuntimes.isEmpty {
            notes.append(Diagnostic(.note, "The layer holds native code but has no `compatible_runtimes`, so its Python versions and glibc needs were not checked against a Lambda runtime.", at: .file(path: plan.config.file, line: nil)))
        }
        if sawNativeCode, plan.config.compatibleArchitectures.isEmpty {
            notes.append(Diagnostic(.note, "The layer holds native code but has no `compatible_architectures`, so its ELF files were not checked against an architecture.", at: .file(path: plan.config.file, line: nil)))
        }
        return (findings, notes)
    }

    /// Folders no runtime ever looks in; each with the folder whose contents belong one level up (a source
    /// that holds it, given instead of it, puts them there), the runtime, and where it does look.
    private static let unreachedFolders: [(zipPath: String, heldFolder: String, runtime: String, looksIn: String)] = [
        // npm allows no package named `node_modules`.
        ("nodejs/node_modules/node_modules/", "node_modules", "Node.js", "`/opt/nodejs/node_modules/`"),
        // `site-packages` is no module name, and no `.pth` file is read there.
        ("python/site-packages/", "site-packages", "Python", "`/opt/python/` and `/opt/python/lib/python3.X/site-packages/`"),
    ]

    /// A finding for each of `unreachedFolders` that holds anything, naming its first entry and the source to give instead.
    private static func findingsForUnreachedFolders(in plan: LayerPlan) -> [VerificationFinding] {
        unreachedFolders.compactMap { folder in
            let first = LayerPlan.firstIndex(notBefore: folder.zipPath[...], in: plan.entries)
            guard first < plan.entries.count, plan.entries[first].zipPath.utf8.starts(with: folder.zipPath.utf8) else { return nil }
            let entry = plan.entries[first]
            // Past the folder's entries: the first path after every `…/x`, `…0` (`0` follows `/`).
            let others = LayerPlan.firstIndex(notBefore: folder.zipPath.dropLast() + "0", in: plan.entries) - first - 1
            let held = others == 0 ? "`\(entry.zipPath)`" : "`\(entry.zipPath)` and \(others) more"
            return VerificationFinding(zipPath: folder.zipPath, message: "`\(folder.zipPath)` holds \(held) where \(folder.runtime) does not look (it looks in \(folder.looksIn)): the source `\(entry.origin)` holds a `\(folder.heldFolder)` folder itself. Give that folder as the source instead, as in `sources: [\(entry.origin)/\(folder.heldFolder)]`.")
        }
    }

    /// What examining some of a plan's entries found.
    private struct Examined: Sendable {
        var findings: [VerificationFinding] = []
        var sawNativeCode = false
        var sawPythonBuild = false
    }

    private static func examine(_ entries: ArraySlice<PlannedEntry>, in plan: LayerPlan, target: Target) throws -> Examined {
        var examined = Examined()
        for entry in entries {
            guard case .file(let executable) = entry.kind, executable || mayBeExamined(entry.zipPath) else { continue }
            let name = entry.zipPath.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(entry.zipPath[entry.zipPath.utf8.index(after: $0)...]) } ?? entry.zipPath
            var problems: [String] = []
            if executable || isSharedObjectName(name), let elf = try ELFFile.read(path: entry.sourcePath) {
                examined.sawNativeCode = true
                problems += target.problems(with: elf)
            }
            if let version = cpythonVersion(inModuleName: name) {
                examined.sawPythonBuild = true
                problems += target.problems(withExtensionFor: version)
            }
            if name == "WHEEL", entry.zipPath.split(separator: "/").dropLast().last?.hasSuffix(".dist-info") == true {
                examined.sawPythonBuild = true
                let text = (try? String(contentsOfFile: entry.sourcePath, encoding: .utf8)) ?? ""
                problems += target.problems(withWheelTags: wheelTags(text))
            }
            if !problems.isEmpty {
                let where_ = entry.sourcePath == entry.origin ? "`\(entry.zipPath)`" : "`\(entry.zipPath)` (from `\(plan.config.relativePath(entry.sourcePath))`)"
                examined.findings.append(VerificationFinding(zipPath: entry.zipPath, message: "\(where_) \(problems.joined(separator: "; it also "))."))
            }
        }
        return examined
    }

    /// Whether the last name of `zipPath` could be one examined below (a shared object, a CPython
    /// extension, a `WHEEL` file), told from its bytes alone: this runs for every entry before anything
    /// is packed, and most are neither.
    static func mayBeExamined(_ zipPath: String) -> Bool {
        var zipPath = zipPath
        return zipPath.withUTF8 { path in
            let name = UnsafeBufferPointer(rebasing: path[((path.lastIndex(of: UInt8(ascii: "/")) ?? -1) + 1)...])
            func has(_ text: StaticString, at offset: Int) -> Bool {
                offset >= 0 && offset + text.utf8CodeUnitCount <= name.count
                    && memcmp(name.baseAddress! + offset, text.utf8Start, text.utf8CodeUnitCount) == 0
            }
            return has(".node", at: name.count - 5) || (name.count == 5 && has("WHEEL", at: 0))
                || name.indices.contains { has(".so", at: $0) }
        }
    }

    /// `x.so`, `libx.so.1.2`, `addon.node`.
    static func isSharedObjectName(_ name: String) -> Bool {
        name.hasSuffix(".so") || name.hasSuffix(".node") || name.withCString { strstr($0, ".so.") != nil }
    }

    /// `11` for `_speedups.cpython-311-x86_64-linux-gnu.so` (and the `d`/`t` build flags), nil otherwise.
    static func cpythonVersion(inModuleName name: String) -> Int? {
        guard name.hasSuffix(".so"), let range = name.range(of: ".cpython-3") else { return nil }
        let digits = name[range.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }

    /// The `Tag:` values of a wheel's `WHEEL` file, each compressed tag set expanded.
    static func wheelTags(_ text: String) -> [WheelTag] {
        text.split(whereSeparator: \.isNewline).flatMap { line -> [WheelTag] in
            guard line.hasPrefix("Tag:") else { return [] }
            let parts = line.dropFirst("Tag:".count).trimmingCharacters(in: .whitespaces).split(separator: "-").map(String.init)
            guard parts.count == 3 else { return [] }
            return parts[0].split(separator: ".").flatMap { interpreter in
                parts[1].split(separator: ".").flatMap { abi in
                    parts[2].split(separator: ".").map { WheelTag(interpreter: String(interpreter), abi: String(abi), platform: String($0)) }
                }
            }
        }
    }

    struct WheelTag: Equatable, CustomStringConvertible {
        let interpreter: String
        let abi: String
        let platform: String
        var description: String { "\(interpreter)-\(abi)-\(platform)" }
    }

    /// What the layer declares it runs on.
    struct Target {
        let architectures: [String]
        /// python3.X runtimes as (runtime, X), for Python 3 only.
        let pythons: [(runtime: String, minor: Int)]
        let systems: [(runtime: String, system: RuntimeSystems.System)]
        let layerName: String

        init(config: LayerConfig, systems table: RuntimeSystems) {
            architectures = config.compatibleArchitectures
            pythons = config.compatibleRuntimes.compactMap { runtime in
                guard runtime.hasPrefix("python3."), let minor = Int(runtime.dropFirst("python3.".count)) else { return nil }
                return (runtime, minor)
            }
            systems = config.compatibleRuntimes.compactMap { runtime in table.system(for: runtime).map { (runtime, $0) } }
            layerName = config.layerName
        }

        func problems(with elf: ELFFile) -> [String] {
            var problems: [String] = []
            let built = ELFFile.architectureName(of: elf.machine)
            if architectures.count > 1 {
                problems.append("is native code for \(built), but the layer declares both \(architectures.map { "`\($0)`" }.joined(separator: " and ")) and no native file loads on both: publish one layer per architecture (e.g. a second config with `layer_name: \(layerName)-arm64` and `compatible_architectures: [arm64]`)")
            } else if let architecture = architectures.first, built != architecture {
                problems.append("is built for \(built), but the layer is for `\(architecture)` (`compatible_architectures`): install it for \(architecture == "arm64" ? "aarch64 (pip's `--platform manylinux2014_aarch64`)" : "x86_64 (pip's `--platform manylinux2014_x86_64`)"), or use `requirements:` to have layerpack install it")
            }
            if let needed = elf.newestGlibc {
                let lacking = systems.filter { $0.system.glibc < needed }
                if let oldest = lacking.min(by: { $0.system.glibc < $1.system.glibc }) {
                    let runtimes = lacking.map { "`\($0.runtime)`" }.joined(separator: ", ")
                    problems.append("needs `GLIBC_\(needed)`, but \(runtimes) \(lacking.count == 1 ? "runs" : "run") on \(oldest.system.name), whose glibc is \(oldest.system.glibc): install a build for glibc \(oldest.system.glibc) or older (for pip, wheels tagged `manylinux_\(oldest.system.glibc.parts.prefix(2).map(String.init).joined(separator: "_"))` or older), or drop \(runtimes) from `compatible_runtimes`")
                }
            }
            return problems
        }

        func problems(withExtensionFor minor: Int) -> [String] {
            let other = pythons.filter { $0.minor != minor }
            guard !other.isEmpty else { return [] }
            let runtimes = other.map { "`\($0.runtime)`" }.joined(separator: ", ")
            let fix = pythons.count > 1
                ? "install packages with abi3 wheels, or publish one layer per Python version"
                : "install it for Python 3.\(other[0].minor) (pip's `--python-version 3.\(other[0].minor)`, or `requirements:`)"
            return ["is an extension module for CPython 3.\(minor), which \(runtimes) cannot import: \(fix)"]
        }

        func problems(withWheelTags tags: [WheelTag]) -> [String] {
            guard !pythons.isEmpty, let first = tags.first else { return [] }
            let reasons = tags.map(problem(with:))
            guard !reasons.contains(where: { $0 == nil }), let reason = reasons[0] else { return [] }
            return ["says the package was built for `\(first)`, \(reason)"]
        }

        /// Why no python runtime of the layer can use a wheel with this tag; nil when every one can.
        private func problem(with tag: WheelTag) -> String? {
            let platform = tag.platform
            if platform.hasPrefix("musllinux") { return "for musl libc, which Lambda does not use: install the `manylinux` wheel (pip's `--platform manylinux2014_…`)" }
            if platform.hasPrefix("macosx") || platform.hasPrefix("win") || platform.hasPrefix("ios") || platform.hasPrefix("android") {
                return "which is not Linux: install it for Lambda (pip's `--platform manylinux2014_x86_64` or `manylinux2014_aarch64`, or `requirements:`)"
            }
            if tag.interpreter.hasPrefix("py") { return nil }
            guard tag.interpreter.hasPrefix("cp3"), let minor = Int(tag.interpreter.dropFirst("cp3".count)) else {
                return "which is not CPython, the Python Lambda runs: install the CPython wheel"
            }
            let exact = tag.abi.hasPrefix("cp")
            let failing = pythons.filter { exact ? $0.minor != minor : $0.minor < minor }
            guard let lowest = failing.min(by: { $0.minor < $1.minor }) else { return nil }
            let runtimes = failing.map { "`\($0.runtime)`" }.joined(separator: ", ")
            return exact
                ? "which only CPython 3.\(minor) can load, not \(runtimes): install it for Python 3.\(lowest.minor) (pip's `--python-version 3.\(lowest.minor)`, or `requirements:`)\(pythons.count > 1 ? ", or publish one layer per Python version" : "")"
                : "which needs CPython 3.\(minor) or newer, not \(runtimes): install it for Python 3.\(lowest.minor) (pip's `--python-version 3.\(lowest.minor)`, or `requirements:`)"
        }
    }
}
