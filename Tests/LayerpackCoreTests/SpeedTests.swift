import Foundation
import Hashing
import Synchronization
@testable import LayerpackCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A layer folder built in code under a fresh temporary folder: `layerpack.yml` and `src/`.
private final class FixtureLayer {
    let root: String
    var source: String { root + "/src" }
    var cacheFolder: String { root + "/.layerpack/cache" }

    init(extraConfig: String = "") throws {
        root = NSTemporaryDirectory() + "layerpack-speed-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
        let config = "layer_name: speed-test\nlayout: provided\nsymlinks: preserve\nsources: [src]\nfilename: dist/layer.zip\n" + extraConfig
        try write(config, to: root + "/layerpack.yml")
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// A mix that exercises every path: text that deflates well, bytes that do not, an empty file,
    /// an executable, a stored `.xz`, a link, a file above 1 MiB and many small files in folders.
    static func mixed() throws -> FixtureLayer {
        let layer = try FixtureLayer()
        var random = SeededRandom(seed: 42)
        try layer.file("python/pkg/__init__.py", "")
        try layer.file("python/pkg/core.py", String(repeating: "def f(x):\n    return x * 2\n", count: 400))
        try layer.file("python/pkg/data.bin", random.bytes(300_000))
        try layer.file("python/pkg/archive.xz", random.bytes(5_000))
        try layer.file("python/pkg/large.txt", (0..<40_000).map { "line \($0) of a large file, \($0 % 97)\n" }.joined())
        try layer.file("bin/tool", "#!/bin/sh\necho tool\n", executable: true)
        for index in 0..<60 { try layer.file("python/many/m\(index).py", "value = \(index)\n" + String(repeating: "# pad\n", count: index)) }
        try FileManager.default.createSymbolicLink(atPath: layer.source + "/bin/tool-link", withDestinationPath: "tool")
        return layer
    }

    func file(_ relative: String, _ text: String, executable: Bool = false) throws {
        try file(relative, Array(text.utf8), executable: executable)
    }

    func file(_ relative: String, _ bytes: [UInt8], executable: Bool = false) throws {
        let path = source + "/" + relative
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        chmod(path, executable ? 0o755 : 0o644)
    }

    func plan() throws -> LayerPlan {
        try LayerPlan(config: try LayerConfig.load(path: root + "/layerpack.yml"))
    }

    /// Builds to `name` beside the config and returns the zip's bytes and the work done.
    @discardableResult
    func build(_ name: String, jobs: Int, cache: Bool) throws -> (bytes: Data, statistics: WorkStatistics) {
        let output = root + "/" + name
        let result = try LayerBuilder.build(try plan(), output: output, options: BuildOptions(jobs: jobs, useCache: cache))
        return (try Data(contentsOf: URL(fileURLWithPath: output)), result.statistics)
    }

    func check(jobs: Int = 2, cache: Bool = true) throws -> CheckReport {
        try LayerCheck.run(try plan(), options: BuildOptions(jobs: jobs, useCache: cache))
    }

    func cacheFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: cacheFolder).filter(EntryCache.isCacheFileName).sorted()
    }

    /// Waits out the file-system timestamp tick, so files written so far are older than what comes next
    /// (the stat cache does not trust a file changed in the tick it was written).
    static func letTimestampsAdvance() { usleep(50_000) }
}

private func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// SplitMix64, so fixtures are the same on every run.
private struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// Reads the zip with Python's `zipfile`, which checks every entry's CRC-32 against its data.
private func pythonZipTest(_ path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.testzip() or 'ok', len(z.namelist()))", path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    process.waitUntilExit()
    return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The disk a file takes, as the file system counts it.
private func diskUsage(_ path: String) throws -> Int64 {
    var info = stat()
    try #require(stat(path, &info) == 0)
    return Int64(info.st_blocks) * 512
}

private func setModificationTime(_ path: String, to nanoseconds: Int64) {
    let time = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    let times = [time, time]
    #expect(utimensat(AT_FDCWD, path, times, 0) == 0)
}

private func modificationTime(_ path: String) throws -> Int64 {
    var info = stat()
    try #require(lstat(path, &info) == 0)
    return FileStat(info).modifiedNanoseconds
}

