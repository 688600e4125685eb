import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One file or symlink the layer will hold.
public struct PlannedEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case file(executable: Bool)
        /// A link stored as a link (`symlinks: preserve`), with the text it points to.
        case symlink(target: String)
    }

    /// The path inside the zip, `/`-separated, relative.
    public let zipPath: String
    /// The file whose bytes are stored (for a followed link, what it points to).
    public let sourcePath: String
    public let kind: Kind
    /// Bytes when unpacked.
    public let size: Int64
    public let fileStat: FileStat
    /// The `sources:` entry it came from, as the config writes it.
    public let origin: String

    /// For messages: the source entry and, where it differs, the file itself.
    var originDescription: String { origin == sourcePath ? origin : "\(origin) (\(sourcePath))" }

    /// The Unix mode stored in the zip: 0644 or 0755 for files, 0777 for links.
    public var mode: UInt32 {
        switch kind {
        case .file(let executable): return S_IFREG_ | (executable ? 0o755 : 0o644)
        case .symlink: return S_IFLNK_ | 0o777
        }
    }
}

let S_IFREG_: UInt32 = 0o100000
let S_IFLNK_: UInt32 = 0o120000

/// What `lstat` says of a source file, enough to tell whether it may have changed.
public struct FileStat: Sendable, Equatable, Codable {
    public let device: UInt64
    public let inode: UInt64
    public let size: Int64
    public let mode: UInt32
    public let modifiedNanoseconds: Int64
    public let changedNanoseconds: Int64

    init(_ s: stat) {
        device = UInt64(s.st_dev)
        inode = UInt64(s.st_ino)
        size = Int64(s.st_size)
        mode = UInt32(s.st_mode)
        modifiedNanoseconds = Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec)
        changedNanoseconds = Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec)
    }
}

/// The layer's contents: every entry in bytewise-sorted zip path order, before anything is read.
public struct LayerPlan: Sendable {
    public let config: LayerConfig
    public let entries: [PlannedEntry]
    public var totalSize: Int64 { entries.reduce(0) { $0 + $1.size } }

    /// Lambda's limit on a function and all its layers, unzipped.
    public static let unzippedSizeLimit: Int64 = 262_144_000

    /// Walks the sources, applies `exclude` and the symlink rules, and checks the result.
    ///
    /// - Parameter ownFiles: paths this run writes besides the config's own (an `--output` zip, a
    ///   `--cache-dir`); like those, they are never packed.
    public init(config: LayerConfig, ownFiles: [String?] = []) throws {
        guard !config.sources.isEmpty else { throw BuildError.noSources(file: config.file) }
        self.config = config
        var walker = SourceWalker(
            excludes: ExcludeRules(LayerConfig.defaultExcludes + config.exclude), symlinks: config.symlinks,
            ownFiles: OwnFiles(config, also: ownFiles.compactMap { $0 }))
        for source in config.sources { try walker.add(source) }
        // Sorted by index: moving an entry costs a retain of each of its strings, moving an index nothing.
        let found = walker.entries
        let paths = found.map(\.zipPath)
        let entries = paths.indices.sorted { bytewiseLess(paths[$0], paths[$1]) }.map { found[$0] }
        try LayerPlan.checkPaths(entries)
        guard !entries.isEmpty else { throw BuildError.emptyLayer(file: config.file) }
        self.entries = entries
        let total = totalSize
        if total > LayerPlan.unzippedSizeLimit { throw BuildError.tooLarge(total: total, limit: LayerPlan.unzippedSizeLimit) }
    }

    /// Two entries at one path, or a file where another entry needs a folder, are errors naming both.
    private static func checkPaths(_ sorted: [PlannedEntry]) throws {
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.zipPath == next.zipPath {
            throw BuildError.duplicateZipPath(zipPath: next.zipPath, first: previous.originDescription, second: next.originDescription)
        }
        // The folders the entries need, each with the first entry in zip order that needs it. Entries in one
        // folder come one after another, so only the first of them has folders to add.
        var firstNeeding: [Substring: Int] = [:]
        var previousParent: Substring?
        for (index, entry) in sorted.enumerated() {
            guard let slash = entry.zipPath.utf8.lastIndex(of: UInt8(ascii: "/")) else { continue }
            var parent = entry.zipPath[..<slash]
            if let previousParent, sameBytes(parent, previousParent) { continue }
            previousParent = parent
            while firstNeeding[parent] == nil {
                firstNeeding[parent] = index
                guard let slash = parent.utf8.lastIndex(of: UInt8(ascii: "/")) else { break }
                parent = parent[..<slash]
            }
        }
        // The error names the first entry that needs a folder where a file is.
        var conflict: (file: Int, folderEntry: Int)?
        for (index, file) in sorted.enumerated() {
            if let needing = firstNeeding[Substring(file.zipPath)], needing < conflict?.folderEntry ?? .max {
                conflict = (index, needing)
            }
        }
        if let conflict {
            let file = sorted[conflict.file]
            throw BuildError.fileFolderConflict(file: file.zipPath, fileSource: file.originDescription,
                                                folderEntry: sorted[conflict.folderEntry].originDescription)
        }
    }
}

