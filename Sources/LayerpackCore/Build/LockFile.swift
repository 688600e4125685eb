import Foundation
import Hashing

/// `layerpack.lock`: what the last build packed, so a reviewer sees in a diff what changed and
/// `layerpack check` can tell whether the sources still match.
public struct LockFile: Codable, Equatable, Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        /// Lowercase hex SHA-256 of the entry's content (a link's target text for a stored link).
        public let sha256: String
        /// The Unix mode stored in the zip, in octal: `0644`, `0755`, or `120777` for a link.
        public let mode: String

        /// The digest and the mode as a number (as `LockFile.modeValue` gives it); nil when either is malformed.
        var parsed: (digest: Digest, mode: UInt32)? {
            guard let digest = Digest(hex: Array(sha256.utf8)), let mode = UInt32(mode, radix: 8) else { return nil }
            return (digest, mode)
        }
    }

    public static let currentVersion = 1

    public let lockVersion: Int
    public let layerName: String
    public let sourceCodeHash: String
    public let sourceCodeSize: Int64
    public let compressionLevel: Int
    /// What compressed the entries (`libdeflate-1.14`), since another version may give other bytes; nil
    /// when nothing is compressed, and in locks of layerpack versions before it was recorded.
    public let compressor: String?
    /// Zip path → entry.
    public var entries: [String: Entry] {
        switch storage {
        case .byPath(let entries): return entries
        case .inOrder(let paths, let entries): return Dictionary(uniqueKeysWithValues: zip(paths, entries))
        }
    }

    /// A build has its entries in zip path order already: kept so, `encoded()` neither sorts nor looks up.
    private enum Storage: Sendable {
        case byPath([String: Entry])
        case inOrder(paths: [String], entries: [Entry])
    }

    private let storage: Storage

    enum CodingKeys: String, CodingKey {
        case lockVersion = "lock_version", layerName = "layer_name", sourceCodeHash = "source_code_hash"
        case sourceCodeSize = "source_code_size", compressionLevel = "compression_level", compressor, entries
    }

    public init(layerName: String, sourceCodeHash: String, sourceCodeSize: Int64, compressionLevel: Int, compressor: String? = nil,
                entries: [String: Entry]) {
        self.init(layerName: layerName, sourceCodeHash: sourceCodeHash, sourceCodeSize: sourceCodeSize, compressionLevel: compressionLevel,
                  compressor: compressor, storage: .byPath(entries))
    }

    /// A lock of `paths` (in bytewise order, no two alike) and their entries.
    init(layerName: String, sourceCodeHash: String, sourceCodeSize: Int64, compressionLevel: Int, compressor: String?,
         sortedPaths paths: [String], entries: [Entry]) {
        precondition(paths.count == entries.count, "one entry per path")
        self.init(layerName: layerName, sourceCodeHash: sourceCodeHash, sourceCodeSize: sourceCodeSize, compressionLevel: compressionLevel,
                  compressor: compressor, storage: .inOrder(paths: paths, entries: entries))
    }

    private init(layerName: String, sourceCodeHash: String, sourceCodeSize: Int64, compressionLevel: Int, compressor: String?, storage: Storage) {
        lockVersion = LockFile.currentVersion
        self.layerName = layerName
        self.sourceCodeHash = sourceCodeHash
        self.sourceCodeSize = sourceCodeSize
        self.compressionLevel = compressionLevel
        self.compressor = compressor
        self.storage = storage
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        lockVersion = try container.decode(Int.self, forKey: .lockVersion)
        layerName = try container.decode(String.self, forKey: .layerName)
        sourceCodeHash = try container.decode(String.self, forKey: .sourceCodeHash)
        sourceCodeSize = try container.decode(Int64.self, forKey: .sourceCodeSize)
        compressionLevel = try container.decode(Int.self, forKey: .compressionLevel)
        compressor = try container.decodeIfPresent(String.self, forKey: .compressor)
        storage = .byPath(try container.decode([String: Entry].self, forKey: .entries))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(lockVersion, forKey: .lockVersion)
        try container.encode(layerName, forKey: .layerName)
        try container.encode(sourceCodeHash, forKey: .sourceCodeHash)
        try container.encode(sourceCodeSize, forKey: .sourceCodeSize)
        try container.encode(compressionLevel, forKey: .compressionLevel)
        try container.encodeIfPresent(compressor, forKey: .compressor)
        try container.encode(entries, forKey: .entries)
    }

    /// The entries in bytewise order of their paths.
    private var sortedEntries: (paths: [String], entries: [Entry]) {
        switch storage {
        case .inOrder(let paths, let entries): return (paths, entries)
        case .byPath(let byPath):
            let paths = byPath.keys.sorted(by: bytewiseLess)
            return (paths, paths.map { byPath[$0]! })
        }
    }

    public static func == (a: LockFile, b: LockFile) -> Bool {
        a.lockVersion == b.lockVersion && a.layerName == b.layerName && a.sourceCodeHash == b.sourceCodeHash
            && a.sourceCodeSize == b.sourceCodeSize && a.compressionLevel == b.compressionLevel && a.compressor == b.compressor
            && a.entries == b.entries
    }

    /// Stable JSON: keys in bytewise order, two-space indentation, `"key" : value`, a trailing newline.
    /// Written by hand: a large layer's lock is thousands of entries, and JSONEncoder took a tenth of a
    /// second over them.
    public func encoded() -> Data {
        let (paths, entries) = sortedEntries
        var out: [UInt8] = []
        out.reserveCapacity(64 + paths.count * 140)
        func text(_ string: String) { out.append(contentsOf: string.utf8) }
        text("{\n  \"compression_level\" : \(compressionLevel),\n")
        if let compressor {
            text("  \"compressor\" : ")
            appendJSONString(compressor, to: &out)
            text(",\n")
        }
        text("  \"entries\" : {")
        for (index, (path, entry)) in zip(paths, entries).enumerated() {
            text(index == 0 ? "\n    " : ",\n    ")
            appendJSONString(path, to: &out)
            text(" : {\n      \"mode\" : ")
            appendJSONString(entry.mode, to: &out)
            text(",\n      \"sha256\" : ")
            appendJSONString(entry.sha256, to: &out)
            text("\n    }")
        }
        text(paths.isEmpty ? "},\n" : "\n  },\n")
        text("  \"layer_name\" : ")
        appendJSONString(layerName, to: &out)
        text(",\n  \"lock_version\" : \(lockVersion),\n  \"source_code_hash\" : ")
        appendJSONString(sourceCodeHash, to: &out)
        text(",\n  \"source_code_size\" : \(sourceCodeSize)\n}\n")
        return Data(out)
    }

    /// The lock at `path`, or nil when there is none.
    public static func read(at path: String) throws -> LockFile? {
        try readBytes(at: path).map { try parse($0, path: path) }
    }

    /// The bytes of the lock at `path`, or nil when there is none.
    static func readBytes(at path: String) throws -> Data? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw BuildError.unreadable(path: path, reason: error.localizedDescription)
        }
    }

    /// The lock in `data`, read from `path` (which errors name).
    public static func parse(_ data: Data, path: String) throws -> LockFile {
        let malformed = { (detail: String) in
            BuildError.unreadable(path: path, reason: "it is not a layerpack lock file (\(detail)); delete it and run `layerpack build` to write a new one")
        }
        // JSONSerialization rather than JSONDecoder: it reads a lock of thousands of entries several times faster.
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw malformed(error.localizedDescription)
        }
        guard let root = object as? [String: Any], let version = root["lock_version"] as? Int, let layerName = root["layer_name"] as? String,
              let hash = root["source_code_hash"] as? String, let size = (root["source_code_size"] as? NSNumber)?.int64Value,
              let level = root["compression_level"] as? Int, let rawEntries = root["entries"] as? [String: [String: String]]
        else { throw malformed("a key is missing or of the wrong type") }
        guard version == currentVersion else { throw malformed("lock_version \(version); this layerpack reads \(currentVersion)") }
        let compressor = root["compressor"] as? String
        guard root["compressor"] == nil || compressor != nil else { throw malformed("`compressor` is not a string") }
        var entries: [String: Entry] = [:]
        entries.reserveCapacity(rawEntries.count)
        for (zipPath, fields) in rawEntries {
            guard let sha256 = fields["sha256"], let mode = fields["mode"] else { throw malformed("the entry `\(zipPath)` lacks `sha256` or `mode`") }
            entries[zipPath] = Entry(sha256: sha256, mode: mode)
        }
        return LockFile(layerName: layerName, sourceCodeHash: hash, sourceCodeSize: size, compressionLevel: level, compressor: compressor,
                        entries: entries)
    }

    /// The mode as the lock writes it, as a number: `0644` is 0o644, `120777` is 0o120777.
    static func modeValue(_ mode: UInt32) -> UInt32 {
        mode & 0o170000 == S_IFLNK_ ? mode : mode & 0o7777
    }

    static func mode(_ mode: UInt32) -> String {
        let permissions = mode & 0o7777
        return mode & 0o170000 == S_IFLNK_ ? String(mode, radix: 8) : "0" + String(permissions, radix: 8)
    }
}

/// Appends a JSON string literal: quotes, backslashes and control characters escaped, the rest as is.
func appendJSONString(_ string: String, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    // Most strings need no escape: copied whole.
    if !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
        out.append(contentsOf: string.utf8)
        out.append(UInt8(ascii: "\""))
        return
    }
    for byte in string.utf8 {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), byte])
        case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), byte])
        case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
        case UInt8(ascii: "\r"): out.append(contentsOf: "\\r".utf8)
        case UInt8(ascii: "\t"): out.append(contentsOf: "\\t".utf8)
        case ..<0x20: out.append(contentsOf: "\\u00".utf8 + [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xf)]])
        default: out.append(byte)
        }
    }
    out.append(UInt8(ascii: "\""))
}

private let hexDigits = Array("0123456789abcdef".utf8)

let stableJSONEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return encoder
}()
