import Foundation
import Hashing
import Testing
@testable import LayerpackCore

/// A small layer with a nested package, an executable, an empty file and a non-ASCII name.
private func makeLayer(in folder: TemporaryFolder, order: [Int] = [0, 1, 2, 3, 4]) throws {
    let files: [(String, String, Int)] = [
        ("src/pkg/__init__.py", "from .core import run\n", 0o644),
        ("src/pkg/core.py", String(repeating: "def run():\n    return 42\n", count: 50), 0o644),
        ("src/pkg/empty.txt", "", 0o644),
        ("src/pkg/données.txt", "UTF-8 name\n", 0o644),
        ("tool.sh", "#!/bin/sh\necho hi\n", 0o755),
    ]
    for index in order {
        let (path, text, mode) = files[index]
        try folder.write(path, text, mode: mode)
    }
    try folder.write("layerpack.yml", """
        layer_name: archive-test
        compatible_runtimes: [python3.12]
        sources:
          - src
          - {path: tool.sh, to: bin/tool}
        """)
}

@Suite struct DeterministicZip {
    @Test func exampleFixtureHasItsGoldenHash() throws {
        // Pins the bytes of Fixtures/python-layer: any change to how zips are laid out changes this.
        let config = try LayerConfig.load(path: fixturesFolder + "/python-layer/layerpack.yml")
        let result = try LayerBuilder.dryRun(try LayerPlan(config: config))
        #expect(result.sourceCodeHash == "dTpLxKKBuwitxuSnFK83UjIFlmDgEEllmGdXEZH/gPE=")
        #expect(result.sourceCodeSize == 637)
        #expect(result.fileCount == 3)
        // The committed lock file says the same.
        let lock = try #require(try LockFile.read(at: fixturesFolder + "/python-layer/layerpack.lock"))
        #expect(lock == result.lock)
    }

    @Test func hashIsBase64OfTheZipsSHA256() throws {
        let folder = try TemporaryFolder()
        try makeLayer(in: folder)
        let (result, bytes) = try buildZip(folder)
        #expect(result.sourceCodeHash == SHA256.hash(bytes).base64)
        #expect(result.sourceCodeSize == Int64(bytes.count))
        // Terraform's filebase64sha256() is what `openssl dgst -sha256 -binary | base64` prints.
        let openssl = try run(["sh", "-c", "openssl dgst -sha256 -binary '\(result.filename)' | base64"])
        #expect(openssl.output.trimmingCharacters(in: .whitespacesAndNewlines) == result.sourceCodeHash)
    }

    @Test func sameBytesWhateverTheMtimesModesOrderAndLocation() throws {
        let first = try TemporaryFolder()
        try makeLayer(in: first)
        let (_, reference) = try buildZip(first)

        let second = try TemporaryFolder()
        try makeLayer(in: second, order: [4, 3, 2, 1, 0])
        // Different mtimes, and permissions as another umask would leave them.
        for path in ["src/pkg/__init__.py", "src/pkg/core.py"] {
            var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 123), timespec(tv_sec: 1_234_567_890, tv_nsec: 0)]
            utimensat(AT_FDCWD, second.url(path), &times, 0)
        }
        chmod(second.url("src/pkg/core.py"), 0o600)
        chmod(second.url("src/pkg/__init__.py"), 0o664)
        chmod(second.url("tool.sh"), 0o700)
        let (_, other) = try buildZip(second)
        #expect(other == reference)
    }

    @Test func entriesAreSortedWithFixedTimeAndNormalisedModes() throws {
        let folder = try TemporaryFolder()
        try makeLayer(in: folder)
        chmod(folder.url("src/pkg/core.py"), 0o600)
        let (result, _) = try buildZip(folder)
        let script = """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1]) as z:
                for i in z.infolist():
                    print(i.filename, oct(i.external_attr >> 16), i.date_time, i.create_system, len(i.extra), i.compress_type)
            """
        let listing = try run(["python3", "-c", script, result.filename]).output.split(separator: "\n").map(String.init)
        #expect(listing == [
            "bin/tool 0o100755 (1980, 1, 1, 0, 0, 0) 3 0 8",
            "python/pkg/__init__.py 0o100644 (1980, 1, 1, 0, 0, 0) 3 0 8",
            "python/pkg/core.py 0o100644 (1980, 1, 1, 0, 0, 0) 3 0 8",
            "python/pkg/données.txt 0o100644 (1980, 1, 1, 0, 0, 0) 3 0 8",
            "python/pkg/empty.txt 0o100644 (1980, 1, 1, 0, 0, 0) 3 0 0",
        ])
    }

    @Test func otherToolsReadOurZips() throws {
        let folder = try TemporaryFolder()
        try makeLayer(in: folder)
        let (result, _) = try buildZip(folder)
        #expect(try run(["unzip", "-t", result.filename]).status == 0)
        let zipinfo = try run(["zipinfo", result.filename]).output
        #expect(zipinfo.contains("-rwxr-xr-x") && zipinfo.contains("bin/tool"))
        #expect(zipinfo.contains("5 files"))
        let extract = try TemporaryFolder()
        #expect(try run(["unzip", "-q", result.filename, "-d", extract.path]).status == 0)
        #expect(try extract.read("python/pkg/core.py") == folder.read("src/pkg/core.py"))
        #expect(try extract.read("bin/tool") == folder.read("tool.sh"))
        let python = try run(["python3", "-c", "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(z.read('python/pkg/données.txt').decode(), end='')", result.filename])
        #expect(python.output == "UTF-8 name\n")
    }
}

