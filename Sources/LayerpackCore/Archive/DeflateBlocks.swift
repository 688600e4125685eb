/// The block structure of a raw DEFLATE stream, read without inflating it: each block's Huffman codes
/// are decoded only to be skipped, so nothing is written out and no window is kept. About twice as
/// quick as inflating with zlib on what libdeflate writes for a large binary.
///
/// It checks what it must to find its way (valid block types and codes, stored lengths, the end of the
/// input) but not what only inflating can tell (distances reaching back before the start), so on a stream
/// zlib rejects it may still answer; on every stream zlib reads it gives the same answer.
enum DeflateBlocks {
    /// Bit offsets of the final block's header and of the end of the stream (just after the final block);
    /// nil when the stream is cut short or is not DEFLATE.
    static func finalBlockAndEnd(_ stream: UnsafeRawBufferPointer) -> (Int, Int)? {
        guard let base = stream.baseAddress else { return nil }
        var reader = BitReader(base: base, count: stream.count)
        let codes = BlockCodes()
        while true {
            reader.refill()
            let blockStart = reader.position
            let isFinal = reader.bits & 1 == 1
            let type = reader.bits >> 1 & 3
            reader.skip(3)
            switch type {
            case 0: guard reader.skipStoredBlock() else { return nil }
            case 1: guard skipCodedBlock(&reader, codes.fixedLiterals, codes.fixedDistances) else { return nil }
            case 2: guard codes.readDynamicCodes(&reader), skipCodedBlock(&reader, codes.literals, codes.distances) else { return nil }
            default: return nil
            }
            guard reader.position <= stream.count * 8 else { return nil }
            if isFinal { return (blockStart, reader.position) }
        }
    }

    /// Skips a Huffman-coded block's symbols up to and including its end-of-block code; false on a code
    /// that is not in the block's codes, or when the input runs out.
    private static func skipCodedBlock(_ reader: inout BitReader, _ literals: SkipCode, _ distances: SkipCode) -> Bool {
        let literalTable = literals.table
        let distanceTable = distances.table
        while true {
            // Enough for a length and a distance, with their extra bits (48 bits at most).
            if reader.available < 48 {
                reader.refill()
                guard !reader.isOverrun else { return false }
            }
            var entry = literalTable[Int(truncatingIfNeeded: reader.bits) & SkipCode.primaryMask]
            if entry & SkipCode.kindMask == SkipCode.slow {
                guard let slow = literals.slowEntry(reader.bits, literal: true) else { return false }
                entry = slow
            }
            reader.skip(Int(entry & SkipCode.bitsMask))
            switch entry & SkipCode.kindMask {
            case SkipCode.plain: continue
            case SkipCode.endOfBlock: return true
            default: break
            }
            var distance = distanceTable[Int(truncatingIfNeeded: reader.bits) & SkipCode.primaryMask]
            if distance & SkipCode.kindMask == SkipCode.slow {
                guard let slow = distances.slowEntry(reader.bits, literal: false) else { return false }
                distance = slow
            }
            reader.skip(Int(distance & SkipCode.bitsMask))
        }
    }
}

/// Bits of a byte buffer, least significant first, as DEFLATE packs them. Past the end it reads zeros,
/// and says so (`isOverrun`) once it has had to supply more than a refill's worth.
private struct BitReader {
    let base: UnsafeRawPointer
    let count: Int
    /// The next byte not yet in `bits`.
    var offset = 0
    var bits: UInt64 = 0
    /// How many of the low bits of `bits` are the stream's next bits.
    var available = 0

    init(base: UnsafeRawPointer, count: Int) {
        self.base = base
        self.count = count
    }

    /// Bits read so far.
    var position: Int { offset * 8 - available }
    var isOverrun: Bool { offset > count + 8 }

    /// At least 56 bits available.
    @inline(__always) mutating func refill() {
        if count - offset >= 8 {
            bits |= UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &<< UInt64(truncatingIfNeeded: available)
            offset &+= (63 &- available) &>> 3
            available |= 56
        } else {
            while available <= 56 {
                if offset < count { bits |= UInt64(base.load(fromByteOffset: offset, as: UInt8.self)) &<< UInt64(available) }
                offset += 1
                available += 8
            }
        }
    }

    @inline(__always) mutating func skip(_ count: Int) {
        bits &>>= UInt64(truncatingIfNeeded: count)
        available &-= count
    }

