internal import CLibzip
import Foundation
import Hashing
#if canImport(Glibc)
import Glibc
#endif

/// The file libzip writes an archive into: written in large blocks and hashed (SHA-256) as the blocks
/// go out, so the zip is never read back to hash it.
///
/// libzip writes each entry's local header, then its data, then seeks back and writes the header again
/// with the CRC and sizes. Written straight to a file, that is a seek and a write or two per entry; here
/// the header is still in the block being filled and is rewritten in memory. Only a header whose block
/// has already gone out (its entry is larger than a block) is rewritten in the file, and then the hash
/// goes back to the start of the block that held it and reads the file from there up to the block being
/// filled: what an entry that large costs to hash a second time.
final class ZipDestination {
    /// Where the archive is written.
    let path: String
    /// Where the zip will be once it is renamed into place: what error messages name.
    let reportedPath: String
    private let block: UnsafeMutableRawBufferPointer
    private var descriptor: Int32 = -1
    /// The file is its bytes before `blockStart`, on disk, followed by the block's first `blockCount` bytes.
    private var blockStart = 0
    private var blockCount = 0
    /// Where libzip writes next; at most the end.
    private var position = 0
    /// `hasher` has seen the file's bytes before `hashed`, which is at most `blockStart`.
    private var hasher = SHA256()
    private var hashed = 0
    /// The hash at the start of each block written out, to go back to when an earlier header is rewritten.
    private var checkpoints: [HashCheckpoint] = []
    /// Set once the archive is complete and closed.
    private(set) var written: (digest: Digest, size: Int64)?
    /// Why the last command failed, in the user's words; libzip is told the code in `zipError`.
    private(set) var failure: BuildError?
    fileprivate var zipError = zip_error_t()

    /// 4 MiB blocks: 60 writes for a 250 MB zip, and few entries larger than a block.
    static let defaultBlockSize = 4 << 20

    init(path: String, reportedPath: String, blockSize: Int = ZipDestination.defaultBlockSize) {
        self.path = path
        self.reportedPath = reportedPath
        block = .allocate(byteCount: max(blockSize, 1), alignment: 64)
        zip_error_init(&zipError)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
        block.deallocate()
        zip_error_fini(&zipError)
    }

    private var end: Int { blockStart + blockCount }

    fileprivate func beginWrite() -> Bool {
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else { return fail(ZIP_ER_OPEN) }
        blockStart = 0
        blockCount = 0
        position = 0
        hasher = SHA256()
        hashed = 0
        checkpoints = []
        written = nil
        return true
    }

    fileprivate func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var rest = bytes
        // Bytes before the block are in the file already: a header rewritten after its block went out.
        if position < blockStart, !rest.isEmpty {
            let count = min(rest.count, blockStart - position)
            guard writeAll(UnsafeRawBufferPointer(rebasing: rest[..<count]), at: position) else { return fail(ZIP_ER_WRITE) }
            if position < hashed { rewindHash(to: position) }
            position += count
            rest = UnsafeRawBufferPointer(rebasing: rest[count...])
        }
        while !rest.isEmpty {
            if position == blockStart + block.count {
                guard flush() else { return false }
            }
            let offset = position - blockStart
            let count = min(rest.count, block.count - offset)
            (block.baseAddress! + offset).copyMemory(from: rest.baseAddress!, byteCount: count)
            position += count
            blockCount = max(blockCount, offset + count)
            rest = UnsafeRawBufferPointer(rebasing: rest[count...])
        }
        return true
    }

    fileprivate func seek(to offset: Int64, whence: Int32) -> Bool {
        let base: Int
        switch whence {
        case SEEK_SET: base = 0
        case SEEK_CUR: base = position
        case SEEK_END: base = end
        default: return fail(ZIP_ER_INVAL, code: 0)
        }
        let target = base + Int(offset)
        // libzip only goes back to what it wrote; a seek past the end would leave a hole.
        guard target >= 0 && target <= end else { return fail(ZIP_ER_INVAL, code: 0) }
        position = target
        return true
    }

    fileprivate func tell() -> Int64 { Int64(position) }

    /// Writes out the last block and closes the file; the digest and size are then in `written`.
    fileprivate func commit() -> Bool {
        guard flush() else { return false }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else { return fail(ZIP_ER_WRITE) }
        written = (hasher.copy().finalize(), Int64(blockStart))
        return true
    }

    /// Drops what was written: libzip gave up on the archive.
    fileprivate func rollback() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
            unlink(path)
        }
    }

    fileprivate func remove() -> Bool {
        guard unlink(path) == 0 || errno == ENOENT else { return fail(ZIP_ER_REMOVE) }
        return true
    }

    /// Hashes and writes out the block; the next one starts where it ends.
    private func flush() -> Bool {
        guard catchUpHash() else { return false }
        let bytes = UnsafeRawBufferPointer(rebasing: block[..<blockCount])
        guard FileIO.writeAll(descriptor, bytes) else { return fail(ZIP_ER_WRITE) }
        checkpoints.append(HashCheckpoint(offset: blockStart, state: hasher.copy()))
        hasher.update(bytes)
        blockStart += blockCount
        hashed = blockStart
        blockCount = 0
        return true
    }

    /// Goes back to the last checkpoint at or before `offset`: what follows it changed.
    private func rewindHash(to offset: Int) {
        while let last = checkpoints.last, last.offset > offset { checkpoints.removeLast() }
        // The first block's checkpoint is at 0, and a byte before the block has been written out in some block.
        let checkpoint = checkpoints.last!
        hasher = checkpoint.state.copy()
        hashed = checkpoint.offset
    }

    /// Hashes what was written out after a rewind, reading it back from the file.
    private func catchUpHash() -> Bool {
        guard hashed < blockStart else { return true }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: min(1 << 20, blockStart - hashed), alignment: 64)
        defer { chunk.deallocate() }
        let reader = open(path, O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return fail(ZIP_ER_READ) }
        defer { close(reader) }
        while hashed < blockStart {
            let count = pread(reader, chunk.baseAddress, min(chunk.count, blockStart - hashed), off_t(hashed))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return fail(ZIP_ER_READ, code: count == 0 ? EIO : errno) }
            hasher.update(UnsafeRawBufferPointer(rebasing: chunk[..<count]))
            hashed += count
        }
        return true
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        var done = 0
        while done < bytes.count {
            let count = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if count < 0 && errno == EINTR { continue }
            if count == 0 { errno = ENOSPC }
            if count <= 0 { return false }
            done += count
        }
        return true
    }

    /// Records a failed command for libzip (`zipCode` with the system's `code`) and for the user.
    private func fail(_ zipCode: Int32, code: Int32 = errno) -> Bool {
        zip_error_set(&zipError, zipCode, code)
        let reason = code == 0 ? String(cString: zip_error_strerror(&zipError)) : FileIO.describeWriteError(code)
        failure = BuildError.archive(path: reportedPath, reason: reason)
        return false
    }
}