@Suite("Parallel builds and the entry cache give the same bytes")
struct ByteIdentityTests {
    @Test func jobsAndCacheDoNotChangeTheZip() throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        let serial = try layer.build("serial.zip", jobs: 1, cache: false)
        let parallel = try layer.build("parallel.zip", jobs: 4, cache: false)
        let cold = try layer.build("cold.zip", jobs: 4, cache: true)
        let warm = try layer.build("warm.zip", jobs: 1, cache: true)
        let warmParallel = try layer.build("warm-parallel.zip", jobs: 4, cache: true)

        #expect(parallel.bytes == serial.bytes)
        #expect(cold.bytes == serial.bytes)
        #expect(warm.bytes == serial.bytes)
        #expect(warmParallel.bytes == serial.bytes)
        // 67 entries; 64 deflated: the empty file, the link and the .xz are stored. A warm build copies
        // every entry out of the previous zip; only the link's target text is hashed (links have no stat record).
        #expect(cold.statistics.compressed == 64)
        #expect(warm.statistics == WorkStatistics(hashed: 1, compressed: 0, reused: 67))
        #expect(try layer.cacheFiles().count == 64)
        #expect(try pythonZipTest(layer.root + "/warm.zip") == "ok 67")
    }

    @Test func corruptCacheEntriesAreRebuiltNotPacked() throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        let reference = try layer.build("reference.zip", jobs: 2, cache: true).bytes
        let files = try layer.cacheFiles()
        let originals = try files.map { try Data(contentsOf: URL(fileURLWithPath: layer.cacheFolder + "/" + $0)) }

        // Damage five entries in five ways: truncated, a flipped payload byte, a flipped header byte, emptied,
        // and a compressed size too large for any file (read before the checksum, so it must not trap).
        func damage(_ index: Int, _ change: (inout Data) -> Void) throws {
            var data = originals[index]
            change(&data)
            try data.write(to: URL(fileURLWithPath: layer.cacheFolder + "/" + files[index]))
        }
        try damage(0) { $0.removeLast(9) }
        try damage(1) { $0[70] ^= 0x01 }
        try damage(2) { $0[45] ^= 0x80 }
        try damage(3) { $0 = Data() }
        try damage(4) { $0[63] = 0xff }

        // Without the previous zip, the compressed entries come from the entry cache.
        try FileManager.default.removeItem(atPath: layer.root + "/reference.zip")
        let rebuilt = try layer.build("rebuilt.zip", jobs: 2, cache: true)
        #expect(rebuilt.bytes == reference)
        #expect(rebuilt.statistics.compressed == 5)
        #expect(rebuilt.statistics.reused == 59)
        // Repaired: each cache file holds what it held before it was damaged.
        for (name, original) in zip(files, originals) {
            #expect(try Data(contentsOf: URL(fileURLWithPath: layer.cacheFolder + "/" + name)) == original, "\(name)")
        }
        #expect(try pythonZipTest(layer.root + "/rebuilt.zip") == "ok 67")
    }

    @Test func withoutAStatCacheEntriesAreFoundByTheirContent() throws {
        let layer = try FixtureLayer.mixed()
        let reference = try layer.build("reference.zip", jobs: 2, cache: true).bytes
        try FileManager.default.removeItem(atPath: layer.root + "/.layerpack/stat-cache")
        let again = try layer.build("again.zip", jobs: 2, cache: true)
        #expect(again.bytes == reference)
        #expect(again.statistics == WorkStatistics(hashed: 67, compressed: 0, reused: 64))
    }

    @Test func incrementalBuildMatchesAFullBuildAfterAnEdit() throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        try layer.build("first.zip", jobs: 2, cache: true)
        try layer.file("python/many/m7.py", "value = 'changed'\n")
        let incremental = try layer.build("incremental.zip", jobs: 2, cache: true)
        let full = try layer.build("full.zip", jobs: 2, cache: false)
        #expect(incremental.bytes == full.bytes)
        #expect(incremental.statistics.compressed == 1)
    }

    @Test func cacheDirectoryFromConfigIsUsed() throws {
        let layer = try FixtureLayer(extraConfig: "cache_dir: shared-cache\n")
        try layer.file("a.txt", String(repeating: "a", count: 1000))
        let plan = try layer.plan()
        #expect(plan.config.cacheDirectory == layer.root + "/shared-cache")
        try layer.build("layer.zip", jobs: 1, cache: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: layer.root + "/shared-cache")
        #expect(names.filter(EntryCache.isCacheFileName).count == 1)
        #expect(names.contains("CACHEDIR.TAG"))
    }
}

