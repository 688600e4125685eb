import Foundation

/// An access key pair, with a session token for temporary credentials.
///
/// Its `description`, `debugDescription` and mirror reveal none of the values, so credentials cannot end
/// up in logs, errors or `dump` output by accident.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let accessKeyID: String
    public let secretAccessKey: String
    public let sessionToken: String?
    /// When temporary credentials stop working.
    public let expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        var text = "AWSCredentials(<redacted>"
        if sessionToken != nil { text += ", temporary" }
        if let expiration { text += ", expires \(ISO8601DateFormatter().string(from: expiration))" }
        return text + ")"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
