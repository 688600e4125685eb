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
        var entries = walker.entries
        entries.sort { bytewiseLess($0.zipPath, $1.zipPath) }
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
        // Only a path that some entry's path starts with (plus `/`) can be a conflicting parent.
        let indexByPath = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1.zipPath, $0) })
        var foldersSeen: Set<Substring> = []
        for entry in sorted {
            var parent = Substring(entry.zipPath)
            while let slash = parent.lastIndex(of: "/") {
                parent = parent[..<slash]
                guard foldersSeen.insert(parent).inserted else { break }
                if let index = indexByPath[String(parent)] {
                    let file = sorted[index]
                    throw BuildError.fileFolderConflict(file: file.zipPath, fileSource: file.originDescription, folderEntry: entry.originDescription)
                }
            }
        }
    }
}

/// Collects entries from the sources with `lstat`/`readdir`, in no particular order.
private struct SourceWalker {
    let excludes: ExcludeRules
    let symlinks: LayerConfig.SymlinkPolicy
    let ownFiles: OwnFiles
    var entries: [PlannedEntry] = []

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
            try walkFolder(root, relative: "", root: root, destination: source.destination, origin: source.path, active: &active)
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

    private mutating func walkFolder(_ folder: String, relative: String, root: String, destination: String,
                                     origin: String, active: inout Set<String>) throws {
        for name in try listFolder(folder) where !ownFiles.contains(name, in: folder) {
            let path = folder + "/" + name
            let relativePath = relative.isEmpty ? name : relative + "/" + name
            let info = try lstatOrThrow(path)
            let zipPath = join(destination, relativePath)
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
                        try walkFolder(resolved, relative: relativePath, root: root, destination: destination, origin: origin, active: &active)
                        active.remove(resolved)
                    } else {
                        try addFile(at: resolved, info: targetInfo, zipPath: zipPath, origin: origin)
                    }
                }
            } else if isFolder(info) {
                if excludes.excludes(relativePath, isFolder: true) { continue }
                guard active.insert(path).inserted else { throw BuildError.linkLoop(link: path) }
                try walkFolder(path, relative: relativePath, root: root, destination: destination, origin: origin, active: &active)
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
    private let paths: Set<String>

    init(_ config: LayerConfig, also extra: [String]) {
        let own = [config.filename, config.lockFilePath, config.publishStatePath, config.stateDirectory, config.cacheDirectory] + extra
        paths = Set(own.map { path in
            let url = URL(fileURLWithPath: path)
            let folder = url.deletingLastPathComponent().path
            return (realPath(folder) ?? folder) + "/" + url.lastPathComponent
        })
    }

    /// Whether `name` in the real folder `folder` is one of them, or a file layerpack is writing or a
    /// killed run left half-written (a staging name, whoever its writer).
    func contains(_ name: String, in folder: String) -> Bool {
        StagingName.isStaging(name) || paths.contains(folder + "/" + name)
    }
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

/// The names in a folder, without `.` and `..`, in the order the file system gives them.
private func listFolder(_ path: String) throws -> [String] {
    guard let folder = opendir(path) else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(errno))) }
    defer { closedir(folder) }
    var names: [String] = []
    while let entry = readdir(folder) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String? in
            String(validatingCString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
        guard let name else { throw BuildError.nameNotUTF8(folder: path) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
