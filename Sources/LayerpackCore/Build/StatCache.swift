import Foundation
import Hashing
#if canImport(Glibc)
import Glibc
#endif

/// What each source file's `lstat` said when it was last hashed, with its SHA-256 and CRC-32, so that
/// `build`, `hash` and `check` hash only the files that may have changed (`.layerpack/stat-cache`).
/// It also mirrors the lock file the last build wrote (so `check` need not parse the lock) and names
/// the zip that build wrote (so the next build copies unchanged entries out of it).
///
/// A record is trusted only when the file's device, inode, size, mode, mtime and ctime (in
/// nanoseconds) are all as recorded, and its mtime and ctime are older than the cache's reference
/// time: a file-system timestamp taken before the run that wrote the cache read any file. A file
/// changed after it was hashed but within the same timestamp tick keeps its recorded stat, but its
/// ctime is then not older than the reference, so it is hashed again (git's "racy clean" rule,
/// applied to ctime as well so that an mtime set back with `touch -d` is no hiding place).
///
/// Records are looked up by the plan's index: `match(_:)` pairs the plan's entries with the records
/// (both in zip path order) once, so no per-file key is built or hashed. A missing, unreadable or
/// damaged cache only means hashing everything. A new cache is written through a temporary file and a
/// rename, and only when it would say something the old one did not.
final class StatCache: @unchecked Sendable {
    let path: String
    let previous: Snapshot
    /// The temporary file the new cache is written to, created first so its timestamp is the reference.
    private var staging: (file: StagedFile, reference: Int64)?
    private let entries: [PlannedEntry]
    /// The previous record with each plan entry's zip path, or -1.
    private let matches: [Int32]
    /// Whether that record is of the same source file (otherwise only its lock fields apply).
    private let sameSource: [Bool]
    /// What this run learnt of each plan entry, written by whichever worker handled it.
    private let learnt: UnsafeMutableBufferPointer<Learnt>

    private struct Learnt {
        var fingerprint: Fingerprint?
        var hashed = false
    }

    /// Loads the cache at `path` for the plan's `entries` and, unless `readOnly`, starts gathering its
    /// successor (when the folder is writable).
    init(path: String, entries: [PlannedEntry], readOnly: Bool = false) {
        self.path = path
        self.entries = entries
        previous = Snapshot.load(from: path)
        (matches, sameSource) = previous.match(entries)
        learnt = .allocate(capacity: entries.count)
        learnt.initialize(repeating: Learnt())
        staging = readOnly ? nil : StatCache.openStaging(beside: path)
    }

    deinit {
        discardStaging()
        learnt.deallocate()
    }

    /// The previous record with plan entry `index`'s zip path, if there is one.
    func previousRecord(at index: Int) -> Int? {
        let record = Int(matches[index])
        return record >= 0 ? record : nil
    }

    /// The previous records of locked zip paths that no plan entry has, in zip path order: what the lock
    /// the cache mirrors holds and the sources no longer do.
    func lockedRecordsNotPlanned() -> [Int] {
        // The matched records rise with the plan's index (one merge made them): the others lie between.
        var unmatched: [Int] = []
        var next = 0
        for record in matches.lazy.map(Int.init) + [previous.count] where record >= 0 {
            unmatched += (next..<record).filter { previous.lockedMode($0) != 0 }
            next = record + 1
        }
        return unmatched
    }

    /// The SHA-256 and CRC-32 the cache holds for plan entry `index`'s file, when its record can be trusted.
    func trustedFingerprint(at index: Int) -> Fingerprint? {
        trustedRecord(at: index).flatMap(previous.fingerprint)
    }

    /// The previous record of plan entry `index`'s file when it can be trusted: same file, same stat, older than the reference.
    func trustedRecord(at index: Int) -> Int? {
        let entry = entries[index]
        guard case .file = entry.kind, let record = previousRecord(at: index), sameSource[index], previous.hasFingerprint(record),
              entry.fileStat.modifiedNanoseconds < previous.reference, entry.fileStat.changedNanoseconds < previous.reference,
              previous.stat(record) == entry.fileStat
        else { return nil }
        return record
    }

    /// Notes plan entry `index`'s fingerprint for the next cache; `hashed` when it was computed now rather
    /// than trusted. Each index is recorded by one thread at a time.
    func record(at index: Int, _ fingerprint: Fingerprint, hashed: Bool) {
        guard case .file = entries[index].kind else { return }
        learnt[index] = Learnt(fingerprint: fingerprint, hashed: hashed)
    }