@Suite("The stat cache never misses a change")
struct StatCacheTests {
    /// A built layer whose stat cache trusts every file.
    private func builtLayer() throws -> FixtureLayer {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        try layer.build("layer.zip", jobs: 2, cache: true)
        let report = try layer.check()
        try #require(report.isClean)
        try #require(report.statistics.hashed == 1, "only the link's target text is hashed")
        return layer
    }

    /// A build of the same paths writes its cache over the previous cache's strings, patching the numbers:
    /// the bytes must be those of the cache laid out anew.
    @Test func aCacheOverThePreviousOnesStringsIsTheOneLaidOutAnew() throws {
        func record(_ index: Int, generation: Int) -> StatCache.Snapshot.Record {
            var info = stat()
            info.st_dev = 7
            info.st_ino = UInt(100 + index)
            info.st_size = 10 + index + generation
            info.st_mode = S_IFREG | 0o644
            info.st_mtim = timespec(tv_sec: 1_000 + generation, tv_nsec: index)
            info.st_ctim = info.st_mtim
            let digest = SHA256.hash(Data("\(index)-\(generation)".utf8))
            // One file never hashed, one not locked, one whose lock lags its content.
            return StatCache.Snapshot.Record(
                zipPath: "python/m\(index).py", sourcePath: "/src/python/m\(index).py", stat: FileStat(info),
                fingerprint: index == 1 ? nil : Fingerprint(digest: digest, crc: UInt32(index * 31 + generation)),
                lockedDigest: index == 2 ? nil : (index == 3 ? SHA256.hash(Data("old".utf8)) : digest), lockedMode: index == 2 ? 0 : 0o644)
        }
        func mirror(_ generation: Int, layer: String = "layer") -> LockMirror {
            let zip = ZipIdentity(path: "/out/layer.zip", device: 7, inode: UInt64(9 + generation), size: Int64(500 + generation),
                                  modifiedNanoseconds: Int64(generation), changedNanoseconds: Int64(generation + 1),
                                  digest: SHA256.hash(Data("zip \(generation)".utf8)))
            return LockMirror(lockDigest: SHA256.hash(Data("lock \(generation)".utf8)), layerName: layer, compressionLevel: 6,
                              compressor: deflateCompressorVersion, zip: zip)
        }
        let old = (0..<5).map { record($0, generation: 0) }
        let previous = try #require(StatCache.Snapshot.parse(StatCache.Snapshot.encode(records: old, reference: 5, lock: mirror(0))))
        let new = (0..<5).map { record($0, generation: $0 % 2) }
        let fields = { (index: Int) in
            StatCache.Snapshot.RecordFields(stat: new[index].stat, fingerprint: new[index].fingerprint, lockedDigest: new[index].lockedDigest,
                                            lockedMode: new[index].lockedMode)
        }
        let patched = try #require(previous.encodeReusingStrings(reference: 9, lock: mirror(1), fields: fields))
        #expect(patched == StatCache.Snapshot.encode(records: new, reference: 9, lock: mirror(1)))
        #expect(StatCache.Snapshot.parse(patched)?.records == new)
        // Other names in the header: laid out anew.
        #expect(previous.encodeReusingStrings(reference: 9, lock: mirror(1, layer: "renamed"), fields: fields) == nil)
    }

    @Test func anUnchangedTreeIsNotHashedAndNothingIsWritten() throws {
        let layer = try builtLayer()
        let statCache = layer.root + "/.layerpack/stat-cache"
        let before = try Data(contentsOf: URL(fileURLWithPath: statCache))
        let report = try layer.check()
        #expect(report.isClean)
        #expect(report.statistics.hashed == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: statCache)) == before)
        let entries = try FileManager.default.contentsOfDirectory(atPath: layer.root + "/.layerpack")
        #expect(!entries.contains { $0.hasPrefix(StagingName.prefix) })
    }

