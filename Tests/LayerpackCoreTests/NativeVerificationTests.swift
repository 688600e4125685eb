import Foundation
import Testing
@testable import LayerpackCore

/// A minimal 64-bit little-endian ELF shared object: the header, a `.dynstr` and a `.gnu.version_r`
/// asking `libc.so.6` for each of `glibc` (e.g. `["2.17", "2.34"]`), and the three section headers.
/// Enough for the loader's questions layerpack asks; nothing that could run.
func syntheticELF(machine: UInt16, glibc: [String] = []) -> Data {
    var strings: [UInt8] = [0]
    func add(_ text: String) -> UInt32 {
        let offset = UInt32(strings.count)
        strings += Array(text.utf8) + [0]
        return offset
    }
    let library = add("libc.so.6")
    let names = glibc.map { add("GLIBC_" + $0) }
    var needs = Data()
    func put<T: FixedWidthInteger>(_ value: T, into data: inout Data) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    if !names.isEmpty {
        // Elf64_Verneed: version, count, file, aux offset, next.
        put(UInt16(1), into: &needs); put(UInt16(names.count), into: &needs)
        put(library, into: &needs); put(UInt32(16), into: &needs); put(UInt32(0), into: &needs)
        for (index, name) in names.enumerated() {
            // Elf64_Vernaux: hash, flags, other, name, next.
            put(UInt32(0), into: &needs); put(UInt16(0), into: &needs); put(UInt16(index + 2), into: &needs)
            put(name, into: &needs); put(UInt32(index == names.count - 1 ? 0 : 16), into: &needs)
        }
    }
    let stringsOffset = 64
    let needsOffset = stringsOffset + strings.count
    let sectionsOffset = (needsOffset + needs.count + 7) / 8 * 8
    var file = Data([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8))
    put(UInt16(3), into: &file)  // e_type: shared object
    put(machine, into: &file)
    put(UInt32(1), into: &file)  // e_version
    put(UInt64(0), into: &file); put(UInt64(0), into: &file)  // e_entry, e_phoff
    put(UInt64(sectionsOffset), into: &file)
    put(UInt32(0), into: &file)  // e_flags
    put(UInt16(64), into: &file); put(UInt16(0), into: &file); put(UInt16(0), into: &file)  // e_ehsize, e_phentsize, e_phnum
    put(UInt16(64), into: &file); put(UInt16(3), into: &file); put(UInt16(0), into: &file)  // e_shentsize, e_shnum, e_shstrndx
    file.append(contentsOf: strings)
    file.append(needs)
    file.append(Data(count: sectionsOffset - file.count))
    func section(type: UInt32, offset: Int, size: Int, link: UInt32 = 0, info: UInt32 = 0) {
        put(UInt32(0), into: &file); put(type, into: &file); put(UInt64(0), into: &file); put(UInt64(0), into: &file)
        put(UInt64(offset), into: &file); put(UInt64(size), into: &file)
        put(link, into: &file); put(info, into: &file); put(UInt64(1), into: &file); put(UInt64(0), into: &file)
    }
    section(type: 0, offset: 0, size: 0)
    section(type: 3, offset: stringsOffset, size: strings.count)  // SHT_STRTAB
    section(type: 0x6FFF_FFFE, offset: needsOffset, size: needs.count, link: 1, info: names.isEmpty ? 0 : 1)  // SHT_GNU_verneed
    return file
}

extension TemporaryFolder {
    @discardableResult
    func write(_ relative: String, _ data: Data, mode: Int = 0o644) throws -> String {
        let file = url(relative)
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: file))
        chmod(file, mode_t(mode))
        return file
    }
}

@Suite struct ELFReading {
    @Test func readsTheMachineAndTheNewestGlibcOfAHandMadeFile() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("lib.so", syntheticELF(machine: ELFFile.machineAArch64, glibc: ["2.17", "2.34", "2.3.4"]))
        let elf = try #require(try ELFFile.read(path: path))
        #expect(elf.machine == ELFFile.machineAArch64)
        #expect(elf.newestGlibc == GlibcVersion("2.34"))
        #expect(try ELFFile.read(path: folder.write("plain.so", "not an ELF file")) == nil)
        #expect(try #require(try ELFFile.read(path: folder.write("static", syntheticELF(machine: ELFFile.machineX86_64)))).newestGlibc == nil)
    }

    @Test func agreesWithReadelfOnTheSystemsOwnLibraries() throws {
        // Known answers from binutils' `readelf -V` for real files of this machine.
        for path in ["/bin/ls", "/usr/lib/x86_64-linux-gnu/libcurl.so.4", "/usr/lib/x86_64-linux-gnu/libzip.so.4"]
        where FileManager.default.fileExists(atPath: path) {
            let listing = try run(["readelf", "-V", "-W", path]).output
            let versions = listing.split(whereSeparator: { " \n".contains($0) }).compactMap { word -> GlibcVersion? in
                word.hasPrefix("GLIBC_") ? GlibcVersion(String(word.dropFirst(6))) : nil
            }
            let elf = try #require(try ELFFile.read(path: path))
            #expect(elf.machine == ELFFile.machineX86_64)
            #expect(elf.newestGlibc == versions.max(), "\(path)")
        }
    }

    @Test func comparesGlibcVersionsPartByPart() {
        #expect(GlibcVersion("2.3.4")! < GlibcVersion("2.17")!)
        #expect(GlibcVersion("2.26")! < GlibcVersion("2.26.1")!)
        #expect(GlibcVersion("2.34")! > GlibcVersion("2.28")!)
        #expect(GlibcVersion("2.x") == nil)
    }
}

