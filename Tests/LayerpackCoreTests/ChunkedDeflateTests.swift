import CLibzip
import CZlib
import Foundation
import Hashing
@testable import LayerpackCore
import Synchronization
import Testing

/// Content that deflates like a real binary: runs of text, of zeros, of random bytes, and of pieces
/// copied from up to 32 KiB back (every length and distance DEFLATE has a code for).
private func mixedContent(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 11
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    let text = Array("static int layer_entry(const char *name) { return lookup(name, 0x2f); }\n".utf8)
    while bytes.count < count {
        let run = Int(next() % 200_000) + 1
        switch next() % 4 {
        case 0: for index in 0..<run { bytes.append(text[index % text.count]) }
        case 1: bytes += [UInt8](repeating: 0, count: run)
        case 2 where bytes.count > 0:
            for _ in 0..<(run / 100 + 1) {
                let distance = Int(next() % UInt64(min(bytes.count, 32_768))) + 1
                for _ in 0..<(Int(next() % 258) + 3) { bytes.append(bytes[bytes.count - distance]) }
                bytes.append(UInt8(truncatingIfNeeded: next()))
            }
        default: for _ in 0..<run { bytes.append(UInt8(truncatingIfNeeded: next())) }
        }
    }
    return Array(bytes.prefix(count))
}

/// `stream` inflated as raw DEFLATE by zlib, in Python, to its end and no further: the exit status, and
/// the hex SHA-256 of what it inflated to.
private func inflatedByPython(_ stream: [UInt8]) throws -> (status: Int32, digest: String) {
    let folder = try TemporaryFolder()
    try Data(stream).write(to: URL(fileURLWithPath: folder.url("stream.deflate")))
    let (status, digest) = try run(["python3", "-c", "import sys, zlib, hashlib; d = zlib.decompressobj(-15); "
        + "out = d.decompress(open(sys.argv[1], 'rb').read()); assert d.eof and not d.unused_data; print(hashlib.sha256(out).hexdigest())",
        folder.url("stream.deflate")])
    return (status, digest.trimmingCharacters(in: .whitespacesAndNewlines))
}

@Suite("A large file is deflated in chunks on several threads into one stream")
struct ChunkedDeflateTests {
    static let sizes = [ChunkedDeflate.chunkSize + 1, 2 * ChunkedDeflate.chunkSize, 2 * ChunkedDeflate.chunkSize + 12_345]

    /// Mixed content of three sizes, and content whose last blocks are stored (random) or tiny (zeros).
    static let inputs: [(size: Int, kind: String)] = sizes.map { ($0, "mixed") } + [(2 * ChunkedDeflate.chunkSize + 5, "random"),
                                                                                    (2 * ChunkedDeflate.chunkSize + 5, "zeros")]

    @Test(arguments: inputs)
    func theJoinedStreamInflatesToTheInput(size: Int, kind: String) throws {
        let input: [UInt8]
        switch kind {
        case "random": input = mixedContent(size, seed: 9).enumerated().map { UInt8(truncatingIfNeeded: $0.offset &* 2_654_435_761 >> 13) ^ $0.element }
        case "zeros": input = [UInt8](repeating: 0, count: size)
        default: input = mixedContent(size, seed: UInt64(size))
        }
        let compressed = try input.withUnsafeBytes { try ChunkedDeflate.compress($0, level: 6) }
        // Inflated by zlib (Python), a reader other than the one that found the block boundaries.
        let (status, digest) = try inflatedByPython(compressed)
        #expect(status == 0)
        #expect(digest == SHA256.hash(Data(input)).hex)
        // Within a few KiB per boundary of compressing the whole (each chunk starts without the 32 KiB
        // before it to refer to, which this content does often).
        let whole = input.withUnsafeBytes { DeflateCompressor(level: 6).compress($0) }
        #expect(compressed.count <= whole.count + 4_096 * (size / ChunkedDeflate.chunkSize))
    }