    @Test func aSameSizeEditWithTheMtimeSetBackIsFound() throws {
        let layer = try builtLayer()
        let path = layer.source + "/python/many/m3.py"
        let mtime = try modificationTime(path)
        let original = try String(contentsOfFile: path, encoding: .utf8)
        try layer.file("python/many/m3.py", original.replacingOccurrences(of: "3", with: "4"))
        setModificationTime(path, to: mtime)
        #expect(try modificationTime(path) == mtime)
        let report = try layer.check()
        #expect(report.changed == ["python/many/m3.py"])
    }

    @Test func aModeChangeIsFoundAndRehashed() throws {
        let layer = try builtLayer()
        let path = layer.source + "/python/pkg/core.py"
        chmod(path, 0o755)
        #expect(try layer.check().changed == ["python/pkg/core.py"])
        chmod(path, 0o644)
        let report = try layer.check()
        #expect(report.isClean)
        #expect(report.statistics.hashed == 2, "the file's ctime changed, so it is hashed again")
    }

    @Test func swappedFilesOfTheSameSizeAreFound() throws {
        let layer = try builtLayer()
        try layer.file("python/many/x1.py", "first \n")
        try layer.file("python/many/x2.py", "second\n")
        FixtureLayer.letTimestampsAdvance()
        try layer.build("layer.zip", jobs: 2, cache: true)
        try #require(try layer.check().isClean)
        let first = layer.source + "/python/many/x1.py"
        let second = layer.source + "/python/many/x2.py"
        #expect(rename(first, first + ".swap") == 0)
        #expect(rename(second, first) == 0)
        #expect(rename(first + ".swap", second) == 0)
        #expect(try layer.check().changed == ["python/many/x1.py", "python/many/x2.py"])
    }

    @Test func aFileChangedInTheTickTheCacheWasWrittenIsHashedAgain() throws {
        let layer = try builtLayer()
        let entry = try #require(try layer.plan().entries.first { $0.zipPath == "python/pkg/core.py" })
        let statCache = layer.root + "/.layerpack/stat-cache"
        // A record that matches the file's stat exactly but holds a stale digest, as if the file had
        // changed right after it was hashed without its stat changing.
        let stale = StatCache.Snapshot.Record(zipPath: entry.zipPath, sourcePath: entry.sourcePath, stat: entry.fileStat,
                                              fingerprint: Fingerprint(digest: SHA256.hash(Data("stale".utf8)), crc: 0),
                                              lockedDigest: nil, lockedMode: 0)
        let newest = max(entry.fileStat.modifiedNanoseconds, entry.fileStat.changedNanoseconds)

        try Data(StatCache.Snapshot.encode(records: [stale], reference: newest, lock: nil)).write(to: URL(fileURLWithPath: statCache))
        let racy = try layer.check()
        #expect(racy.isClean, "a file not older than the cache is hashed, not trusted")

        // Control: with a reference after the file's timestamps, the stale record is trusted, which is
        // what makes the rule above necessary.
        try Data(StatCache.Snapshot.encode(records: [stale], reference: newest + 1, lock: nil)).write(to: URL(fileURLWithPath: statCache))
        #expect(try layer.check().changed == ["python/pkg/core.py"])
    }

    @Test func aDamagedStatCacheMeansHashingEverything() throws {
        let layer = try builtLayer()
        let statCache = layer.root + "/.layerpack/stat-cache"
        // One flipped bit in the first record's digest: every field still reads, the checksum does not match.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: statCache))
        bytes[StatCache.Snapshot.headerSize + 64] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: statCache))
        #expect(StatCache.Snapshot.parse(Array(bytes)) == nil)
        let report = try layer.check()
        #expect(report.isClean)
        #expect(report.statistics.hashed == 67)
    }

    @Test func noCacheReadsAndWritesNoCache() throws {
        let layer = try FixtureLayer.mixed()
        try layer.build("layer.zip", jobs: 2, cache: false)
        let report = try layer.check(cache: false)
        #expect(report.isClean)
        #expect(report.statistics.hashed == 67)
        #expect(!FileManager.default.fileExists(atPath: layer.root + "/.layerpack"))
    }
}

