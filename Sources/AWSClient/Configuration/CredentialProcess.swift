import Foundation

/// A profile's `credential_process`: a command run without a shell, whose standard output is JSON with
/// the credentials. Its standard error and input stay the user's, so it can prompt and explain.
struct CredentialProcess: Sendable {
    let arguments: [String]
    let profile: String
    let environment: [String: String]

    init(command: String, profile: String, environment: [String: String]) throws {
        guard let arguments = Self.split(command) else {
            throw AWSClientError.credentialProcessFailed(profile: profile, reason: "its command line has a quote that is never closed")
        }
        guard !arguments.isEmpty else {
            throw AWSClientError.credentialProcessFailed(profile: profile, reason: "its command line is empty")
        }
        self.arguments = arguments
        self.profile = profile
        self.environment = environment
    }

    /// Splits a command line into arguments as a POSIX shell's quoting does (Python's `shlex.split`, which
    /// the AWS CLI uses): whitespace separates, `'…'` is literal, `"…"` lets `\` escape `\ " $ ``, and
    /// `\` outside quotes escapes any character. Nil when a quote is not closed.
    static func split(_ line: String) -> [String]? {
        var arguments: [String] = []
        var current = ""
        var inArgument = false
        var characters = line.makeIterator()
        while let character = characters.next() {
            switch character {
            case " ", "\t", "\n", "\r":
                if inArgument { arguments.append(current) }
                current = ""
                inArgument = false
            case "'":
                inArgument = true
                while true {
                    guard let next = characters.next() else { return nil }
                    if next == "'" { break }
                    current.append(next)
                }
            case "\"":
                inArgument = true
                while true {
                    guard let next = characters.next() else { return nil }
                    if next == "\"" { break }
                    if next == "\\" {
                        guard let escaped = characters.next() else { return nil }
                        if !["\\", "\"", "$", "`", "\n"].contains(escaped) { current.append("\\") }
                        if escaped != "\n" { current.append(escaped) }
                    } else {
                        current.append(next)
                    }
                }
            case "\\":
                inArgument = true
                if let escaped = characters.next(), escaped != "\n" { current.append(escaped) }
            default:
                inArgument = true
                current.append(character)
            }
        }
        if inArgument { arguments.append(current) }
        return arguments
    }

    /// The program's path: as given when it has a `/`, else the first match on `PATH`.
    func executable() throws -> String {
        let name = arguments[0]
        if name.contains("/") { return name }
        let folders = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        guard let path = folders.map({ "\($0.isEmpty ? "." : $0)/\(name)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw AWSClientError.credentialProcessFailed(profile: profile, reason: "its program `\(name)` is not on `PATH`")
        }
        return path
    }

    func fetch() throws -> AWSCredentials {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        do {
            try process.run()
        } catch {
            throw AWSClientError.credentialProcessFailed(profile: profile, reason: "`\(arguments[0])` could not be started (\(error.localizedDescription))")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit else {
            throw AWSClientError.credentialProcessFailed(profile: profile, reason: "`\(arguments[0])` was killed by signal \(process.terminationStatus)")
        }
        guard process.terminationStatus == 0 else {
            throw AWSClientError.credentialProcessFailed(profile: profile, reason: "`\(arguments[0])` exited with status \(process.terminationStatus)")
        }
        return try Self.credentials(fromOutput: data, profile: profile)
    }

    /// The credentials in the program's output. Its text is never shown: it may hold a secret key.
    static func credentials(fromOutput data: Data, profile: String) throws -> AWSCredentials {
        func failure(_ reason: String) -> AWSClientError { .credentialProcessFailed(profile: profile, reason: reason) }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw failure("its output is not a JSON object (\(data.count) bytes, not shown as they may hold a secret)")
        }
        guard let version = json["Version"] else { throw failure("its JSON has no `Version`") }
        guard (version as? Int) == 1 else { throw failure("its JSON has `Version` `\(version)`, but only version `1` is understood") }
        func string(_ key: String, required: Bool) throws -> String? {
            guard let value = json[key], !(value is NSNull) else {
                if required { throw failure("its JSON has no `\(key)`") }
                return nil
            }
            guard let text = value as? String, !text.isEmpty else { throw failure("its JSON's `\(key)` is not a non-empty string") }
            return text
        }
        let expiration: Date?
        do {
            expiration = try string("Expiration", required: false).map(parseExpiration)
        } catch let error as CredentialsAnswerError {
            throw failure("its JSON is refused: \(error.reason)")
        }
        return AWSCredentials(
            accessKeyID: try string("AccessKeyId", required: true)!, secretAccessKey: try string("SecretAccessKey", required: true)!,
            sessionToken: try string("SessionToken", required: false), expiration: expiration
        )
    }
}