@Suite struct LayerContents {
    @Test func defaultAndConfiguredExcludes() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/a.py", "a\n")
        try folder.write("src/a.pyc", "compiled\n")
        try folder.write("src/__pycache__/a.cpython-312.pyc", "compiled\n")
        try folder.write("src/.DS_Store", "junk\n")
        try folder.write("src/.git/HEAD", "ref\n")
        try folder.write("src/pkg/tests/test_a.py", "test\n")
        try folder.write("src/docs/readme.md", "doc\n")
        let config = try folder.config("layer_name: x\nlayout: python\nsources: [src]\nexclude: [\"**/tests/**\", \"*.md\"]\n")
        #expect(try LayerPlan(config: config).entries.map(\.zipPath) == ["python/a.py"])
    }

    @Test func emptyLayerIsRefused() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/__pycache__/a.pyc", "x")
        let config = try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")
        expectError("would be empty", "Lambda rejects an empty layer") { _ = try LayerPlan(config: config) }
    }

    @Test func layerOverLambdasLimitIsRefusedBeforeReading() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/small.py", "x")
        // A sparse file: 300 MB by size, nothing on disk.
        let big = FileHandle(forWritingAtPath: try folder.write("src/big.bin", ""))!
        try big.truncate(atOffset: 300_000_000)
        try big.close()
        let config = try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")
        expectError("300000001 bytes", "262144000 bytes") { _ = try LayerPlan(config: config) }
    }

    @Test func twoSourcesAtOneZipPathAreNamed() throws {
        let folder = try TemporaryFolder()
        try folder.write("a/mod.py", "a")
        try folder.write("b/mod.py", "b")
        let config = try folder.config("layer_name: x\nlayout: python\nsources: [a, b]\n")
        expectError("`python/mod.py`", "`a (\(folder.url("a/mod.py")))`", "`b (\(folder.url("b/mod.py")))`") { _ = try LayerPlan(config: config) }
    }

    @Test func fileWhereAFolderIsNeeded() throws {
        let folder = try TemporaryFolder()
        try folder.write("tool", "binary")
        try folder.write("opt/bin/helper", "x")
        let config = try folder.config("layer_name: x\nlayout: provided\nsources:\n  - {path: tool, to: bin}\n  - opt\n")
        expectError("`bin`", "needs `bin` to be a folder") { _ = try LayerPlan(config: config) }
    }

    @Test func fileSourcesLandUnderThePrefixOrExactlyAtTo() throws {
        let folder = try TemporaryFolder()
        try folder.write("single.py", "x")
        try folder.write("ext", "#!/bin/sh\n", mode: 0o755)
        try folder.write("lib/libfoo.so", "elf")
        let config = try folder.config("""
            layer_name: x
            layout: python
            sources:
              - single.py
              - {path: ext, to: extensions/my-ext}
              - {path: lib, to: lib}
              - {path: single.py, to: copies/}
            """)
        let entries = try LayerPlan(config: config).entries
        #expect(entries.map(\.zipPath) == ["copies/single.py", "extensions/my-ext", "lib/libfoo.so", "python/single.py"])
        #expect(entries[1].mode == 0o100755)
    }
}

