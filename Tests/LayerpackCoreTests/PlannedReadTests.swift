import Foundation
import Testing
@testable import LayerpackCore

/// The plan fixes each file's size: a file that changes between the walk and its read, or while it is
/// read, fails the build with an error naming it, and never gets into a zip or a lock.
@Suite struct FilesChangingDuringABuild {
    /// A layer whose log is small, or large enough to be read and compressed in chunks on several threads.
    func layer(largeLog: Bool = false) throws -> (TemporaryFolder, LayerConfig) {
        let folder = try TemporaryFolder()
        try folder.write("src/app.py", "print('app')\n")
        try folder.write("src/app.log", largeLog ? String(repeating: "started\n", count: ChunkedDeflate.chunkSize / 4) : "started\n")
        return (folder, try folder.config("layer_name: growing\nlayout: python\nsources: [src]\n"))
    }

    @Test(arguments: ["grows", "shrinks", "is replaced"], [false, true])
    func aFileThatChangedAfterItWasPlannedFailsTheBuild(_ change: String, largeLog: Bool) throws {
        let (folder, config) = try layer(largeLog: largeLog)
        _ = try LayerBuilder.build(try LayerPlan(config: config))
        let (zip, lock) = (try folder.read("dist/growing.zip"), try folder.read("layerpack.lock"))
        let plan = try LayerPlan(config: config)
        switch change {
        case "grows":
            let log = try #require(FileHandle(forWritingAtPath: folder.url("src/app.log")))
            try log.seekToEnd()
            try log.write(contentsOf: Data(repeating: 0x41, count: 300_000_000 / 1000))
            try log.close()
        case "shrinks":
            try folder.write("src/app.log", "s\n")
        default:
            try FileManager.default.removeItem(atPath: folder.url("src/app.log"))
            try folder.write("src/app.log", "started\n")
        }
        expectError("`\(folder.url("src/app.log"))` changed while it was being read", "run build again") {
            _ = try LayerBuilder.build(plan)
        }
        #expect(try folder.read("dist/growing.zip") == zip && folder.read("layerpack.lock") == lock)
        #expect(try folder.list("dist") == ["growing.zip"])
        expectError("`\(folder.url("src/app.log"))` changed while it was being read") { _ = try LayerCheck.run(plan) }
    }

    /// A file replaced by a named pipe after the walk: opening it must not wait for a writer that never comes,
    /// whether it is read to be packed or first to be checked as native code (a `.so`).
    @Test(arguments: ["app.log", "native.so"])
    func aFileReplacedByAPipeFailsTheBuildWithoutWaiting(_ name: String) throws {
        let (folder, config) = try layer()
        try folder.write("src/native.so", "not really ELF")
        let plan = try LayerPlan(config: config)
        let log = folder.url("src/\(name)")
        try FileManager.default.removeItem(atPath: log)
        #expect(mkfifo(log, 0o644) == 0)
        // Should the build block in `open`, a writer comes after a while to release it, and the test fails.
        let finished = ManagedAtomicFlag()
        let rescue = Thread {
            for _ in 0..<100 where !finished.isSet { usleep(100_000) }
            guard !finished.isSet else { return }
            let writer = open(log, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
        }
        rescue.start()
        let started = Date()
        expectError("`\(log)` changed while it was being read") { _ = try LayerBuilder.build(plan) }
        finished.set()
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test(arguments: [false, true])
    func aFileAppendedToDuringTheBuildNeverSlipsPastThePlan(largeLog: Bool) throws {
        let (folder, config) = try layer(largeLog: largeLog)
        // A writer appends to the log the whole time the builds run.
        let stop = ManagedAtomicFlag()
        let logPath = folder.url("src/app.log")
        let writer = Thread {
            let log = FileHandle(forWritingAtPath: logPath)!
            while !stop.isSet {
                _ = try? log.seekToEnd()
                try? log.write(contentsOf: Data(repeating: 0x42, count: 4 << 10))
                usleep(200)
            }
            try? log.close()
        }
        writer.start()
        defer { stop.set() }
        var failures = 0
        for _ in 0..<20 {
            let plan = try LayerPlan(config: config)
            do {
                let result = try LayerBuilder.build(plan)
                // Whatever made it into the zip is exactly what the plan saw.
                let listed = try run(["unzip", "-Zl", result.filename])
                #expect(listed.status == 0)
                #expect(result.unzippedSize == plan.totalSize)
                let sizes = listed.output.split(separator: "\n").filter { $0.hasSuffix("python/app.log") }
                    .compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.flatMap { Int64($0) } }
                #expect(sizes == [plan.entries.first { $0.zipPath == "python/app.log" }!.size])
            } catch {
                #expect("\(error)".contains("changed while it was being read"))
                failures += 1
            }
        }
        #expect(failures > 0)
    }
}

/// A flag one thread sets and another polls.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

@Suite struct LinkCycles {
    @Test func aCycleOfLinksIsNamedAsOne() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/mod.py", "x = 1\n")
        try folder.symlink("src/l1", to: "l2")
        try folder.symlink("src/l2", to: "l1")
        let config = try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")
        expectError("is part of a cycle of links", "`\(folder.url("src/l2"))` → `\(folder.url("src/l1"))`") {
            _ = try LayerPlan(config: config)
        }
        do { _ = try LayerPlan(config: config) } catch { #expect(!"\(error)".contains("does not exist")) }
    }
}

@Suite struct StagedFilesOfOtherRuns {
    @Test func onlyStagedFilesWhoseWriterIsGoneAreRemoved() throws {
        let folder = try TemporaryFolder()
        // This process, as a concurrent run would be: alive.
        let live = URL(fileURLWithPath: StagingName.path(beside: folder.url("layerpack.lock"))).lastPathComponent
        try folder.write(live, "being written")
        // No such process (above any pid the kernel hands out).
        try folder.write(".layerpack-tmp.2147483647.5.9.layerpack.lock", "abandoned")
        // A live pid whose start time is another's: the pid was reused since its writer died.
        try folder.write(".layerpack-tmp.\(getpid()).\(StagingName.ownStartTime + 1).7.x.zip", "abandoned")
        try folder.write("keep.txt", "not ours")
        StagingName.removeAbandoned(in: folder.path)
        #expect(try folder.list() == [live, "keep.txt"].sorted())
    }
}
