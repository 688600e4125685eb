import Foundation

/// botocore's default credential chain; see `AWSConfiguration.resolve` for the order.
///
/// Each source either gives a provider or adds to `searched` why it did not apply, so "no credentials"
/// lists every place looked. A profile's own sources (assume-role, web identity, SSO, keys,
/// `credential_process`) serve the chosen profile and, for `source_profile`, the profiles it names.
struct CredentialChain {
    let environment: [String: String]
    /// A profile passed in code (a `--profile` flag) wins over credentials in the environment.
    let explicitProfile: Bool
    let profile: ProfileSettings
    /// Region, STS and SSO endpoints, transport, retries and clock for the fetches.
    let configuration: AWSConfiguration
    /// Where an MFA code is asked for.
    let terminal: Terminal

    private var env: [String: String] { environment }
    private var clock: @Sendable () -> Date { configuration.clock }

    func resolve() throws -> CredentialsProvider {
        var searched: [String] = []

        if explicitProfile {
            searched.append("environment variables (skipped: the profile `\(profile.name)` was chosen explicitly)")
        } else if let provider = try fromEnvironment() {
            return provider
        } else {
            searched.append("`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`")
        }

        if let provider = try fromProfile(profile, isSource: false, visited: [], searched: &searched) {
            return provider
        }

        if let container = try ContainerCredentials(environment: env, transport: configuration.transport) {
            return try eager(containerProvider(container))
        }
        searched.append("container credentials (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `AWS_CONTAINER_CREDENTIALS_FULL_URI`)")

        if env["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" {
            searched.append("EC2 instance metadata (skipped: `AWS_EC2_METADATA_DISABLED=true`)")
        } else {
            let metadata = instanceMetadata()
            do {
                return try eager(instanceMetadataProvider(metadata))
            } catch let error as AWSClientError {
                searched.append("EC2 instance metadata at `\(metadata.endpoint)` (\(error))")
            }
        }
        throw AWSClientError.noCredentials(searched: searched)
    }

    /// The sources a profile itself names, in botocore's order: assume-role, web identity, SSO, keys in
    /// the credentials file, `credential_process`, keys in the config file. For the chosen profile the
    /// web identity variables of the environment count too; for a `source_profile` they do not.
    private func fromProfile(_ profile: ProfileSettings, isSource: Bool, visited: [String], searched: inout [String]) throws -> CredentialsProvider? {
        // A source profile with keys of its own uses them, even when it has a role too (as botocore).
        let sourceWithKeys = isSource && staticKeys(profile.settings) != nil
        if let roleARN = profile["role_arn"], profile["source_profile"] != nil || profile["credential_source"] != nil, !sourceWithKeys {
            return try eager(assumeRole(roleARN, profile: profile, visited: visited + [profile.name]))
        }
        searched.append("assume-role (`role_arn` with `source_profile` or `credential_source` in profile `\(profile.name)`)")

        let tokenFile = (isSource ? nil : env["AWS_WEB_IDENTITY_TOKEN_FILE"]) ?? profile["web_identity_token_file"]
        let webIdentityRole = (isSource ? nil : env["AWS_ROLE_ARN"]) ?? profile["role_arn"]
        if let tokenFile, let roleARN = webIdentityRole {
            let sessionName = (isSource ? nil : env["AWS_ROLE_SESSION_NAME"]) ?? profile["role_session_name"] ?? defaultSessionName()
            let stsEndpoint = configuration.endpoint(for: "sts").url
            let configuration = configuration
            return try eager(CredentialsProvider(source: "web identity (role `\(roleARN)` via `\(stsEndpoint)`)", clock: clock) {
                try WebIdentity(tokenFile: tokenFile, roleARN: roleARN, sessionName: sessionName, configuration: configuration).fetch()
            })
        }
        searched.append(isSource ? "web identity (`web_identity_token_file` and `role_arn` in profile `\(profile.name)`)"
                                 : "web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`)")

        if let sso = try SSOCredentials(profile: profile, environment: env, configuration: configuration) {
            return try eager(CredentialsProvider(source: "SSO (account `\(sso.accountID)`, role `\(sso.roleName)`, profile `\(profile.name)`)", clock: clock) {
                try sso.fetch()
            })
        }
        searched.append("SSO (`sso_session` or `sso_start_url` in profile `\(profile.name)`)")

        if let credentials = staticKeys(profile.credentialsFile.credentialsProfile(profile.name)) {
            return .fixed(credentials, source: "profile `\(profile.name)` in `\(profile.credentialsFile.path)`")
        }
        searched.append("profile `\(profile.name)` in the credentials file `\(profile.credentialsFile.path)`")

        if let command = profile["credential_process"] {
            let process = try CredentialProcess(command: command, profile: profile.name, environment: environment)
            return try eager(CredentialsProvider(source: "the `credential_process` of profile `\(profile.name)`", clock: clock) {
                try process.fetch()
            })
        }
        searched.append("`credential_process` in profile `\(profile.name)`")

        if let credentials = staticKeys(profile.configFile.configProfile(profile.name)) {
            return .fixed(credentials, source: "profile `\(profile.name)` in `\(profile.configFile.path)`")
        }
        searched.append("profile `\(profile.name)` in the config file `\(profile.configFile.path)`")
        return nil
    }

    /// STS AssumeRole for `roleARN`, signed with the credentials of the profile's `source_profile` (itself
    /// resolved through `fromProfile`, so chains of roles work) or of its `credential_source`.
    private func assumeRole(_ roleARN: String, profile: ProfileSettings, visited: [String]) throws -> CredentialsProvider {
        let source: CredentialsProvider
        switch (profile["source_profile"], profile["credential_source"]) {
        case (_?, _?):
            throw invalidProfile(profile, "it sets both `source_profile` and `credential_source`; keep one of them")
        case (let name?, nil):
            guard let sourceProfile = ProfileSettings(name: name, configFile: profile.configFile, credentialsFile: profile.credentialsFile) else {
                throw invalidProfile(profile, "its `source_profile` `\(name)` does not exist in `\(profile.configFile.path)` or `\(profile.credentialsFile.path)`")
            }
            // A profile may name itself when it has keys: the role is then assumed with them.
            if visited.contains(name), !(name == profile.name && staticKeys(sourceProfile.settings) != nil) {
                throw invalidProfile(profile, "its `source_profile` chain loops: \((visited + [name]).map { "`\($0)`" }.joined(separator: " → ")); the last profile of a chain needs credentials of its own")
            }
            var ignored: [String] = []
            guard let found = try fromProfile(sourceProfile, isSource: true, visited: visited, searched: &ignored) else {
                throw invalidProfile(profile, "its `source_profile` `\(name)` has no credentials: give it `aws_access_key_id` and `aws_secret_access_key`, a `role_arn`, SSO settings or a `credential_process`")
            }
            source = found
        case (nil, let kind?):
            source = try credentialSource(kind, profile: profile)
        case (nil, nil):
            throw invalidProfile(profile, "it has a `role_arn` but neither `source_profile` nor `credential_source`")
        }
        let request = try AssumeRole(
            roleARN: roleARN, profile: profile, sessionName: profile["role_session_name"] ?? defaultSessionName(), source: source,
            configuration: configuration, terminal: terminal
        )
        return CredentialsProvider(source: "assume-role (role `\(roleARN)`, profile `\(profile.name)`, with \(source))", clock: clock) {
            try request.fetch()
        }
    }

    /// `credential_source`: where an assume-role profile's source credentials come from outside the files.
    private func credentialSource(_ kind: String, profile: ProfileSettings) throws -> CredentialsProvider {
        switch kind {
        case "Environment":
            guard let provider = try fromEnvironment() else {
                throw invalidProfile(profile, "its `credential_source = Environment` needs `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, which are not set")
            }
            return provider
        case "EcsContainer":
            guard let container = try ContainerCredentials(environment: env, transport: configuration.transport) else {
                throw invalidProfile(profile, "its `credential_source = EcsContainer` needs `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `AWS_CONTAINER_CREDENTIALS_FULL_URI`, which are not set")
            }
            return containerProvider(container)
        case "Ec2InstanceMetadata":
            return instanceMetadataProvider(instanceMetadata())
        default:
            throw invalidProfile(profile, "its `credential_source` is `\(kind)`, but it must be `Environment`, `Ec2InstanceMetadata` or `EcsContainer`")
        }
    }

    private func containerProvider(_ container: ContainerCredentials) -> CredentialsProvider {
        CredentialsProvider(source: "the container credentials endpoint `\(container.url)`", clock: clock) { try container.fetch() }
    }

    private func instanceMetadata() -> InstanceMetadata {
        let endpoint = env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] ?? profile["ec2_metadata_service_endpoint"] ?? "http://169.254.169.254"
        return InstanceMetadata(endpoint: endpoint, transport: configuration.transport)
    }