    /// What the lock file says of each zip path, for the mirror.
    enum LockedEntries {
        /// As the previous cache said (the lock is unchanged, or was not read).
        case previous
        /// A lock file read from disk, with its mirror (which names no zip: the zip may be of another build).
        case parsed(LockMirror, [String: LockFile.Entry])
        /// The lock this build wrote: every plan entry, with its content's SHA-256 by plan index.
        case packed(LockMirror, [Digest])
    }

    /// The new cache laid out, but for the lock digest and the zip identity in its header, which `save(_:naming:)`
    /// fills in: a build lays out the cache (on another thread) while it writes the lock and renames the zip.
    struct PreparedSave: @unchecked Sendable {
        fileprivate var bytes: [UInt8]
        fileprivate let staging: (file: StagedFile, reference: Int64)
        fileprivate let mirror: LockMirror?
    }

    /// Writes the new cache when it says something the old one did not. Best effort.
    func save(_ locked: LockedEntries = .previous) {
        save(prepareSave(locked), naming: nil)
    }

    /// Puts a prepared cache in place; `mirror`, when given, is the prepared mirror with the lock's digest and
    /// the zip's identity now known, written over the header (with other names, nothing is kept).
    func save(_ prepared: consuming PreparedSave?, naming mirror: LockMirror?) {
        // Taken over whole, so that filling in the header patches these bytes instead of a copy of them.
        guard var prepared = consume prepared else { return }
        do {
            if let mirror {
                // Other names (the zip gone since it was renamed into place) would not fit the laid-out strings.
                guard mirror.layerName == prepared.mirror?.layerName, mirror.compressor == prepared.mirror?.compressor,
                      mirror.compressionLevel == prepared.mirror?.compressionLevel,
                      let zip = mirror.zip, zip.path == prepared.mirror?.zip?.path else { return prepared.staging.file.discard() }
                for range in Snapshot.fill(&prepared.bytes, lock: mirror) {
                    try prepared.bytes.withUnsafeBytes { try prepared.staging.file.write(UnsafeRawBufferPointer(rebasing: $0[range]), at: range.lowerBound) }
                }
            }
            try prepared.staging.file.commit()
        } catch {
            prepared.staging.file.discard()
        }
    }

    /// Lays out the new cache, when it says something the old one did not.
    func prepareSave(_ locked: LockedEntries) -> PreparedSave? {
        guard let staging else { return nil }
        self.staging = nil
        let mirror: LockMirror?
        switch locked {
        case .previous: mirror = previous.lock
        case .parsed(let lockMirror, _), .packed(let lockMirror, _): mirror = lockMirror
        }
        // An unchanged lock mirror has unchanged locked fields; records whose files were only trusted are as they were.
        var changed = mirror != previous.lock || previous.count < entries.count
        for index in entries.indices where !changed {
            changed = learnt[index].hashed || !sameSource[index]
        }
        guard changed else {
            staging.file.discard()
            return nil
        }
        let (lockedEntry, removed) = lockedEntries(locked)
        let fields = { (index: Int) -> Snapshot.RecordFields in
            let (lockedDigest, lockedMode) = lockedEntry(index)
            return Snapshot.RecordFields(stat: self.entries[index].fileStat, fingerprint: self.learnt[index].fingerprint ?? self.trustedFingerprint(at: index),
                                         lockedDigest: lockedDigest, lockedMode: lockedMode)
        }
        // Most builds pack the files the last one did: the old cache's strings are then the new one's.
        let samePaths = removed.isEmpty && entries.count == previous.count
            && entries.indices.allSatisfy { matches[$0] == Int32($0) && sameSource[$0] }
        let data = (samePaths ? previous.encodeReusingStrings(reference: staging.reference, lock: mirror, fields: fields) : nil)
            ?? Snapshot.encode(records: records(fields, removed: removed), reference: staging.reference, lock: mirror)
        // Written now (a build prepares on another thread): `save` then writes only what it fills in. A failed
        // write discards the file, and `save` then keeps nothing.
        _ = try? data.withUnsafeBytes { try staging.file.write($0) }
        return PreparedSave(bytes: data, staging: staging, mirror: mirror)
    }

