import Foundation
import Testing
import TestSupport
@testable import LayerpackCore

/// The Python the tests run pip with: the test environment's, which has pip.
let testPython = ProcessInfo.processInfo.environment["LAYERPACK_TEST_PYTHON"] ?? "python3"

/// Zips the tree at `source` (a package and its `*.dist-info/` with `METADATA` and `WHEEL`) into the
/// wheel `output`, adding the `RECORD` pip reads.
private let wheelMaker = """
import base64, hashlib, os, sys, zipfile
source, output = sys.argv[1], sys.argv[2]
names = sorted(os.path.relpath(os.path.join(d, f), source) for d, _, fs in os.walk(source) for f in fs)
info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/WHEEL"))
records = []
with zipfile.ZipFile(output, "w") as wheel:
    for name in names:
        data = open(os.path.join(source, name), "rb").read()
        wheel.write(os.path.join(source, name), name)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        records.append(f"{name},sha256={digest},{len(data)}")
    records.append(f"{info}/RECORD,,")
    wheel.writestr(f"{info}/RECORD", "\\n".join(records) + "\\n")
"""

private func makeWheel(from tree: String, at wheel: String) throws {
    try FileManager.default.createDirectory(atPath: (wheel as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    let outcome = try runProcess("/usr/bin/env", [testPython, "-c", wheelMaker, tree, wheel])
    #expect(outcome.status == 0, "\(outcome.stderr)")
}

/// A wheelhouse with `fastpkg` 1.0 as two hand-made native wheels, one per architecture, each holding a
/// CPython 3.12 extension module (a synthetic ELF for its machine) and a console script; and the pure
/// `helper` 2.0 it depends on.
private func makeWheelhouse(_ folder: TemporaryFolder) throws -> String {
    for (machine, elf) in [("x86_64", ELFFile.machineX86_64), ("aarch64", ELFFile.machineAArch64)] {
        let tree = "trees/fastpkg-\(machine)"
        try folder.write("\(tree)/fastpkg/__init__.py", "from ._fast import *\n")
        try folder.write("\(tree)/fastpkg/_fast.cpython-312-\(machine)-linux-gnu.so", syntheticELF(machine: elf, glibc: ["2.17"]))
        try folder.write("\(tree)/fastpkg-1.0.data/scripts/fastpkg-tool", "#!python\nprint('hi')\n", mode: 0o755)
        try folder.write("\(tree)/fastpkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fastpkg\nVersion: 1.0\nRequires-Dist: helper==2.0\n")
        try folder.write("\(tree)/fastpkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_\(machine)\n")
        try makeWheel(from: folder.url(tree), at: folder.url("wheels/fastpkg-1.0-cp312-cp312-manylinux_2_17_\(machine).whl"))
    }
    try folder.write("trees/helper/helper.py", "VALUE = 2\n")
    try folder.write("trees/helper/helper-2.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: helper\nVersion: 2.0\n")
    try folder.write("trees/helper/helper-2.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    try makeWheel(from: folder.url("trees/helper"), at: folder.url("wheels/helper-2.0-py3-none-any.whl"))
    return folder.url("wheels")
}

/// The zip's entry names, by Python's `zipfile`.
private func zipNames(_ path: String) throws -> [String] {
    try run([testPython, "-c", "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))", path]).output
        .split(separator: "\n").map(String.init)
}

/// The `e_machine` of a zip entry, read from the zip by Python.
private func zipEntryMachine(_ path: String, _ name: String) throws -> Int? {
    Int(try run([testPython, "-c", "import sys, zipfile; d = zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]); print(int.from_bytes(d[18:20], 'little'))", path, name])
        .output.trimmingCharacters(in: .whitespacesAndNewlines))
}

/// Writes `requirements.txt` and a config installing it from `wheels` only.
private func writeLayer(_ folder: TemporaryFolder, requirement: String = "fastpkg==1.0", runtimes: String, architectures: String?, wheels: String) throws {
    try folder.write("requirements.txt", requirement + "\n")
    try folder.write("layerpack.yml", """
        layer_name: fast
        compatible_runtimes: [\(runtimes)]
        \(architectures.map { "compatible_architectures: [\($0)]" } ?? "layout: python")
        requirements: requirements.txt
        pip_args: [--no-index, --find-links, \(wheels)]
        """)
}

private func build(_ folder: TemporaryFolder, refresh: Bool = false) throws -> BuildResult {
    let config = try DependencyInstaller.install(for: try LayerConfig.load(path: folder.url("layerpack.yml")), refresh: refresh, python: testPython)
    return try LayerBuilder.build(try LayerPlan(config: config))
}

@Suite struct PipRequirements {
    @Test func installsForArm64AndPython312FromALocalWheelhouseThenReusesTheCacheOffline() throws {
        let folder = try TemporaryFolder()
        let wheels = try makeWheelhouse(folder)
        try writeLayer(folder, runtimes: "python3.12", architectures: "arm64", wheels: wheels)
        let result = try build(folder)
        let names = try zipNames(result.filename)
        let module = "python/fastpkg/_fast.cpython-312-aarch64-linux-gnu.so"
        #expect(names.contains(module))
        #expect(names.contains("python/helper.py"))
        #expect(try zipEntryMachine(result.filename, module) == Int(ELFFile.machineAArch64))
        // Console scripts name this machine's interpreter, so they are not packed.
        #expect(!names.contains { $0.hasPrefix("python/bin/") })
        #expect(try folder.list(".layerpack/deps").filter { !$0.hasPrefix(".") }.count == 1)

        // Without the wheelhouse pip could not run, so a second build that succeeds ran none.
        try FileManager.default.removeItem(atPath: wheels)
        let again = try build(folder)
        #expect(again.sourceCodeHash == result.sourceCodeHash)

        // --refresh-deps does run pip, which now fails, leaving the cached install as it was.
        expectError("`requirements.txt`", "CPython 3.12 on aarch64 with glibc 2.34", "fastpkg==1.0", "Nothing was cached") {
            _ = try build(folder, refresh: true)
        }
        #expect(try build(folder).sourceCodeHash == result.sourceCodeHash)
    }

    @Test func theSameRequirementsForX86_64PickTheOtherWheelUnderAnotherKey() throws {
        let folder = try TemporaryFolder()
        let wheels = try makeWheelhouse(folder)
        try writeLayer(folder, runtimes: "python3.12", architectures: "x86_64", wheels: wheels)
        let x86 = try build(folder)
        #expect(try zipNames(x86.filename).contains("python/fastpkg/_fast.cpython-312-x86_64-linux-gnu.so"))
        try writeLayer(folder, runtimes: "python3.12", architectures: "arm64", wheels: wheels)
        _ = try build(folder)
        #expect(try folder.list(".layerpack/deps").filter { !$0.hasPrefix(".") }.count == 2)
    }

    @Test func aFailedInstallNamesTheRequirementAndTheTargetAndCachesNothing() throws {
        let folder = try TemporaryFolder()
        let wheels = try makeWheelhouse(folder)
        try writeLayer(folder, requirement: "fastpkg==9.9", runtimes: "python3.11", architectures: nil, wheels: wheels)
        expectError("layerpack.yml:4: error: pip ", "could not install `requirements.txt`", "CPython 3.11 on x86_64 with glibc 2.26",
                    "`manylinux_2_26_x86_64`", "No matching distribution found for fastpkg==9.9.") {
            _ = try build(folder)
        }
        #expect(try folder.list(".layerpack/deps").isEmpty)
    }

    @Test func severalPythonRuntimesInstallForTheLowestAndTheCheckRefusesWhatTheOthersCannotLoad() throws {
        let folder = try TemporaryFolder()
        let wheels = try makeWheelhouse(folder)
        try writeLayer(folder, runtimes: "python3.13, python3.12", architectures: "x86_64", wheels: wheels)
        expectError("`python/fastpkg/_fast.cpython-312-x86_64-linux-gnu.so`", "`python3.13` cannot import",
                    "`python/fastpkg-1.0.dist-info/WHEEL`") {
            _ = try build(folder)
        }
    }

    @Test func configChecksNeedAPythonLayoutAndRuntime() throws {
        let folder = try TemporaryFolder()
        expectError("layerpack.yml:3:", "`requirements` installs Python packages with pip into the `python` layout", "layout is `nodejs`") {
            _ = try folder.config("layer_name: x\ncompatible_runtimes: [nodejs20.x]\nrequirements: requirements.txt\n")
        }
        expectError("names no python3 runtime") {
            _ = try folder.config("layer_name: x\nlayout: python\nrequirements: requirements.txt\n")
        }
        expectError("`pip_args` needs `requirements`") {
            _ = try folder.config("layer_name: x\ncompatible_runtimes: [python3.12]\nsources: [a]\npip_args: [--no-deps]\n")
        }
        expectError("layerpack.yml:3:", "The `requirements` file `reqs.txt` does not exist") {
            _ = try folder.config("layer_name: x\ncompatible_runtimes: [python3.12]\nrequirements: reqs.txt\n")
        }
        // Parsing alone touches no disk.
        let parsed = try LayerConfig.parse("layer_name: x\ncompatible_runtimes: [python3.12]\nrequirements: reqs.txt\npip_args: [--no-deps]\n",
                                           file: "layerpack.yml", directory: folder.path)
        #expect(parsed.dependencies?.resolvedPath == folder.url("reqs.txt"))
        #expect(parsed.dependencies?.arguments == ["--no-deps"])
        #expect(parsed.sources.isEmpty)
    }

    @Test func theTargetAsksForEveryManylinuxTagTheOldestRuntimeCanLoad() throws {
        let folder = try TemporaryFolder()
        let config = try LayerConfig.parse("layer_name: x\ncompatible_runtimes: [python3.13, python3.11]\ncompatible_architectures: [arm64]\nrequirements: r.txt\n",
                                           file: "layerpack.yml", directory: folder.path)
        let target = PipTarget(config: config, systems: .standard)
        #expect(target.pythonVersion == "3.11")
        #expect(target.platforms == ["manylinux2014_aarch64"] + (17...26).map { "manylinux_2_\($0)_aarch64" })
    }
}

/// Installs from the real package index; skipped outside CI when it cannot be reached.
@Suite struct RealIndex {
    /// Skips the calling test, or under `CI=true` fails it, when the index cannot be reached.
    private func requireIndex(_ outcome: (status: Int32, output: String), _ what: String) throws {
        guard outcome.status != 0 else { return }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(what) failed under CI=true: \(outcome.output)"])
        }
        try Test.cancel("Skipped: the package index could not be reached (\(what) failed); this test needs it.")
    }

    @Test func markupsafeForArm64AndPython312HasAArch64ExtensionModules() throws {
        let folder = try TemporaryFolder()
        try folder.write("requirements.txt", "markupsafe==3.0.2\n")
        try folder.write("layerpack.yml", """
            layer_name: markup
            compatible_runtimes: [python3.12]
            compatible_architectures: [arm64]
            requirements: requirements.txt
            """)
        let config = try LayerConfig.load(path: folder.url("layerpack.yml"))
        let installed: LayerConfig
        do { installed = try DependencyInstaller.install(for: config, python: testPython) } catch let error as DependencyError {
            try requireIndex((1, "\(error)"), "pip install markupsafe")
            return
        }
        let result = try LayerBuilder.build(try LayerPlan(config: installed))
        let modules = try zipNames(result.filename).filter { $0.hasSuffix(".so") }
        #expect(!modules.isEmpty)
        for module in modules {
            #expect(module.hasSuffix(".cpython-312-aarch64-linux-gnu.so"))
            #expect(try zipEntryMachine(result.filename, module) == Int(ELFFile.machineAArch64))
        }
    }

    /// numpy 2.4.6's wheel for manylinux_2_28 (about 16 MB each), downloaded once into the temp folder.
    private func numpyWheel(python: String) throws -> String {
        let cache = NSTemporaryDirectory() + "/layerpack-test-wheels/numpy-cp\(python.replacingOccurrences(of: ".", with: ""))"
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: cache))?.first { $0.hasSuffix(".whl") }
        if let existing { return cache + "/" + existing }
        let outcome = try run([testPython, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
                               "--platform", "manylinux_2_28_x86_64", "--python-version", python, "--dest", cache, "numpy==2.4.6"])
        try requireIndex(outcome, "pip download numpy==2.4.6")
        let wheel = try #require((try FileManager.default.contentsOfDirectory(atPath: cache)).first { $0.hasSuffix(".whl") })
        return cache + "/" + wheel
    }

    @Test(arguments: [("3.11", false), ("3.12", true)])
    func numpysManylinux228WheelLoadsOnPython312ButNotOn311(python: String, loads: Bool) throws {
        let wheel = try numpyWheel(python: python)
        let folder = try TemporaryFolder()
        let unzipped = try runProcess("/usr/bin/env", [testPython, "-m", "zipfile", "-e", wheel, folder.url("build/python")])
        try #require(unzipped.status == 0, "\(unzipped.stderr)")
        try folder.write("layerpack.yml", """
            layer_name: numpy
            compatible_runtimes: [python\(python)]
            compatible_architectures: [x86_64]
            sources: [build/python]
            """)
        let plan = try LayerPlan(config: try LayerConfig.load(path: folder.url("layerpack.yml")))
        if loads {
            #expect(try LayerBuilder.dryRun(plan).diagnostics.isEmpty)
        } else {
            expectError("needs `GLIBC_2.27`", "`python3.11` runs on Amazon Linux 2, whose glibc is 2.26", "numpy/") {
                _ = try LayerBuilder.dryRun(plan)
            }
        }
    }
}

