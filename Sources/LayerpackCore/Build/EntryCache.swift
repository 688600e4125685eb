import Foundation
import Hashing
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Compressed entries from earlier builds, so that a rebuild compresses only what changed.
///
/// One file per entry, named by what produced its bytes: the content's SHA-256, the compression level
/// and the compressor version (`<sha256>-6-libdeflate-1.14`). A file holds a 64-byte header (a magic
/// number, the SHA-256, the level, the content's CRC-32, both sizes), the raw DEFLATE bytes, and a
/// CRC-32 of everything before it. An entry is used only when the header agrees with what was asked
/// for, the file has exactly the length the header gives and the checksum matches; anything else is
/// deleted so that the build compresses the content again and stores a good copy.
///
/// Files are written under a temporary name and renamed into place, so a reader never sees half of
/// one. Using an entry refreshes its modification time (at most hourly); when the folder takes more than
/// `limit` bytes of disk, the least recently used entries are deleted. Deleting the folder is always safe.
///
/// What the folder takes is kept in a small ledger (`usage`) that each run adds what it stored to, so
/// that the folder — 100,000 files for a large layer — is listed only when the ledger says it may be
/// over the limit, or when it was last counted a day ago (runs sharing the folder can each overwrite
/// the other's addition).
final class EntryCache: Sendable {
    let directory: String
    let level: Int
    let limit: Int64
    /// Only reads: nothing is stored, refreshed, repaired or trimmed (`publish --dry-run`).
    let readOnly: Bool
    /// Disk taken by the entries this run stored, for the ledger.
    private let added = Atomic<Int64>(0)

    /// The size the folder is trimmed to: a few builds of a layer at Lambda's 250 MB limit.
    static let defaultLimit: Int64 = 512 << 20

    private static let magic = Array("LPENTRY1".utf8)
    private static let headerSize = 64
    private static let trailerSize = 4

    init(directory: String, level: Int, limit: Int64 = EntryCache.defaultLimit, readOnly: Bool = false) {
        self.directory = directory
        self.level = level
        self.limit = limit
        self.readOnly = readOnly
    }

    func path(for digest: Digest) -> String {
        "\(directory)/\(digest.hex)-\(level)-\(deflateCompressorVersion)"
    }

    /// The deflated entry for content with this SHA-256 and size, or nil when there is no sound one.
    func payload(for digest: Digest, size: Int64) -> EntryPayload? {
        let path = path(for: digest)
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, let payload = verifiedPayload(descriptor, info, digest: digest, size: size) else {
            if !readOnly { unlink(path) }
            return nil
        }
        // Marks the entry used, for trimming; within the hour is recent enough, and saves a call per entry.
        if !readOnly && Int(info.st_mtim.tv_sec) < time(nil) - 3600 { futimens(descriptor, nil) }
        return payload
    }

    private func verifiedPayload(_ descriptor: Int32, _ info: stat, digest: Digest, size: Int64) -> EntryPayload? {
        var header = [UInt8](repeating: 0, count: EntryCache.headerSize)
        guard info.st_size >= EntryCache.headerSize + EntryCache.trailerSize,
              header.withUnsafeMutableBytes({ FileIO.readExactly(descriptor, into: $0) }),
              Array(header[0..<8]) == EntryCache.magic, digest.withUnsafeBytes({ header[8..<40].elementsEqual($0) }),
              header.littleEndian(UInt32.self, at: 40) == UInt32(level),
              header.littleEndian(UInt64.self, at: 48) == UInt64(size)
        else { return nil }
        let contentCRC = header.littleEndian(UInt32.self, at: 44)
        // The size field is read before the checksum is: a damaged one must not trap or allocate wildly.
        guard let compressedSize = Int(exactly: header.littleEndian(UInt64.self, at: 56)),
              compressedSize == Int(info.st_size) - EntryCache.headerSize - EntryCache.trailerSize
        else { return nil }
        var bytes = [UInt8](repeating: 0, count: compressedSize)
        var trailer = [UInt8](repeating: 0, count: EntryCache.trailerSize)
        guard bytes.withUnsafeMutableBytes({ FileIO.readExactly(descriptor, into: $0) }),
              trailer.withUnsafeMutableBytes({ FileIO.readExactly(descriptor, into: $0) })
        else { return nil }
        let checksum = bytes.withUnsafeBytes { crc32($0, continuing: header.withUnsafeBytes { crc32($0) }) }
        guard trailer.littleEndian(UInt32.self, at: 0) == checksum else { return nil }
        return EntryPayload(method: .deflate, crc: contentCRC, uncompressedSize: Int(size), bytes: bytes, contentDigest: digest)
    }

