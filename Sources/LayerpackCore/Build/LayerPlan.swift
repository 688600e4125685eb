import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One file or symlink the layer will hold. A class, so that handing an entry around costs one
/// reference count, not one per string it holds.
public final class PlannedEntry: Sendable, Equatable {
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

    init(zipPath: String, sourcePath: String, kind: Kind, size: Int64, fileStat: FileStat, origin: String) {
        self.zipPath = zipPath
        self.sourcePath = sourcePath
        self.kind = kind
        self.size = size
        self.fileStat = fileStat
        self.origin = origin
    }

    public static func == (a: PlannedEntry, b: PlannedEntry) -> Bool {
        a.zipPath == b.zipPath && a.sourcePath == b.sourcePath && a.kind == b.kind && a.size == b.size
            && a.fileStat == b.fileStat && a.origin == b.origin
    }

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
        let walker = SourceWalker(
            excludes: ExcludeRules(LayerConfig.defaultExcludes + config.exclude), symlinks: config.symlinks,
            ownFiles: OwnFiles(config, also: ownFiles.compactMap { $0 }))
        var entries: [PlannedEntry] = []
        var contributingSources = 0
        for source in config.sources {
            let found = try walker.entries(of: source)
            if !found.isEmpty { contributingSources += 1 }
            // Sources whose paths interleave are merged by a sort.
            if let last = entries.last, let first = found.first, !bytewiseLess(last.zipPath, first.zipPath) {
                entries = (entries + found).sorted { bytewiseLess($0.zipPath, $1.zipPath) }
            } else {
                entries += found
            }
        }
        // One source's walk cannot put two entries at one path, nor a file where a folder is needed: names in
        // a folder are distinct, and a followed link is a folder of its own name. Only sources meeting can.
        if contributingSources > 1 { try LayerPlan.checkPaths(entries) }
        guard !entries.isEmpty else { throw BuildError.emptyLayer(file: config.file) }
        self.entries = entries
        let total = totalSize
        if total > LayerPlan.unzippedSizeLimit { throw BuildError.tooLarge(total: total, limit: LayerPlan.unzippedSizeLimit) }
    }

    /// Two entries at one path, or a file where another entry needs a folder, are errors naming both.
    private static func checkPaths(_ sorted: [PlannedEntry]) throws {
        for index in sorted.indices.dropFirst() where sorted[index - 1].zipPath == sorted[index].zipPath {
            throw BuildError.duplicateZipPath(zipPath: sorted[index].zipPath, first: sorted[index - 1].originDescription,
                                              second: sorted[index].originDescription)
        }
        // The folders the entries need, each with the first entry in zip order that needs it. Entries in one
        // folder mostly come one after another, so only the first of them has folders to add.
        var firstNeeding: [Substring: Int] = [:]
        var previousParent: Substring?
        for index in sorted.indices {
            guard var parent = parentFolder(sorted[index].zipPath[...]) else { continue }
            if let previousParent, sameBytes(parent, previousParent) { continue }
            previousParent = parent
            while firstNeeding[parent] == nil {
                firstNeeding[parent] = index
                guard let grandparent = parentFolder(parent) else { break }
                parent = grandparent
            }
        }
        // A file at a folder's path: looked up in the sorted paths, once per folder. The error names the
        // first entry that needs a folder where a file is.
        var conflict: (file: Int, folderEntry: Int)?
        for (folder, needing) in firstNeeding where needing < conflict?.folderEntry ?? .max {
            if let file = index(of: folder, in: sorted) { conflict = (file, needing) }
        }
        if let conflict {
            let file = sorted[conflict.file]
            throw BuildError.fileFolderConflict(file: file.zipPath, fileSource: file.originDescription,
                                                folderEntry: sorted[conflict.folderEntry].originDescription)
        }
    }

    /// The index of the entry at `path` in entries sorted by zip path.
    private static func index(of path: Substring, in sorted: [PlannedEntry]) -> Int? {
        let low = firstIndex(notBefore: path, in: sorted)
        return low < sorted.count && sameBytes(sorted[low].zipPath[...], path) ? low : nil
    }

    /// The index of the first of `sorted` (entries in zip path order) whose path does not sort before `path`.
    static func firstIndex(notBefore path: Substring, in sorted: [PlannedEntry]) -> Int {
        var low = 0, high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if bytewiseLess(sorted[middle].zipPath[...], path) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// The part of a zip path before its last `/`, if it has one.
private func parentFolder(_ path: Substring) -> Substring? {
    let utf8 = path.utf8
    switch utf8.withContiguousStorageIfAvailable({ $0.lastIndex(of: UInt8(ascii: "/")) }) {
    case .some(let offset?): return path[..<utf8.index(utf8.startIndex, offsetBy: offset)]
    case .some(nil): return nil
    case nil: return utf8.lastIndex(of: UInt8(ascii: "/")).map { path[..<$0] }
    }
}

/// Collects the entries of the sources. A source's folders are listed a level at a time, the folders of
/// a level on every core at once: `readdir`, then `fstatat` on the open folder, so the kernel does not
/// walk every file's full path. A folder's items are sorted by name, a folder's name with its `/`, so
/// that reading the tree depth first gives its entries in bytewise zip path order: only a few names per
/// folder are ever compared, never whole paths.
private struct SourceWalker: Sendable {
    let excludes: ExcludeRules
    let symlinks: LayerConfig.SymlinkPolicy
    let ownFiles: OwnFiles

    /// The entries of `source`, in bytewise zip path order.
    func entries(of source: LayerConfig.Source) throws -> [PlannedEntry] {
        // The config names the source, so a link there is followed to wherever it leads.
        guard let root = realPath(source.resolvedPath) else { throw unresolvableLink(source.resolvedPath) }
        let info = FileStat(try lstatOrThrow(root))
        guard isFolder(info) else {
            let zipPath: String
            if source.destinationIsExact {
                zipPath = source.destination
            } else {
                zipPath = join(source.destination, URL(fileURLWithPath: source.resolvedPath).lastPathComponent)
            }
            return [try fileEntry(at: root, info: info, zipPath: zipPath, origin: source.path)]
        }
        let top = FolderNode(path: root, zipFolder: source.destination, relativePath: [], ancestors: [root])
        var level = [top]
        while !level.isEmpty {
            let folders = level
            DispatchQueue.concurrentPerform(iterations: folders.count) { index in
                folders[index].list(with: self, root: root, origin: source.path)
            }
            // The level's first failure in zip path order, whatever thread met it first.
            if let failure = folders.lazy.compactMap(\.failure).first { throw failure }
            level = folders.flatMap(\.subfolders)
        }
        var entries: [PlannedEntry] = []
        top.appendEntries(to: &entries)
        return entries
    }

    /// What `item`, found in `folder`, adds to the layer: an entry, a folder to list, or nothing when excluded.
    fileprivate func item(_ item: FolderItem, in folder: FolderNode, relativePath: [Substring], root: String,
                          origin: String) throws -> FolderChild? {
        let path = join(folder.path, item.name)
        let zipPath = join(folder.zipFolder, item.name)
        guard let info = item.info else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(item.error))) }
        if isLink(info) {
            // An excluded link is not looked at, so a dangling or escaping one can be excluded away.
            if excludes.excludes(relativePath, isFolder: false) { return nil }
            let target = try readLink(path)
            guard let resolved = realPath(path) else { throw unresolvableLink(path) }
            guard resolved == root || resolved.hasPrefix(root + "/") else {
                throw BuildError.linkLeavesSource(link: path, target: target, root: root)
            }
            let targetInfo = FileStat(try statOrThrow(resolved))
            if isFolder(targetInfo) && excludes.excludes(relativePath, isFolder: true) { return nil }
            switch symlinks {
            case .preserve:
                if target.hasPrefix("/") { throw BuildError.absoluteLinkPreserved(link: path, target: target) }
                return .entry(PlannedEntry(zipPath: zipPath, sourcePath: path, kind: .symlink(target: target),
                                           size: Int64(target.utf8.count), fileStat: info, origin: origin))
            case .follow:
                guard isFolder(targetInfo) else { return .entry(try fileEntry(at: resolved, info: targetInfo, zipPath: zipPath, origin: origin)) }
                guard !folder.ancestors.contains(resolved) else { throw BuildError.linkLoop(link: path) }
                return .folder(FolderNode(path: resolved, zipFolder: zipPath, relativePath: relativePath,
                                          ancestors: folder.ancestors + [resolved]))
            }
        } else if isFolder(info) {
            if excludes.excludes(relativePath, isFolder: true) { return nil }
            guard !folder.ancestors.contains(path) else { throw BuildError.linkLoop(link: path) }
            return .folder(FolderNode(path: path, zipFolder: zipPath, relativePath: relativePath, ancestors: folder.ancestors + [path]))
        } else {
            if excludes.excludes(relativePath, isFolder: false) { return nil }
            return .entry(try fileEntry(at: path, info: info, zipPath: zipPath, origin: origin))
        }
    }

    private func fileEntry(at path: String, info: FileStat, zipPath: String, origin: String) throws -> PlannedEntry {
        guard (info.mode & S_IFMT) == S_IFREG else {
            throw BuildError.unsupportedFileType(path: path, kind: fileKindName(info.mode))
        }
        return PlannedEntry(zipPath: zipPath, sourcePath: path, kind: .file(executable: info.mode & 0o111 != 0),
                            size: info.size, fileStat: info, origin: origin)
    }
}

