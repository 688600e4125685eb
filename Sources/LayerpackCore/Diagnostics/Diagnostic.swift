import AWSClient

/// An error, warning or note as a value: what the CLI prints, with where it applies. Collected per run
/// and per target, and turned into text only by `description`.
public struct Diagnostic: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable {
        case error, warning, note
    }

    /// Where a diagnostic applies.
    public enum Location: Sendable, Equatable, Codable {
        /// A line (and column) of a file (the config), or the whole file.
        case file(path: String, line: Int?, column: Int? = nil)
        /// A publish target.
        case target(PublishTarget)
    }

    public let severity: Severity
    public let message: String
    public let location: Location?

    public init(_ severity: Severity, _ message: String, at location: Location? = nil) {
        self.severity = severity
        self.message = message
        self.location = location
    }

    /// An error as a diagnostic: its own when it knows its location, else its description.
    public init(error: any Error, at location: Location? = nil) {
        if let diagnosable = error as? any DiagnosticConvertible {
            self = diagnosable.diagnostic
        } else {
            self.init(.error, "\(error)", at: location)
        }
    }

    /// `path:line: error: message`, `region (account): warning: message`, or `error: message`.
    public var description: String {
        switch location {
        case .file(let path, let line?, let column?): return "\(path):\(line):\(column): \(severity.rawValue): \(message)"
        case .file(let path, let line?, nil): return "\(path):\(line): \(severity.rawValue): \(message)"
        case .file(let path, nil, _): return "\(path): \(severity.rawValue): \(message)"
        case .target(let target): return "\(target): \(severity.rawValue): \(message)"
        case nil: return "\(severity.rawValue): \(message)"
        }
    }
}

/// An error that knows its location and severity, so it is printed from its parts rather than by
/// recognising its text.
public protocol DiagnosticConvertible: Error {
    var diagnostic: Diagnostic { get }
}

extension AWSClientError: DiagnosticConvertible {
    public var diagnostic: Diagnostic {
        guard let fileLine else { return Diagnostic(.error, description) }
        return Diagnostic(.error, fileLine.message, at: .file(path: fileLine.path, line: fileLine.line))
    }
}
