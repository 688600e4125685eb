internal import CLibzip
import Foundation
import Hashing
#if canImport(Glibc)
import Glibc
#endif

/// The file libzip writes an archive into: written in large blocks and hashed (SHA-256) as the blocks
/// go out, so the zip is never read back to hash it. Blocks are written and hashed on a thread of their
/// own (`BlockWriter`): the thread libzip runs on only copies bytes into them.
///
/// libzip writes each entry's local header, asks where it is (`TELL_WRITE`), writes the data, then seeks
/// back and writes the header again with the CRC and sizes. Written straight to a file, that is a seek
/// and a write or two per entry; here the header is still in the block and is rewritten in memory. So
/// that nothing hashed is rewritten, the hash stops at the first position libzip asked for since it
/// last came back to the end (`openMark`), and a block going out keeps what follows that position for
/// the next block. Only an entry larger than a block goes out unhashed, has its header rewritten in the
/// file, and is hashed once complete, by reading it back.
final class ZipDestination {
    /// Where the archive is written.
    let path: String
    /// Where the zip will be once it is renamed into place: what error messages name.
    let reportedPath: String
    private let sink: BlockWriter
    @exclusivity(unchecked) private var block: UnsafeMutableRawBufferPointer
    private var descriptor: Int32 = -1
    /// The file is its bytes before `blockStart`, on disk, followed by the block's first `blockCount` bytes.
    @exclusivity(unchecked) private var blockStart = 0
    @exclusivity(unchecked) private var blockCount = 0
    /// Where libzip writes next; at most the end.
    @exclusivity(unchecked) private var position = 0
    /// The first position libzip asked for since it last sought the end: it may come back to rewrite from there.
    @exclusivity(unchecked) private var openMark: Int?
    /// `sink` has been given the file's bytes before `hashed` to hash, which is at most `blockStart` and `openMark`.
    private var hashed = 0
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
        sink = BlockWriter(blockSize: max(blockSize, 1))
        block = sink.freshBlock()
        zip_error_init(&zipError)
    }

    deinit {
        _ = sink.drain()
        if descriptor >= 0 { close(descriptor) }
        zip_error_fini(&zipError)
    }

    private var end: Int { blockStart + blockCount }

    fileprivate func beginWrite() -> Bool {
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else { return fail(ZIP_ER_OPEN) }
        blockStart = 0
        blockCount = 0
        position = 0
        openMark = nil
        sink.restart()
        hashed = 0
        written = nil
        return true
    }

    fileprivate func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // Mostly a header or a piece of data that fits in the block: copied in.
        let offset = position - blockStart
        if offset >= 0, bytes.count <= block.count - offset, let source = bytes.baseAddress {
            (block.baseAddress! + offset).copyMemory(from: source, byteCount: bytes.count)
            position += bytes.count
            blockCount = max(blockCount, position - blockStart)
            return true
        }
        var rest = bytes
        // Bytes before the block are in the file already: the header of an entry larger than a block.
        if position < blockStart, !rest.isEmpty {
            guard position >= hashed else { return fail(ZIP_ER_INTERNAL, code: 0) }
            // After the blocks handed over, which may hold these positions.
            guard drained() else { return false }
            let count = min(rest.count, blockStart - position)
            guard FileIO.writeAll(descriptor, UnsafeRawBufferPointer(rebasing: rest[..<count]), at: position) else { return fail(ZIP_ER_WRITE) }
            position += count
            rest = UnsafeRawBufferPointer(rebasing: rest[count...])
        }
        while !rest.isEmpty {
            if position == blockStart + block.count {
                guard flush(final: false) else { return false }
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
        // Back at the end, libzip is done rewriting what it wrote before.
        if position == end { openMark = nil }
        return true
    }

    fileprivate func tell() -> Int64 {
        openMark = min(openMark ?? position, position)
        return Int64(position)
    }

    /// Writes out the rest and closes the file; the digest and size are then in `written`.
    fileprivate func commit() -> Bool {
        guard flush(final: true), drained() else { return false }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else { return fail(ZIP_ER_WRITE) }
        written = (sink.finalize(), Int64(blockStart))
        return true
    }

    /// Drops what was written: libzip gave up on the archive.
    fileprivate func rollback() {
        _ = sink.drain()
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

    /// Writes out the block, hashing what libzip will not come back to; unless `final`, what follows
    /// `openMark` stays for the next block, when that leaves room in it.
    private func flush(final: Bool) -> Bool {
        let stable = final ? Int.max : openMark ?? .max
        // What went out unhashed (an entry larger than a block) is hashed once it is complete.
        guard catchUpHash(to: min(stable, blockStart)) else { return false }
        let writeEnd = stable > blockStart && stable < end ? stable : end
        let count = writeEnd - blockStart
        guard count > 0 else { return true }
        var hashCount = 0
        if hashed == blockStart, stable > blockStart {
            hashCount = min(count, stable - blockStart)
            hashed = blockStart + hashCount
        }
        let kept = blockCount - count
        let next = sink.freshBlock()
        if kept > 0 { next.baseAddress!.copyMemory(from: block.baseAddress! + count, byteCount: kept) }
        sink.write(block, count: count, to: descriptor, at: blockStart, hashing: hashCount)
        block = next
        blockStart = writeEnd
        blockCount = kept
        // A block written before this one may have failed.
        if let code = sink.failure { return fail(ZIP_ER_WRITE, code: code) }
        return true
    }

    /// Waits for the blocks handed over to be written and hashed; false when a write failed.
    private func drained() -> Bool {
        guard let code = sink.drain() else { return true }
        return fail(ZIP_ER_WRITE, code: code)
    }

    /// Hashes the file's bytes from `hashed` up to `offset` (at most `blockStart`), reading them back.
    private func catchUpHash(to offset: Int) -> Bool {
        guard hashed < offset else { return true }
        guard drained() else { return false }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: min(1 << 20, offset - hashed), alignment: 64)
        defer { chunk.deallocate() }
        let reader = open(path, O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return fail(ZIP_ER_READ) }
        defer { close(reader) }
        while hashed < offset {
            let count = pread(reader, chunk.baseAddress, min(chunk.count, offset - hashed), off_t(hashed))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return fail(ZIP_ER_READ, code: count == 0 ? EIO : errno) }
            sink.hash(UnsafeRawBufferPointer(rebasing: chunk[..<count]))
            hashed += count
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

/// libzip's entry point into a `ZipDestination`: a write source whose read commands all fail, since the
/// archive is always new (its `stat` says there is no file yet).
let zipDestinationCallback: zip_source_callback = { context, data, length, command in
    let reference = Unmanaged<ZipDestination>.fromOpaque(context!)
    // The source holds a reference until libzip frees it: none is taken per call (several per entry).
    if command == ZIP_SOURCE_FREE {
        reference.release()
        return 0
    }
    return reference._withUnsafeGuaranteedRef { destinationCommand($0, data, length, command) }
}

private func destinationCommand(_ destination: ZipDestination, _ data: UnsafeMutableRawPointer?, _ length: zip_uint64_t,
                                _ command: zip_source_cmd_t) -> zip_int64_t {
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

/// Writes blocks of the zip to its file and hashes them, in the order they are handed over, on a thread
/// of its own. A block comes back as a fresh one once written; at most `maxBlocks` exist, so the thread
/// handing them over waits when the writes fall behind. A failed write is remembered (its `errno`), and
/// the blocks after it are neither written nor hashed.
final class BlockWriter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "layerpack.zip-writer")
    private let blockSize: Int
    private let maxBlocks: Int
    private let spareCount = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    // Guarded by `lock`.
    private var spare: [UnsafeMutableRawBufferPointer] = []
    private var failed: Int32?
    /// Every block, freed with the writer.
    private var blocks: [UnsafeMutableRawBufferPointer] = []
    /// Only touched on `queue`.
    private var state = SHA256()

    init(blockSize: Int, maxBlocks: Int = 3) {
        self.blockSize = blockSize
        self.maxBlocks = maxBlocks
    }

    deinit {
        queue.sync {}
        for block in blocks { block.deallocate() }
    }

    /// The `errno` of the first write that failed so far.
    var failure: Int32? { lock.withLock { failed } }

    /// A block to fill: a new one while fewer than `maxBlocks` exist, else the next one written out.
    func freshBlock() -> UnsafeMutableRawBufferPointer {
        if blocks.count < maxBlocks {
            blocks.append(.allocate(byteCount: blockSize, alignment: 64))
            return blocks[blocks.count - 1]
        }
        spareCount.wait()
        return lock.withLock { spare.removeLast() }
    }

    /// Writes the first `count` bytes of `block` at `offset` of `descriptor` and hashes the first `hashing`
    /// of them, after everything handed over before; `block` is then fresh again.
    func write(_ block: UnsafeMutableRawBufferPointer, count: Int, to descriptor: Int32, at offset: Int, hashing: Int) {
        nonisolated(unsafe) let block = block
        queue.async { [self] in
            if failure == nil {
                if FileIO.writeAll(descriptor, UnsafeRawBufferPointer(rebasing: block[..<count]), at: offset) {
                    state.update(UnsafeRawBufferPointer(rebasing: block[..<hashing]))
                } else {
                    let code = errno
                    lock.withLock { failed = code }
                }
            }
            lock.withLock { spare.append(block) }
            spareCount.signal()
        }
    }

    /// Hashes `bytes` after everything handed over before.
    func hash(_ bytes: UnsafeRawBufferPointer) {
        nonisolated(unsafe) let bytes = bytes
        queue.sync { state.update(bytes) }
    }

    /// Waits for everything handed over; the `errno` of the first write that failed, if one did.
    func drain() -> Int32? {
        queue.sync {}
        return failure
    }

    func finalize() -> Digest {
        queue.sync { state.copy().finalize() }
    }

    /// Ready for another file: nothing hashed, no failure.
    func restart() {
        queue.sync { state = SHA256() }
        lock.withLock { failed = nil }
    }
}
