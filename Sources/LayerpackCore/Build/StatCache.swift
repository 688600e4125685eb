import Foundation
import Hashing
#if canImport(Glibc)
import Glibc
#endif

/// What each source file's `lstat` said when it was last hashed, with its SHA-256, so that `build`,
/// `hash` and `check` hash only the files that may have changed (`.layerpack/stat-cache`).
///
/// A record is trusted only when the file's device, inode, size, mode, mtime and ctime (in
/// nanoseconds) are all as recorded, and its mtime and ctime are older than the cache's reference
/// time: a file-system timestamp taken before the run that wrote the cache read any file. A file
/// changed after it was hashed but within the same timestamp tick keeps its recorded stat, but its
/// ctime is then not older than the reference, so it is hashed again (git's "racy clean" rule,
/// applied to ctime as well so that an mtime set back with `touch -d` is no hiding place).
///
/// A missing, unreadable or damaged cache only means hashing everything. A new cache is written
/// through a temporary file and a rename, and only when a file was hashed or the set of files changed.
final class StatCache: @unchecked Sendable {
    struct Record: Equatable {
        let stat: FileStat
        let fingerprint: Fingerprint
    }

    let path: String
    private let previous: Snapshot
    /// The temporary file the new cache is written to, created first so its timestamp is the reference.
    private var staging: (file: StagedFile, reference: Int64)?
    private let lock = NSLock()
    private var records: [String: Record] = [:]
    private var hashedAny = false

    /// Loads the cache at `path` and, unless `readOnly`, starts gathering its successor (when the folder is writable).
    init(path: String, readOnly: Bool = false) {
        self.path = path
        previous = Snapshot.load(from: path)
        staging = readOnly ? nil : StatCache.openStaging(beside: path)
    }

    deinit { discardStaging() }

    /// The SHA-256 and CRC-32 the cache holds for `entry`'s file, when its record can be trusted.
    func trustedFingerprint(for entry: PlannedEntry) -> Fingerprint? {
        guard case .file = entry.kind, let record = previous.records[entry.sourcePath], record.stat == entry.fileStat,
              entry.fileStat.modifiedNanoseconds < previous.reference, entry.fileStat.changedNanoseconds < previous.reference
        else { return nil }
        return record.fingerprint
    }

    /// Notes `entry`'s fingerprint for the next cache; `hashed` when it was computed now rather than trusted.
    func record(_ entry: PlannedEntry, _ fingerprint: Fingerprint, hashed: Bool) {
        guard case .file = entry.kind, !entry.sourcePath.utf8.contains(UInt8(ascii: "\n")) else { return }
        lock.withLock {
            records[entry.sourcePath] = Record(stat: entry.fileStat, fingerprint: fingerprint)
            if hashed { hashedAny = true }
        }
    }

    /// Writes the new cache when it says something the old one did not. Best effort.
    func save() {
        guard let staging else { return }
        self.staging = nil
        let changed = lock.withLock { hashedAny || records != previous.records }
        guard changed else { return staging.file.discard() }
        let data = lock.withLock { Snapshot(records: records, reference: staging.reference).encoded() }
        do {
            try data.withUnsafeBytes { try staging.file.write($0) }
            try staging.file.commit()
        } catch {
            staging.file.discard()
        }
    }

    private func discardStaging() {
        staging?.file.discard()
        staging = nil
    }

    private static func openStaging(beside path: String) -> (file: StagedFile, reference: Int64)? {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileIO.makeStateFolder(folder) else { return nil }
        StagingName.removeAbandoned(in: folder)
        guard let file = try? StagedFile(for: path) else { return nil }
        var info = stat()
        guard fstat(file.descriptor, &info) == 0 else {
            file.discard()
            return nil
        }
        return (file, FileStat(info).modifiedNanoseconds)
    }
}