    /// The locked digest and mode of each plan entry, and the records of locked zip paths the plan lacks (in zip path order).
    private func lockedEntries(_ locked: LockedEntries) -> (entry: (Int) -> (digest: Digest?, mode: UInt32), removed: [Snapshot.Record]) {
        switch locked {
        case .previous:
            let entry = { [previous] (index: Int) -> (digest: Digest?, mode: UInt32) in
                guard let record = self.previousRecord(at: index) else { return (nil, 0) }
                return (previous.lockedDigest(record), previous.lockedMode(record))
            }
            return (entry, lockedRecordsNotPlanned().map { previous.record($0) })
        case .parsed(_, let lockEntries):
            let entry = { [entries] (index: Int) -> (digest: Digest?, mode: UInt32) in
                guard let locked = lockEntries[entries[index].zipPath]?.parsed else { return (nil, 0) }
                return locked
            }
            let planned = Set(entries.map(\.zipPath))
            let removed = lockEntries.filter { !planned.contains($0.key) }.compactMap { path, entry in
                entry.parsed.map {
                    Snapshot.Record(zipPath: path, sourcePath: "", stat: nil, fingerprint: nil, lockedDigest: $0.digest, lockedMode: $0.mode)
                }
            }
            return (entry, removed.sorted { bytewiseLess($0.zipPath, $1.zipPath) })
        case .packed(_, let digests):
            return ({ [entries] index in (digests[index], LockFile.modeValue(entries[index].mode)) }, [])
        }
    }