    @inline(__always) mutating func take(_ count: Int) -> Int {
        let value = Int(truncatingIfNeeded: bits) & ((1 << count) - 1)
        skip(count)
        return value
    }

    /// Skips a stored block after its header: padding to the byte, LEN, NLEN, LEN bytes.
    mutating func skipStoredBlock() -> Bool {
        skip(available & 7)
        refill()
        let length = take(16)
        guard take(16) == length ^ 0xFFFF else { return false }
        let next = position / 8 + length
        guard next <= count else { return false }
        offset = next
        bits = 0
        available = 0
        return true
    }
}

/// The codes of the current block, and the fixed ones, in memory allocated once per scan.
private final class BlockCodes {
    let literals = SkipCode(symbols: 288)
    let distances = SkipCode(symbols: 32)
    let fixedLiterals = SkipCode(symbols: 288)
    let fixedDistances = SkipCode(symbols: 32)
    private let precode = SkipCode(symbols: 19)
    private let lengths = UnsafeMutablePointer<UInt8>.allocate(capacity: 288 + 32)

    init() {
        for symbol in 0..<288 { lengths[symbol] = symbol < 144 ? 8 : symbol < 256 ? 9 : symbol < 280 ? 7 : 8 }
        _ = fixedLiterals.build(lengths, count: 288, literal: true)
        for symbol in 0..<32 { lengths[symbol] = 5 }
        _ = fixedDistances.build(lengths, count: 32, literal: false)
    }

    deinit { lengths.deallocate() }

    /// The order in which a dynamic block's header gives the code-length code's lengths.
    private static let precodeOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// Reads a dynamic block's header and builds its codes; false when they are not valid.
    func readDynamicCodes(_ reader: inout BitReader) -> Bool {
        reader.refill()
        let literalCount = reader.take(5) + 257
        let distanceCount = reader.take(5) + 1
        let precodeCount = reader.take(4) + 4
        guard literalCount <= 286 else { return false }
        for index in 0..<19 {
            if index < precodeCount && reader.available < 3 { reader.refill() }
            lengths[Self.precodeOrder[index]] = index < precodeCount ? UInt8(reader.take(3)) : 0
        }
        guard precode.buildPrecode(lengths) else { return false }
        let total = literalCount + distanceCount
        var index = 0
        while index < total {
            if reader.available < 16 {
                reader.refill()
                guard !reader.isOverrun else { return false }
            }
            let entry = precode.table[Int(truncatingIfNeeded: reader.bits) & SkipCode.precodeMask]
            let codeLength = Int(entry >> 8)
            guard codeLength > 0 else { return false }
            reader.skip(codeLength)
            let symbol = Int(entry & 0xFF)
            let value: UInt8
            let repeats: Int
            switch symbol {
            case 0..<16: (value, repeats) = (UInt8(symbol), 1)
            case 16:
                guard index > 0 else { return false }
                (value, repeats) = (lengths[index - 1], 3 + reader.take(2))
            case 17: (value, repeats) = (0, 3 + reader.take(3))
            default: (value, repeats) = (0, 11 + reader.take(7))
            }
            guard index + repeats <= total else { return false }
            (lengths + index).update(repeating: value, count: repeats)
            index += repeats
        }
        // A block must be able to end.
        guard lengths[256] > 0 else { return false }
        return literals.build(lengths, count: literalCount, literal: true)
            && distances.build(lengths + literalCount, count: distanceCount, literal: false)
    }
}

/// A canonical Huffman code laid out for skipping its symbols. A table indexed by the next
/// `primaryBits` bits of input gives, for each code that short, how many bits to skip — the code and
/// the extra bits its symbol takes — and what kind of symbol it is; longer codes, and bits that begin
/// no code, take the slow path, which decodes bit by bit.
private final class SkipCode {
    static let primaryBits = 10
    static let primaryMask = (1 << primaryBits) - 1
    static let precodeMask = (1 << 7) - 1

    // An entry: bits to skip in its low 5 bits, its kind in the next 2.
    static let bitsMask: UInt16 = 0x1F
    static let kindMask: UInt16 = 0x60
    /// A literal, or any distance.
    static let plain: UInt16 = 0x00
    /// A length, which a distance follows.
    static let length: UInt16 = 0x20
    static let endOfBlock: UInt16 = 0x40
    static let slow: UInt16 = 0x60

