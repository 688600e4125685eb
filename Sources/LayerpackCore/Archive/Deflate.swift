internal import CLibdeflate
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

/// CRC-32 as zip stores it; pass the CRC of what came before as `continuing` to checksum in pieces.
func crc32(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
    CRC32.checksum(bytes, continuing: previous)
}

/// The identity of the compressor, for caches keyed by what produced their bytes.
let deflateCompressorVersion = "libdeflate-" + LIBDEFLATE_VERSION_STRING