    /// The new cache's records, in zip path order: one per plan entry, and the `removed` locked zip paths the plan lacks.
    private func records(_ fields: (Int) -> Snapshot.RecordFields, removed: [Snapshot.Record]) -> [Snapshot.Record] {
        var records: [Snapshot.Record] = []
        records.reserveCapacity(entries.count + removed.count)
        var pendingRemoved = removed[...]
        for (index, entry) in entries.enumerated() {
            while let next = pendingRemoved.first, bytewiseLess(next.zipPath, entry.zipPath) {
                records.append(next)
                pendingRemoved = pendingRemoved.dropFirst()
            }
            let known = fields(index)
            records.append(Snapshot.Record(zipPath: entry.zipPath, sourcePath: entry.sourcePath, stat: known.stat,
                                           fingerprint: known.fingerprint, lockedDigest: known.lockedDigest, lockedMode: known.lockedMode))
        }
        records.append(contentsOf: pendingRemoved)
        return records
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

/// What the stat cache knows of the lock file beside the config besides its entries (which sit in
/// the records): the SHA-256 of its bytes, so the mirror is used only while the lock file is
/// unchanged; its settings; and the zip written with it.
struct LockMirror: Equatable {
    var lockDigest: Digest
    var layerName: String
    var compressionLevel: Int
    var compressor: String?
    /// The zip the build that wrote this lock wrote; nil when not known.
    var zip: ZipIdentity?

    init(lockDigest: Digest, layerName: String, compressionLevel: Int, compressor: String?, zip: ZipIdentity?) {
        self.lockDigest = lockDigest
        self.layerName = layerName
        self.compressionLevel = compressionLevel
        self.compressor = compressor
        self.zip = zip
    }

    init(_ lock: LockFile, bytes: some DataProtocol, zip: ZipIdentity?) {
        self.init(lockDigest: SHA256.hash(bytes), layerName: lock.layerName, compressionLevel: lock.compressionLevel,
                  compressor: lock.compressor, zip: zip)
    }
}

/// A zip as `lstat` identifies it, with its SHA-256: enough to tell that a zip is still the one a
/// build wrote. A zip is only ever replaced by a rename (a new inode) or rewritten, which changes its
/// ctime, so an unchanged identity means unchanged bytes.
struct ZipIdentity: Equatable {
    let path: String
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modifiedNanoseconds: Int64
    let changedNanoseconds: Int64
    /// The zip's SHA-256: its `source_code_hash`.
    let digest: Digest

    init(path: String, device: UInt64, inode: UInt64, size: Int64, modifiedNanoseconds: Int64, changedNanoseconds: Int64, digest: Digest) {
        self.path = path
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
        self.changedNanoseconds = changedNanoseconds
        self.digest = digest
    }

    /// The identity of the regular file at `path` now.
    init?(path: String, digest: Digest) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        self.init(path: path, info, digest: digest)
    }

    init?(path: String, _ info: stat, digest: Digest) {
        guard (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let stat = FileStat(info)
        self.init(path: path, device: stat.device, inode: stat.inode, size: stat.size, modifiedNanoseconds: stat.modifiedNanoseconds,
                  changedNanoseconds: stat.changedNanoseconds, digest: digest)
    }
}

extension StatCache {
    /// The cache as a file holds it (format 3, little-endian): a header, fixed-size records in zip path
    /// order, the strings they point into, and a CRC-32 of everything before it. A cache of another
    /// version, or one that fails any check, reads as empty.
    ///
    ///     header (176 bytes): "LPSTAT3\n", reference ns, record count, strings size,
    ///       lock digest [32] (zero: no mirror), lock layer name ref, lock compressor ref, lock level,
    ///       zip path ref (empty: no zip), zip device, inode, size, mtime ns, ctime ns, zip SHA-256 [32], pad
    ///     record (136 bytes): zip path ref, source path ref, device, inode, size, st_mode u32, CRC-32 u32,
    ///       mtime ns, ctime ns, SHA-256 [32], locked SHA-256 [32], locked mode u32 (0: not locked),
    ///       flags u32 (1: has a fingerprint, 2: has a stat)
    ///     a ref is offset u32 + length u32 into the strings
    /// A class: read for every entry from several threads, and a copy of a struct would retain its fields.
    final class Snapshot: Sendable {
        struct Record: Equatable {
            var zipPath: String
            var sourcePath: String
            var stat: FileStat?
            var fingerprint: Fingerprint?
            var lockedDigest: Digest?
            var lockedMode: UInt32
        }

        /// A record's fields besides its strings.
        struct RecordFields {
            var stat: FileStat?
            var fingerprint: Fingerprint?
            var lockedDigest: Digest?
            var lockedMode: UInt32
        }

        static let magic = Array("LPSTAT3\n".utf8)
        static let headerSize = 176
        static let recordSize = 136

        /// The whole file, checked.
        private let bytes: [UInt8]
        let count: Int
        /// Nothing is older than `.min`, so an empty snapshot trusts nothing.
        let reference: Int64
        private let stringsStart: Int
        let lock: LockMirror?

        init() {
            bytes = []
            count = 0
            reference = .min
            stringsStart = 0
            lock = nil
        }

        static func load(from path: String) -> Snapshot {
            guard let bytes = FileIO.readWhole(path) else { return Snapshot() }
            return parse(bytes) ?? Snapshot()
        }

        static func parse(_ bytes: [UInt8]) -> Snapshot? {
            guard bytes.count >= headerSize + 4, Array(bytes[0..<8]) == magic else { return nil }
            let checked = bytes.count - 4
            guard bytes.withUnsafeBytes({ crc32(UnsafeRawBufferPointer(rebasing: $0[..<checked])) }) == bytes.le(UInt32.self, checked),
                  let count = Int(exactly: bytes.le(UInt64.self, 16)), let stringsSize = Int(exactly: bytes.le(UInt64.self, 24)),
                  count <= (checked - headerSize) / recordSize, stringsSize == checked - headerSize - count * recordSize
            else { return nil }
            return Snapshot(bytes: bytes, count: count)
        }

        private init?(bytes: [UInt8], count: Int) {
            self.bytes = bytes
            self.count = count
            reference = Int64(bitPattern: bytes.le(UInt64.self, 8))
            stringsStart = Snapshot.headerSize + count * Snapshot.recordSize
            let stringsSize = bytes.count - 4 - stringsStart
            // Every reference must lie inside the strings, so that reading one never goes out of bounds.
            func valid(_ at: Int) -> Bool {
                let offset = Int(bytes.le(UInt32.self, at)), length = Int(bytes.le(UInt32.self, at + 4))
                return offset + length <= stringsSize
            }
            guard valid(64), valid(72), valid(88) else { return nil }
            for record in 0..<count {
                let at = Snapshot.headerSize + record * Snapshot.recordSize
                guard valid(at), valid(at + 8) else { return nil }
            }
            let lockDigest = Array(bytes[32..<64])
            if lockDigest.contains(where: { $0 != 0 }) {
                let zipPath = Snapshot.string(in: bytes, stringsStart: stringsStart, at: 88)
                let zip = zipPath.isEmpty ? nil : ZipIdentity(
                    path: zipPath, device: bytes.le(UInt64.self, 96), inode: bytes.le(UInt64.self, 104),
                    size: Int64(bitPattern: bytes.le(UInt64.self, 112)), modifiedNanoseconds: Int64(bitPattern: bytes.le(UInt64.self, 120)),
                    changedNanoseconds: Int64(bitPattern: bytes.le(UInt64.self, 128)), digest: Digest(bytes: bytes[136..<168]))
                let compressor = Snapshot.string(in: bytes, stringsStart: stringsStart, at: 72)
                lock = LockMirror(lockDigest: Digest(bytes: lockDigest), layerName: Snapshot.string(in: bytes, stringsStart: stringsStart, at: 64),
                                  compressionLevel: Int(Int64(bitPattern: bytes.le(UInt64.self, 80))),
                                  compressor: compressor.isEmpty ? nil : compressor, zip: zip)
            } else {
                lock = nil
            }
        }

        private func recordStart(_ record: Int) -> Int { Snapshot.headerSize + record * Snapshot.recordSize }

        private func string(at offset: Int) -> String { Snapshot.string(in: bytes, stringsStart: stringsStart, at: offset) }

        private static func string(in bytes: [UInt8], stringsStart: Int, at offset: Int) -> String {
            let start = stringsStart + Int(bytes.le(UInt32.self, offset)), length = Int(bytes.le(UInt32.self, offset + 4))
            return String(decoding: bytes[start..<(start + length)], as: UTF8.self)
        }

        /// Calls `body` with the UTF-8 bytes of the string referenced at `offset`.
        private func withString<T>(at offset: Int, _ body: (UnsafeRawBufferPointer) -> T) -> T {
            let start = stringsStart + Int(bytes.le(UInt32.self, offset)), length = Int(bytes.le(UInt32.self, offset + 4))
            return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
        }

        func zipPath(_ record: Int) -> String { string(at: recordStart(record)) }
        func sourcePath(_ record: Int) -> String { string(at: recordStart(record) + 8) }

        private func flags(_ record: Int) -> UInt32 { bytes.le(UInt32.self, recordStart(record) + 132) }
        func hasFingerprint(_ record: Int) -> Bool { flags(record) & 1 != 0 }

        func stat(_ record: Int) -> FileStat? {
            let at = recordStart(record)
            guard flags(record) & 2 != 0 else { return nil }
            return FileStat(bytes: bytes, at: at + 16, mode: bytes.le(UInt32.self, at + 40), modifiedAt: at + 48, changedAt: at + 56)
        }

        func fingerprint(_ record: Int) -> Fingerprint? {
            guard hasFingerprint(record) else { return nil }
            let at = recordStart(record)
            return Fingerprint(digest: Digest(bytes: bytes[(at + 64)..<(at + 96)]), crc: bytes.le(UInt32.self, at + 44))
        }

        func lockedMode(_ record: Int) -> UInt32 { bytes.le(UInt32.self, recordStart(record) + 128) }

        func lockedDigest(_ record: Int) -> Digest? {
            guard lockedMode(record) != 0 else { return nil }
            let at = recordStart(record) + 96
            return Digest(bytes: bytes[at..<(at + 32)])
        }

        /// Whether record `record`'s file content is what the lock records for its zip path, compared in place.
        func contentIsLocked(_ record: Int) -> Bool {
            let at = recordStart(record)
            return lockedMode(record) != 0 && hasFingerprint(record) && bytes[(at + 64)..<(at + 96)].elementsEqual(bytes[(at + 96)..<(at + 128)])
        }

        /// Whether record `record` holds a locked digest equal to `digest`, compared in place.
        func lockedDigest(_ record: Int, equals digest: Digest) -> Bool {
            guard lockedMode(record) != 0 else { return false }
            let at = recordStart(record) + 96
            return digest.withUnsafeBytes { bytes[at..<(at + 32)].elementsEqual($0) }
        }

        func record(_ record: Int) -> Record {
            Record(zipPath: zipPath(record), sourcePath: sourcePath(record), stat: stat(record), fingerprint: fingerprint(record),
                   lockedDigest: lockedDigest(record), lockedMode: lockedMode(record))
        }

        /// Every record, for tests and the fuzzer.
        var records: [Record] { (0..<count).map(record) }


        /// For each of `entries` (in zip path order), the index of the record with the same zip path (or -1)
        /// and whether it is of the same source file: one merge of two sorted lists, comparing bytes in place.
        func match(_ entries: [PlannedEntry]) -> ([Int32], [Bool]) {
            var result = [Int32](repeating: -1, count: entries.count)
            var sameSources = [Bool](repeating: false, count: entries.count)
            var record = 0
            for (index, entry) in entries.enumerated() {
                var zipPath = entry.zipPath
                let found: Bool = zipPath.withUTF8 { wanted in
                    while record < count {
                        let order = withString(at: recordStart(record)) { compareBytes($0, UnsafeRawBufferPointer(wanted)) }
                        if order < 0 { record += 1; continue }
                        return order == 0
                    }
                    return false
                }
                guard found else { continue }
                var sourcePath = entry.sourcePath
                let sameSource = sourcePath.withUTF8 { wanted in
                    withString(at: recordStart(record) + 8) { compareBytes($0, UnsafeRawBufferPointer(wanted)) == 0 }
                }
                result[index] = Int32(record)
                sameSources[index] = sameSource
                record += 1
            }
            return (result, sameSources)
        }

        static func encode(records: [Record], reference: Int64, lock: LockMirror?) -> [UInt8] {
            let zip = lock?.zip
            let headerStrings = [lock?.layerName ?? "", lock?.compressor ?? "", zip?.path ?? ""]
            let stringsSize = headerStrings.reduce(0) { $0 + $1.utf8.count }
                + records.reduce(0) { $0 + $1.zipPath.utf8.count + $1.sourcePath.utf8.count }
            let stringsStart = headerSize + records.count * recordSize
            let total = stringsStart + stringsSize + 4
            return [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
                var out = LittleEndianWriter(UnsafeMutableRawBufferPointer(buffer), stringsAt: stringsStart)
                out.put(bytes: magic)
                out.put(UInt64(bitPattern: reference))
                out.put(UInt64(records.count))
                out.put(UInt64(stringsSize))
                out.put(digest: lock?.lockDigest)
                out.put(string: headerStrings[0])
                out.put(string: headerStrings[1])
                out.put(UInt64(bitPattern: Int64(lock?.compressionLevel ?? 0)))
                out.put(string: headerStrings[2])
                putZipIdentity(zip, into: &out)
                for record in records {
                    out.put(string: record.zipPath)
                    out.put(string: record.sourcePath)
                    out.put(RecordFields(stat: record.stat, fingerprint: record.fingerprint, lockedDigest: record.lockedDigest,
                                         lockedMode: record.lockedMode))
                }
                precondition(out.offset == stringsStart && out.stringsOffset == stringsSize, "stat cache layout miscounted")
                let checksum = crc32(UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[..<(total - 4)]))
                out.offset = total - 4
                out.put(checksum)
                count = total
            }
        }

        /// Writes `lock`'s digest and zip identity into the header of a laid-out cache, and its CRC-32 again;
        /// the byte ranges it wrote.
        @discardableResult
        static func fill(_ bytes: inout [UInt8], lock: LockMirror) -> [Range<Int>] {
            let total = bytes.count
            bytes.withUnsafeMutableBytes { raw in
                var out = LittleEndianWriter(raw, stringsAt: 0)
                out.offset = 32
                out.put(digest: lock.lockDigest)
                out.offset = 96
                putZipIdentity(lock.zip, into: &out)
                let checksum = crc32(UnsafeRawBufferPointer(rebasing: raw[..<(total - 4)]))
                out.offset = total - 4
                out.put(checksum)
            }
            return [32..<headerSize, (total - 4)..<total]
        }

        /// The zip fields of the header, from the zip device to the end of the header.
        private static func putZipIdentity(_ zip: ZipIdentity?, into out: inout LittleEndianWriter) {
            for value in [zip?.device ?? 0, zip?.inode ?? 0, UInt64(bitPattern: zip?.size ?? 0),
                          UInt64(bitPattern: zip?.modifiedNanoseconds ?? 0), UInt64(bitPattern: zip?.changedNanoseconds ?? 0)] {
                out.put(value)
            }
            out.put(digest: zip?.digest)
            out.pad(to: headerSize)
        }

        /// A successor holding this snapshot's strings (its records' paths, in order, and its header's
        /// names), with new numbers in the header and each record's other `fields`: the strings are copied
        /// whole instead of laid out again. Nil when the header's names differ.
        func encodeReusingStrings(reference: Int64, lock: LockMirror?, fields: (Int) -> RecordFields) -> [UInt8]? {
            guard count > 0, string(at: 64) == lock?.layerName ?? "", string(at: 72) == lock?.compressor ?? "",
                  string(at: 88) == lock?.zip?.path ?? "" else { return nil }
            let total = bytes.count
            return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                bytes.withUnsafeBytes { raw.copyMemory(from: $0) }
                var out = LittleEndianWriter(raw, stringsAt: stringsStart)
                out.offset = 8
                out.put(UInt64(bitPattern: reference))
                out.offset = 32
                out.put(digest: lock?.lockDigest)
                out.offset = 80
                out.put(UInt64(bitPattern: Int64(lock?.compressionLevel ?? 0)))
                out.offset = 96
                Snapshot.putZipIdentity(lock?.zip, into: &out)
                for record in 0..<count {
                    out.offset = recordStart(record) + 16
                    out.put(fields(record))
                }
                let checksum = crc32(UnsafeRawBufferPointer(rebasing: raw[..<(total - 4)]))
                out.offset = total - 4
                out.put(checksum)
                initialized = total
            }
        }
    }
}

