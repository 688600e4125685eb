import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whole reads and writes on an open file descriptor, for the caches, which handle their own errors.
extension FileIO {
    /// Fills `buffer` from `descriptor`; false when the file ends first or a read fails.
    static func readExactly(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var filled = 0
        while filled < buffer.count {
            let count = Glibc.read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return false }
            filled += count
        }
        return true
    }

    /// Writes all of `bytes` to `descriptor`; false when a write fails (the disk is full, say).
    static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var written = 0
        while written < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return false }
            written += count
        }
        return true
    }

    /// Creates the folder and its parents; false when that is not possible (a read-only checkout, say).
    static func makeFolder(_ path: String) -> Bool {
        (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil
    }
}
