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
        case .built(let planned, let digests):
            return Dictionary(uniqueKeysWithValues: zip(planned, digests).map { ($0.zipPath, Entry(sha256: $1.hex, mode: LockFile.mode($0.mode))) })
        }
    }

    /// A build's lock is its plan's entries (in zip path order already) and their digests, kept as they are:
    /// `encoded()` neither sorts nor looks up, nor makes a string per digest.
    private enum Storage: Sendable {
        case byPath([String: Entry])
        case built(entries: [PlannedEntry], digests: [Digest])
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

    /// The lock of a build of `entries` (a plan's, in zip path order), whose contents have `digests`.
    init(layerName: String, sourceCodeHash: String, sourceCodeSize: Int64, compressionLevel: Int, compressor: String?,
         planned entries: [PlannedEntry], digests: [Digest]) {
        precondition(entries.count == digests.count, "one digest per entry")
        self.init(layerName: layerName, sourceCodeHash: sourceCodeHash, sourceCodeSize: sourceCodeSize, compressionLevel: compressionLevel,
                  compressor: compressor, storage: .built(entries: entries, digests: digests))
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

    public static func == (a: LockFile, b: LockFile) -> Bool {
        a.lockVersion == b.lockVersion && a.layerName == b.layerName && a.sourceCodeHash == b.sourceCodeHash
            && a.sourceCodeSize == b.sourceCodeSize && a.compressionLevel == b.compressionLevel && a.compressor == b.compressor
            && a.entries == b.entries
    }

    /// Stable JSON: keys in bytewise order, two-space indentation, `"key" : value`, a trailing newline.
    /// Written by hand: a large layer's lock is thousands of entries, and JSONEncoder took a tenth of a
    /// second over them.
    public func encoded() -> [UInt8] { encoded(completing: encodedUpToZip()) }

    /// All of `encoded()` but the zip's hash and size, whose keys sort last: a build lays this out while its zip
    /// is being finished, from a lock with its entries and any hash and size.
    func encodedUpToZip() -> [UInt8] {
        var out = JSONBytes()
        out.append("{\n  \"compression_level\" : \(compressionLevel),\n")
        if let compressor {
            out.append("  \"compressor\" : ")
            out.appendString(compressor)
            out.append(",\n")
        }
        out.append("  \"entries\" : {")
        func entry(_ index: Int, path: String, mode: (inout JSONBytes) -> Void, sha256: (inout JSONBytes) -> Void) {
            out.append(index == 0 ? "\n    " : ",\n    ")
            out.appendString(path)
            out.append(" : {\n      \"mode\" : \"")
            mode(&out)
            out.append("\",\n      \"sha256\" : \"")
            sha256(&out)
            out.append("\"\n    }")
        }
        let count: Int
        switch storage {
        case .built(let planned, let digests):
            count = planned.count
            // 127 bytes and the path per entry (`,\n    "…" : {\n      "mode" : "100644",\n      "sha256" : "…"\n    }`),
            // and room for a few escapes: the 20 MB of 100,000 entries are never copied to grow.
            out.reserveCapacity(planned.reduce(4096) { $0 + $1.zipPath.utf8.count + 128 })
            // Entries have two or three modes between them: each written once as text.
            var modes: [UInt32: String] = [:]
            for index in planned.indices {
                let mode = planned[index].mode
                let text = modes[mode] ?? LockFile.mode(mode)
                modes[mode] = text
                entry(index, path: planned[index].zipPath, mode: { $0.append(text) }, sha256: { $0.appendHex(digests[index]) })
            }
        case .byPath(let byPath):
            count = byPath.count
            for (index, path) in byPath.keys.sorted(by: bytewiseLess).enumerated() {
                let locked = byPath[path]!
                entry(index, path: path, mode: { $0.appendEscaped(locked.mode) }, sha256: { $0.appendEscaped(locked.sha256) })
            }
        }
        out.append(count == 0 ? "},\n" : "\n  },\n")
        out.append("  \"layer_name\" : ")
        out.appendString(layerName)
        out.append(",\n  \"lock_version\" : \(lockVersion),\n")
        return out.bytes
    }

    /// `head`, the `encodedUpToZip()` of a lock with this one's entries and names, completed with this lock's hash and size.
    func encoded(completing head: consuming [UInt8]) -> [UInt8] {
        var out = JSONBytes(head)
        out.append("  \"source_code_hash\" : ")
        out.appendString(sourceCodeHash)
        out.append(",\n  \"source_code_size\" : \(sourceCodeSize)\n}\n")
        return out.bytes
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

/// JSON text being written: strings copied as whole UTF-8 runs, and escaped only where they need it.
struct JSONBytes {
    private(set) var bytes: [UInt8]

    init(_ bytes: [UInt8] = []) { self.bytes = bytes }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, the rest as is.
    mutating func appendString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        appendEscaped(string)
        bytes.append(UInt8(ascii: "\""))
    }

    /// The inside of a JSON string literal.
    mutating func appendEscaped(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            // Most strings need no escape: copied whole.
            guard utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                return bytes.append(contentsOf: utf8)
            }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
                case UInt8(ascii: "\n"): append("\\n")
                case UInt8(ascii: "\r"): append("\\r")
                case UInt8(ascii: "\t"): append("\\t")
                case ..<0x20: append("\\u00" + String(byte >> 4, radix: 16) + String(byte & 0xf, radix: 16))
                default: bytes.append(byte)
                }
            }
        }
    }

    mutating func appendHex(_ digest: Digest) {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { hex in
            digest.writeHex(into: hex)
            bytes.append(contentsOf: UnsafeRawBufferPointer(hex))
        }
    }

    mutating func reserveCapacity(_ count: Int) { bytes.reserveCapacity(count) }
}

let stableJSONEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return encoder
}()