@Suite("Prefetcher, entry cache trimming and storage policy")
struct SpeedMechanismTests {
    @Test func prefetcherHandsOverInOrderWithinItsBudget() throws {
        let costs: [Int64] = [5, 1, 8, 1, 1, 20, 2, 3, 1, 1]
        let prefetcher = Prefetcher(costs: costs, jobs: 4, budget: 10) { index in
            usleep(UInt32(1000 * (10 - index)))
            return index * index
        }
        defer { prefetcher.finish() }
        let values = try costs.indices.map { try prefetcher.take($0) }
        #expect(values == costs.indices.map { $0 * $0 })
        // One item over the budget is allowed on its own; otherwise what is claimed and not taken stays within it.
        #expect(prefetcher.peakOutstandingCost <= 20)
        #expect(prefetcher.peakOutstandingCost > 5, "workers ran ahead of the consumer")
    }

    @Test func prefetcherRethrowsAnItemsError() throws {
        struct Failure: Error {}
        let prefetcher = Prefetcher(costs: [1, 1, 1], jobs: 2, budget: 10) { index -> Int in
            if index == 1 { throw Failure() }
            return index
        }
        defer { prefetcher.finish() }
        #expect(try prefetcher.take(0) == 0)
        #expect(throws: Failure.self) { try prefetcher.take(1) }
    }

    @Test func cacheTrimsLeastRecentlyUsedEntriesAndNothingElse() throws {
        let layer = try FixtureLayer()
        let writer = EntryCache(directory: layer.cacheFolder, level: 6)
        var random = SeededRandom(seed: 7)
        let payloads = (0..<4).map { index -> EntryPayload in
            let bytes = random.bytes(1_000)
            return EntryPayload(method: .deflate, crc: UInt32(index), uncompressedSize: 2_000, bytes: bytes,
                                contentDigest: SHA256.hash(Data(bytes)))
        }
        for (index, payload) in payloads.enumerated() {
            writer.store(payload)
            setModificationTime(writer.path(for: payload.contentDigest), to: Int64(index + 1) * 1_000_000_000)
        }
        try write("not ours", to: layer.cacheFolder + "/notes.txt")
        // Half an entry over the limit: trimmed to three quarters of it, so the two least recently used go.
        let unit = try diskUsage(writer.path(for: payloads[0].contentDigest))
        let cache = EntryCache(directory: layer.cacheFolder, level: 6, limit: unit * 7 / 2)
        #expect(cache.payload(for: payloads[0].contentDigest, size: 2_000)?.bytes == payloads[0].bytes)
        cache.trim()
        let left = try layer.cacheFiles()
        #expect(left == [payloads[0], payloads[3]].map { URL(fileURLWithPath: cache.path(for: $0.contentDigest)).lastPathComponent }.sorted())
        #expect(FileManager.default.fileExists(atPath: layer.cacheFolder + "/notes.txt"))
        #expect(FileManager.default.fileExists(atPath: layer.cacheFolder + "/CACHEDIR.TAG"))
        #expect(try String(contentsOfFile: layer.cacheFolder + "/usage", encoding: .utf8).hasPrefix("\(2 * unit) bytes, counted at "))
    }

