import Foundation

/// A zip's central directory, read from ranges of its bytes: the end record from the tail, then the
/// directory itself, so a published zip of hundreds of MB is compared by reading a few KB.
public struct ZipDirectory: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let crc: UInt32
        public let size: Int64
        /// The Unix mode from the external attributes (0 when the zip was not made on Unix).
        public let mode: UInt32
    }

    public let entries: [Entry]

    /// How much of the tail to read first: the end record (22 bytes), its longest comment, and a zip64
    /// locator before it.
    public static let tailLength: Int64 = 22 + 65_535 + 20

    /// Reads the directory of a zip of `size` bytes whose last bytes are `tail` (at most `tailLength`),
    /// reading the rest it needs through `read(offset, length)`.
    public static func read(tail: [UInt8], size: Int64, _ read: (Int64, Int64) throws -> Data) throws -> ZipDirectory {
        let tailStart = size - Int64(tail.count)
        func tailIndex(_ offset: Int64) -> Int? { offset >= tailStart && offset < size ? Int(offset - tailStart) : nil }
        guard let end = lastIndex(of: 0x0605_4b50, in: tail, minimumFollowing: 22) else {
            throw ZipDirectoryError.notAZip(reason: "no end-of-central-directory record")
        }
        var count = Int64(tail.le(UInt16.self, end + 10))
        var directorySize = Int64(tail.le(UInt32.self, end + 12))
        var directoryOffset = Int64(tail.le(UInt32.self, end + 16))
        // Zip64: the locator just before the end record points at the zip64 end record.
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            guard end >= 20, tail.le(UInt32.self, end - 20) == 0x0706_4b50 else { throw ZipDirectoryError.notAZip(reason: "a zip64 end record without its locator") }
            let recordOffset = Int64(tail.le(UInt64.self, end - 12))
            let record = [UInt8](try read(recordOffset, 56))
            guard record.count == 56, record.le(UInt32.self, 0) == 0x0606_4b50 else { throw ZipDirectoryError.notAZip(reason: "no zip64 end record") }
            count = Int64(record.le(UInt64.self, 32))
            directorySize = Int64(record.le(UInt64.self, 40))
            directoryOffset = Int64(record.le(UInt64.self, 48))
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset + directorySize <= size else {
            throw ZipDirectoryError.notAZip(reason: "the central directory lies outside the file")
        }
        // The directory usually sits right before the end record, inside the tail already read.
        let directory: [UInt8]
        if let start = tailIndex(directoryOffset), start + Int(directorySize) <= tail.count {
            directory = Array(tail[start..<(start + Int(directorySize))])
        } else {
            directory = [UInt8](try read(directoryOffset, directorySize))
        }
        return ZipDirectory(entries: try parse(directory, count: count))
    }

    static func parse(_ bytes: [UInt8], count: Int64) throws -> [Entry] {
        var entries: [Entry] = []
        var position = 0
        while entries.count < count {
            guard position + 46 <= bytes.count, bytes.le(UInt32.self, position) == 0x0201_4b50 else {
                throw ZipDirectoryError.notAZip(reason: "entry \(entries.count + 1) of the central directory is damaged")
            }
            let nameLength = Int(bytes.le(UInt16.self, position + 28))
            let extraLength = Int(bytes.le(UInt16.self, position + 30))
            let commentLength = Int(bytes.le(UInt16.self, position + 32))
            let next = position + 46 + nameLength + extraLength + commentLength
            guard next <= bytes.count else { throw ZipDirectoryError.notAZip(reason: "entry \(entries.count + 1) runs past the central directory") }
            var size = Int64(bytes.le(UInt32.self, position + 24))
            if size == 0xFFFF_FFFF, let zip64 = zip64Size(bytes[(position + 46 + nameLength)..<(position + 46 + nameLength + extraLength)]) { size = zip64 }
            let madeOnUnix = bytes[position + 5] == 3
            entries.append(Entry(
                name: String(decoding: bytes[(position + 46)..<(position + 46 + nameLength)], as: UTF8.self),
                crc: bytes.le(UInt32.self, position + 16), size: size,
                mode: madeOnUnix ? bytes.le(UInt32.self, position + 38) >> 16 : 0))
            position = next
        }
        return entries
    }

    /// The uncompressed size from a zip64 extra field (header 0x0001), its first value.
    private static func zip64Size(_ extra: ArraySlice<UInt8>) -> Int64? {
        var position = extra.startIndex
        while position + 4 <= extra.endIndex {
            let id = UInt16(extra[position]) | UInt16(extra[position + 1]) << 8
            let length = Int(UInt16(extra[position + 2]) | UInt16(extra[position + 3]) << 8)
            if id == 1, length >= 8, position + 12 <= extra.endIndex { return Int64(Array(extra[(position + 4)..<(position + 12)]).le(UInt64.self, 0)) }
            position += 4 + length
        }
        return nil
    }

    private static func lastIndex(of signature: UInt32, in bytes: [UInt8], minimumFollowing: Int) -> Int? {
        guard bytes.count >= minimumFollowing else { return nil }
        for index in stride(from: bytes.count - minimumFollowing, through: 0, by: -1) where bytes.le(UInt32.self, index) == signature {
            return index
        }
        return nil
    }
}

public enum ZipDirectoryError: Error, CustomStringConvertible, Equatable {
    case notAZip(reason: String)

    public var description: String {
        switch self {
        case .notAZip(let reason): return "The published layer's zip could not be read: \(reason)."
        }
    }
}

extension Array where Element == UInt8 {
    /// A little-endian integer at `offset`.
    func le<T: FixedWidthInteger>(_ type: T.Type, _ offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count, "read past the end of a byte array")
        return T(littleEndian: withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) })
    }
}
