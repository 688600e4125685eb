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
    private let segments: [Segment]
    private let foldersOnly: Bool
    /// Where the last `**` segment is: the segments after it each match exactly one name.
    private let lastAnyFolders: Int?

    init(_ pattern: String) {
        self.pattern = pattern
        foldersOnly = pattern.hasSuffix("/")
        var body = String(pattern.trimmingSuffix("/"))
        if body.hasPrefix("/") { body.removeFirst() } else if !body.contains("/") { body = "**/" + body }
        segments = body.split(separator: "/", omittingEmptySubsequences: true).map { Segment(String($0)) }
        lastAnyFolders = segments.lastIndex(of: .anyFolders)
    }

    /// A segment, in the cheapest form that matches as `fnmatch` would: every file of a walk meets the default
    /// patterns (`**/*.pyc`, `**/.DS_Store`), which need no `fnmatch`.
    private enum Segment: Sendable, Equatable {
        /// `**`
        case anyFolders
        /// A name without `*`, `?`, `[` or `\\`.
        case literal(String)
        /// `*` then a literal.
        case suffix(String)
        case glob(String)

        init(_ text: String) {
            let special = { (byte: UInt8) in byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "\\") }
            if text == "**" {
                self = .anyFolders
            } else if !text.utf8.contains(where: special) {
                self = .literal(text)
            } else if text.utf8.first == UInt8(ascii: "*"), !text.utf8.dropFirst().contains(where: special) {
                // The bytes after the `*` (a Character may join it to a combining mark).
                self = .suffix(String(decoding: text.utf8.dropFirst(), as: UTF8.self))
            } else {
                self = .glob(text)
            }
        }

        func matches(_ name: Substring) -> Bool {
            switch self {
            case .anyFolders: return true
            case .literal(let literal): return name.utf8.elementsEqual(literal.utf8)
            case .suffix(let suffix): return name.utf8.count >= suffix.utf8.count && name.utf8.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
            case .glob(let glob): return name.withCString { fnmatch(glob, $0, 0) } == 0
            }
        }
    }

    func matches(_ path: [Substring], isFolder: Bool) -> Bool {
        if foldersOnly && !isFolder { return false }
        return match(segmentIndex: 0, pathIndex: 0, path)
    }

    private func match(segmentIndex: Int, pathIndex: Int, _ path: [Substring]) -> Bool {
        if segmentIndex == segments.count { return pathIndex == path.count }
        let segment = segments[segmentIndex]
        if segment == .anyFolders {
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
        guard pathIndex < path.count, segment.matches(path[pathIndex]) else { return false }
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