    private func instanceMetadataProvider(_ metadata: InstanceMetadata) -> CredentialsProvider {
        CredentialsProvider(source: "EC2 instance metadata at `\(metadata.endpoint)`", clock: clock) { try metadata.fetch() }
    }

    private func defaultSessionName() -> String { "layerpack-\(Int(clock().timeIntervalSince1970))" }

    private func fromEnvironment() throws -> CredentialsProvider? {
        switch (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) {
        case (nil, nil):
            return nil
        case (let id?, let secret?):
            // `AWS_SECURITY_TOKEN` is the session token's older name, still read by botocore.
            let credentials = AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: env["AWS_SESSION_TOKEN"] ?? env["AWS_SECURITY_TOKEN"])
            return .fixed(credentials, source: "environment variables")
        case (nil, _):
            throw AWSClientError.invalidSetting(name: "AWS_ACCESS_KEY_ID", value: "", expected: "set too, since `AWS_SECRET_ACCESS_KEY` is")
        case (_, nil):
            throw AWSClientError.invalidSetting(name: "AWS_SECRET_ACCESS_KEY", value: "", expected: "set too, since `AWS_ACCESS_KEY_ID` is")
        }
    }

    private func staticKeys(_ settings: [String: String]?) -> AWSCredentials? {
        guard let settings, let id = settings["aws_access_key_id"], let secret = settings["aws_secret_access_key"] else { return nil }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: settings["aws_session_token"] ?? settings["aws_security_token"])
    }

    /// Fetches once now, so a broken source fails at resolution and not halfway through an upload.
    private func eager(_ provider: CredentialsProvider) throws -> CredentialsProvider {
        _ = try provider.credentials()
        return provider
    }

    private func invalidProfile(_ profile: ProfileSettings, _ problem: String) -> AWSClientError {
        .invalidProfile(profile: profile.name, path: profile.configFile.path, problem: problem)
    }
}