@Suite struct NpmPackageLock {
    /// npm 10.1 or newer, which `--os` and `--cpu` need; the calling test is skipped without it.
    private func requireNpm() throws {
        let version = (try? run(["npm", "--version"]))?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let parts = version.split(separator: ".").compactMap { Int($0) }
        if parts.count < 2 || (parts[0], parts[1]) < (10, 1) {
            try Test.cancel("Skipped: `npm ci --os --cpu` needs npm 10.1 or newer, and npm here is `\(version.isEmpty ? "missing" : version)`.")
        }
    }

    /// `app/` depends on a folder package, on one of two `npm pack` tarballs declaring `cpu` (optional,
    /// as native packages ship them) and, for development only, on a third; its lock is written by npm.
    private func makeApp(_ folder: TemporaryFolder) throws {
        func package(_ name: String, _ extra: String = "") throws {
            try folder.write("pkgs/\(name)/package.json", "{\"name\": \"\(name)\", \"version\": \"1.0.0\"\(extra)}\n")
            try folder.write("pkgs/\(name)/index.js", "module.exports = '\(name)';\n")
        }
        try package("plain")
        try package("devonly")
        for cpu in ["arm64", "x64"] {
            try package("native-\(cpu)", ", \"os\": [\"linux\"], \"cpu\": [\"\(cpu)\"]")
            #expect(try run(["npm", "pack", "--pack-destination", folder.url("pkgs")], in: folder.url("pkgs/native-\(cpu)")).status == 0)
        }
        try folder.write("app/package.json", """
            {"name": "app", "version": "1.0.0",
             "dependencies": {"plain": "file:../pkgs/plain"},
             "optionalDependencies": {"native-arm64": "file:../pkgs/native-arm64-1.0.0.tgz", "native-x64": "file:../pkgs/native-x64-1.0.0.tgz"},
             "devDependencies": {"devonly": "file:../pkgs/devonly"}}
            """)
        #expect(try run(["npm", "install", "--package-lock-only", "--install-links", "--no-audit", "--no-fund"], in: folder.url("app")).status == 0)
        try folder.write("app/layerpack.yml", """
            layer_name: app-deps
            compatible_runtimes: [nodejs20.x]
            compatible_architectures: [arm64]
            package_lock: package-lock.json
            """)
    }