/// Collects entries from the sources, in no particular order: each folder is read once with `readdir` and
/// its entries looked at with `fstatat` on the open folder, so the kernel does not walk every file's full path.
private struct SourceWalker {
    let excludes: ExcludeRules
    let symlinks: LayerConfig.SymlinkPolicy
    let ownFiles: OwnFiles
    var entries: [PlannedEntry] = []
    /// The names from the source down to what is being looked at, which the excludes are matched against.
    private var relativePath: [Substring] = []

    init(excludes: ExcludeRules, symlinks: LayerConfig.SymlinkPolicy, ownFiles: OwnFiles) {
        self.excludes = excludes
        self.symlinks = symlinks
        self.ownFiles = ownFiles
    }

    mutating func add(_ source: LayerConfig.Source) throws {
        // The config names the source, so a link there is followed to wherever it leads.
        guard let root = realPath(source.resolvedPath) else { throw unresolvableLink(source.resolvedPath) }
        let info = try lstatOrThrow(root)
        if isFolder(info) {
            var active: Set<String> = [root]
            try walkFolder(root, zipFolder: source.destination, root: root, origin: source.path, active: &active)
        } else {
            let zipPath: String
            if source.destinationIsExact {
                zipPath = source.destination
            } else {
                let name = URL(fileURLWithPath: source.resolvedPath).lastPathComponent
                zipPath = join(source.destination, name)
            }
            try addFile(at: root, info: info, zipPath: zipPath, origin: source.path)
        }
    }

    /// Adds what is in `folder`, whose entries go under `zipFolder` in the zip.
    private mutating func walkFolder(_ folder: String, zipFolder: String, root: String, origin: String,
                                     active: inout Set<String>) throws {
        let ownNames = ownFiles.names(in: folder)
        for item in try listFolder(folder, skipping: { StagingName.isStaging($0) || ownNames?.contains($0) == true }) {
            let path = folder + "/" + item.name
            let zipPath = join(zipFolder, item.name)
            relativePath.append(Substring(item.name))
            defer { relativePath.removeLast() }
            guard let info = item.info else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(item.error))) }
            if isLink(info) {
                // An excluded link is not looked at, so a dangling or escaping one can be excluded away.
                if excludes.excludes(relativePath, isFolder: false) { continue }
                let target = try readLink(path)
                guard let resolved = realPath(path) else { throw unresolvableLink(path) }
                guard resolved == root || resolved.hasPrefix(root + "/") else {
                    throw BuildError.linkLeavesSource(link: path, target: target, root: root)
                }
                let targetInfo = try statOrThrow(resolved)
                if isFolder(targetInfo) && excludes.excludes(relativePath, isFolder: true) { continue }
                switch symlinks {
                case .preserve:
                    if target.hasPrefix("/") { throw BuildError.absoluteLinkPreserved(link: path, target: target) }
                    entries.append(PlannedEntry(zipPath: zipPath, sourcePath: path, kind: .symlink(target: target),
                                                size: Int64(target.utf8.count), fileStat: FileStat(info), origin: origin))
                case .follow:
                    if isFolder(targetInfo) {
                        guard active.insert(resolved).inserted else { throw BuildError.linkLoop(link: path) }
                        try walkFolder(resolved, zipFolder: zipPath, root: root, origin: origin, active: &active)
                        active.remove(resolved)
                    } else {
                        try addFile(at: resolved, info: targetInfo, zipPath: zipPath, origin: origin)
                    }
                }
            } else if isFolder(info) {
                if excludes.excludes(relativePath, isFolder: true) { continue }
                guard active.insert(path).inserted else { throw BuildError.linkLoop(link: path) }
                try walkFolder(path, zipFolder: zipPath, root: root, origin: origin, active: &active)
                active.remove(path)
            } else {
                if excludes.excludes(relativePath, isFolder: false) { continue }
                try addFile(at: path, info: info, zipPath: zipPath, origin: origin)
            }
        }
    }

    private mutating func addFile(at path: String, info: stat, zipPath: String, origin: String) throws {
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw BuildError.unsupportedFileType(path: path, kind: fileKindName(info.st_mode))
        }
        entries.append(PlannedEntry(zipPath: zipPath, sourcePath: path, kind: .file(executable: info.st_mode & 0o111 != 0),
                                    size: Int64(info.st_size), fileStat: FileStat(info), origin: origin))
    }
}