/// The JSON the container and instance metadata endpoints answer with.
private struct TemporaryCredentials: Decodable {
    var AccessKeyId: String
    var SecretAccessKey: String
    var Token: String?
    var Expiration: String?

    func credentials() throws -> AWSCredentials {
        AWSCredentials(accessKeyID: AccessKeyId, secretAccessKey: SecretAccessKey, sessionToken: Token, expiration: try Expiration.map(parseExpiration))
    }
}

/// ISO 8601 with or without fractional seconds, as STS and the metadata endpoints write it.
func parseTimestamp(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions.insert(.withFractionalSeconds)
    return formatter.date(from: text)
}

/// The `Expiration` of temporary credentials: a date, or the credentials are refused (they could not be
/// refreshed in time).
func parseExpiration(_ text: String) throws -> Date {
    guard let date = parseTimestamp(text) else {
        throw CredentialsAnswerError("its `Expiration` `\(Redaction.excerpt(text, limit: 100))` is not an ISO 8601 date and time such as `2026-11-26T08:00:00Z`")
    }
    return date
}

/// Why an answer with credentials was refused; becomes the reason of `credentialsFetchFailed`.
struct CredentialsAnswerError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

private func decodeCredentials(_ response: HTTPResponse, source: String) throws -> AWSCredentials {
    guard response.isSuccess else {
        throw AWSClientError.credentialsFetchFailed(source: source, reason: "HTTP \(response.statusCode): \(Redaction.excerpt(String(decoding: response.body, as: UTF8.self), limit: 200))")
    }
    let answer: TemporaryCredentials
    do {
        answer = try JSONDecoder().decode(TemporaryCredentials.self, from: response.body)
    } catch {
        throw AWSClientError.credentialsFetchFailed(source: source, reason: "the answer is not the expected JSON (\(error))")
    }
    do {
        return try answer.credentials()
    } catch let error as CredentialsAnswerError {
        throw AWSClientError.credentialsFetchFailed(source: source, reason: "the answer is refused: \(error.reason)")
    }
}

/// STS AssumeRoleWithWebIdentity: an unsigned call trading an OIDC token for role credentials.
struct WebIdentity {
    let tokenFile: String
    let roleARN: String
    let sessionName: String
    let configuration: AWSConfiguration

