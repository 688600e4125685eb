import Foundation
import Hashing
#if canImport(Glibc)
import Glibc
#endif

/// Whole reads and writes on an open file descriptor, for the caches, which handle their own errors.
extension FileIO {
    /// How sources are opened: read only, and without blocking, as a file replaced by a named pipe since the
    /// walk would otherwise wait in `open` for a writer (the checks after opening then refuse it). Regular
    /// files read as ever.
    static let sourceFileFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK

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

    /// The whole regular file at `path`, or nil when it cannot be read.
    static func readWhole(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, let size = Int(exactly: info.st_size) else { return nil }
        var complete = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            complete = readExactly(descriptor, into: UnsafeMutableRawBufferPointer(buffer))
            count = complete ? size : 0
        }
        return complete ? bytes : nil
    }

    /// Writes all of `bytes` to `descriptor`; false when a write fails (the disk is full, say).
    static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int? = nil) -> Bool {
        var written = 0
        while written < bytes.count {
            let rest = bytes.count - written
            let count = offset.map { pwrite(descriptor, bytes.baseAddress! + written, rest, off_t($0 + written)) }
                ?? Glibc.write(descriptor, bytes.baseAddress! + written, rest)
            if count < 0 && errno == EINTR { continue }
            if count == 0 { errno = ENOSPC }
            if count <= 0 { return false }
            written += count
        }
        return true
    }

    /// A planned file's content, read into `buffer` (grown as needed); the bytes are valid until `buffer`
    /// is used again. Exactly the planned size is read, and a file that is not as planned — another
    /// size, modification time or inode, before or after the read — is an error, so a file still being
    /// written can neither slip past the size limit nor be packed half-written.
    static func read(_ entry: PlannedEntry, into buffer: ScratchBuffer, from folders: LastFolder? = nil) throws -> UnsafeRawBufferPointer {
        let size = Int(entry.size)
        let memory = buffer.reserve(size + 1)
        try withPlannedFile(entry, from: folders) { descriptor in
            // Room for one byte more than planned, so a file that grew is noticed; the planned size read, the
            // file is not asked again for its end (`fstat` after the read tells a file that grew since).
            guard let count = readFully(descriptor, into: UnsafeMutableRawBufferPointer(rebasing: memory[..<(size + 1)]), enough: size) else {
                throw BuildError.unreadable(path: entry.sourcePath, reason: String(cString: strerror(errno)))
            }
            guard count == size else { throw BuildError.changedWhileReading(path: entry.sourcePath) }
        }
        return UnsafeRawBufferPointer(rebasing: memory[..<size])
    }

    /// `read(_:into:from:)` for a large file read in pieces, on several threads at once: `body` gets the memory
    /// the file goes in and a function that reads a range of the file into its place. Checked as `read` checks it.
    static func read<T>(_ entry: PlannedEntry, inPiecesInto buffer: ScratchBuffer,
                        _ body: (UnsafeRawBufferPointer, @Sendable (Range<Int>) throws -> Void) throws -> T) throws -> T {
        let size = Int(entry.size)
        nonisolated(unsafe) let memory = buffer.reserve(size)
        return try withPlannedFile(entry) { descriptor in
            let result = try body(UnsafeRawBufferPointer(rebasing: memory[..<size])) { range in
                guard let count = readFully(descriptor, into: UnsafeMutableRawBufferPointer(rebasing: memory[range]), at: range.lowerBound) else {
                    throw BuildError.unreadable(path: entry.sourcePath, reason: String(cString: strerror(errno)))
                }
                guard count == range.count else { throw BuildError.changedWhileReading(path: entry.sourcePath) }
            }
            // Nothing past the planned size: a file that grew is noticed.
            var byte: UInt8 = 0
            guard pread(descriptor, &byte, 1, off_t(size)) == 0 else { throw BuildError.changedWhileReading(path: entry.sourcePath) }
            return result
        }
    }

    /// The SHA-256 and CRC-32 of a planned file's content, read 1 MiB at a time, checked as `read(_:into:)` checks it.
    static func fingerprint(_ entry: PlannedEntry) throws -> Fingerprint {
        let hasher = FingerprintHasher()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(min(entry.size + 1, 1 << 20)), alignment: 16)
        defer { chunk.deallocate() }
        try withPlannedFile(entry) { descriptor in
            var total: Int64 = 0
            while true {
                guard let count = readFully(descriptor, into: chunk) else {
                    throw BuildError.unreadable(path: entry.sourcePath, reason: String(cString: strerror(errno)))
                }
                total += Int64(count)
                guard total <= entry.size else { throw BuildError.changedWhileReading(path: entry.sourcePath) }
                hasher.add(UnsafeRawBufferPointer(rebasing: chunk[..<count]))
                if count < chunk.count { break }
            }
            guard total == entry.size else { throw BuildError.changedWhileReading(path: entry.sourcePath) }
        }
        return hasher.finish()
    }

    /// Opens the entry's file, checks it is still as planned, runs `body`, and checks again.
    private static func withPlannedFile<T>(_ entry: PlannedEntry, from folders: LastFolder? = nil, _ body: (Int32) throws -> T) throws -> T {
        let descriptor = folders?.open(entry.sourcePath) ?? open(entry.sourcePath, FileIO.sourceFileFlags)
        guard descriptor >= 0 else { throw BuildError.unreadable(path: entry.sourcePath, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        func isAsPlanned() -> Bool {
            var info = stat()
            guard fstat(descriptor, &info) == 0 else { return false }
            let now = FileStat(info)
            let planned = entry.fileStat
            return now.size == planned.size && now.modifiedNanoseconds == planned.modifiedNanoseconds
                && now.inode == planned.inode && now.device == planned.device
        }
        guard isAsPlanned() else { throw BuildError.changedWhileReading(path: entry.sourcePath) }
        let result = try body(descriptor)
        guard isAsPlanned() else { throw BuildError.changedWhileReading(path: entry.sourcePath) }
        return result
    }

    /// Reads until `buffer` is full, `enough` bytes are read, or the file ends — from where the file is, or
    /// from `offset` on; the count read, or nil when a read fails.
    private static func readFully(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, enough: Int? = nil, at offset: Int? = nil) -> Int? {
        var filled = 0
        while filled < buffer.count && filled < enough ?? .max {
            let count = offset.map { pread(descriptor, buffer.baseAddress! + filled, buffer.count - filled, off_t($0 + filled)) }
                ?? Glibc.read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return nil }
            if count == 0 { break }
            filled += count
        }
        return filled
    }

    /// Creates layerpack's own folder beside a config (`.layerpack/`), ignored by git; false when that is
    /// not possible (a read-only checkout, say).
    static func makeStateFolder(_ path: String) -> Bool {
        if FileManager.default.fileExists(atPath: path) { return true }
        guard makeFolder(path) else { return false }
        try? writeAtomically(Data("*\n".utf8), to: path + "/.gitignore")
        return true
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

/// The folder of the last file a worker opened, kept open: the next file there is opened relative to it,
/// so the kernel looks up one name rather than every folder of the path (files are read in zip order, a
/// folder's one after another).
final class LastFolder {
    /// The folder's path, NUL-terminated.
    private var folder: [CChar] = []
    private var descriptor: Int32 = -1

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// `open(path, O_RDONLY)`, relative to the last folder when the file is in it; -1 and `errno` on failure.
    func open(_ path: String) -> Int32 {
        let count = path.utf8.count
        return path.withCString { file in
            // From the end, as the name is short and the path long.
            guard let length = UnsafeBufferPointer(start: file, count: count).lastIndex(of: CChar(UInt8(ascii: "/"))), length > 0 else {
                return Glibc.open(file, FileIO.sourceFileFlags)
            }
            let slash = file + length
            if descriptor < 0 || length != folder.count - 1 || memcmp(folder, file, length) != 0 {
                if descriptor >= 0 { close(descriptor) }
                folder = Array(UnsafeBufferPointer(start: file, count: length)) + [0]
                descriptor = Glibc.open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                if descriptor < 0 { return Glibc.open(file, FileIO.sourceFileFlags) }
            }
            return openat(descriptor, slash + 1, FileIO.sourceFileFlags)
        }
    }
}