    /// The final block is found in streams of every kind of block libdeflate writes — stored (random
    /// bytes), fixed (a byte or none), dynamic (text, zeros) — at three levels; a cut stream is none. Joined
    /// as `compress` joins chunks, the streams inflate (zlib, in Python) to the inputs in turn.
    @Test func theFinalBlockIsFoundInEveryKindOfStream() throws {
        var state: UInt64 = 7
        let random = (0..<70_000).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        let inputs: [[UInt8]] = [[], Array("a".utf8), [UInt8](repeating: 0, count: 100_000), mixedContent(300_000, seed: 5), random,
                                 mixedContent(3_000_000, seed: 11)]
        var joined: [UInt8] = []
        var expected: [UInt8] = []
        for level in [1, 6, 12] {
            for input in inputs {
                let stream = input.withUnsafeBytes { DeflateCompressor(level: level).compress($0) }
                let (final, end) = try #require(finalBlockAndEnd(stream))
                #expect((end + 7) / 8 == stream.count, "level \(level), \(input.count) bytes")
                #expect(stream[final / 8] >> (final % 8) & 1 == 1, "level \(level), \(input.count) bytes")
                #expect(finalBlockAndEnd(Array(stream.dropLast())) == nil, "level \(level), \(input.count) bytes")
                joined += continuable(stream)
                expected += input
            }
        }
        joined += [0x03, 0x00]  // an empty final block
        let (status, digest) = try inflatedByPython(joined)
        #expect(status == 0)
        #expect(digest == SHA256.hash(Data(expected)).hex)
        #expect(finalBlockAndEnd([0xFF, 0xFF]) == nil)
    }

    /// Streams damaged one bit, cut anywhere, or made of random bytes: the block reader never reads past
    /// the input or loops, and wherever zlib reads such a stream to its end the two agree (checked inside
    /// `finalBlockAndEnd`).
    @Test func damagedAndRandomStreamsAreReadSafely() {
        var state: UInt64 = 99
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var agreed = 0
        for level in [1, 6, 12] {
            let stream = mixedContent(200_000, seed: UInt64(level)).withUnsafeBytes { DeflateCompressor(level: level).compress($0) }
            for _ in 0..<300 {
                var damaged = stream
                let bit = next() % (stream.count * 8)
                damaged[bit / 8] ^= 1 << UInt8(bit % 8)
                if finalBlockAndEnd(damaged) != nil, finalBlockAndEndByZlib(damaged) != nil { agreed += 1 }
                _ = finalBlockAndEnd(Array(stream.prefix(next() % stream.count)))
            }
        }
        for _ in 0..<2_000 {
            _ = finalBlockAndEnd((0..<(next() % 64)).map { _ in UInt8(truncatingIfNeeded: next()) })
        }
        // Some damage leaves a stream zlib still reads (a flipped literal, say): those were compared.
        #expect(agreed > 0)
    }

    /// Each chunk is loaded by the thread that compresses it; the hasher sees the input whole and in
    /// order, whatever order the chunks are loaded in.
    @Test func chunksAreLoadedWhereTheyAreCompressedAndHashedInOrder() throws {
        let input = mixedContent(3 * ChunkedDeflate.chunkSize + 999, seed: 21)
        let expected = try input.withUnsafeBytes { try ChunkedDeflate.compress($0, level: 6) }
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: input.count, alignment: 16)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        nonisolated(unsafe) let target = memory
        let loaded = Mutex<[Range<Int>]>([])
        let hashed = Mutex<[UInt8]>([])
        let compressed = try ChunkedDeflate.compress(UnsafeRawBufferPointer(memory), level: 6, loading: { range in
            input.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: target[range]).copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[range])) }
            loaded.withLock { $0.append(range) }
        }, hashing: { piece in hashed.withLock { $0 += piece } })
        #expect(compressed == expected)
        #expect(hashed.withLock { $0 } == input)
        #expect(loaded.withLock { $0.sorted { $0.lowerBound < $1.lowerBound } }
            == [0..<ChunkedDeflate.chunkSize, ChunkedDeflate.chunkSize..<(2 * ChunkedDeflate.chunkSize),
                (2 * ChunkedDeflate.chunkSize)..<(3 * ChunkedDeflate.chunkSize), (3 * ChunkedDeflate.chunkSize)..<input.count])
    }

    /// A chunk that cannot be loaded fails the whole compression with its error; the hasher stops there.
    @Test func aChunkThatCannotBeLoadedFailsTheCompression() throws {
        struct Unreadable: Error, Equatable {}
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: 3 * ChunkedDeflate.chunkSize, alignment: 16)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 7)
        let hashed = Mutex(0)
        #expect(throws: Unreadable()) {
            _ = try ChunkedDeflate.compress(UnsafeRawBufferPointer(memory), level: 6, loading: { range in
                if range.lowerBound == ChunkedDeflate.chunkSize { throw Unreadable() }
            }, hashing: { piece in hashed.withLock { $0 += piece.count } })
        }
        #expect(hashed.withLock { $0 } <= ChunkedDeflate.chunkSize)
    }

    @Test func aFileOfOneChunkKeepsTheBytesOfCompressingItWhole() {
        #expect(!ChunkedDeflate.isChunked(size: ChunkedDeflate.chunkSize))
        #expect(ChunkedDeflate.isChunked(size: ChunkedDeflate.chunkSize + 1))
    }

    @Test func aLayerWithALargeFileIsTheSameForAnyJobsAndReadsBackEverywhere() throws {
        let folder = try TemporaryFolder()
        let content = mixedContent(2 * ChunkedDeflate.chunkSize + 777, seed: 3)
        try folder.write("src/bin/engine", "", mode: 0o755)
        try Data(content).write(to: URL(fileURLWithPath: folder.url("src/bin/engine")))
        try folder.write("src/lib/small.txt", "small file\n")
        _ = try folder.config("layer_name: big\nlayout: provided\nsources: [src]\nfilename: layer.zip\n")
        let plan = try LayerPlan(config: try LayerConfig.load(path: folder.url("layerpack.yml")))
        var zips: [Data] = []
        for jobs in [1, 2, 8] {
            _ = try LayerBuilder.build(plan, output: folder.url("jobs-\(jobs).zip"), options: BuildOptions(jobs: jobs))
            zips.append(try folder.read("jobs-\(jobs).zip"))
        }
        #expect(zips[1] == zips[0])
        #expect(zips[2] == zips[0])
        let zip = folder.url("jobs-1.zip")
        #expect(try run(["unzip", "-tq", zip]).status == 0)
        #expect(try run(["python3", "-c", "import sys, zipfile; sys.exit(zipfile.ZipFile(sys.argv[1]).testzip() is not None)", zip]).status == 0)
        #expect(try libzipRead(zip, entry: "bin/engine") == content)
    }
}