extension StatCache {
    /// The cache as a file holds it: a header line `layerpack-stat-cache 2 <reference ns>`, one line
    /// per file `<sha256> <crc32> <device> <inode> <size> <mode> <mtime ns> <ctime ns> <path>`, and a last
    /// line `sha256 <hex>` over everything before it. A cache of another version reads as empty.
    struct Snapshot {
        var records: [String: Record] = [:]
        /// Nothing is older than `.min`, so an empty snapshot trusts nothing.
        var reference: Int64 = .min

        static let header = "layerpack-stat-cache 2"

        static func load(from path: String) -> Snapshot {
            guard let data = FileManager.default.contents(atPath: path) else { return Snapshot() }
            return parse(Array(data)) ?? Snapshot()
        }

        static func parse(_ bytes: [UInt8]) -> Snapshot? {
            let newline = UInt8(ascii: "\n")
            guard bytes.last == newline, let checksumStart = bytes.dropLast().lastIndex(of: newline).map({ $0 + 1 }) else { return nil }
            let body = bytes[..<checksumStart]
            let digest = body.withUnsafeBytes { SHA256.hash($0) }
            guard bytes[checksumStart...].elementsEqual(Array("sha256 \(digest.hex)\n".utf8)) else { return nil }

            var lines = body.split(separator: newline, omittingEmptySubsequences: false).dropLast()
            guard let first = lines.popFirst(), first.starts(with: Array((header + " ").utf8)),
                  let reference = Int64(decimal: first.dropFirst(header.utf8.count + 1))
            else { return nil }
            var snapshot = Snapshot(reference: reference)
            for line in lines {
                let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 8, omittingEmptySubsequences: false)
                guard fields.count == 9, let digest = Digest(hex: fields[0]), fields[1].count == 8,
                      let crc = UInt32(String(decoding: fields[1], as: UTF8.self), radix: 16),
                      let device = UInt64(decimal: fields[2]), let inode = UInt64(decimal: fields[3]),
                      let size = Int64(decimal: fields[4]), let mode = UInt32(decimal: fields[5]),
                      let modified = Int64(decimal: fields[6]), let changed = Int64(decimal: fields[7])
                else { return nil }
                let stat = FileStat(device: device, inode: inode, size: size, mode: mode,
                                    modifiedNanoseconds: modified, changedNanoseconds: changed)
                snapshot.records[String(decoding: fields[8], as: UTF8.self)] = Record(stat: stat, fingerprint: Fingerprint(digest: digest, crc: crc))
            }
            return snapshot
        }

        func encoded() -> Data {
            var text = "\(Snapshot.header) \(reference)\n"
            // In no particular order: the file is a cache, read whole into a dictionary.
            for (path, record) in records {
                let s = record.stat
                text += "\(record.fingerprint.digest.hex) \(record.fingerprint.crcHex) \(s.device) \(s.inode) \(s.size) \(s.mode) \(s.modifiedNanoseconds) \(s.changedNanoseconds) \(path)\n"
            }
            text += "sha256 \(SHA256.hash(Data(text.utf8)).hex)\n"
            return Data(text.utf8)
        }
    }
}

extension FileStat {
    init(device: UInt64, inode: UInt64, size: Int64, mode: UInt32, modifiedNanoseconds: Int64, changedNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.mode = mode
        self.modifiedNanoseconds = modifiedNanoseconds
        self.changedNanoseconds = changedNanoseconds
    }
}

extension Digest {
    /// A SHA-256 from 64 lowercase hex digits.
    init?(hex: some Collection<UInt8>) {
        guard hex.count == 64, hex.allSatisfy(isLowercaseHexDigit) else { return nil }
        func value(_ digit: UInt8) -> UInt8 { digit <= UInt8(ascii: "9") ? digit - UInt8(ascii: "0") : digit - UInt8(ascii: "a") + 10 }
        let digits = Array(hex)
        self.init(bytes: stride(from: 0, to: 64, by: 2).map { value(digits[$0]) << 4 | value(digits[$0 + 1]) })
    }
}

extension FixedWidthInteger {
    /// A number written in decimal ASCII, with a leading `-` for a negative one.
    init?(decimal text: some Collection<UInt8>) {
        self.init(String(decoding: text, as: UTF8.self), radix: 10)
    }
}
