import Foundation

/// STS AssumeRole for an assume-role profile, signed with its source credentials.
struct AssumeRole: Sendable {
    let roleARN: String
    let profile: String
    let sessionName: String
    let externalID: String?
    let durationSeconds: Int?
    let mfaSerial: String?
    let source: CredentialsProvider
    let configuration: AWSConfiguration
    let terminal: Terminal

    init(roleARN: String, profile: ProfileSettings, sessionName: String, source: CredentialsProvider, configuration: AWSConfiguration, terminal: Terminal) throws {
        self.roleARN = roleARN
        self.profile = profile.name
        self.sessionName = sessionName
        externalID = profile["external_id"]
        mfaSerial = profile["mfa_serial"]
        if let text = profile["duration_seconds"] {
            guard let seconds = Int(text), seconds > 0 else {
                throw AWSClientError.invalidProfile(
                    profile: profile.name, path: profile.configFile.path,
                    problem: "its `duration_seconds` is `\(text)`, but it must be a whole number of seconds (STS accepts 900 up to the role's maximum session duration)")
            }
            durationSeconds = seconds
        } else {
            durationSeconds = nil
        }
        self.source = source
        self.configuration = configuration
        self.terminal = terminal
    }

    /// The form STS gets, without the MFA code.
    var form: [(String, String)] {
        var form = [("RoleArn", roleARN), ("RoleSessionName", sessionName)]
        if let externalID { form.append(("ExternalId", externalID)) }
        if let durationSeconds { form.append(("DurationSeconds", String(durationSeconds))) }
        if let mfaSerial { form.append(("SerialNumber", mfaSerial)) }
        return form
    }

    func fetch() throws -> AWSCredentials {
        var form = self.form
        if let mfaSerial { form.append(("TokenCode", try terminal.readMFACode(profile: profile, serial: mfaSerial))) }
        return try STS.credentials(
            operation: "AssumeRole", form: form, signedWith: source, configuration: configuration,
            source: "assume-role (role `\(roleARN)`, profile `\(profile)`)"
        )
    }
}

/// The STS query API calls that give credentials.
enum STS {
    /// Sends `operation` with `form` to the STS endpoint, signed with `credentials` or (web identity)
    /// unsigned, and reads the `Credentials` of its answer; every failure names `source`.
    static func credentials(
        operation: String, form: [(String, String)], signedWith credentials: CredentialsProvider?, configuration: AWSConfiguration, source: String
    ) throws -> AWSCredentials {
        let form = [("Action", operation), ("Version", "2011-06-15")] + form
        let body = Data(form.map { "\($0.0)=\(SigV4Signer.percentEncode($0.1))" }.joined(separator: "&").utf8)
        let endpoint = configuration.endpoint(for: "sts").url
        let headers = ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"]
        let response: HTTPResponse
        do {
            if let credentials {
                var signed = configuration
                signed.credentials = credentials
                let sts = ServiceClient(signer: SigV4Signer(service: "sts", region: configuration.region), configuration: signed, endpoint: endpoint)
                response = try sts.send(ServiceClient.Call(operation: operation, method: "POST", path: "/", headers: headers, body: .data(body)))
            } else {
                let request = HTTPRequest(
                    method: "POST", url: endpoint + "/", headers: headers, body: .data(body),
                    timeout: ServiceClient.deadline(httpTimeout: configuration.httpTimeout, bodyBytes: UInt64(body.count))
                )
                response = try ServiceClient.sendUnsigned(request, operation: operation, configuration: configuration)
            }
        } catch let error as AWSClientError {
            throw AWSClientError.credentialsFetchFailed(source: source, reason: error.description)
        }
        do {
            return try WebIdentity.credentials(fromAnswer: String(decoding: response.body, as: UTF8.self))
        } catch let error as CredentialsAnswerError {
            throw AWSClientError.credentialsFetchFailed(source: source, reason: "STS's answer is refused: \(error.reason)")
        }
    }
}

/// Where an MFA code is asked for: a terminal, as the AWS CLI asks.
public struct Terminal: Sendable {
    /// The file descriptor the code is read from; the prompt is written to it too (a terminal is read
    /// and written through one descriptor), or to standard error when it cannot be.
    public let input: Int32

    public static let standardInput = Terminal(input: STDIN_FILENO)

    public init(input: Int32) {
        self.input = input
    }

    /// Asks for the code of the MFA device `serial`; without a terminal, a clear error instead of a hang
    /// or an empty code.
    func readMFACode(profile: String, serial: String) throws -> String {
        guard isatty(input) == 1 else {
            throw AWSClientError.mfaCodeUnavailable(profile: profile, serial: serial, reason: "standard input is not a terminal")
        }
        let prompt = Array("Enter MFA code for \(serial): ".utf8)
        let output = write(input, prompt, prompt.count) < 0 ? STDERR_FILENO : input
        // Not echoed, as the AWS CLI asks for it.
        var saved = termios()
        let echoOff = tcgetattr(input, &saved) == 0
        if echoOff {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(input, TCSANOW, &quiet)
        }
        defer {
            if echoOff { tcsetattr(input, TCSANOW, &saved) }
            _ = write(output, "\n", 1)
        }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(input, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 || byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        let code = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !code.isEmpty else {
            throw AWSClientError.mfaCodeUnavailable(profile: profile, serial: serial, reason: "no code was entered")
        }
        return code
    }
}