@Suite struct NativeVerification {
    private func layer(_ folder: TemporaryFolder, _ settings: String) throws -> LayerPlan {
        try folder.write("layerpack.yml", "layer_name: native\nsources: [build/python]\n" + settings)
        return try LayerPlan(config: try LayerConfig.load(path: folder.url("layerpack.yml")))
    }

    /// The byte-level look that skips most entries lets through every name the full checks examine.
    @Test(arguments: ["python/x.so", "lib/libx.so.1.2", "nodejs/node_modules/a/addon.node", "python/_s.cpython-311-x86_64-linux-gnu.so",
                      "python/x-1.0.dist-info/WHEEL", "WHEEL", "x.so", "python/a.py", "nodejs/index.js", "lib/so", "python/WHEELS",
                      "python/sonnet.txt", "python/x.node/y.js", "bin/tool"])
    func theQuickLookMissesNoExaminedName(_ zipPath: String) {
        let name = String(zipPath.split(separator: "/").last!)
        let examined = LayerVerification.isSharedObjectName(name) || LayerVerification.cpythonVersion(inModuleName: name) != nil || name == "WHEEL"
        if examined { #expect(LayerVerification.mayBeExamined(zipPath)) }
        #expect(LayerVerification.mayBeExamined(zipPath) == (examined || name.contains(".so")))
    }

    @Test func anX86_64FileInAnArm64LayerIsAnErrorNamingIt() throws {
        let folder = try TemporaryFolder()
        try folder.write("build/python/fast/_speedups.so", syntheticELF(machine: ELFFile.machineX86_64, glibc: ["2.17"]))
        let plan = try layer(folder, "compatible_runtimes: [python3.12]\ncompatible_architectures: [arm64]\n")
        expectError("`python/fast/_speedups.so`", "built for x86_64", "`arm64`", "manylinux2014_aarch64", "nothing was written") {
            _ = try LayerBuilder.build(plan)
        }
        #expect(!folder.exists("dist/native.zip"))
        // The same file for arm64 passes.
        try folder.write("build/python/fast/_speedups.so", syntheticELF(machine: ELFFile.machineAArch64, glibc: ["2.17"]))
        #expect(try LayerBuilder.build(try layer(folder, "compatible_runtimes: [python3.12]\ncompatible_architectures: [arm64]\n")).diagnostics.isEmpty)
    }

    @Test func aCPython311ModuleInAPython312LayerIsAnError() throws {
        let folder = try TemporaryFolder()
        try folder.write("build/python/markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so", syntheticELF(machine: ELFFile.machineX86_64))
        let plan = try layer(folder, "compatible_runtimes: [python3.12]\ncompatible_architectures: [x86_64]\n")
        expectError("`python/markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so`", "CPython 3.11", "`python3.12` cannot import", "--python-version 3.12") {
            _ = try LayerBuilder.build(plan)
        }
    }

    @Test func anELFNeedingGlibc234InAPython311LayerIsAnErrorNamingTheRuntime() throws {
        let folder = try TemporaryFolder()
        try folder.write("build/python/lib/libnew.so.1", syntheticELF(machine: ELFFile.machineX86_64, glibc: ["2.17", "2.34"]))
        expectError("`python/lib/libnew.so.1`", "needs `GLIBC_2.34`", "`python3.11` runs on Amazon Linux 2, whose glibc is 2.26", "manylinux_2_26") {
            _ = try LayerBuilder.build(try layer(folder, "compatible_runtimes: [python3.11]\ncompatible_architectures: [x86_64]\n"))
        }
        // Amazon Linux 2023 has glibc 2.34, so python3.12 loads it.
        #expect(try LayerBuilder.build(try layer(folder, "compatible_runtimes: [python3.12]\ncompatible_architectures: [x86_64]\n")).diagnostics.isEmpty)
    }

    @Test func verifyWarnTurnsEachFindingIntoAWarningAndBuilds() throws {
        let folder = try TemporaryFolder()
        try folder.write("build/python/a.cpython-311-x86_64-linux-gnu.so", syntheticELF(machine: ELFFile.machineX86_64, glibc: ["2.34"]))
        try folder.write("build/python/tool", syntheticELF(machine: ELFFile.machineAArch64), mode: 0o755)
        let result = try LayerBuilder.build(try layer(folder, "compatible_runtimes: [python3.11]\ncompatible_architectures: [x86_64]\nverify: warn\n"))
        #expect(result.diagnostics.map(\.severity) == [.warning, .warning])
        #expect(result.diagnostics[0].message.contains("`python/a.cpython-311-x86_64-linux-gnu.so`"))
        #expect(result.diagnostics[0].message.contains("`GLIBC_2.34`"))
        #expect(result.diagnostics[1].message.contains("`python/tool` (from `build/python/tool`) is built for arm64"))
        #expect(folder.exists("dist/native.zip"))
        // `off` reads nothing and says nothing.
        let quiet = try LayerBuilder.build(try layer(folder, "compatible_runtimes: [python3.11]\ncompatible_architectures: [x86_64]\nverify: off\n"))
        #expect(quiet.diagnostics.isEmpty)
    }

    /// Entries are examined in runs on several threads; the findings still come in zip path order, and the
    /// notes count native code wherever it was found.
    @Test func findingsAcrossManyEntriesComeInZipPathOrder() throws {
        let folder = try TemporaryFolder()
        for index in 0..<10_000 { try folder.write(String(format: "build/python/m%05d.py", index), "") }
        // Far apart in zip order: in different runs of entries.
        for index in [9_000, 100, 5_000] {
            try folder.write(String(format: "build/python/m%05d.so", index), syntheticELF(machine: ELFFile.machineAArch64))
        }
        let result = try LayerBuilder.build(try layer(folder, "layout: python\ncompatible_architectures: [x86_64]\nverify: warn\n"))
        let named = result.diagnostics.filter { $0.severity == .warning }.map { $0.message.prefix { $0 != " " } }
        #expect(named == ["`python/m00100.so`", "`python/m05000.so`", "`python/m09000.so`"])
        #expect(result.diagnostics.contains { $0.severity == .note && $0.message.contains("no `compatible_runtimes`") })
    }

    @Test func aSourceHoldingNodeModulesItselfIsAnErrorNamingTheFolderToGiveInstead() throws {
        let folder = try TemporaryFolder()
        try folder.write("nodejs/node_modules/left-pad/index.js", "module.exports = 1\n")
        try folder.write("nodejs/node_modules/left-pad/node_modules/dep/index.js", "module.exports = 2\n")
        try folder.write("layerpack.yml", "layer_name: pad\nlayout: nodejs\nsources: [nodejs]\n")
        let nested = try LayerPlan(config: try LayerConfig.load(path: folder.url("layerpack.yml")))
        #expect(nested.entries.first?.zipPath == "nodejs/node_modules/node_modules/left-pad/index.js")
        expectError("`nodejs/node_modules/node_modules/` holds `nodejs/node_modules/node_modules/left-pad/index.js` and 1 more", "`/opt/nodejs/node_modules/`",
                    "`sources: [nodejs/node_modules]`", "nothing was written") {
            _ = try LayerBuilder.build(nested)
        }
        #expect(!folder.exists("dist/pad.zip"))
        // As the error says; a package's own node_modules is where Node.js looks for its dependencies.
        try folder.write("layerpack.yml", "layer_name: pad\nlayout: nodejs\nsources: [nodejs/node_modules]\n")
        let result = try LayerBuilder.build(try LayerPlan(config: try LayerConfig.load(path: folder.url("layerpack.yml"))))
        #expect(result.diagnostics.isEmpty)
        #expect(result.lock.entries.keys.sorted() == ["nodejs/node_modules/left-pad/index.js", "nodejs/node_modules/left-pad/node_modules/dep/index.js"])
        // `verify: warn` builds it, with the finding as a warning.
        try folder.write("layerpack.yml", "layer_name: pad\nlayout: nodejs\nsources: [nodejs]\nverify: warn\n")
        let warned = try LayerBuilder.build(try LayerPlan(config: try LayerConfig.load(path: folder.url("layerpack.yml"))))
        #expect(warned.diagnostics.map(\.severity) == [.warning])
        #expect(warned.diagnostics.first?.message.contains("`sources: [nodejs/node_modules]`") == true)
    }

    @Test func aSourceHoldingSitePackagesItselfIsAnErrorNamingTheFolderToGiveInstead() throws {
        let folder = try TemporaryFolder()
        try folder.write("venv/lib/python3.12/site-packages/six.py", "x = 1\n")
        try folder.write("layerpack.yml", "layer_name: six\nlayout: python\nsources: [venv/lib/python3.12]\n")
        expectError("`python/site-packages/` holds `python/site-packages/six.py` where", "`/opt/python/lib/python3.X/site-packages/`",
                    "`sources: [venv/lib/python3.12/site-packages]`", "nothing was written") {
            _ = try LayerBuilder.build(try LayerPlan(config: try LayerConfig.load(path: folder.url("layerpack.yml"))))
        }
        // As the error says; or the whole virtualenv's `lib/`, at the path Lambda puts on `sys.path` too.
        for sources in ["[venv/lib/python3.12/site-packages]", "[{path: venv/lib, to: python/lib}]"] {
            try folder.write("layerpack.yml", "layer_name: six\nlayout: python\nsources: \(sources)\n")
            #expect(try LayerBuilder.build(try LayerPlan(config: try LayerConfig.load(path: folder.url("layerpack.yml")))).diagnostics.isEmpty)
        }
    }

    @Test func bothArchitecturesAllowOnlyLayersWithoutNativeCode() throws {
        let folder = try TemporaryFolder()
        try folder.write("build/python/pure.py", "x = 1\n")
        #expect(try LayerBuilder.build(try layer(folder, "layout: python\ncompatible_architectures: [x86_64, arm64]\n")).diagnostics.isEmpty)
        try folder.write("build/python/native.so", syntheticELF(machine: ELFFile.machineX86_64))
        expectError("`python/native.so`", "both `x86_64` and `arm64`", "one layer per architecture", "`layer_name: native-arm64`") {
            _ = try LayerBuilder.build(try layer(folder, "layout: python\ncompatible_architectures: [x86_64, arm64]\n"))
        }
    }

    @Test func wheelTagsMustBeForGlibcLinuxAndNoNewerThanTheLowestRuntime() throws {
        let folder = try TemporaryFolder()
        try folder.write("build/python/fast-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-abi3-manylinux_2_17_x86_64\nTag: cp312-abi3-manylinux2014_x86_64\n")
        try folder.write("build/python/fast/_native.abi3.so", syntheticELF(machine: ELFFile.machineX86_64))
        try folder.write("build/python/small-2.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: cp311-cp311-musllinux_1_2_x86_64\n")
        try folder.write("build/python/pure-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py2-none-any\nTag: py3-none-any\n")
        expectError("`python/fast-1.0.dist-info/WHEEL`", "`cp312-abi3-manylinux_2_17_x86_64`", "CPython 3.12 or newer, not `python3.11`",
                    "`python/small-2.0.dist-info/WHEEL`", "musl") {
            _ = try LayerBuilder.build(try layer(folder, "compatible_runtimes: [python3.11, python3.12]\n"))
        }
        try FileManager.default.removeItem(atPath: folder.url("build/python/small-2.0.dist-info"))
        // abi3 for 3.12 loads on 3.12 and 3.13.
        #expect(try LayerBuilder.build(try layer(folder, "compatible_runtimes: [python3.12, python3.13]\ncompatible_architectures: [x86_64]\n")).diagnostics.isEmpty)
    }

    @Test func missingTargetsAreNotedOnceWhenTheLayerHoldsNativeCode() throws {
        let folder = try TemporaryFolder()
        try folder.write("build/python/native.so", syntheticELF(machine: ELFFile.machineX86_64, glibc: ["2.99"]))
        try folder.write("build/python/other.so", syntheticELF(machine: ELFFile.machineAArch64))
        let result = try LayerBuilder.build(try layer(folder, "layout: python\n"))
        #expect(result.diagnostics.map(\.severity) == [.note, .note])
        #expect(result.diagnostics[0].message.contains("no `compatible_runtimes`"))
        #expect(result.diagnostics[1].message.contains("no `compatible_architectures`"))
    }

    @Test func theRuntimeTableCoversEveryRuntimeWithItsSystemsGlibc() throws {
        #expect(RuntimeSystems.standard.system(for: "python3.11")?.glibc == GlibcVersion("2.26"))
        #expect(RuntimeSystems.standard.system(for: "python3.12")?.name == "Amazon Linux 2023")
        #expect(RuntimeSystems.standard.system(for: "provided")?.glibc == GlibcVersion("2.17"))
        #expect(Catalog.standard.runtimes.filter { RuntimeSystems.standard.system(for: $0) == nil } == [])
    }
}
