import Foundation
import Hashing
import Testing
@testable import LayerpackCore

/// Entries of each kind the writer sees: deflated text, stored random bytes (larger than the small
/// blocks below, so their local headers are rewritten after their block went out), an empty file.
private func sampleEntries() -> [(name: String, method: EntryPayload.Method, content: [UInt8])] {
    var state: UInt64 = 7
    let random = (0..<90_000).map { _ -> UInt8 in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
    let text = Array((0..<4_000).map { "line \($0) of some text that deflates\n" }.joined().utf8)
    return [
        ("a/empty.txt", .store, []),
        ("a/noise.bin", .store, random),
        ("a/small.py", .deflate, Array("print('hi')\n".utf8)),
        ("b/text.txt", .deflate, text),
        ("c/noise-deflated.bin", .deflate, random),
    ]
}

/// Writes the sample entries with `ZipWriter` through blocks of `blockSize` bytes.
private func writeSample(to path: String, blockSize: Int) throws -> (digest: Digest, size: Int64) {
    let compressor = DeflateCompressor(level: 6)
    let entries = sampleEntries()
    let writer = try ZipWriter(path: path, reportedPath: "dist/sample.zip", blockSize: blockSize) { index in
        let entry = entries[index]
        return entry.content.withUnsafeBytes { content in
            EntryPayload(method: entry.method, crc: crc32(content), uncompressedSize: content.count,
                         bytes: entry.method == .store ? entry.content : compressor.compress(content),
                         contentDigest: SHA256.hash(entry.content))
        }
    }
    for entry in entries {
        try writer.add(name: entry.name, mode: S_IFREG_ | 0o644, method: entry.method)
    }
    return try writer.close()
}

@Suite struct ZipDestinationTests {
    @Test func blocksOfAnySizeGiveTheSameBytesAndTheFilesHash() throws {
        let folder = try TemporaryFolder()
        let reference = folder.url("reference.zip")
        let referenceWritten = try writeSample(to: reference, blockSize: ZipDestination.defaultBlockSize)
        let referenceBytes = try Data(contentsOf: URL(fileURLWithPath: reference))
        #expect(referenceWritten.digest == SHA256.hash(referenceBytes))
        #expect(referenceWritten.size == Int64(referenceBytes.count))
        #expect(try run(["unzip", "-t", reference]).status == 0)

        // Blocks smaller than an entry, than a local header (30 bytes and the name), and than one write of libzip's.
        for blockSize in [7, 4_096, 65_536] {
            let path = folder.url("blocks-\(blockSize).zip")
            let written = try writeSample(to: path, blockSize: blockSize)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(bytes == referenceBytes, "blocks of \(blockSize) bytes")
            #expect(written.digest == SHA256.hash(bytes), "blocks of \(blockSize) bytes")
            #expect(written.size == Int64(bytes.count))
        }
        let python = try run(["python3", "-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.testzip() or 'ok', len(z.namelist()))",
                              folder.url("blocks-7.zip")])
        #expect(python.output == "ok 5\n")
    }

    @Test func aZipThatCannotBeCreatedIsNamedByItsReportedPath() throws {
        let folder = try TemporaryFolder()
        expectError("Could not write the zip `dist/sample.zip`", "No such file or directory") {
            _ = try writeSample(to: folder.url("missing-folder/sample.zip"), blockSize: 4_096)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }
}

/// Counts how often each item was computed.
private final class CallCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [Int]

    init(_ count: Int) { counts = Array(repeating: 0, count: count) }

    func record(_ index: Int) { lock.withLock { counts[index] += 1 } }
    var all: [Int] { lock.withLock { counts } }
}

@Suite struct ManySmallEntries {
    @Test func thePrefetcherComputesEachOfManySmallItemsOnceAndHandsThemOverInOrder() throws {
        let count = 10_000
        let calls = CallCounts(count)
        // Runs of small items, a large one now and then, and a budget that holds a few hundred small ones.
        let costs: [Int64] = (0..<count).map { index in index % 1_000 == 999 ? 3 << 20 : Int64(100 + index % 7) }
        let prefetcher = Prefetcher(costs: costs, jobs: 4, budget: 40_000) { index in
            calls.record(index)
            return index
        }
        defer { prefetcher.finish() }
        let values = try (0..<count).map { try prefetcher.take($0) }
        prefetcher.finish()
        #expect(values == Array(0..<count))
        #expect(calls.all == Array(repeating: 1, count: count))
        #expect(prefetcher.peakOutstandingCost <= 3 << 20)
    }

    @Test func anErrorInARunIsRethrownAtItsItemAfterTheItemsBeforeIt() throws {
        struct Failure: Error {}
        let prefetcher = Prefetcher(costs: Array(repeating: 10, count: 200), jobs: 2, budget: 1_000) { index -> Int in
            if index == 130 { throw Failure() }
            return index
        }
        defer { prefetcher.finish() }
        #expect(try (0..<130).map { try prefetcher.take($0) } == Array(0..<130))
        #expect(throws: Failure.self) { try prefetcher.take(130) }
    }

    @Test func twoThousandSmallFilesGiveTheSameZipOnOneJobAndOnEight() throws {
        let folder = try TemporaryFolder()
        var state: UInt64 = 3
        for index in 0..<2_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let size = 1 + Int(state >> 33) % 3_000
            let line = "entry \(index) of a tree of small files\n"
            try folder.write("src/pkg\(index % 37)/sub\(index % 5)/file\(index).js", String(String(repeating: line, count: size / line.count + 1).prefix(size)))
        }
        let config = try folder.config("layer_name: x\nlayout: nodejs\nsources: [src]\n")
        let plan = try LayerPlan(config: config)
        let serial = try LayerBuilder.build(plan, output: folder.url("serial.zip"), options: BuildOptions(jobs: 1))
        let parallel = try LayerBuilder.build(plan, output: folder.url("parallel.zip"), options: BuildOptions(jobs: 8))
        let bytes = try folder.read("serial.zip")
        #expect(try folder.read("parallel.zip") == bytes)
        #expect(serial.sourceCodeHash == SHA256.hash(bytes).base64 && parallel.sourceCodeHash == serial.sourceCodeHash)
        #expect(try run(["unzip", "-tq", folder.url("parallel.zip")]).status == 0)
        let python = try run(["python3", "-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.testzip() or 'ok', len(z.namelist()))",
                              folder.url("parallel.zip")])
        #expect(python.output == "ok 2000\n")
    }
}
