/// Everything that stops a layer from being planned, packed or checked, naming the path at fault.
public enum BuildError: Error, CustomStringConvertible, Equatable, DiagnosticConvertible {
    case noSources(file: String)
    case emptyLayer(file: String)
    case tooLarge(total: Int64, limit: Int64)
    case linkLeavesSource(link: String, target: String, root: String)
    case danglingLink(link: String, target: String)
    case absoluteLinkPreserved(link: String, target: String)
    case linkLoop(link: String)
    case linkCycle(chain: [String])
    case unsupportedFileType(path: String, kind: String)
    case unreadable(path: String, reason: String)
    case nameNotUTF8(folder: String)
    case duplicateZipPath(zipPath: String, first: String, second: String)
    case fileFolderConflict(file: String, fileSource: String, folderEntry: String)
    case changedWhileReading(path: String)
    case cannotWrite(path: String, reason: String)
    case archive(path: String, reason: String)

    public var description: String { diagnostic.description }

    public var diagnostic: Diagnostic {
        switch self {
        case .noSources(let file), .emptyLayer(let file): return Diagnostic(.error, message, at: .file(path: file, line: nil))
        default: return Diagnostic(.error, message)
        }
    }

    /// What is wrong, in full sentences, without the location.
    var message: String {
        switch self {
        case .noSources:
            return "There are no `sources:` to build from. List the folders and files that go into the layer, e.g. `sources: [build/python]`."
        case .emptyLayer:
            return "The layer would be empty: the sources hold no files after `exclude`, and Lambda rejects an empty layer. Check `sources:` and `exclude:`."
        case .tooLarge(let total, let limit):
            return "The layer unzips to \(total) bytes, over Lambda's limit of \(limit) bytes (250 MB) for a function and all its layers. Exclude what the functions do not need, or split the layer."
        case .linkLeavesSource(let link, let target, let root):
            return "The symlink `\(link)` points to `\(target)`, outside its source `\(root)`. layerpack packs nothing from outside a source: list that path as a source of its own, or replace the link with the file."
        case .danglingLink(let link, let target):
            return "The symlink `\(link)` points to `\(target)`, which does not exist. Remove the link or exclude it with `exclude:`."
        case .absoluteLinkPreserved(let link, let target):
            return "The symlink `\(link)` points to the absolute path `\(target)`, which would not exist once Lambda unpacks the layer under /opt. Make it a relative link, or use `symlinks: follow`."
        case .linkLoop(let link):
            return "The symlink `\(link)` leads back into a folder that contains it, which would pack the folder forever. Remove the link or exclude it with `exclude:`."
        case .linkCycle(let chain):
            return "The symlink `\(chain[0])` is part of a cycle of links that never reaches a file or folder (\(chain.map { "`\($0)`" }.joined(separator: " → "))). Point one of them at a real file, remove it, or exclude it with `exclude:`."
        case .unsupportedFileType(let path, let kind):
            return "`\(path)` is a \(kind); a layer holds only files, folders and symlinks. Exclude it with `exclude:`."
        case .unreadable(let path, let reason):
            return "Could not read `\(path)`: \(reason)."
        case .nameNotUTF8(let folder):
            return "A file name in `\(folder)` is not valid UTF-8, so it cannot be stored portably in a zip. Rename it."
        case .duplicateZipPath(let zipPath, let first, let second):
            return "Two sources map to the same zip path `\(zipPath)`: `\(first)` and `\(second)`. Exclude one, or give one of them another `to:`."
        case .fileFolderConflict(let file, let fileSource, let folderEntry):
            return "`\(fileSource)` goes to the zip path `\(file)`, but `\(folderEntry)` needs `\(file)` to be a folder. Give one of them another `to:`."
        case .changedWhileReading(let path):
            return "`\(path)` changed while it was being read (its size, modification time or inode is not what it was when the build listed it); run build again. A file that is still being written, such as a log, does not belong in a layer: exclude it with `exclude:`."
        case .cannotWrite(let path, let reason):
            return "Could not write `\(path)`: \(reason). Nothing was changed there."
        case .archive(let path, let reason):
            return "Could not write the zip `\(path)`: \(reason). Any earlier zip there is untouched."
        }
    }
}