@Suite struct Symlinks {
    func layer(_ policy: String = "follow") throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        try folder.write("src/real/data.txt", "data\n")
        try folder.write("layerpack.yml", "layer_name: x\nlayout: provided\nsymlinks: \(policy)\nsources: [src]\n")
        return folder
    }

    func plan(_ folder: TemporaryFolder) throws -> [PlannedEntry] {
        try LayerPlan(config: try LayerConfig.load(path: folder.url("layerpack.yml"))).entries
    }

    @Test func linkInsideTheSourceIsFollowed() throws {
        let folder = try layer()
        try folder.symlink("src/alias.txt", to: "real/data.txt")
        try folder.symlink("src/linked", to: "real")
        let entries = try plan(folder)
        #expect(entries.map(\.zipPath) == ["alias.txt", "linked/data.txt", "real/data.txt"])
        #expect(entries.allSatisfy { $0.kind == .file(executable: false) })
        let (_, bytes) = try buildZip(folder)
        #expect(!bytes.isEmpty)
    }

    @Test func preservedLinkIsStoredAsALink() throws {
        let folder = try layer("preserve")
        try folder.symlink("src/alias.txt", to: "real/data.txt")
        let (result, _) = try buildZip(folder)
        let listing = try run(["zipinfo", result.filename]).output
        #expect(listing.contains("lrwxrwxrwx"))
        let extract = try TemporaryFolder()
        _ = try run(["unzip", "-q", result.filename, "-d", extract.path])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: extract.url("alias.txt")) == "real/data.txt")
    }

    @Test func linkLeavingTheSourceIsAnError() throws {
        let folder = try layer()
        try folder.write("secret.txt", "do not pack")
        try folder.symlink("src/escape.txt", to: "../secret.txt")
        expectError("`\(folder.url("src/escape.txt"))`", "outside its source") { _ = try plan(folder) }
        let preserved = try layer("preserve")
        try preserved.symlink("src/abs", to: "/etc/hostname")
        expectError("outside its source") { _ = try plan(preserved) }
    }

    @Test func danglingLinkIsAnError() throws {
        let folder = try layer()
        try folder.symlink("src/gone.txt", to: "missing.txt")
        expectError("`\(folder.url("src/gone.txt"))`", "does not exist") { _ = try plan(folder) }
    }

    @Test func anExcludedBadLinkIsNotAnError() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/real/data.txt", "data\n")
        try folder.write("layerpack.yml", "layer_name: x\nlayout: provided\nsources: [src]\nexclude: [\"*.lnk\", \"cache/\"]\n")
        try folder.symlink("src/broken.lnk", to: "missing")
        try folder.symlink("src/escape.lnk", to: "/etc")
        try folder.symlink("src/cache", to: "real")
        #expect(try plan(folder).map(\.zipPath) == ["real/data.txt"])
    }

    @Test func loopIsAnError() throws {
        let folder = try layer()
        try folder.symlink("src/real/again", to: "..")
        expectError("leads back into a folder") { _ = try plan(folder) }
    }
}

@Suite struct AtomicOutput {
    @Test func failedBuildLeavesThePreviousZipAndNoTemporaryFiles() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/a.py", "a")
        try folder.write("src/b.py", "b")
        let config = try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")
        let (_, before) = try buildZip(folder)
        let lockBefore = try folder.read("layerpack.lock")

        // The plan sees b.py, then it vanishes before its bytes are read.
        try folder.write("src/c.py", "c")
        let plan = try LayerPlan(config: config)
        try FileManager.default.removeItem(atPath: folder.url("src/c.py"))
        expectError("`\(folder.url("src/c.py"))`") { _ = try LayerBuilder.build(plan) }

        #expect(try folder.read("dist/x.zip") == before)
        #expect(try folder.read("layerpack.lock") == lockBefore)
        #expect(try folder.list("dist") == ["x.zip"])
        #expect(try folder.list().filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test func commitReplacesAFileButNeverAFolder() throws {
        let folder = try TemporaryFolder()
        try folder.write("target.zip", "old")
        try FileIO.stage(Data("new".utf8), for: folder.url("target.zip")).commit()
        #expect(try folder.read("target.zip") == Data("new".utf8))
        #expect(try folder.list() == ["target.zip"])

