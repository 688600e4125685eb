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

    /// The whole file, read into `buffer` (grown as needed); the bytes are valid until `buffer` is used again.
    static func read(_ path: String, into buffer: ScratchBuffer) throws -> UnsafeRawBufferPointer {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        // One byte more than the size, so a file that grew since is noticed and read whole.
        var memory = buffer.reserve(Int(info.st_size) + 1)
        var filled = 0
        while true {
            if filled == memory.count { memory = buffer.reserve(memory.count * 2, keeping: filled) }
            let count = Glibc.read(descriptor, memory.baseAddress! + filled, memory.count - filled)
            if count < 0 {
                if errno == EINTR { continue }
                throw BuildError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            filled += count
        }
        return UnsafeRawBufferPointer(rebasing: memory[..<filled])
    }

    /// Creates the folder and its parents; false when that is not possible (a read-only checkout, say).
    static func makeFolder(_ path: String) -> Bool {
        (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil
    }
}

/// Memory one worker reuses from one file to the next, grown to the largest it has needed.
final class ScratchBuffer {
    private var memory = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    deinit { memory.deallocate() }

    /// At least `count` bytes; the first `keeping` bytes are kept when the buffer has to grow.
    func reserve(_ count: Int, keeping: Int = 0) -> UnsafeMutableRawBufferPointer {
        if memory.count < count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 4096), alignment: 16)
            if keeping > 0 { grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: memory[..<keeping])) }
            memory.deallocate()
            memory = grown
        }
        return memory
    }
}
