import Foundation
import Synchronization

/// Keeps secrets out of every message, whatever put them there (our own text, libcurl's, a server's echo).
///
/// Secrets are registered as they are resolved: secret keys and session tokens as credentials are fetched,
/// the passwords of endpoint and proxy URLs, bearer tokens sent to credential endpoints. `redact(_:)` is
/// applied where errors and progress become text; besides the registered strings it removes the
/// user-info of any URL and any `Signature=` value (an echoed `Authorization` header or presigned URL).
public enum Redaction {
    /// What a secret is replaced with.
    public static let placeholder = "<redacted>"
    /// Shorter strings are not registered: they would match ordinary words. Real secret keys have 40
    /// characters and session tokens hundreds; user-info is removed from URLs whatever its length.
    static let minimumLength = 8

    private static let secrets = Mutex<Set<String>>([])

    /// Registers `secret`, and its percent-encoded form, to be removed from every message from now on.
    public static func register(_ secret: String?) {
        guard let secret, secret.count >= minimumLength else { return }
        secrets.withLock { secrets in
            secrets.insert(secret)
            secrets.insert(SigV4Signer.percentEncode(secret))
        }
    }

    /// Registers the password in `url`'s user-info, and the `user:password` pair in the Base64 form Basic
    /// authentication sends it in.
    static func registerPassword(in url: String) {
        guard let components = URLComponents(string: url), let password = components.password, !password.isEmpty else { return }
        register(password)
        register(components.percentEncodedPassword)
        register(Data("\(components.user ?? ""):\(password)".utf8).base64EncodedString())
    }

    /// `text` without registered secrets, URL user-info or `Signature=` values.
    public static func redact(_ text: String) -> String {
        // `scheme://user:password@host`: user-info ends at the first `@` before any `/`, space or quote.
        var text = replaceRuns(in: text, after: "://", while: { !Self.userInfoEnd.contains($0) && $0 > 0x20 }) { run, next in
            next == UInt8(ascii: "@") && !run.isEmpty
        }
        // `Signature=` and hex: an echoed `Authorization` header, or `X-Amz-Signature=` in a presigned URL.
        text = replaceRuns(in: text, after: "Signature=", while: { isHexDigit($0) }) { run, _ in run.count >= 16 }
        // Longest first, so a secret that contains another is removed whole.
        for secret in secrets.withLock({ $0 }).sorted(by: { $0.count > $1.count }) where text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: placeholder)
        }
        return text
    }

    private static let userInfoEnd = Set("/@`'\"<>".utf8)

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// Replaces with `placeholder` each run of bytes that follows `marker` and that `accepts` takes,
    /// where `replace(run, the byte after it)` says so. One pass, in time linear in the text's length
    /// (a server's message may be megabytes).
    private static func replaceRuns(
        in text: String, after marker: String, while accepts: (UInt8) -> Bool, where replace: (ArraySlice<UInt8>, UInt8?) -> Bool
    ) -> String {
        guard text.contains(marker) else { return text }
        let bytes = Array(text.utf8), pattern = Array(marker.utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard bytes[index...].starts(with: pattern) else {
                result.append(bytes[index])
                index += 1
                continue
            }
            result += pattern
            let start = index + pattern.count
            var end = start
            while end < bytes.count, accepts(bytes[end]) { end += 1 }
            result += replace(bytes[start..<end], end < bytes.count ? bytes[end] : nil) ? Array(placeholder.utf8) : Array(bytes[start..<end])
            index = end
        }
        return String(decoding: result, as: UTF8.self)
    }
}

extension Redaction {
    /// At most `limit` characters of text a server sent (redacted first, so no secret is cut in half),
    /// with a note saying how long it was.
    static func excerpt(_ text: String, limit: Int = 1024) -> String {
        let text = redact(text)
        guard text.count > limit else { return text }
        return "\(text.prefix(limit))… [cut here: the server sent \(text.count) characters]"
    }
}
