import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Finds the layers of a repository for `--all`: every `layerpack.yml` below a folder.
public enum ConfigDiscovery {
    /// Folders never searched, besides hidden ones: dependencies and build output.
    static let skippedFolders: Set<String> = ["node_modules", ".build", ".layerpack"]

    /// The paths, relative to `folder`, of every `layerpack.yml` below it, in bytewise order. Links are
    /// not followed; hidden folders, `node_modules` and `.build` are skipped.
    public static func configs(below folder: String) throws -> [String] {
        var found: [String] = []
        try search(folder, relative: "", into: &found)
        return found.sorted(by: bytewiseLess)
    }

    private static func search(_ folder: String, relative: String, into found: inout [String]) throws {
        guard let handle = opendir(folder) else { throw BuildError.unreadable(path: folder, reason: String(cString: strerror(errno))) }
        defer { closedir(handle) }
        var folders: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            if name == "." || name == ".." { continue }
            var info = stat()
            guard lstat(folder + "/" + name, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR where !name.hasPrefix(".") && !skippedFolders.contains(name): folders.append(name)
            case S_IFREG where name == LayerConfig.defaultFileName: found.append(relative + name)
            default: break
            }
        }
        for name in folders { try search(folder + "/" + name, relative: relative + name + "/", into: &found) }
    }
}