/// What an item of a folder adds to the layer.
private enum FolderChild {
    case entry(PlannedEntry)
    case folder(FolderNode)
}

/// A folder of a source being walked. Listed by one thread, then read by the walk once its level is done.
private final class FolderNode: @unchecked Sendable {
    let path: String
    let zipFolder: String
    /// The names from the source down to this folder, which the excludes are matched against.
    let relativePath: [Substring]
    /// The folders from the source down to this one, to tell a loop of links.
    let ancestors: [String]
    /// What the folder holds, each list sorted by zip path.
    private(set) var files: [PlannedEntry] = []
    private(set) var subfolders: [FolderNode] = []
    private(set) var failure: Error?

    init(path: String, zipFolder: String, relativePath: [Substring], ancestors: [String]) {
        self.path = path
        self.zipFolder = zipFolder
        self.relativePath = relativePath
        self.ancestors = ancestors
    }

    func list(with walker: SourceWalker, root: String, origin: String) {
        do {
            let ownNames = walker.ownFiles.names(in: path)
            var relativePath = self.relativePath
            let items = try listFolder(path, skipping: { StagingName.isStaging($0) || ownNames?.contains($0) == true })
            var found: [PlannedEntry] = []
            var names: [String] = []
            found.reserveCapacity(items.count)
            names.reserveCapacity(items.count)
            for item in items {
                relativePath.append(Substring(item.name))
                defer { relativePath.removeLast() }
                switch try walker.item(item, in: self, relativePath: relativePath, root: root, origin: origin) {
                case .entry(let entry)?:
                    found.append(entry)
                    names.append(item.name)
                case .folder(let folder)?: subfolders.append(folder)
                case nil: break
                }
            }
            // Sorted by index, by name: no reference counting, and the folder's path is not compared each time.
            let order = names.withUnsafeBufferPointer { names in names.indices.sorted { bytewiseLess(names[$0], names[$1]) } }
            files = order.map { found[$0] }
            subfolders.sort { bytewiseLess($0.zipFolder, $1.zipFolder) }
        } catch {
            failure = error
        }
    }