    @Test func installsForArm64WithoutDevDependenciesThenReusesTheCacheOffline() throws {
        try requireNpm()
        let folder = try TemporaryFolder()
        try makeApp(folder)
        let config = try LayerConfig.load(path: folder.url("app/layerpack.yml"))
        let result = try LayerBuilder.build(try LayerPlan(config: try DependencyInstaller.install(for: config)))
        let names = try zipNames(result.filename)
        #expect(names.contains("nodejs/node_modules/plain/index.js"))
        #expect(names.contains("nodejs/node_modules/native-arm64/index.js"))
        #expect(!names.contains { $0.contains("native-x64") || $0.contains("devonly") || $0.hasSuffix(".package-lock.json") })

        // The packages are gone, so a second build that succeeds ran no npm.
        try FileManager.default.removeItem(atPath: folder.url("pkgs"))
        let again = try LayerBuilder.build(try LayerPlan(config: try DependencyInstaller.install(for: config)))
        #expect(again.sourceCodeHash == result.sourceCodeHash)
        expectError("could not install `package-lock.json` (`package_lock`) for linux on arm64", "Nothing was cached") {
            _ = try DependencyInstaller.install(for: config, refresh: true)
        }
    }

    @Test func packageLockNeedsItsPackageJSON() throws {
        let folder = try TemporaryFolder()
        try folder.write("package-lock.json", "{}\n")
        let config = try folder.config("layer_name: x\ncompatible_runtimes: [nodejs20.x]\npackage_lock: package-lock.json\n")
        expectError("layerpack.yml:3:", "`npm ci` needs the `package.json` beside `package-lock.json`") {
            _ = try DependencyInstaller.install(for: config)
        }
    }
}
