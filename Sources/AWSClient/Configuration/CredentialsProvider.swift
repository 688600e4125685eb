import Foundation
import Synchronization

/// Hands out credentials from one source, fetching them again shortly before temporary ones expire.
public final class CredentialsProvider: Sendable, CustomStringConvertible {
    /// Where the credentials come from, for messages: never the credentials themselves.
    public let source: String
    private let fetch: @Sendable () throws -> AWSCredentials
    private let clock: @Sendable () -> Date
    private let cached: Mutex<AWSCredentials?>

    public init(source: String, clock: @escaping @Sendable () -> Date = Date.init, fetch: @escaping @Sendable () throws -> AWSCredentials) {
        self.source = source
        self.fetch = fetch
        self.clock = clock
        self.cached = Mutex(nil)
    }

    public static func fixed(_ credentials: AWSCredentials, source: String = "credentials given in code") -> CredentialsProvider {
        CredentialsProvider(source: source) { credentials }
    }

    /// Current credentials; fetched anew when none are cached or the cached ones expire within 5 minutes.
    /// Their secret key and session token are registered with `Redaction`, so no message can show them.
    public func credentials() throws -> AWSCredentials {
        try cached.withLock { cached in
            if let current = cached, current.expiration.map({ $0.timeIntervalSince(clock()) > 300 }) ?? true {
                return current
            }
            let fresh = try fetch()
            Redaction.register(fresh.secretAccessKey)
            Redaction.register(fresh.sessionToken)
            cached = fresh
            return fresh
        }
    }

    public var description: String { "credentials from \(source)" }
}
