import Foundation
import Hashing
import Testing

@Suite struct SHA256KnownAnswers {
    // FIPS 180-2 examples.
    @Test func emptyInput() {
        #expect(SHA256.hash(Data()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func abc() {
        #expect(SHA256.hash(Data("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func twoBlockMessage() {
        let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(SHA256.hash(Data(message.utf8)).hex == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func incrementalEqualsOneShot() {
        let data = Data((0..<100_000).map { UInt8($0 % 251) })
        var hasher = SHA256()
        hasher.update(data.prefix(7))
        hasher.update(data.dropFirst(7))
        #expect(hasher.finalize() == SHA256.hash(data))
    }

    @Test func base64IsTerraformsFilebase64sha256() {
        // `printf abc | openssl dgst -sha256 -binary | base64`
        #expect(SHA256.hash(Data("abc".utf8)).base64 == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
    }

    @Test func fileHashMatchesDataHash() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hashing-\(UUID().uuidString)").path
        let data = Data((0..<3_000_000).map { UInt8($0 % 253) })
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try SHA256.hash(fileAt: path) == SHA256.hash(data))
    }

    @Test func missingFileIsAnErrorNamingIt() {
        #expect {
            _ = try SHA256.hash(fileAt: "/nonexistent/layerpack-file")
        } throws: { error in
            "\(error)".contains("/nonexistent/layerpack-file")
        }
    }
}

@Suite struct HMACKnownAnswers {
    // RFC 4231 test cases 1 and 2.
    @Test func rfc4231Case1() {
        let key = Data(repeating: 0x0b, count: 20)
        #expect(HMACSHA256.authenticationCode(for: Data("Hi There".utf8), key: key).hex
            == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test func rfc4231Case2() {
        #expect(HMACSHA256.authenticationCode(for: Data("what do ya want for nothing?".utf8), key: Data("Jefe".utf8)).hex
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}

@Suite struct CRC32AndSHA1KnownAnswers {
    @Test func crc32OfTheCheckString() {
        let value = Data("123456789".utf8).withUnsafeBytes { CRC32.checksum($0) }
        #expect(value == 0xCBF4_3926)
        #expect(CRC32.base64(value) == "y/Q5Jg==")
        let pieces = Data("12345".utf8).withUnsafeBytes { first in Data("6789".utf8).withUnsafeBytes { CRC32.checksum($0, continuing: CRC32.checksum(first)) } }
        #expect(pieces == value)
    }

    @Test func sha1OfABC() {
        #expect(SHA1.hash(Data("abc".utf8)).hex == "a9993e364706816aba3e25717850c26c9cd0d89d")
    }
}
