import Foundation
import Hashing
#if canImport(Glibc)
import Glibc
#endif

/// A file mapped read-only into memory, unmapped when the last reference goes.
final class MappedFile: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    let identity: ZipIdentity
    /// Kept open, so that a change to the mapped file is seen even after another file took its name.
    private let descriptor: Int32

    /// Maps `path` when it is still the file `identity` describes; nil otherwise.
    init?(_ identity: ZipIdentity) {
        let descriptor = open(identity.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var info = stat()
        guard fstat(descriptor, &info) == 0, ZipIdentity(path: identity.path, info, digest: identity.digest) == identity, info.st_size > 0,
              let address = mmap(nil, Int(info.st_size), PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED
        else {
            close(descriptor)
            return nil
        }
        bytes = UnsafeRawBufferPointer(start: address, count: Int(info.st_size))
        self.identity = identity
        self.descriptor = descriptor
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        close(descriptor)
    }

    /// Whether the file's bytes are still as they were when mapped (a write in place would show through
    /// the mapping): its size and mtime. Not its ctime, which a rename changes too, as when another build
    /// of the same layer swaps its zip in while this one copies out of the old one.
    var isUnchanged: Bool {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return false }
        let now = FileStat(info)
        return now.size == identity.size && now.modifiedNanoseconds == identity.modifiedNanoseconds
    }

    func le<T: FixedWidthInteger>(_ type: T.Type, _ offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

/// An entry's stored bytes: an array of its own, or a range of a mapped zip.
struct PayloadBytes: Sendable, Equatable {
    private let array: [UInt8]
    private let mapping: MappedFile?
    private let range: Range<Int>

    init(_ array: [UInt8]) {
        self.array = array
        mapping = nil
        range = 0..<array.count
    }

    init(_ mapping: MappedFile, _ range: Range<Int>) {
        array = []
        self.mapping = mapping
        self.range = range
    }

    var count: Int { range.count }

    func withUnsafeBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        if let mapping { return try body(UnsafeRawBufferPointer(rebasing: mapping.bytes[range])) }
        return try array.withUnsafeBytes(body)
    }

    static func == (a: PayloadBytes, b: PayloadBytes) -> Bool {
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }
}

/// The zip the previous build wrote, for copying the compressed bytes of unchanged entries instead of
/// compressing them again. Used only when it is still the file that build recorded (same inode, size,
/// mtime and ctime), written at the same level by the same compressor, so a copied entry is byte for
/// byte what compressing it now would give. Each entry is matched by name with the plan (both in zip
/// path order), and used only when its CRC-32, size and method agree with what the plan expects.
final class PreviousZip: @unchecked Sendable {
    private struct Located {
        var offset: Int
        var compressedSize: Int
        var size: Int64
        var crc: UInt32
        var deflated: Bool
    }

    private let mapping: MappedFile
    /// By plan index: where the entry of the same name lies in the previous zip.
    private let located: [Located?]

    init?(_ identity: ZipIdentity, entries: [PlannedEntry]) {
        guard let mapping = MappedFile(identity), let directory = PreviousZip.centralDirectory(mapping) else { return nil }
        self.mapping = mapping
        var located = [Located?](repeating: nil, count: entries.count)
        var position = directory.start
        var remaining = directory.count
        var nextEntry = 0
        while remaining > 0, nextEntry < entries.count {
            guard position + 46 <= directory.end, mapping.le(UInt32.self, position) == 0x0201_4b50 else { return nil }
            let nameLength = Int(mapping.le(UInt16.self, position + 28))
            let next = position + 46 + nameLength + Int(mapping.le(UInt16.self, position + 30)) + Int(mapping.le(UInt16.self, position + 32))
            guard next <= directory.end else { return nil }
            let name = UnsafeRawBufferPointer(rebasing: mapping.bytes[(position + 46)..<(position + 46 + nameLength)])
            // Skip plan entries that sort before this name; take the one equal to it.
            while nextEntry < entries.count {
                var zipPath = entries[nextEntry].zipPath
                let order = zipPath.withUTF8 { compareBytes(UnsafeRawBufferPointer($0), name) }
                if order < 0 { nextEntry += 1; continue }
                if order == 0 {
                    located[nextEntry] = PreviousZip.locate(mapping, directoryEntry: position, end: directory.start)
                    nextEntry += 1
                }
                break
            }
            position = next
            remaining -= 1
        }
        self.located = located
    }

    /// Throws when the previous zip was written to while entries were copied out of it.
    func checkUnchanged() throws {
        guard mapping.isUnchanged else { throw BuildError.changedWhileReading(path: mapping.identity.path) }
    }

    /// The stored bytes of plan entry `index` when the previous zip holds them with this CRC-32, size
    /// and method.
    func payload(at index: Int, crc: UInt32, size: Int64, method: EntryPayload.Method, digest: Digest) -> EntryPayload? {
        guard let entry = located[index], entry.crc == crc, entry.size == size, entry.deflated == (method == .deflate) else { return nil }
        return EntryPayload(method: method, crc: crc, uncompressedSize: Int(size),
                            bytes: PayloadBytes(mapping, entry.offset..<(entry.offset + entry.compressedSize)), contentDigest: digest)
    }

    /// Where the central directory lies, from the end record (or the zip64 end record it points to).
    private static func centralDirectory(_ mapping: MappedFile) -> (start: Int, end: Int, count: Int)? {
        let size = mapping.bytes.count
        guard size >= 22 else { return nil }
        var end = -1
        for position in stride(from: size - 22, through: max(0, size - 22 - 65_535), by: -1) where mapping.le(UInt32.self, position) == 0x0605_4b50 {
            end = position
            break
        }
        guard end >= 0 else { return nil }
        var count = Int(mapping.le(UInt16.self, end + 10))
        var directorySize = Int(mapping.le(UInt32.self, end + 12))
        var directoryOffset = Int(mapping.le(UInt32.self, end + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            guard end >= 20, mapping.le(UInt32.self, end - 20) == 0x0706_4b50,
                  let record = Int(exactly: mapping.le(UInt64.self, end - 12)), record >= 0, record + 56 <= end,
                  mapping.le(UInt32.self, record) == 0x0606_4b50,
                  let bigCount = Int(exactly: mapping.le(UInt64.self, record + 32)),
                  let bigSize = Int(exactly: mapping.le(UInt64.self, record + 40)),
                  let bigOffset = Int(exactly: mapping.le(UInt64.self, record + 48))
            else { return nil }
            (count, directorySize, directoryOffset) = (bigCount, bigSize, bigOffset)
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset <= end, directorySize <= end - directoryOffset else { return nil }
        return (directoryOffset, directoryOffset + directorySize, count)
    }

    /// The data of the central directory entry at `position`, checked against its local header; nil
    /// when anything disagrees or needs zip64 fields (layerpack's entries never do).
    private static func locate(_ mapping: MappedFile, directoryEntry position: Int, end: Int) -> Located? {
        let method = mapping.le(UInt16.self, position + 10)
        let crc = mapping.le(UInt32.self, position + 16)
        let compressedSize = mapping.le(UInt32.self, position + 20)
        let size = mapping.le(UInt32.self, position + 24)
        let localHeader = Int(mapping.le(UInt32.self, position + 42))
        guard method == 0 || method == 8, compressedSize != 0xFFFF_FFFF, size != 0xFFFF_FFFF, localHeader != 0xFFFF_FFFF,
              localHeader + 30 <= end, mapping.le(UInt32.self, localHeader) == 0x0403_4b50,
              mapping.le(UInt16.self, localHeader + 8) == method, mapping.le(UInt32.self, localHeader + 14) == crc,
              mapping.le(UInt32.self, localHeader + 18) == compressedSize, mapping.le(UInt32.self, localHeader + 22) == size
        else { return nil }
        let data = localHeader + 30 + Int(mapping.le(UInt16.self, localHeader + 26)) + Int(mapping.le(UInt16.self, localHeader + 28))
        guard data + Int(compressedSize) <= end else { return nil }
        return Located(offset: data, compressedSize: Int(compressedSize), size: Int64(size), crc: crc, deflated: method == 8)
    }
}

/// memcmp order of two byte strings, shorter first on a common prefix.
func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let common = min(a.count, b.count)
    if common > 0 {
        let order = memcmp(a.baseAddress!, b.baseAddress!, common)
        if order != 0 { return Int(order) }
    }
    return a.count - b.count
}
