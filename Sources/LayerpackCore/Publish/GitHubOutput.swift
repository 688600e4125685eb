import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The file `GITHUB_OUTPUT` names, where a GitHub Actions step appends its outputs.
///
/// Opened when the run starts, so a file that cannot be appended to stops the run before anything
/// remote changes. Each value is written as `name=value`, or, when it holds a line break, in the
/// runner's multi-line form `name<<DELIMITER`, the value, `DELIMITER`, with a random delimiter that
/// does not occur in the value; so no value (a path, an S3 key, a server's answer) can add outputs.
public final class GitHubOutputFile {
    public let path: String
    private let descriptor: Int32

    /// Opens `path` for appending, creating it when its folder exists. Call it before publishing: its error says nothing was.
    public init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw PublishError.gitHubOutputNotWritable(path: path, reason: String(cString: strerror(errno))) }
    }

    /// The file `GITHUB_OUTPUT` names, opened; nil when it is unset or empty.
    public static func fromEnvironment() throws -> GitHubOutputFile? {
        guard let path = ProcessInfo.processInfo.environment["GITHUB_OUTPUT"], !path.isEmpty else { return nil }
        return try GitHubOutputFile(path: path)
    }

    deinit { close(descriptor) }

    /// Appends the outputs in one write; a nil value is written empty.
    public func append(_ outputs: [(String, String?)]) throws {
        let text = Data(GitHubOutputFile.format(outputs).utf8)
        guard text.withUnsafeBytes({ FileIO.writeAll(descriptor, $0) }) else {
            throw PublishError.gitHubOutputWriteFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// The outputs in the runner's format.
    public static func format(_ outputs: [(String, String?)]) -> String {
        outputs.map { name, value in
            let value = value ?? ""
            guard value.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) else { return "\(name)=\(value)\n" }
            var delimiter: String
            repeat { delimiter = "layerpack_eof_\(UUID().uuidString)" } while value.contains(delimiter)
            return "\(name)<<\(delimiter)\n\(value)\n\(delimiter)\n"
        }.joined()
    }
}