    func fetch() throws -> AWSCredentials {
        let source = "web identity (role `\(roleARN)`)"
        guard let data = FileManager.default.contents(atPath: tokenFile) else {
            throw AWSClientError.credentialsFetchFailed(source: source, reason: "the token file `\(tokenFile)` named by `AWS_WEB_IDENTITY_TOKEN_FILE` cannot be read")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        Redaction.register(token)
        return try STS.credentials(
            operation: "AssumeRoleWithWebIdentity",
            form: [("RoleArn", roleARN), ("RoleSessionName", sessionName), ("WebIdentityToken", token)],
            signedWith: nil, configuration: configuration, source: source
        )
    }

    /// The four values of the answer's `Credentials` element, each required: an answer cut short, or
    /// one whose `Expiration` is not a date, is refused rather than half used.
    static func credentials(fromAnswer xml: String) throws -> AWSCredentials {
        guard xml.contains("<Credentials>"), xml.contains("</Credentials>") else {
            throw CredentialsAnswerError("it holds no complete `<Credentials>` element (it may have been cut short)")
        }
        func required(_ name: String) throws -> String {
            guard let value = XML.value(of: name, in: xml), !value.isEmpty else {
                throw CredentialsAnswerError("its `<Credentials>` element has no `\(name)`")
            }
            return value
        }
        return AWSCredentials(
            accessKeyID: try required("AccessKeyId"), secretAccessKey: try required("SecretAccessKey"),
            sessionToken: try required("SessionToken"), expiration: try parseExpiration(required("Expiration"))
        )
    }
}

/// ECS/EKS/CodeBuild container credentials.
struct ContainerCredentials: Sendable {
    let url: String
    let tokenFile: String?
    let token: String?
    let transport: any HTTPTransport

    /// Nil when the environment names no container endpoint.
    init?(environment env: [String: String], transport: any HTTPTransport) throws {
        if let relative = env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] {
            url = "http://169.254.170.2" + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] {
            guard let components = URLComponents(string: full), let host = components.host else {
                throw AWSClientError.invalidSetting(name: "AWS_CONTAINER_CREDENTIALS_FULL_URI", value: full, expected: "an absolute URL")
            }
            let allowedHosts = ["localhost", "127.0.0.1", "::1", "[::1]", "169.254.170.2", "169.254.170.23", "fd00:ec2::23", "[fd00:ec2::23]"]
            guard components.scheme == "https" || (components.scheme == "http" && (allowedHosts.contains(host) || host.hasPrefix("127."))) else {
                throw AWSClientError.invalidSetting(
                    name: "AWS_CONTAINER_CREDENTIALS_FULL_URI", value: full,
                    expected: "an `https://` URL, or `http://` to a loopback address or the ECS/EKS agent (169.254.170.2, 169.254.170.23)")
            }
            url = full
        } else {
            return nil
        }
        tokenFile = env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
        token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        self.transport = transport
    }

    func fetch() throws -> AWSCredentials {
        let source = "the container credentials endpoint `\(url)`"
        var headers: [String: String] = [:]
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else {
                throw AWSClientError.credentialsFetchFailed(source: source, reason: "the token file `\(tokenFile)` named by `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` cannot be read")
            }
            headers["Authorization"] = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let token {
            headers["Authorization"] = token
        }
        Redaction.register(headers["Authorization"])
        let request = HTTPRequest(method: "GET", url: url, headers: headers, timeout: .seconds(5), connectTimeout: .seconds(2), bypassProxy: true)
        do {
            return try decodeCredentials(transport.send(request), source: source)
        } catch let error as AWSClientError {
            if case .credentialsFetchFailed = error { throw error }
            throw AWSClientError.credentialsFetchFailed(source: source, reason: error.description)
        }
    }
}

/// EC2 instance metadata, IMDSv2: a session token first, then the role's name, then its credentials.
struct InstanceMetadata: Sendable {
    let endpoint: String
    let transport: any HTTPTransport

    init(endpoint: String, transport: any HTTPTransport) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.transport = transport
    }

    func fetch() throws -> AWSCredentials {
        let source = "EC2 instance metadata at `\(endpoint)`"
        func call(_ method: String, _ path: String, _ headers: [String: String]) throws -> HTTPResponse {
            let request = HTTPRequest(method: method, url: endpoint + path, headers: headers, timeout: .seconds(1), connectTimeout: .seconds(1), bypassProxy: true)
            let response = try transport.send(request)
            guard response.isSuccess else {
                throw AWSClientError.credentialsFetchFailed(source: source, reason: "`\(method) \(path)` answered HTTP \(response.statusCode)")
            }
            return response
        }
        let token = String(decoding: try call("PUT", "/latest/api/token", ["X-aws-ec2-metadata-token-ttl-seconds": "21600"]).body, as: UTF8.self)
        Redaction.register(token)
        let tokenHeader = ["X-aws-ec2-metadata-token": token]
        let roles = String(decoding: try call("GET", "/latest/meta-data/iam/security-credentials/", tokenHeader).body, as: UTF8.self)
        guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init) else {
            throw AWSClientError.credentialsFetchFailed(source: source, reason: "the instance has no IAM role")
        }
        return try decodeCredentials(call("GET", "/latest/meta-data/iam/security-credentials/\(SigV4Signer.percentEncode(role))", tokenHeader), source: source)
    }
}