    /// The folder is listed only when its ledger says it may be over the limit, was counted a day ago, or
    /// cannot be read; otherwise a run adds what it stored to the ledger. Files the ledger does not know
    /// of (copied in by hand here) show when, and only when, the folder is counted.
    @Test func theCacheFolderIsCountedOnlyWhenItsLedgerSaysItMayBeFull() throws {
        let layer = try FixtureLayer()
        var random = SeededRandom(seed: 8)
        func payload() -> EntryPayload {
            let bytes = random.bytes(1_000)
            return EntryPayload(method: .deflate, crc: 1, uncompressedSize: 2_000, bytes: bytes, contentDigest: SHA256.hash(Data(bytes)))
        }
        let probe = EntryCache(directory: layer.cacheFolder, level: 6)
        let first = payload()
        probe.store(first)
        let unit = try diskUsage(probe.path(for: first.contentDigest))
        let cache = EntryCache(directory: layer.cacheFolder, level: 6, limit: 4 * unit)
        let ledger = { try String(contentsOfFile: layer.cacheFolder + "/usage", encoding: .utf8) }
        let entryBytes = try Data(contentsOf: URL(fileURLWithPath: probe.path(for: first.contentDigest)))
        var planted = 0
        func plantUnknownEntry() throws {
            planted += 1
            let name = String(repeating: String(planted), count: 64) + "-6-" + deflateCompressorVersion
            try entryBytes.write(to: URL(fileURLWithPath: layer.cacheFolder + "/" + name))
        }
        let start: Int64 = 1_000_000

        // No ledger yet: counted.
        cache.store(payload())
        cache.trim(now: start)
        #expect(try ledger() == "\(2 * unit) bytes, counted at \(start)\n")
        // Room left by the ledger's count: added to it, the folder not listed (the planted file not seen).
        try plantUnknownEntry()
        cache.store(payload())
        cache.trim(now: start + 100)
        #expect(try ledger() == "\(3 * unit) bytes, counted at \(start)\n")
        #expect(try layer.cacheFiles().count == 4)
        // Nothing stored: nothing read or written.
        cache.trim(now: start + 200)
        #expect(try ledger() == "\(3 * unit) bytes, counted at \(start)\n")
        // Over the limit by the ledger: counted (6 entries), trimmed to three quarters of the limit.
        cache.store(payload())
        cache.store(payload())
        cache.trim(now: start + 300)
        #expect(try ledger() == "\(3 * unit) bytes, counted at \(start + 300)\n")
        #expect(try layer.cacheFiles().count == 3)
        // Within the limit by the ledger, but counted a day ago: counted again (5 entries), trimmed.
        try plantUnknownEntry()
        cache.store(payload())
        cache.trim(now: start + 300 + 86_400)
        #expect(try ledger() == "\(3 * unit) bytes, counted at \(start + 300 + 86_400)\n")
        #expect(try layer.cacheFiles().count == 3)
        // A ledger that cannot be read, or holds more than any disk: counted.
        try write("three entries, give or take\n", to: layer.cacheFolder + "/usage")
        cache.store(payload())
        cache.trim(now: start + 400 + 86_400)
        #expect(try ledger() == "\(4 * unit) bytes, counted at \(start + 400 + 86_400)\n")
        try write("\(Int64.max) bytes, counted at \(start + 400 + 86_400)\n", to: layer.cacheFolder + "/usage")
        cache.store(payload())
        cache.trim(now: start + 500 + 86_400)
        #expect(try ledger() == "\(3 * unit) bytes, counted at \(start + 500 + 86_400)\n")
    }

    @Test func cacheRejectsAnEntryOfTheWrongSize() throws {
        let layer = try FixtureLayer()
        let cache = EntryCache(directory: layer.cacheFolder, level: 6)
        let payload = EntryPayload(method: .deflate, crc: 1, uncompressedSize: 10, bytes: [1, 2, 3], contentDigest: SHA256.hash(Data([9])))
        cache.store(payload)
        #expect(cache.payload(for: payload.contentDigest, size: 11) == nil)
        #expect(!FileManager.default.fileExists(atPath: cache.path(for: payload.contentDigest)))
    }

    @Test(arguments: [("lib/data.xz", true), ("fonts/a.WOFF2", true), ("x.zst", true), ("img/logo.png", false),
                      ("java/lib/a.jar", false), ("wheel.whl", false), ("dir.xz/file", false)])
    func storagePolicyStoresOnlyMeasuredIncompressibleFormats(path: String, stored: Bool) throws {
        let layer = try FixtureLayer()
        try layer.file(path, String(repeating: "data ", count: 100))
        let entry = try #require(try layer.plan().entries.first)
        #expect((StoragePolicy.method(for: entry, level: 6) == .store) == stored)
    }
}

