internal import CLibdeflate
import Foundation

/// A libdeflate compressor at one level, for one thread at a time.
final class DeflateCompressor {
    private let handle: OpaquePointer
    let level: Int

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
    func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        let bound = libdeflate_deflate_compress_bound(handle, input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { out in
            libdeflate_deflate_compress(handle, input.baseAddress, input.count, out.baseAddress, bound)
        }
        precondition(written > 0 || input.isEmpty, "libdeflate wrote nothing within its own bound")
        output.removeSubrange(written...)
        return output
    }
}

/// Compressors at one level for worker threads to borrow, so that each compression has one to itself.
final class CompressorPool: @unchecked Sendable {
    let level: Int
    private let lock = NSLock()
    private var idle: [DeflateCompressor] = []

    init(level: Int) { self.level = level }

    func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        let compressor = lock.withLock { idle.popLast() } ?? DeflateCompressor(level: level)
        defer { lock.withLock { idle.append(compressor) } }
        return compressor.compress(input)
    }
}

/// CRC-32 as zip stores it; pass the CRC of what came before as `continuing` to checksum in pieces.
func crc32(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
    UInt32(libdeflate_crc32(UInt32(previous), bytes.baseAddress, bytes.count))
}

/// The identity of the compressor, for caches keyed by what produced their bytes.
let deflateCompressorVersion = "libdeflate-" + LIBDEFLATE_VERSION_STRING