private final class HashCheckpoint {
    let offset: Int
    let state: SHA256

    init(offset: Int, state: consuming SHA256) {
        self.offset = offset
        self.state = state
    }
}

/// libzip's entry point into a `ZipDestination`: a write source whose read commands all fail, since the
/// archive is always new (its `stat` says there is no file yet).
let zipDestinationCallback: zip_source_callback = { context, data, length, command in
    let destination = Unmanaged<ZipDestination>.fromOpaque(context!).takeUnretainedValue()
    switch command {
    case ZIP_SOURCE_SUPPORTS:
        return zipDestinationCommands
    case ZIP_SOURCE_STAT:
        zip_error_set(&destination.zipError, ZIP_ER_READ, ENOENT)
        return -1
    case ZIP_SOURCE_BEGIN_WRITE:
        return destination.beginWrite() ? 0 : -1
    case ZIP_SOURCE_WRITE:
        guard length == 0 || destination.write(UnsafeRawBufferPointer(start: data, count: Int(length))) else { return -1 }
        return zip_int64_t(length)
    case ZIP_SOURCE_SEEK_WRITE:
        guard let data, length >= MemoryLayout<zip_source_args_seek_t>.size else {
            zip_error_set(&destination.zipError, ZIP_ER_INVAL, 0)
            return -1
        }
        let arguments = data.assumingMemoryBound(to: zip_source_args_seek_t.self).pointee
        return destination.seek(to: arguments.offset, whence: arguments.whence) ? 0 : -1
    case ZIP_SOURCE_TELL_WRITE:
        return destination.tell()
    case ZIP_SOURCE_COMMIT_WRITE:
        return destination.commit() ? 0 : -1
    case ZIP_SOURCE_ROLLBACK_WRITE:
        destination.rollback()
        return 0
    case ZIP_SOURCE_REMOVE:
        return destination.remove() ? 0 : -1
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&destination.zipError, data, length)
    case ZIP_SOURCE_FREE:
        Unmanaged<ZipDestination>.fromOpaque(context!).release()
        return 0
    default:
        zip_error_set(&destination.zipError, ZIP_ER_OPNOTSUPP, 0)
        return -1
    }
}

/// libzip opens an archive only on a source that can also be read and seeked; those commands fail here.
private let zipDestinationCommands: zip_int64_t = [
    ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL, ZIP_SOURCE_STAT,
    ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_SUPPORTS, ZIP_SOURCE_BEGIN_WRITE, ZIP_SOURCE_WRITE,
    ZIP_SOURCE_SEEK_WRITE, ZIP_SOURCE_TELL_WRITE, ZIP_SOURCE_COMMIT_WRITE, ZIP_SOURCE_ROLLBACK_WRITE, ZIP_SOURCE_REMOVE,
].reduce(0) { $0 | (zip_int64_t(1) << zip_int64_t($1.rawValue)) }