    /// The entries below this folder in zip path order: its files, each subfolder's entries where the
    /// subfolder's path and its `/` sort among the files' paths.
    func appendEntries(to entries: inout [PlannedEntry]) {
        var next = 0
        for folder in subfolders {
            while next < files.count, sortsBeforeFolder(files[next].zipPath, folder.zipFolder) {
                entries.append(files[next])
                next += 1
            }
            folder.appendEntries(to: &entries)
        }
        entries.append(contentsOf: files[next...])
    }
}

/// Whether `path` sorts bytewise before `folder + "/"`, and so before everything in that folder.
private func sortsBeforeFolder(_ path: String, _ folder: String) -> Bool {
    var path = path, folder = folder
    return path.withUTF8 { p in
        folder.withUTF8 { f in
            let common = min(p.count, f.count)
            let order = common == 0 ? 0 : memcmp(p.baseAddress!, f.baseAddress!, common)
            if order != 0 { return order < 0 }
            return p.count <= f.count || p[f.count] < UInt8(ascii: "/")
        }
    }
}

/// What layerpack itself writes — the zip, the lock file, the publish state, `.layerpack/`, the entry
/// cache and their temporary files — is never packed, even when a source contains it: a layer that
/// held its own previous zip would never have a stable hash. A folder listed here is skipped whole.
struct OwnFiles: Sendable {
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
func bytewiseLess<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
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

/// `folder/name`, or `name` in no folder: made in one allocation (a walk makes two per file).
private func join(_ folder: String, _ name: String) -> String {
    guard !folder.isEmpty else { return name }
    var folder = folder, name = name
    return folder.withUTF8 { folder in
        name.withUTF8 { name in
            String(unsafeUninitializedCapacity: folder.count + 1 + name.count) { path in
                let raw = UnsafeMutableRawBufferPointer(path)
                raw.copyMemory(from: UnsafeRawBufferPointer(folder))
                raw[folder.count] = UInt8(ascii: "/")
                UnsafeMutableRawBufferPointer(rebasing: raw[(folder.count + 1)...]).copyMemory(from: UnsafeRawBufferPointer(name))
                return path.count
            }
        }
    }
}

private func isFolder(_ info: FileStat) -> Bool { (info.mode & S_IFMT) == S_IFDIR }
private func isLink(_ info: FileStat) -> Bool { (info.mode & S_IFMT) == S_IFLNK }

private func fileKindName(_ mode: UInt32) -> String {
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
    let info: FileStat?
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
    // Most folders hold fewer: the list is not grown (and copied) item by item.
    items.reserveCapacity(64)
    while let entry = readdir(folder) {
        let cName = (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self)
        guard let name = String(validatingCString: cName) else { throw BuildError.nameNotUTF8(folder: path) }
        if name == "." || name == ".." || skip(name) { continue }
        var info = stat()
        if fstatat(descriptor, cName, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            items.append(FolderItem(name: name, info: FileStat(info), error: 0))
        } else {
            items.append(FolderItem(name: name, info: nil, error: errno))
        }
    }
    return items
}