    /// Extra bits of the length symbols 257–285 and of the distance symbols 0–29.
    private static let lengthExtraBits: [UInt16] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceExtraBits: [UInt16] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    let table = UnsafeMutablePointer<UInt16>.allocate(capacity: 1 << primaryBits)
    /// How many codes there are of each length, 0–15.
    private let lengthCounts = UnsafeMutablePointer<Int>.allocate(capacity: 16)
    /// The symbols by code length, then by value: the canonical order.
    private let sorted: UnsafeMutablePointer<UInt16>

    init(symbols: Int) { sorted = .allocate(capacity: symbols) }

    deinit {
        table.deallocate()
        lengthCounts.deallocate()
        sorted.deallocate()
    }

    /// The entry of a literal/length or distance symbol whose code is `codeLength` bits long.
    private static func entry(_ symbol: Int, codeLength: Int, literal: Bool) -> UInt16 {
        let length = UInt16(codeLength)
        if literal {
            switch symbol {
            case 0..<256: return length | plain
            case 256: return length | endOfBlock
            case 257...285: return (length + lengthExtraBits[symbol - 257]) | Self.length
            default: return slow
            }
        }
        return symbol < 30 ? (length + distanceExtraBits[symbol]) | plain : slow
    }

    /// Sorts the symbols into canonical order; false when the lengths over-subscribe the code.
    private func sort(_ lengths: UnsafePointer<UInt8>, count: Int) -> Bool {
        lengthCounts.update(repeating: 0, count: 16)
        for symbol in 0..<count { lengthCounts[Int(lengths[symbol])] += 1 }
        lengthCounts[0] = 0
        var left = 1
        var starts = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &starts) { raw in
            let start = raw.bindMemory(to: Int.self)
            for length in 1..<16 {
                left = left << 1 - lengthCounts[length]
                guard left >= 0 else { return false }
                if length < 15 { start[length + 1] = start[length] + lengthCounts[length] }
            }
            for symbol in 0..<count where lengths[symbol] > 0 {
                let length = Int(lengths[symbol])
                sorted[start[length]] = UInt16(symbol)
                start[length] += 1
            }
            return true
        }
    }

    /// Calls `body(reversedCode, codeLength, symbol)` for each symbol whose code fits in `bits` bits.
    @inline(__always) private func forEachShortCode(within bits: Int, _ body: (Int, Int, Int) -> Void) {
        var code = 0
        var index = 0
        for length in 1...bits {
            for _ in 0..<lengthCounts[length] {
                var reversed = 0
                for bit in 0..<length { reversed |= (code >> bit & 1) << (length - 1 - bit) }
                body(reversed, length, Int(sorted[index]))
                code += 1
                index += 1
            }
            code <<= 1
        }
    }

    /// Lays out the code of these lengths; false when they over-subscribe it.
    func build(_ lengths: UnsafePointer<UInt8>, count: Int, literal: Bool) -> Bool {
        guard sort(lengths, count: count) else { return false }
        table.update(repeating: Self.slow, count: 1 << Self.primaryBits)
        forEachShortCode(within: Self.primaryBits) { reversed, length, symbol in
            let entry = Self.entry(symbol, codeLength: length, literal: literal)
            var index = reversed
            while index < 1 << Self.primaryBits {
                table[index] = entry
                index += 1 << length
            }
        }
        return true
    }

    /// Lays out the code-length code (codes of at most 7 bits): entries hold the symbol in their low byte and
    /// the code's length in their high one, 0 where no code begins.
    func buildPrecode(_ lengths: UnsafePointer<UInt8>) -> Bool {
        guard sort(lengths, count: 19) else { return false }
        table.update(repeating: 0, count: 1 << 7)
        forEachShortCode(within: 7) { reversed, length, symbol in
            var index = reversed
            while index < 1 << 7 {
                table[index] = UInt16(length << 8 | symbol)
                index += 1 << length
            }
        }
        return true
    }

    /// The entry for the code at the start of `bits`, found bit by bit; nil when no symbol's code is there.
    func slowEntry(_ bits: UInt64, literal: Bool) -> UInt16? {
        var code = 0
        var first = 0
        var index = 0
        for length in 1..<16 {
            code |= Int(truncatingIfNeeded: bits >> UInt64(length - 1)) & 1
            let count = lengthCounts[length]
            if code - first < count {
                let entry = Self.entry(Int(sorted[index + code - first]), codeLength: length, literal: literal)
                return entry == Self.slow ? nil : entry
            }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        return nil
    }
}
