#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A path glob as `exclude:` writes it, matched against `/`-separated paths inside a source.
///
/// `*`, `?` and `[...]` match within one path segment; a `**` segment matches zero or more folders.
/// A pattern without a `/` matches a name at any depth (`*.md` is `**/*.md`); a trailing `/` matches
/// folders only. A folder that matches is left out with everything below it.
struct GlobPattern: Sendable, Equatable {
    let pattern: String
    private let segments: [String]
    private let foldersOnly: Bool
    /// Where the last `**` segment is: the segments after it each match exactly one name.
    private let lastAnyFolders: Int?

    init(_ pattern: String) {
        self.pattern = pattern
        foldersOnly = pattern.hasSuffix("/")
        var body = String(pattern.trimmingSuffix("/"))
        if body.hasPrefix("/") { body.removeFirst() } else if !body.contains("/") { body = "**/" + body }
        segments = body.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        lastAnyFolders = segments.lastIndex(of: "**")
    }

    func matches(_ path: [Substring], isFolder: Bool) -> Bool {
        if foldersOnly && !isFolder { return false }
        return match(segmentIndex: 0, pathIndex: 0, path)
    }

    private func match(segmentIndex: Int, pathIndex: Int, _ path: [Substring]) -> Bool {
        if segmentIndex == segments.count { return pathIndex == path.count }
        let segment = segments[segmentIndex]
        if segment == "**" {
            // After the last `**`, each segment matches one name, so it can only leave as many names as those.
            if segmentIndex == lastAnyFolders {
                let next = path.count - (segments.count - segmentIndex - 1)
                return next >= pathIndex && match(segmentIndex: segmentIndex + 1, pathIndex: next, path)
            }
            // Zero folders, or one more and try again.
            for next in pathIndex...path.count where match(segmentIndex: segmentIndex + 1, pathIndex: next, path) {
                return true
            }
            return false
        }
        guard pathIndex < path.count, path[pathIndex].withCString({ fnmatch(segment, $0, 0) }) == 0 else { return false }
        return match(segmentIndex: segmentIndex + 1, pathIndex: pathIndex + 1, path)
    }
}

/// The default excludes plus the config's, checked together.
struct ExcludeRules: Sendable {
    let patterns: [GlobPattern]

    init(_ patterns: [String]) { self.patterns = patterns.map(GlobPattern.init) }

    /// Whether the path inside a source, given as its names, is left out.
    func excludes(_ relativePath: [Substring], isFolder: Bool) -> Bool {
        patterns.contains { $0.matches(relativePath, isFolder: isFolder) }
    }
}
