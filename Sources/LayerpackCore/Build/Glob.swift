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

    init(_ pattern: String) {
        self.pattern = pattern
        foldersOnly = pattern.hasSuffix("/")
        var body = String(pattern.trimmingSuffix("/"))
        if body.hasPrefix("/") { body.removeFirst() } else if !body.contains("/") { body = "**/" + body }
        segments = body.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    func matches(_ path: [Substring], isFolder: Bool) -> Bool {
        if foldersOnly && !isFolder { return false }
        return match(segmentIndex: 0, pathIndex: 0, path)
    }

    private func match(segmentIndex: Int, pathIndex: Int, _ path: [Substring]) -> Bool {
        if segmentIndex == segments.count { return pathIndex == path.count }
        let segment = segments[segmentIndex]
        if segment == "**" {
            // Zero folders, or one more and try again.
            for next in pathIndex...path.count where match(segmentIndex: segmentIndex + 1, pathIndex: next, path) {
                return true
            }
            return false
        }
        guard pathIndex < path.count, fnmatch(segment, String(path[pathIndex]), 0) == 0 else { return false }
        return match(segmentIndex: segmentIndex + 1, pathIndex: pathIndex + 1, path)
    }
}

/// The default excludes plus the config's, checked together.
struct ExcludeRules: Sendable {
    let patterns: [GlobPattern]

    init(_ patterns: [String]) { self.patterns = patterns.map(GlobPattern.init) }

    func excludes(_ relativePath: String, isFolder: Bool) -> Bool {
        let segments = relativePath.split(separator: "/")
        return patterns.contains { $0.matches(segments, isFolder: isFolder) }
    }
}
