internal import CLibcrypto
import Foundation

/// A SHA-256 digest computed by OpenSSL libcrypto, fed incrementally or all at once.
public struct SHA256: ~Copyable {
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
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
        var bytes = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &bytes, &length)
        return Digest(bytes: Array(bytes.prefix(Int(length))))
    }

    public static func hash(_ data: some DataProtocol) -> Digest {
        var hasher = SHA256()
        hasher.update(data)
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
        return Digest(bytes: Array(output.prefix(Int(length))))
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
        return Digest(bytes: Array(output.prefix(Int(length))))
    }
}

/// The bytes of a digest, with the encodings AWS and Terraform use.
public struct Digest: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Lowercase hex, as SigV4 and our lock file write it.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Standard base64 with padding: Terraform's `filebase64sha256()` and Lambda's `CodeSha256`.
    public var base64: String { Data(bytes).base64EncodedString() }

    public var description: String { hex }
}

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
