import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A glibc symbol version such as `2.34` or `2.3.4`, compared part by part.
public struct GlibcVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let parts: [Int]

    /// `2.26`; nil unless it is numbers joined by `.`.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count >= 2, parts.allSatisfy({ $0 != nil }) else { return nil }
        self.parts = parts.compactMap { $0 }
    }

    /// `GLIBC_2.34` as an ELF file names it; nil for other names (`GLIBC_PRIVATE`, `GCC_3.0`).
    init?(symbolVersion: String) {
        guard symbolVersion.hasPrefix("GLIBC_") else { return nil }
        self.init(String(symbolVersion.dropFirst("GLIBC_".count)))
    }

    public static func < (a: GlibcVersion, b: GlibcVersion) -> Bool {
        for index in 0..<max(a.parts.count, b.parts.count) {
            let x = index < a.parts.count ? a.parts[index] : 0
            let y = index < b.parts.count ? b.parts[index] : 0
            if x != y { return x < y }
        }
        return false
    }

    public var description: String { parts.map(String.init).joined(separator: ".") }
}

/// What the loader will ask of an ELF file: the machine it was built for and the newest glibc symbol
/// version it needs (from `.gnu.version_r`). Read from the header, the section headers and the
/// version-needs section only — a few hundred bytes to a few kilobytes of any file.
public struct ELFFile: Sendable, Equatable {
    /// `e_machine`.
    public let machine: UInt16
    /// The newest `GLIBC_x.y[.z]` any of its needed libraries must provide; nil when it needs none.
    public let newestGlibc: GlibcVersion?

    public static let machineX86_64: UInt16 = 62
    public static let machineAArch64: UInt16 = 183

    /// The architecture name Lambda uses for a machine, or a description of another.
    public static func architectureName(of machine: UInt16) -> String {
        switch machine {
        case machineX86_64: return "x86_64"
        case machineAArch64: return "arm64"
        case 3: return "32-bit x86"
        case 40: return "32-bit ARM"
        default: return "ELF machine \(machine)"
        }
    }

    /// Reads the file at `path`; nil when it is not an ELF file (or too short to be one).
    static func read(path: String) throws -> ELFFile? {
        let descriptor = open(path, FileIO.sourceFileFlags)
        guard descriptor >= 0 else { throw BuildError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        return parse { offset, count in
            var bytes = [UInt8](repeating: 0, count: count)
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
            return got > 0 ? Array(bytes[..<got]) : []
        }
    }

    /// Parses an ELF file given a way to read `count` bytes at an offset (fewer at the end of the file).
    /// A damaged file yields what could be read: its machine, and the versions found before the damage.
    static func parse(reading read: (_ offset: UInt64, _ count: Int) -> [UInt8]) -> ELFFile? {
        let header = read(0, 64)
        guard header.count >= 52, header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46,
              [1, 2].contains(header[4]), [1, 2].contains(header[5]) else { return nil }
        let layout = Layout(is64: header[4] == 2, littleEndian: header[5] == 1)
        let machine = UInt16(layout.integer(header, at: 18, size: 2))
        return ELFFile(machine: machine, newestGlibc: newestGlibc(header: header, layout: layout, read: read))
    }

    private static func newestGlibc(header: [UInt8], layout: Layout, read: (UInt64, Int) -> [UInt8]) -> GlibcVersion? {
        guard header.count >= (layout.is64 ? 64 : 52) else { return nil }
        let sectionsOffset = layout.is64 ? layout.integer(header, at: 0x28, size: 8) : layout.integer(header, at: 0x20, size: 4)
        let entrySize = Int(layout.integer(header, at: layout.is64 ? 0x3A : 0x2E, size: 2))
        let count = Int(layout.integer(header, at: layout.is64 ? 0x3C : 0x30, size: 2))
        guard sectionsOffset > 0, count > 0, count <= 4096, entrySize >= (layout.is64 ? 64 : 40) else { return nil }
        let table = read(sectionsOffset, count * entrySize)
        guard table.count == count * entrySize else { return nil }
        let sections = (0..<count).map { Section(table, at: $0 * entrySize, layout: layout) }
        guard let needs = sections.first(where: { $0.type == Section.versionNeeds }), Int(needs.link) < sections.count else { return nil }
        let strings = sections[Int(needs.link)]
        let bytes = read(needs.offset, Int(min(needs.size, 1 << 16)))
        var newest: GlibcVersion?
        // Elf_Verneed (16 bytes) entries, each with a chain of Elf_Vernaux (16 bytes), in both classes.
        var needOffset = 0
        for _ in 0..<min(Int(needs.info), 1024) {
            guard needOffset + 16 <= bytes.count else { break }
            let auxCount = Int(layout.integer(bytes, at: needOffset + 2, size: 2))
            var auxOffset = needOffset + Int(layout.integer(bytes, at: needOffset + 8, size: 4))
            for _ in 0..<min(auxCount, 1024) {
                guard auxOffset >= 0, auxOffset + 16 <= bytes.count else { break }
                let nameOffset = layout.integer(bytes, at: auxOffset + 8, size: 4)
                if nameOffset < strings.size {
                    let name = read(strings.offset + nameOffset, 32).prefix { $0 != 0 }
                    if let version = GlibcVersion(symbolVersion: String(decoding: name, as: UTF8.self)), newest.map({ version > $0 }) ?? true {
                        newest = version
                    }
                }
                let next = Int(layout.integer(bytes, at: auxOffset + 12, size: 4))
                if next == 0 { break }
                auxOffset += next
            }
            let next = Int(layout.integer(bytes, at: needOffset + 12, size: 4))
            if next == 0 { break }
            needOffset += next
        }
        return newest
    }

    private struct Layout {
        let is64: Bool
        let littleEndian: Bool

        /// An unsigned integer of `size` bytes at `offset`; 0 past the end.
        func integer(_ bytes: [UInt8], at offset: Int, size: Int) -> UInt64 {
            guard offset >= 0, offset + size <= bytes.count else { return 0 }
            var value: UInt64 = 0
            for index in 0..<size {
                let byte = UInt64(bytes[littleEndian ? offset + size - 1 - index : offset + index])
                value = value << 8 | byte
            }
            return value
        }
    }

    private struct Section {
        static let versionNeeds: UInt32 = 0x6FFF_FFFE  // SHT_GNU_verneed
        let type: UInt32
        let offset: UInt64
        let size: UInt64
        let link: UInt32
        let info: UInt32

        init(_ table: [UInt8], at start: Int, layout: Layout) {
            type = UInt32(layout.integer(table, at: start + 4, size: 4))
            if layout.is64 {
                offset = layout.integer(table, at: start + 24, size: 8)
                size = layout.integer(table, at: start + 32, size: 8)
                link = UInt32(layout.integer(table, at: start + 40, size: 4))
                info = UInt32(layout.integer(table, at: start + 44, size: 4))
            } else {
                offset = layout.integer(table, at: start + 16, size: 4)
                size = layout.integer(table, at: start + 20, size: 4)
                link = UInt32(layout.integer(table, at: start + 24, size: 4))
                info = UInt32(layout.integer(table, at: start + 28, size: 4))
            }
        }
    }
}
