internal import CLibdeflate
internal import CZlib
import Foundation
import Hashing

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
        let bound = libdeflate_deflate_compress_bound(handle, input.count)
        let output = scratch.reserve(bound)
        let written = libdeflate_deflate_compress(handle, input.baseAddress, input.count, output.baseAddress, bound)
        precondition(written > 0 || input.isEmpty, "libdeflate wrote nothing within its own bound")
        return Array(UnsafeRawBufferPointer(rebasing: output[..<written]))
    }
}

/// Raw DEFLATE of a large input in chunks compressed at once on several threads, joined into one
/// stream that any inflater reads as a whole.
///
/// libdeflate compresses whole buffers and always ends its output with a final block. Each chunk but
/// the last is compressed on its own, the final-block bit of its last block is cleared, and an empty
/// stored block (a sync-flush marker) ends it on a byte boundary, so the next chunk's blocks follow
/// as more blocks of the same stream. A chunk's blocks never refer back into the chunk before it, so
/// each decodes on its own. Where the last block begins is found by inflating the chunk with zlib,
/// stopping at every block boundary (`Z_BLOCK`).
///
/// The chunks depend only on the input's size (`chunkSize` bytes each, the last one shorter), never
/// on the number of threads, so the bytes are the same for any `--jobs`; inputs of at most
/// `chunkSize` bytes are compressed whole, as before. Each boundary costs a few hundred bytes (the
/// next chunk starts without the previous 32 KiB to refer to): about 0.01% on a 100 MB file.
enum ChunkedDeflate {
    static let chunkSize = 8 << 20

    static func isChunked(size: Int) -> Bool { size > chunkSize }

    /// The whole input compressed, chunk by chunk on GCD's threads; `alongside` runs on one more
    /// thread meanwhile (the caller hashes the input there).
    static func compress(_ input: UnsafeRawBufferPointer, level: Int, alongside: @Sendable () -> Void = {}) -> [UInt8] {
        let chunkCount = (input.count + chunkSize - 1) / chunkSize
        let results = UnsafeMutableBufferPointer<[UInt8]>.allocate(capacity: chunkCount)
        results.initialize(repeating: [])
        defer { results.deinitialize().deallocate() }
        nonisolated(unsafe) let shared = (input: input, results: results)
        DispatchQueue.concurrentPerform(iterations: chunkCount + 1) { iteration in
            guard iteration < chunkCount else { return alongside() }
            let start = iteration * chunkSize
            let chunk = UnsafeRawBufferPointer(rebasing: shared.input[start..<min(start + chunkSize, shared.input.count)])
            let compressed = DeflateCompressor(level: level).compress(chunk)
            shared.results[iteration] = iteration == chunkCount - 1 ? compressed : continuable(compressed)
        }
        var output: [UInt8] = []
        output.reserveCapacity(results.reduce(0) { $0 + $1.count })
        for chunk in results { output += chunk }
        return output
    }

    /// `stream` with its final-block bit cleared and an empty stored block after its last block.
    static func continuable(_ stream: [UInt8]) -> [UInt8] {
        guard let (finalBlock, end) = finalBlockAndEnd(stream) else {
            preconditionFailure("zlib could not read back what libdeflate wrote")
        }
        // Bits are packed from the low bit up; the block header's first bit is the final-block flag.
        var bytes = Array(stream[..<((end + 7) / 8)])
        bytes[finalBlock / 8] &= ~(1 << UInt8(finalBlock % 8))
        if end % 8 != 0 { bytes[bytes.count - 1] &= (1 << UInt8(end % 8)) - 1 }
        // An empty stored block: 3 header bits (not final, type 00), padding to the byte, LEN 0, NLEN 0xFFFF.
        if end % 8 == 0 || end % 8 > 5 { bytes.append(0) }
        bytes += [0x00, 0x00, 0xFF, 0xFF]
        return bytes
    }

    /// Bit offsets of the final block's header and of the end of the stream.
    static func finalBlockAndEnd(_ stream: [UInt8]) -> (Int, Int)? {
        var z = z_stream()
        guard layerpack_inflate_init_raw(&z) == Z_OK else { return nil }
        defer { inflateEnd(&z) }
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        var blockStart = 0
        return stream.withUnsafeBytes { input -> (Int, Int)? in
            z.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            z.avail_in = uInt(input.count)
            return scratch.withUnsafeMutableBufferPointer { output -> (Int, Int)? in
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
}

/// CRC-32 as zip stores it; pass the CRC of what came before as `continuing` to checksum in pieces.
func crc32(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
    CRC32.checksum(bytes, continuing: previous)
}

/// The identity of the compressor, for caches keyed by what produced their bytes: the libdeflate
/// version and the chunking of large files.
let deflateCompressorVersion = "libdeflate-" + LIBDEFLATE_VERSION_STRING + "-chunks-8m"