/// What layerpack itself writes — the zip, the lock file, the publish state, `.layerpack/`, the entry
/// cache and their temporary files — is never packed, even when a source contains it: a layer that
/// held its own previous zip would never have a stable hash. A folder listed here is skipped whole.
struct OwnFiles {
    /// Their names by the real folder they are in.
    private let namesByFolder: [String: Set<String>]

    init(_ config: LayerConfig, also extra: [String]) {
        let own = [config.filename, config.lockFilePath, config.publishStatePath, config.stateDirectory, config.cacheDirectory] + extra
        var namesByFolder: [String: Set<String>] = [:]
        for path in own {
            let url = URL(fileURLWithPath: path)
            let folder = url.deletingLastPathComponent().path
            namesByFolder[realPath(folder) ?? folder, default: []].insert(url.lastPathComponent)
        }
        self.namesByFolder = namesByFolder
    }

    /// The names of those in the real folder `folder`. Besides them, a file layerpack is writing or a killed
    /// run left half-written (a staging name, whoever its writer) is one of them.
    func names(in folder: String) -> Set<String>? { namesByFolder[folder] }
}

/// Bytewise order of the UTF-8 encodings: the order of entries in our zips and lock files.
func bytewiseLess(_ a: String, _ b: String) -> Bool {
    let fast = a.utf8.withContiguousStorageIfAvailable { x in
        b.utf8.withContiguousStorageIfAvailable { y in
            let common = min(x.count, y.count)
            let order = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
            return order != 0 ? order < 0 : x.count < y.count
        }
    }
    return (fast ?? nil) ?? a.utf8.lexicographicallyPrecedes(b.utf8)
}

/// Whether two strings have the same UTF-8 bytes.
private func sameBytes(_ a: Substring, _ b: Substring) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    let fast = a.utf8.withContiguousStorageIfAvailable { x in
        b.utf8.withContiguousStorageIfAvailable { y in x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
    }
    return (fast ?? nil) ?? a.utf8.elementsEqual(b.utf8)
}

/// Why a link could not be resolved: a cycle of links, or a target that does not exist.
private func unresolvableLink(_ path: String) -> BuildError {
    let cycle = errno == ELOOP
    var chain = [path]
    var current = path
    while cycle, chain.count < 40, let target = try? readLink(current) {
        current = target.hasPrefix("/") ? target : URL(fileURLWithPath: current).deletingLastPathComponent().appendingPathComponent(target).standardizedFileURL.path
        chain.append(current)
        if chain.dropLast().contains(current) { break }
    }
    return cycle ? .linkCycle(chain: chain) : .danglingLink(link: path, target: (try? readLink(path)) ?? "?")
}

private func join(_ folder: String, _ name: String) -> String { folder.isEmpty ? name : folder + "/" + name }

private func isFolder(_ info: stat) -> Bool { (info.st_mode & S_IFMT) == S_IFDIR }
private func isLink(_ info: stat) -> Bool { (info.st_mode & S_IFMT) == S_IFLNK }

private func fileKindName(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFIFO: return "named pipe"
    case S_IFSOCK: return "socket"
    case S_IFCHR: return "character device"
    case S_IFBLK: return "block device"
    case S_IFDIR: return "folder"
    default: return "special file"
    }
}

func lstatOrThrow(_ path: String) throws -> stat {
    var info = stat()
    guard lstat(path, &info) == 0 else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(errno))) }
    return info
}

private func statOrThrow(_ path: String) throws -> stat {
    var info = stat()
    guard stat(path, &info) == 0 else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(errno))) }
    return info
}

func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

private func readLink(_ path: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count >= 0 else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(errno))) }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// An entry of a folder and what `lstat` says of it, or the error that it gave.
private struct FolderItem {
    let name: String
    let info: stat?
    let error: Int32
}

/// The entries of a folder, without `.` and `..` and those `skip` names, in the order the file system
/// gives them, each with its `lstat` taken relative to the open folder.
private func listFolder(_ path: String, skipping skip: (String) -> Bool) throws -> [FolderItem] {
    let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(errno))) }
    guard let folder = fdopendir(descriptor) else {
        let reason = String(cString: strerror(errno))
        close(descriptor)
        throw BuildError.unreadable(path: path, reason: reason)
    }
    defer { closedir(folder) }
    let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
    var items: [FolderItem] = []
    while let entry = readdir(folder) {
        let cName = (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self)
        guard let name = String(validatingCString: cName) else { throw BuildError.nameNotUTF8(folder: path) }
        if name == "." || name == ".." || skip(name) { continue }
        var info = stat()
        if fstatat(descriptor, cName, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            items.append(FolderItem(name: name, info: info, error: 0))
        } else {
            items.append(FolderItem(name: name, info: nil, error: errno))
        }
    }
    return items
}