@Suite("An incremental build copies unchanged entries out of the previous zip")
struct PreviousZipTests {
    /// Every kind of change at once: an edit, an added file, a removed one, a rename, a mode change
    /// and a link retargeted.
    private func changeEverything(_ layer: FixtureLayer) throws {
        try layer.file("python/many/m7.py", "value = 'changed'\n")
        try layer.file("python/new/added.py", "print('added')\n")
        try FileManager.default.removeItem(atPath: layer.source + "/python/many/m8.py")
        try FileManager.default.moveItem(atPath: layer.source + "/python/many/m9.py", toPath: layer.source + "/python/many/renamed.py")
        chmod(layer.source + "/python/pkg/core.py", 0o755)
        try FileManager.default.removeItem(atPath: layer.source + "/bin/tool-link")
        try FileManager.default.createSymbolicLink(atPath: layer.source + "/bin/tool-link", withDestinationPath: "../python/pkg/core.py")
    }

    @Test(arguments: [1, 4])
    func afterEveryKindOfChangeTheZipIsThatOfAFullBuild(jobs: Int) throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        try layer.build("dist/layer.zip", jobs: 2, cache: true)
        try changeEverything(layer)
        // No entry cache: whatever is not compressed now comes out of the previous zip.
        try FileManager.default.removeItem(atPath: layer.cacheFolder)
        let incremental = try layer.build("dist/layer.zip", jobs: jobs, cache: true)
        let full = try layer.build("full.zip", jobs: 2, cache: false)
        #expect(incremental.bytes == full.bytes)
        // Compressed again: the edit and the added file, and the renamed file (its bytes are not under its
        // new name in the previous zip). The retargeted link is stored anew; the mode change reuses its bytes.
        #expect(incremental.statistics.compressed == 3)
        #expect(incremental.statistics.reused == 67 - 3 - 1)
        #expect(try pythonZipTest(layer.root + "/dist/layer.zip") == "ok 67")
        #expect(try unzipTest(layer.root + "/dist/layer.zip"))
    }

    @Test func aPreviousZipChangedInPlaceIsNotUsed() throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        let first = try layer.build("dist/layer.zip", jobs: 2, cache: true).bytes
        try FileManager.default.removeItem(atPath: layer.cacheFolder)
        // Damage the data of the first entry without changing the size or the mtime: only the ctime tells.
        let path = layer.root + "/dist/layer.zip"
        let mtime = try modificationTime(path)
        var damaged = first
        damaged[100] ^= 0xff
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(contentsOf: damaged)
        try handle.close()
        setModificationTime(path, to: mtime)

        let rebuilt = try layer.build("dist/layer.zip", jobs: 2, cache: true)
        #expect(rebuilt.bytes == first)
        #expect(rebuilt.statistics.reused == 0)
        #expect(rebuilt.statistics.compressed == 64)
    }

    @Test func aPreviousZipWrittenToDuringTheBuildFailsIt() throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        let first = try layer.build("dist/layer.zip", jobs: 2, cache: true).bytes
        let path = layer.root + "/dist/layer.zip"
        // The first entry packed triggers a write into the previous zip, in place.
        let written = Mutex(false)
        var options = BuildOptions(jobs: 2, useCache: true)
        options.progress = { _ in
            written.withLock { done in
                guard !done, let handle = FileHandle(forWritingAtPath: path) else { return }
                try? handle.write(contentsOf: Data("x".utf8))
                try? handle.close()
                done = true
            }
        }
        #expect(throws: BuildError.changedWhileReading(path: path)) {
            try LayerBuilder.build(try layer.plan(), output: path, options: options)
        }
        var damaged = first
        damaged[0] = UInt8(ascii: "x")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == damaged, "the failed build left the zip as it found it")
    }

    @Test func anotherLevelCompressesEverythingAgain() throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        try layer.build("dist/layer.zip", jobs: 2, cache: true)
        try FileManager.default.removeItem(atPath: layer.cacheFolder)
        try write("layer_name: speed-test\nlayout: provided\nsymlinks: preserve\nsources: [src]\nfilename: dist/layer.zip\ncompression_level: 9\n",
                  to: layer.root + "/layerpack.yml")
        let level9 = try layer.build("dist/layer.zip", jobs: 2, cache: true)
        #expect(level9.statistics.compressed == 64)
        #expect(level9.bytes == (try layer.build("full.zip", jobs: 2, cache: false)).bytes)
    }
}