/// Where the final block of `stream` begins and where the stream ends, in bits, as `DeflateBlocks` finds
/// them; checked against zlib's answer whenever zlib reads the stream.
private func finalBlockAndEnd(_ stream: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> (Int, Int)? {
    let found = stream.withUnsafeBytes { DeflateBlocks.finalBlockAndEnd($0) }
    if let byZlib = finalBlockAndEndByZlib(stream) {
        #expect(found.map { [$0.0, $0.1] } == [byZlib.0, byZlib.1], "\(stream.count) bytes", sourceLocation: sourceLocation)
    }
    return found
}

/// Bit offsets of the final block's header and of the end of the stream, found by inflating with zlib
/// and stopping at every block boundary (`Z_BLOCK`); nil when zlib cannot read the stream.
private func finalBlockAndEndByZlib(_ stream: [UInt8]) -> (Int, Int)? {
    var z = z_stream()
    guard layerpack_inflate_init_raw(&z) == Z_OK else { return nil }
    defer { inflateEnd(&z) }
    var output = [UInt8](repeating: 0, count: 1 << 16)
    var blockStart = 0
    return stream.withUnsafeBytes { input -> (Int, Int)? in
        z.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
        z.avail_in = uInt(input.count)
        return output.withUnsafeMutableBufferPointer { output -> (Int, Int)? in
            while true {
                z.next_out = output.baseAddress
                z.avail_out = uInt(output.count)
                let status = inflate(&z, Z_BLOCK)
                guard status == Z_OK || (status == Z_BUF_ERROR && z.avail_in > 0) else { return nil }
                // At a block's end (128), before zlib skips to the byte boundary after the last block (64):
                // the bits of the input not yet used are counted in the low bits.
                guard z.data_type & 128 != 0 else { continue }
                let position = Int(z.total_in) * 8 - Int(z.data_type & 63)
                if z.data_type & 64 != 0 { return (blockStart, position) }
                blockStart = position
            }
        }
    }
}

/// `stream` made continuable, as `ChunkedDeflate.compress` does it in place.
private func continuable(_ stream: [UInt8]) -> [UInt8] {
    var bytes = stream + [UInt8](repeating: 0, count: 5)
    let count = bytes.withUnsafeMutableBytes { ChunkedDeflate.makeContinuable($0, count: stream.count) }
    return Array(bytes[..<count])
}

/// An entry's bytes as libzip reads them (it checks the CRC-32 at the end).
private func libzipRead(_ path: String, entry: String) throws -> [UInt8] {
    var code: Int32 = 0
    let archive = try #require(zip_open(path, ZIP_RDONLY, &code))
    defer { zip_discard(archive) }
    let file = try #require(zip_fopen(archive, entry, 0))
    defer { zip_fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = zip_fread(file, &buffer, zip_uint64_t(buffer.count))
        try #require(count >= 0, "libzip could not read \(entry)")
        if count == 0 { break }
        bytes += buffer[..<Int(count)]
    }
    return bytes
}
