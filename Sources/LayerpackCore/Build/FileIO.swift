import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small file-system helpers with errors that name the path.
enum FileIO {
    /// The whole file.
    static func read(_ path: String) throws -> [UInt8] {
        Array(try read(path, into: ScratchBuffer()))
    }

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

    static func commit(_ temporary: String, to path: String) throws {
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw BuildError.cannotWrite(path: path, reason: reason)
        }
    }

    /// Writes `data` to `path` through a temporary file and a rename, so readers never see half a file.
    static func writeAtomically(_ data: Data, to path: String) throws {
        try commit(try stage(data, for: path), to: path)
    }
}