@Suite("check answers from the stat cache's mirror of the lock as it does from the lock")
struct LockMirrorTests {
    @Test func theMirrorAndTheLockGiveTheSameReport() throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        try layer.build("dist/layer.zip", jobs: 2, cache: true)
        let lock = try String(contentsOfFile: layer.root + "/layerpack.lock", encoding: .utf8)
        #expect(lock.contains("\"compressor\" : \"\(deflateCompressorVersion)\""))
        try layer.file("python/many/m7.py", "value = 'changed'\n")
        try layer.file("python/new/added.py", "print('added')\n")
        try FileManager.default.removeItem(atPath: layer.source + "/python/many/m8.py")
        chmod(layer.source + "/python/pkg/core.py", 0o755)
        try write("layer_name: renamed\nlayout: provided\nsymlinks: preserve\nsources: [src]\nfilename: dist/layer.zip\n", to: layer.root + "/layerpack.yml")

        let fromMirror = try layer.check()
        #expect(fromMirror.added == ["python/new/added.py"])
        #expect(fromMirror.removed == ["python/many/m8.py"])
        #expect(fromMirror.changed == ["python/many/m7.py", "python/pkg/core.py"])
        #expect(fromMirror.settings == ["layer_name: speed-test → renamed"])

        // Without the stat cache the lock is parsed; the next check answers from the mirror that wrote.
        try FileManager.default.removeItem(atPath: layer.root + "/.layerpack/stat-cache")
        let fromLock = try layer.check()
        let again = try layer.check()
        #expect(fromLock == fromMirror.with(statistics: fromLock.statistics))
        #expect(again == fromMirror.with(statistics: again.statistics))
        #expect(again.statistics.hashed < fromLock.statistics.hashed)
    }

    /// A build lays out its stat cache while it writes the lock, and fills in the lock's digest and the
    /// zip's identity after: the cache must name both as they are, laid out as a cache made whole would be.
    @Test func aBuildsCacheNamesTheLockAndTheZipItWrote() throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        for round in 0..<2 {
            if round == 1 { try layer.file("python/many/m7.py", "value = 'changed'\n") }
            let zipPath = layer.root + "/dist/layer.zip"
            _ = try layer.build("dist/layer.zip", jobs: 2, cache: true)
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: layer.root + "/.layerpack/stat-cache")))
            let cache = try #require(StatCache.Snapshot.parse(bytes))
            let lockBytes = try Data(contentsOf: URL(fileURLWithPath: layer.root + "/layerpack.lock"))
            let lock = try LockFile.parse(lockBytes, path: "layerpack.lock")
            let zip = try #require(ZipIdentity(path: zipPath, digest: SHA256.hash(Data(contentsOf: URL(fileURLWithPath: zipPath)))))
            #expect(cache.lock == LockMirror(lock, bytes: lockBytes, zip: zip))
            #expect(StatCache.Snapshot.encode(records: cache.records, reference: cache.reference, lock: cache.lock) == bytes)
        }
    }

    @Test func aLockEditedByHandIsReadNotMirrored() throws {
        let layer = try FixtureLayer.mixed()
        FixtureLayer.letTimestampsAdvance()
        try layer.build("dist/layer.zip", jobs: 2, cache: true)
        try #require(try layer.check().isClean)
        // As a merge might leave it: one entry's digest changed in the lock, nothing in the sources.
        let path = layer.root + "/layerpack.lock"
        let lock = try #require(try LockFile.read(at: path))
        let core = try #require(lock.entries["python/pkg/core.py"])
        let edited = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: core.sha256, with: String(repeating: "0", count: 64))
        try write(edited, to: path)
        #expect(try layer.check().changed == ["python/pkg/core.py"])
    }
}

extension CheckReport {
    fileprivate func with(statistics: WorkStatistics) -> CheckReport {
        CheckReport(lockFile: lockFile, lockMissing: lockMissing, added: added, removed: removed, changed: changed, settings: settings,
                    statistics: statistics)
    }
}

/// `unzip -t`: Info-ZIP's own reading of every entry.
private func unzipTest(_ path: String) throws -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["unzip", "-tq", path]
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus == 0
}