    /// Keeps a deflated payload for later builds. Best effort: a cache that cannot be written only
    /// means compressing again next time.
    func store(_ payload: EntryPayload) {
        precondition(payload.method == .deflate, "only deflated entries are cached")
        guard !readOnly else { return }
        var header = EntryCache.magic + payload.contentDigest.bytes
        header.appendLittleEndian(UInt32(level))
        header.appendLittleEndian(payload.crc)
        header.appendLittleEndian(UInt64(payload.uncompressedSize))
        header.appendLittleEndian(UInt64(payload.bytes.count))
        var trailer: [UInt8] = []
        trailer.appendLittleEndian(payload.bytes.withUnsafeBytes { crc32($0, continuing: header.withUnsafeBytes { crc32($0) }) })

        let path = path(for: payload.contentDigest)
        guard let staged = (try? StagedFile(for: path)) ?? (createFolder() ? try? StagedFile(for: path) : nil) else { return }
        do {
            try header.withUnsafeBytes { try staged.write($0) }
            try payload.bytes.withUnsafeBytes { try staged.write($0) }
            try trailer.withUnsafeBytes { try staged.write($0) }
            try staged.commit()
            added.add(Self.diskUsage(ofFileSize: Int64(header.count + payload.bytes.count + trailer.count)), ordering: .relaxed)
        } catch {
            staged.discard()
        }
    }

    /// The disk a file of this size takes, in 4 KiB blocks: what most file systems allocate. The
    /// ledger's estimate; a count asks the file system.
    private static func diskUsage(ofFileSize size: Int64) -> Int64 { (size + 4095) / 4096 * 4096 }

    /// Adds what this run stored to the ledger; when that makes the folder possibly larger than `limit`,
    /// or the ledger is missing, unreadable or a day old, counts the folder and deletes the least recently
    /// used entries down to three quarters of the limit (so that the next runs have room before the next
    /// count). Only files named as this cache names them are counted or deleted.
    func trim(now: Int64 = Int64(time(nil))) {
        let stored = added.exchange(0, ordering: .relaxed)
        guard !readOnly, stored > 0 || !FileManager.default.fileExists(atPath: ledgerPath) else { return }
        // Compared without adding first: a damaged ledger may hold any number.
        if let ledger = readLedger(), (0..<86_400).contains(now - ledger.countedAt), ledger.usage <= limit - stored {
            writeLedger(usage: ledger.usage + stored, countedAt: ledger.countedAt)
            return
        }
        guard let usage = countAndTrim() else { return }
        writeLedger(usage: usage, countedAt: now)
    }

    /// Counts the folder's entries and deletes the least recently used while they take more than `limit`,
    /// down to three quarters of it; the disk they take after. Nil when the folder cannot be listed.
    private func countAndTrim() -> Int64? {
        let folder = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { return nil }
        defer { close(folder) }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        var files: [(name: String, usage: Int64, used: Int64)] = []
        for name in names where StagingName.isStaging(name) && StagingName.writerIsGone(name) {
            unlinkat(folder, name, 0)
        }
        for name in names where EntryCache.isCacheFileName(name) {
            var info = stat()
            guard fstatat(folder, name, &info, AT_SYMLINK_NOFOLLOW) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            files.append((name, Int64(info.st_blocks) * 512, FileStat(info).modifiedNanoseconds))
        }
        var total = files.reduce(0) { $0 + $1.usage }
        guard total > limit else { return total }
        for file in files.sorted(by: { $0.used < $1.used }) where total > limit / 4 * 3 {
            if unlinkat(folder, file.name, 0) == 0 { total -= file.usage }
        }
        return total
    }

    private var ledgerPath: String { directory + "/usage" }

    /// The ledger: `<bytes> bytes, counted at <seconds since 1970>`.
    private func readLedger() -> (usage: Int64, countedAt: Int64)? {
        guard let bytes = FileIO.readWhole(ledgerPath), bytes.count < 100, bytes.last == UInt8(ascii: "\n") else { return nil }
        let fields = String(decoding: bytes.dropLast(), as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[1] == "bytes,", fields[2] == "counted", fields[3] == "at",
              let usage = Int64(fields[0]), usage >= 0, let countedAt = Int64(fields[4]) else { return nil }
        return (usage, countedAt)
    }

    private func writeLedger(usage: Int64, countedAt: Int64) {
        try? FileIO.writeAtomically(Data("\(usage) bytes, counted at \(countedAt)\n".utf8), to: ledgerPath)
    }

    /// `<64 hex digits>-…`: an entry.
    static func isCacheFileName(_ name: String) -> Bool {
        let name = name.utf8
        return name.count > 65 && name.prefix(64).allSatisfy(isLowercaseHexDigit) && name.dropFirst(64).first == UInt8(ascii: "-")
    }

    /// Creates the folder with a `CACHEDIR.TAG`, so backup tools know to skip it.
    private func createFolder() -> Bool {
        guard FileIO.makeFolder(directory) else { return false }
        let tag = "Signature: 8a477f597d28d172789f06886806bc55\n# This file marks a cache folder created by layerpack; it is safe to delete.\n"
        try? FileIO.writeAtomically(Data(tag.utf8), to: directory + "/CACHEDIR.TAG")
        return true
    }
}

func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    func littleEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var value = T.zero
        Swift.withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: self[offset..<offset + MemoryLayout<T>.size]) }
        return T(littleEndian: value)
    }
}
