import Foundation
import Hashing
import Shutdown
#if canImport(Glibc)
import Glibc
#endif

/// Small file-system helpers with errors that name the path.
enum FileIO {
    static func createParentFolder(of path: String) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw BuildError.cannotWrite(path: path, reason: "its folder `\(folder)` could not be created")
        }
    }

    /// Writes `data` to a staged file beside `path`; `commit()` on the result puts it in place.
    static func stage(_ data: some ContiguousBytes, for path: String) throws -> StagedFile {
        try createParentFolder(of: path)
        let staged = try StagedFile(for: path)
        try data.withUnsafeBytes { try staged.write($0) }
        return staged
    }

    /// Writes `data` to `path` through a staged file and a rename, so readers never see half a file.
    static func writeAtomically(_ data: Data, to path: String) throws {
        try stage(data, for: path).commit()
    }

    /// Moves `temporary` to `path`, replacing what is there in one step.
    ///
    /// Where `path` is a regular file and the kernel can, the two are swapped (`renameat2` with
    /// `RENAME_EXCHANGE`) and the old file, now at `temporary`, is deleted: readers see the old file
    /// or the new one, never neither. A swap also spares the write-out of the whole new file that
    /// ext4 forces when a rename replaces a file (a tenth of a second or more for a large zip).
    /// Elsewhere, a plain `rename`.
    static func commit(_ temporary: String, to path: String) throws {
        var existing = stat()
        if let exchange = renameExchange, lstat(path, &existing) == 0, existing.st_mode & S_IFMT == S_IFREG,
           exchange(AT_FDCWD, temporary, AT_FDCWD, path, renameExchangeFlag) == 0 {
            unlink(temporary)
            return
        }
        guard rename(temporary, path) == 0 else {
            let reason = describeWriteError(errno)
            unlink(temporary)
            throw BuildError.cannotWrite(path: path, reason: reason)
        }
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32
    /// glibc's `renameat2`, which the Glibc module does not export; nil where the C library lacks it.
    private static let renameExchange: RenameAt2? = dlsym(nil, "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }
    /// `RENAME_EXCHANGE` from <linux/fs.h>.
    private static let renameExchangeFlag: UInt32 = 1 << 1

    /// The hex SHA-256 of a config's file, to tell whether it changed.
    static func digestOfConfig(_ config: LayerConfig) throws -> String {
        let path = URL(fileURLWithPath: config.directory).appendingPathComponent(URL(fileURLWithPath: config.file).lastPathComponent).path
        do { return try SHA256.hash(fileAt: path).hex } catch { throw BuildError.unreadable(path: path, reason: "\(error)") }
    }

    /// A write error as the user should read it; the disk being full is the common one.
    static func describeWriteError(_ code: Int32) -> String {
        switch code {
        case ENOSPC: return "the disk is full"
        case EDQUOT: return "the disk quota is used up"
        default: return String(cString: strerror(code))
        }
    }
}

/// The names of files layerpack is still writing: `.layerpack-tmp.<pid>.<start>.<random>.<target name>`,
/// in the target's folder. Every file layerpack owns (zip, lock, state, stat cache, cache entries) is
/// written under such a name and renamed into place, so the walk can always skip them, and a later run
/// can delete the ones whose writer is gone: the pid and the process's start time (clock ticks after
/// boot, from `/proc/<pid>/stat`) name the writer, so a reused pid is not mistaken for it.
enum StagingName {
    static let prefix = ".layerpack-tmp."

    /// A new staging path beside `target`, unique to this process and call.
    static func path(beside target: String) -> String {
        let url = URL(fileURLWithPath: target)
        let name = String(url.lastPathComponent.utf8.prefix(120)) ?? "file"
        let staged = "\(prefix)\(getpid()).\(ownStartTime).\(UInt32.random(in: 0...UInt32.max)).\(name)"
        return url.deletingLastPathComponent().appendingPathComponent(staged).path
    }

    /// Whether a file name is a staging name.
    static func isStaging(_ name: String) -> Bool { name.hasPrefix(prefix) }

    /// Whether the process that wrote the staged file `name` has ended. False when unsure.
    static func writerIsGone(_ name: String) -> Bool {
        let fields = name.dropFirst(prefix.count).split(separator: ".", maxSplits: 2)
        guard fields.count == 3, let pid = Int32(fields[0]), pid > 0, let start = UInt64(fields[1]) else { return false }
        if pid == getpid() && start == ownStartTime { return false }
        guard let current = startTime(of: pid) else {
            // No such process (or no /proc to ask): gone only when the kernel says so.
            return kill(pid, 0) != 0 && errno == ESRCH
        }
        return current != start
    }

    /// Deletes the staged files in `folder` whose writers are gone: what runs killed mid-write left behind.
    static func removeAbandoned(in folder: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where isStaging(name) && writerIsGone(name) {
            unlink(folder + "/" + name)
        }
    }

    /// Runs `body` with a new staging path beside `target` for a file another library writes (the zip, which
    /// libzip writes). Whatever is left at the path or beside it under its name is deleted afterwards, and on
    /// an interrupt.
    static func withStagedPath<T>(beside target: String, _ body: (String) throws -> T) throws -> T {
        let staged = path(beside: target)
        let removeLeftovers: @Sendable () -> Void = {
            let folder = URL(fileURLWithPath: staged).deletingLastPathComponent().path
            let name = URL(fileURLWithPath: staged).lastPathComponent
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where entry.hasPrefix(name) {
                unlink(folder + "/" + entry)
            }
        }
        let cleanup = Shutdown.onInterrupt(removeLeftovers)
        defer {
            removeLeftovers()
            Shutdown.unregister(cleanup)
        }
        return try body(staged)
    }

    static let ownStartTime: UInt64 = startTime(of: getpid()) ?? 0

    /// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks after boot.
    private static func startTime(of pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After the command name in parentheses come the fields from the third (state) on.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }
}

/// A file written under a staging name beside its target until `commit()` renames it into place. Until
/// then an interrupt (Ctrl-C, SIGTERM) or `deinit` deletes it. Errors name the target, not the staging name.
final class StagedFile {
    let path: String
    let target: String
    private(set) var descriptor: Int32
    private var cleanup: Shutdown.Token?

    /// Creates the staged file; the folder must exist.
    init(for target: String) throws {
        self.target = target
        let staged = StagingName.path(beside: target)
        path = staged
        cleanup = Shutdown.onInterrupt { unlink(staged) }
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            let reason = FileIO.describeWriteError(errno)
            release()
            throw BuildError.cannotWrite(path: target, reason: reason)
        }
    }

    deinit { discard() }

    /// Writes `bytes` where the last write ended, or at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int? = nil) throws {
        guard FileIO.writeAll(descriptor, bytes, at: offset) else {
            let reason = FileIO.describeWriteError(errno)
            discard()
            throw BuildError.cannotWrite(path: target, reason: reason)
        }
    }

    /// Closes the file and renames it over the target.
    func commit() throws {
        guard descriptor >= 0 else { throw BuildError.cannotWrite(path: target, reason: "it was already written or discarded") }
        let closed = close(descriptor)
        descriptor = -1
        defer { release() }
        guard closed == 0 else {
            let reason = FileIO.describeWriteError(errno)
            unlink(path)
            throw BuildError.cannotWrite(path: target, reason: reason)
        }
        try FileIO.commit(path, to: target)
    }

    /// Deletes the staged file; the target is untouched.
    func discard() {
        guard descriptor >= 0 || cleanup != nil else { return }
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(path)
        release()
    }

    private func release() {
        if let cleanup { Shutdown.unregister(cleanup) }
        cleanup = nil
    }
}
