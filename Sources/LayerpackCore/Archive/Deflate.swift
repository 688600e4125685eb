internal import CLibdeflate
import Foundation
import Hashing
import Synchronization

/// A libdeflate compressor at one level, for one thread at a time. It compresses into a buffer it
/// keeps between calls, so a worker compressing file after file does not fault in fresh memory for each.
final class DeflateCompressor {
    private let handle: OpaquePointer
    let level: Int
    private let scratch = ScratchBuffer()

    /// Levels 1–9 as zlib counts them (libdeflate accepts 1–12).
    init(level: Int) {
        precondition((1...12).contains(level), "libdeflate levels are 1 to 12")
        guard let handle = libdeflate_alloc_compressor(Int32(level)) else {
            fatalError("libdeflate could not allocate a compressor (out of memory).")
        }
        self.handle = handle
        self.level = level
    }

    deinit { libdeflate_free_compressor(handle) }

    /// Raw DEFLATE of `input`. Incompressible input comes out as stored blocks, a few bytes larger.
    /// The result is an array of exactly the compressed size.
    func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        let output = scratch.reserve(Self.bound(of: input.count))
        return Array(UnsafeRawBufferPointer(rebasing: output[..<compress(input, into: output)]))
    }

    /// Raw DEFLATE of `input` into `output`, which has room for `bound(of: input.count)` bytes; the size written.
    func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        let written = libdeflate_deflate_compress(handle, input.baseAddress, input.count, output.baseAddress, output.count)
        precondition(written > 0 || input.isEmpty, "libdeflate wrote nothing within its own bound")
        return written
    }

    /// The most libdeflate can write for `count` bytes of input, at any level.
    static func bound(of count: Int) -> Int { libdeflate_deflate_compress_bound(nil, count) }
}

/// Raw DEFLATE of a large input in chunks compressed at once on several threads, joined into one
/// stream that any inflater reads as a whole.
///
/// libdeflate compresses whole buffers and always ends its output with a final block. Each chunk but
/// the last is compressed on its own, the final-block bit of its last block is cleared, and an empty
/// stored block (a sync-flush marker) ends it on a byte boundary, so the next chunk's blocks follow
/// as more blocks of the same stream. A chunk's blocks never refer back into the chunk before it, so
/// each decodes on its own. Where the last block begins is found by reading the chunk's blocks
/// (`DeflateBlocks`).
///
/// The chunks depend only on the input's size (`chunkSize` bytes each, the last one shorter), never
/// on the number of threads, so the bytes are the same for any `--jobs`; inputs of at most
/// `chunkSize` bytes are compressed whole, as before. Each boundary costs a few hundred bytes (the
/// next chunk starts without the previous 32 KiB to refer to): about 0.01% on a 100 MB file.
enum ChunkedDeflate {
    static let chunkSize = 8 << 20

    static func isChunked(size: Int) -> Bool { size > chunkSize }

    /// The whole input compressed, chunk by chunk on GCD's threads, each chunk straight into its own
    /// part of the result, which is then closed up.
    ///
    /// `load` fills a range of `input` (reading a file, say) and runs on the thread that compresses that
    /// range, just before, so that reading is spread over the threads and overlaps compressing; `hash`
    /// gets the loaded input in order, piece by piece, on one more thread. The first error `load` throws
    /// is thrown once every thread is done.
    static func compress(_ input: UnsafeRawBufferPointer, level: Int,
                         loading load: @Sendable (Range<Int>) throws -> Void = { _ in },
                         hashing hash: @Sendable (UnsafeRawBufferPointer) -> Void = { _ in }) throws -> [UInt8] {
        let chunkCount = (input.count + chunkSize - 1) / chunkSize
        let compressors = Pool { DeflateCompressor(level: level) }
        let room = DeflateCompressor.bound(of: chunkSize) + 8
        let chunks = ChunkProgress(count: chunkCount)
        var failure: (any Error)?
        let output = [UInt8](unsafeUninitializedCapacity: chunkCount * room) { buffer, count in
            nonisolated(unsafe) let shared = (input: input, output: UnsafeMutableRawBufferPointer(buffer))
            DispatchQueue.concurrentPerform(iterations: chunkCount + 1) { iteration in
                guard iteration < chunkCount else {
                    // Iterations are taken in order, so every chunk's is under way by now.
                    for index in 0..<chunkCount {
                        guard chunks.waitUntilLoaded(index) else { return }
                        hash(UnsafeRawBufferPointer(rebasing: shared.input[range(of: index, in: shared.input.count)]))
                    }
                    return
                }
                let range = range(of: iteration, in: shared.input.count)
                do { try load(range) } catch {
                    chunks.fail(iteration, error)
                    return
                }
                chunks.loaded(iteration)
                let part = UnsafeMutableRawBufferPointer(rebasing: shared.output[(iteration * room)..<((iteration + 1) * room)])
                let written = compressors.with { $0.compress(UnsafeRawBufferPointer(rebasing: shared.input[range]), into: part) }
                chunks.compressed(iteration, size: iteration == chunkCount - 1 ? written : makeContinuable(part, count: written))
            }
            count = 0
            if let error = chunks.firstError {
                failure = error
                return
            }
            // Close up: each chunk moves down to where the one before it ends.
            for (index, size) in chunks.sizes.enumerated() {
                if index > 0 { memmove(buffer.baseAddress! + count, buffer.baseAddress! + index * room, size) }
                count += size
            }
        }
        if let failure { throw failure }
        return output
    }