        try folder.write("taken/keep.txt", "mine")
        let second = try FileIO.stage(Data("zip".utf8), for: folder.url("taken"))
        expectError("`\(folder.url("taken"))`", "Nothing was changed there") { try second.commit() }
        #expect(try folder.read("taken/keep.txt") == Data("mine".utf8))
        #expect(try folder.list() == ["taken", "target.zip"])
    }

    @Test func outputOptionWritesElsewhere() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/a.py", "a")
        let plan = try LayerPlan(config: try folder.config("layer_name: x\nlayout: python\nsources: [src]\n"))
        let result = try LayerBuilder.build(plan, output: folder.url("out/custom.zip"))
        #expect(result.filename == folder.url("out/custom.zip"))
        #expect(folder.exists("out/custom.zip"))
        #expect(!folder.exists("dist/x.zip"))
    }

    @Test func hashWritesNothing() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/a.py", "a")
        let plan = try LayerPlan(config: try folder.config("layer_name: x\nlayout: python\nsources: [src]\n"))
        let dry = try LayerBuilder.dryRun(plan)
        #expect(try folder.list() == ["layerpack.yml", "src"])
        #expect(try LayerBuilder.build(plan).sourceCodeHash == dry.sourceCodeHash)
    }
}

@Suite struct CheckAgainstLock {
    @Test func reportsAddedRemovedAndChanged() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/keep.py", "keep")
        try folder.write("src/edit.py", "v1")
        try folder.write("src/gone.py", "bye")
        try folder.write("src/mode.sh", "#!/bin/sh\n")
        let config = try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")
        _ = try LayerBuilder.build(try LayerPlan(config: config))
        #expect(try LayerCheck.run(try LayerPlan(config: config)).isClean)