/// Writes little-endian fields at `offset`, and strings (as offset and length) into the strings area.
private struct LittleEndianWriter {
    let buffer: UnsafeMutableRawBufferPointer
    let stringsStart: Int
    var offset = 0
    var stringsOffset = 0

    init(_ buffer: UnsafeMutableRawBufferPointer, stringsAt stringsStart: Int) {
        self.buffer = buffer
        self.stringsStart = stringsStart
    }

    mutating func put<T: FixedWidthInteger>(_ value: T) {
        buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    mutating func put(bytes: [UInt8]) {
        bytes.withUnsafeBytes { put(raw: $0) }
    }

    mutating func put(raw bytes: UnsafeRawBufferPointer) {
        UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + bytes.count)]).copyMemory(from: bytes)
        offset += bytes.count
    }

    /// A record after its two string refs.
    mutating func put(_ fields: StatCache.Snapshot.RecordFields) {
        let stat = fields.stat
        put(stat?.device ?? 0)
        put(stat?.inode ?? 0)
        put(UInt64(bitPattern: stat?.size ?? 0))
        put(stat?.mode ?? 0)
        put(fields.fingerprint?.crc ?? 0)
        put(UInt64(bitPattern: stat?.modifiedNanoseconds ?? 0))
        put(UInt64(bitPattern: stat?.changedNanoseconds ?? 0))
        put(digest: fields.fingerprint?.digest)
        put(digest: fields.lockedDigest)
        put(fields.lockedDigest == nil ? 0 : fields.lockedMode)
        put(UInt32((fields.fingerprint == nil ? 0 : 1) | (stat == nil ? 0 : 2)))
    }

    /// 32 bytes: the digest, or zeros.
    mutating func put(digest: Digest?) {
        if let digest { digest.withUnsafeBytes { put(raw: $0) } } else { pad(to: offset + 32) }
    }

    mutating func pad(to end: Int) {
        UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<end]).initializeMemory(as: UInt8.self, repeating: 0)
        offset = end
    }

    /// The string goes into the strings area; its offset there and length go here.
    mutating func put(string: String) {
        var string = string
        let length = string.withUTF8 { utf8 in
            UnsafeMutableRawBufferPointer(rebasing: buffer[(stringsStart + stringsOffset)...]).copyMemory(from: UnsafeRawBufferPointer(utf8))
            return utf8.count
        }
        put(UInt32(stringsOffset))
        put(UInt32(length))
        stringsOffset += length
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

    /// Device, inode and size at `at`, and the two times at `modifiedAt` and `changedAt`.
    fileprivate init(bytes: [UInt8], at: Int, mode: UInt32, modifiedAt: Int, changedAt: Int) {
        self.init(device: bytes.le(UInt64.self, at), inode: bytes.le(UInt64.self, at + 8),
                  size: Int64(bitPattern: bytes.le(UInt64.self, at + 16)), mode: mode,
                  modifiedNanoseconds: Int64(bitPattern: bytes.le(UInt64.self, modifiedAt)),
                  changedNanoseconds: Int64(bitPattern: bytes.le(UInt64.self, changedAt)))
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
