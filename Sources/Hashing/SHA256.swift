internal import CLibcrypto
import Foundation

/// OpenSSL's SHA-256, fetched from its provider once: given `EVP_sha256()`, every hasher set up would
/// look the algorithm up again (under a lock shared by all threads).
nonisolated(unsafe) private let algorithm: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()

/// A SHA-256 digest computed by OpenSSL libcrypto, fed incrementally or all at once.
public struct SHA256: ~Copyable {
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, algorithm, nil) == 1 else {
            // Only an allocation failure gets here; there is nothing a caller could do about it.
            fatalError("OpenSSL could not set up a SHA-256 context: \(OpenSSLError.drainQueue())")
        }
        self.context = context
    }

    private init(context: OpaquePointer) { self.context = context }

    deinit { EVP_MD_CTX_free(context) }

    /// A second hasher that has seen the same bytes, to go on from this point more than once.
    public func copy() -> SHA256 {
        guard let copy = EVP_MD_CTX_new(), EVP_MD_CTX_copy_ex(copy, context) == 1 else {
            fatalError("OpenSSL could not copy a SHA-256 context: \(OpenSSLError.drainQueue())")
        }
        return SHA256(context: copy)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    public mutating func update(_ data: some DataProtocol) {
        for region in data.regions { region.withUnsafeBytes { update($0) } }
    }

    public consuming func finalize() -> Digest {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Int(EVP_MAX_MD_SIZE)) { bytes in
            var length: UInt32 = 0
            EVP_DigestFinal_ex(context, bytes.baseAddress, &length)
            return Digest(bytes: UnsafeBufferPointer(rebasing: bytes[..<Int(length)]))
        }
    }

    public static func hash(_ data: some DataProtocol) -> Digest {
        var hasher = SHA256()
        hasher.update(data)
        return hasher.finalize()
    }

    /// The digest of `bytes` (what a worker hashes for each file).
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Digest {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// Hashes a file in 1 MiB reads into one buffer, so memory does not grow with the file. (Plain
    /// `read(2)`: `FileHandle.read(upToCount:)` reads a page at a time on Linux, 250 calls per MiB.)
    public static func hash(fileAt path: String) throws -> Digest {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw HashingError.unreadableFile(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(descriptor, buffer.baseAddress, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw HashingError.unreadableFile(path: path, reason: String(cString: strerror(errno))) }
            if count == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
        return hasher.finalize()
    }
}

/// HMAC-SHA256, as SigV4 uses it.
public enum HMACSHA256 {
    public static func authenticationCode(for message: some DataProtocol, key: some DataProtocol) -> Digest {
        let keyBytes = Array(key)
        let messageBytes = Array(message)
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result = keyBytes.withUnsafeBytes { keyBuffer in
            messageBytes.withUnsafeBytes { messageBuffer in
                HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(keyBuffer.count),
                     messageBuffer.baseAddress?.assumingMemoryBound(to: UInt8.self), messageBuffer.count,
                     &output, &length)
            }
        }
        guard result != nil else { fatalError("OpenSSL HMAC-SHA256 failed: \(OpenSSLError.drainQueue())") }
        return Digest(bytes: output.prefix(Int(length)))
    }
}

/// SHA-1, only where a format names files by it (the AWS CLI's SSO token cache); never for integrity.
public enum SHA1 {
    public static func hash(_ data: some DataProtocol) -> Digest {
        let bytes = Array(data)
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &output, &length, EVP_sha1(), nil) }
        guard result == 1 else { fatalError("OpenSSL SHA-1 failed: \(OpenSSLError.drainQueue())") }
        return Digest(bytes: output.prefix(Int(length)))
    }
}

/// The bytes of a digest, with the encodings AWS and Terraform use. Up to 32 bytes (SHA-256 and
/// HMAC-SHA256 fill them, SHA-1 takes 20), kept inline: a build holds one per file, and a digest that
/// allocated would cost a heap block and reference counting each.
public struct Digest: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    @usableFromInline let count: UInt8

    /// Inlinable, so that it is compiled for the caller's collection (copied in one move where contiguous).
    @inlinable public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count <= 32, "a digest holds at most 32 bytes")
        count = UInt8(bytes.count)
        Swift.withUnsafeMutableBytes(of: &words) { words in
            if bytes.withContiguousStorageIfAvailable({ words.copyMemory(from: UnsafeRawBufferPointer($0)) }) == nil {
                for (index, byte) in bytes.enumerated() { words[index] = byte }
            }
        }
    }

    /// Calls `body` with the digest's bytes.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var words = words
        return try Swift.withUnsafeBytes(of: &words) { try body(UnsafeRawBufferPointer(rebasing: $0[..<Int(count)])) }
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Lowercase hex, as SigV4 and our lock file write it.
    public var hex: String {
        String(unsafeUninitializedCapacity: Int(count) * 2) { out in
            writeHex(into: UnsafeMutableRawBufferPointer(out))
            return Int(count) * 2
        }
    }

    /// Writes the lowercase hex digits into the start of `out`, which has room for them.
    public func writeHex(into out: UnsafeMutableRawBufferPointer) {
        withUnsafeBytes { bytes in
            for (index, byte) in bytes.enumerated() {
                out[2 * index] = hexDigit(byte >> 4)
                out[2 * index + 1] = hexDigit(byte & 0x0f)
            }
        }
    }

    /// Standard base64 with padding: Terraform's `filebase64sha256()` and Lambda's `CodeSha256`.
    public var base64: String { withUnsafeBytes { Data($0).base64EncodedString() } }

    public var description: String { hex }

    public static func == (a: Digest, b: Digest) -> Bool {
        a.count == b.count && a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// `0`–`9`, `a`–`f`.
private func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble }

public enum HashingError: Error, CustomStringConvertible {
    case unreadableFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "Could not read `\(path)` to hash it: \(reason)."
        }
    }
}

/// OpenSSL reports failures on a thread-local queue; this drains it into one line.
enum OpenSSLError {
    static func drainQueue() -> String {
        var messages: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            messages.append(String(decoding: text, as: UTF8.self))
        }
        return messages.isEmpty ? "no detail from OpenSSL" : messages.joined(separator: "; ")
    }
}