        try folder.write("src/edit.py", "v2")
        try folder.write("src/new.py", "new")
        try FileManager.default.removeItem(atPath: folder.url("src/gone.py"))
        chmod(folder.url("src/mode.sh"), 0o755)
        let lockBefore = try folder.read("layerpack.lock")
        let report = try LayerCheck.run(try LayerPlan(config: config))
        #expect(report.added == ["python/new.py"])
        #expect(report.removed == ["python/gone.py"])
        #expect(report.changed == ["python/edit.py", "python/mode.sh"])
        #expect(!report.isClean)
        #expect(try folder.read("layerpack.lock") == lockBefore)
    }

    @Test func missingLockIsNotClean() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/a.py", "a")
        let report = try LayerCheck.run(try LayerPlan(config: try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")))
        #expect(report.lockMissing)
        #expect(!report.isClean)
    }

    @Test func settingThatChangesTheZipIsReported() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/a.py", String(repeating: "a", count: 1000))
        _ = try LayerBuilder.build(try LayerPlan(config: try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")))
        let report = try LayerCheck.run(try LayerPlan(config: try folder.config("layer_name: x\nlayout: python\ncompression_level: 9\nsources: [src]\n")))
        #expect(report.settings == ["compression_level: 6 → 9"])
    }

    @Test func lockFileIsStableSortedJSON() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/b.py", "b")
        try folder.write("src/a.py", "a")
        _ = try LayerBuilder.build(try LayerPlan(config: try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")))
        let text = String(decoding: try folder.read("layerpack.lock"), as: UTF8.self)
        #expect(text.hasSuffix("}\n"))
        let a = try #require(text.range(of: "python/a.py"))
        let b = try #require(text.range(of: "python/b.py"))
        #expect(a.lowerBound < b.lowerBound)
        #expect(text.contains("\"sha256\" : \"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb\""))
    }
}

@Suite struct LockFileEncoding {
    @Test func handWrittenJSONMatchesFoundationsAndRoundTrips() throws {
        let entries = ["python/b.py": LockFile.Entry(sha256: "bb", mode: "0644"), "bin/tool": LockFile.Entry(sha256: "aa", mode: "0755"),
                       "python/a \"quoted\"\\name.py": LockFile.Entry(sha256: "cc", mode: "0644")]
        let lock = LockFile(layerName: "x", sourceCodeHash: "abc=", sourceCodeSize: 12, compressionLevel: 6, entries: entries)
        var foundation = try stableJSONEncoder.encode(lock)
        foundation.append(0x0a)
        #expect(String(decoding: lock.encoded(), as: UTF8.self) == String(decoding: foundation, as: UTF8.self))
        let odd = LockFile(layerName: "x", sourceCodeHash: "abc=", sourceCodeSize: 1, compressionLevel: 0,
                           entries: ["tab\there/new\nline/ctl\u{1}/é.txt": LockFile.Entry(sha256: "dd", mode: "120777")])
        #expect(try JSONDecoder().decode(LockFile.self, from: Data(odd.encoded())) == odd)
    }

    /// A build lays out its lock before the zip is done and completes it with the zip's hash and size after.
    @Test func aBuiltLockIsWhatFoundationWritesOfIt() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/b.py", "b")
        try folder.write("src/a \"quoted\".py", "a")
        try folder.write("src/tool", "#!/bin/sh\n", mode: 0o755)
        let result = try LayerBuilder.build(try LayerPlan(config: try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")))
        var foundation = try stableJSONEncoder.encode(result.lock)
        foundation.append(0x0a)
        let written = try folder.read("layerpack.lock")
        #expect(String(decoding: written, as: UTF8.self) == String(decoding: foundation, as: UTF8.self))
        #expect(try LockFile.parse(written, path: "layerpack.lock").sourceCodeHash == result.sourceCodeHash)
    }
}

@Suite struct OwnOutputsStayOut {
    @Test func aSourceHoldingTheConfigNeverPacksLayerpacksOwnFiles() throws {
        let folder = try TemporaryFolder()
        try folder.write("bin/tool", "#!/bin/sh\n", mode: 0o755)
        try folder.write("layerpack.yml", "layer_name: whole\nlayout: provided\nsources: [.]\nexclude: [layerpack.yml]\n")
        let config = try LayerConfig.load(path: folder.url("layerpack.yml"))
        let first = try LayerBuilder.build(try LayerPlan(config: config))
        // Now dist/whole.zip, layerpack.lock, a state file and .layerpack/ sit inside the source.
        try folder.write("layerpack.state.json", "{}")
        try folder.write(".layerpack/stat-cache", "x")
        try folder.write(".layerpack-tmp.2147483647.1.2.layerpack.lock", "half-written by a run that is gone")
        let second = try LayerBuilder.build(try LayerPlan(config: config))
        #expect(second.sourceCodeHash == first.sourceCodeHash)
        #expect(try LayerPlan(config: config).entries.map(\.zipPath) == ["bin/tool"])
    }

    @Test func anOutputOrCacheInsideASourceIsNotPacked() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/mod.py", String(repeating: "x = 1\n", count: 100))
        let config = try folder.config("layer_name: x\nlayout: python\ncache_dir: src/.cache\nsources: [src]\n")
        let output = folder.url("src/out.zip")
        let options = BuildOptions(useCache: true)
        let first = try LayerBuilder.build(try LayerPlan(config: config, ownFiles: [output]), output: output, options: options)
        let second = try LayerBuilder.build(try LayerPlan(config: config, ownFiles: [output]), output: output, options: options)
        #expect(folder.exists("src/.cache"))
        #expect(second.sourceCodeHash == first.sourceCodeHash)
        #expect(try LayerPlan(config: config, ownFiles: [output]).entries.map(\.zipPath) == ["python/mod.py"])
    }
}

@Suite struct EveryLayoutFixture {
    @Test(arguments: [
        ("nodejs-layer", ["nodejs/node_modules/greeting/index.js", "nodejs/node_modules/greeting/package.json"]),
        ("ruby-layer", ["ruby/gems/3.3.0/gems/greeting-1.0.0/lib/greeting.rb", "ruby/gems/3.3.0/specifications/greeting-1.0.0.gemspec"]),
        ("java-layer", ["java/lib/log4j2.xml"]),
        ("provided-layer", ["bin/greet", "lib/greeting/message.txt"]),
        ("extension-layer", ["extensions/greeting-extension"]),
        ("python-layer", ["bin/greet", "python/greeting/__init__.py", "python/greeting/core.py"]),
    ])
    func fixtureBuildsIntoItsLayout(_ name: String, _ expected: [String]) throws {
        let config = try LayerConfig.load(path: fixturesFolder + "/\(name)/layerpack.yml")
        let plan = try LayerPlan(config: config)
        #expect(plan.entries.map(\.zipPath) == expected)
        let before = try FileManager.default.subpathsOfDirectory(atPath: config.directory).sorted()
        let result = try LayerBuilder.dryRun(plan)
        #expect(result.fileCount == expected.count)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: config.directory).sorted() == before)
    }
}
