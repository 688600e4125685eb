import Foundation

/// `layerpack.lock`: what the last build packed, so a reviewer sees in a diff what changed and
/// `layerpack check` can tell whether the sources still match.
public struct LockFile: Codable, Equatable, Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        /// Lowercase hex SHA-256 of the entry's content (a link's target text for a stored link).
        public let sha256: String
        /// The Unix mode stored in the zip, in octal: `0644`, `0755`, or `120777` for a link.
        public let mode: String
    }

    public static let currentVersion = 1

    public let lockVersion: Int
    public let layerName: String
    public let sourceCodeHash: String
    public let sourceCodeSize: Int64
    public let compressionLevel: Int
    /// Zip path → entry.
    public let entries: [String: Entry]

    enum CodingKeys: String, CodingKey {
        case lockVersion = "lock_version", layerName = "layer_name", sourceCodeHash = "source_code_hash"
        case sourceCodeSize = "source_code_size", compressionLevel = "compression_level", entries
    }

    public init(layerName: String, sourceCodeHash: String, sourceCodeSize: Int64, compressionLevel: Int, entries: [String: Entry]) {
        lockVersion = LockFile.currentVersion
        self.layerName = layerName
        self.sourceCodeHash = sourceCodeHash
        self.sourceCodeSize = sourceCodeSize
        self.compressionLevel = compressionLevel
        self.entries = entries
    }

    /// Stable JSON: sorted keys, two-space indentation, a trailing newline.
    public func encoded() -> Data {
        var data = try! stableJSONEncoder.encode(self)
        data.append(0x0a)
        return data
    }

    /// The lock at `path`, or nil when there is none.
    public static func read(at path: String) throws -> LockFile? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(LockFile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw BuildError.unreadable(path: path, reason: "it is not a layerpack lock file (\(error.localizedDescription)); delete it and run `layerpack build` to write a new one")
        }
    }

    static func mode(_ mode: UInt32) -> String {
        let permissions = mode & 0o7777
        return mode & 0o170000 == S_IFLNK_ ? String(mode, radix: 8) : "0" + String(permissions, radix: 8)
    }
}

let stableJSONEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return encoder
}()
