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
        var text = text
        // Longest first, so a secret that contains another is removed whole.
        for secret in secrets.withLock({ $0 }).sorted(by: { $0.count > $1.count }) where text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: placeholder)
        }
        text.replace(userInfo) { "\($0.output.1)\(placeholder)@" }
        text.replace(signature) { "\($0.output.1)\(placeholder)" }
        return text
    }

    /// `scheme://user:password@`: user-info ends at the first `@` before any `/`, space or quote.
    nonisolated(unsafe) private static let userInfo = #/([A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@`'"<>]+@/#
    /// `Signature=` followed by hex, as in an `Authorization` header or `X-Amz-Signature=` in a URL.
    nonisolated(unsafe) private static let signature = #/(Signature=)[0-9A-Fa-f]{16,}/#
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
