import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small file-system helpers with errors that name the path.
enum FileIO {
    /// A path beside `target` for writing before a rename into place, unique to this process and call.
    static func temporaryPath(beside target: String) -> String {
        let url = URL(fileURLWithPath: target)
        let name = ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        return url.deletingLastPathComponent().appendingPathComponent(name).path
    }

    static func createParentFolder(of path: String) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw BuildError.cannotWrite(path: path, reason: "its folder `\(folder)` could not be created")
        }
    }

    /// Writes `data` to a temporary file beside `path` and returns that file's path; `commit` renames it into place.
    static func stage(_ data: Data, for path: String) throws -> String {
        try createParentFolder(of: path)
        let temporary = temporaryPath(beside: path)
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw BuildError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        return temporary
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
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw BuildError.cannotWrite(path: path, reason: reason)
        }
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32
    /// glibc's `renameat2`, which the Glibc module does not export; nil where the C library lacks it.
    private static let renameExchange: RenameAt2? = dlsym(nil, "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }
    /// `RENAME_EXCHANGE` from <linux/fs.h>.
    private static let renameExchangeFlag: UInt32 = 1 << 1

    /// Writes `data` to `path` through a temporary file and a rename, so readers never see half a file.
    static func writeAtomically(_ data: Data, to path: String) throws {
        try commit(try stage(data, for: path), to: path)
    }
}