    private static func range(of chunk: Int, in count: Int) -> Range<Int> {
        (chunk * chunkSize)..<min((chunk + 1) * chunkSize, count)
    }

    /// Makes the stream of `count` bytes at the start of `buffer` continuable: its final-block bit cleared
    /// and an empty stored block after its last block. Returns the new size, at most 5 bytes more.
    static func makeContinuable(_ buffer: UnsafeMutableRawBufferPointer, count: Int) -> Int {
        guard let (finalBlock, end) = DeflateBlocks.finalBlockAndEnd(UnsafeRawBufferPointer(rebasing: buffer[..<count])) else {
            preconditionFailure("what libdeflate wrote could not be read back")
        }
        // Bits are packed from the low bit up; the block header's first bit is the final-block flag.
        var size = (end + 7) / 8
        buffer[finalBlock / 8] &= ~(1 << UInt8(finalBlock % 8))
        if end % 8 != 0 { buffer[size - 1] &= (1 << UInt8(end % 8)) - 1 }
        // An empty stored block: 3 header bits (not final, type 00), padding to the byte, LEN 0, NLEN 0xFFFF.
        if end % 8 == 0 || end % 8 > 5 {
            buffer[size] = 0
            size += 1
        }
        for byte: UInt8 in [0x00, 0x00, 0xFF, 0xFF] {
            buffer[size] = byte
            size += 1
        }
        return size
    }
}

/// Where each chunk of a chunked compression stands, shared by the threads: loaded (or failed to load),
/// and its compressed size.
private final class ChunkProgress: Sendable {
    private let loads: [DispatchSemaphore]
    private let state: Mutex<(sizes: [Int], error: (any Error)?)>

    init(count: Int) {
        loads = (0..<count).map { _ in DispatchSemaphore(value: 0) }
        state = Mutex((sizes: [Int](repeating: 0, count: count), error: nil))
    }

    func loaded(_ index: Int) { loads[index].signal() }

    func fail(_ index: Int, _ error: any Error) {
        state.withLock { if $0.error == nil { $0.error = error } }
        loads[index].signal()
    }

    /// Waits until chunk `index` is loaded; false when it failed to load.
    func waitUntilLoaded(_ index: Int) -> Bool {
        loads[index].wait()
        loads[index].signal()
        return state.withLock { $0.error == nil }
    }

    func compressed(_ index: Int, size: Int) { state.withLock { $0.sizes[index] = size } }

    var sizes: [Int] { state.withLock { $0.sizes } }
    var firstError: (any Error)? { state.withLock { $0.error } }
}

/// CRC-32 as zip stores it; pass the CRC of what came before as `continuing` to checksum in pieces.
func crc32(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
    CRC32.checksum(bytes, continuing: previous)
}

/// The identity of the compressor, for caches keyed by what produced their bytes: the libdeflate
/// version and the chunking of large files.
let deflateCompressorVersion = "libdeflate-" + LIBDEFLATE_VERSION_STRING + "-chunks-8m"
