import Foundation

/// botocore's default credential chain; see `AWSConfiguration.resolve` for the order.
struct CredentialChain {
    let environment: [String: String]
    /// A profile passed in code (a `--profile` flag) wins over credentials in the environment.
    let explicitProfile: Bool
    let profile: ProfileSettings
    /// Region, STS endpoint, transport, retries and clock for the fetches.
    let configuration: AWSConfiguration

    private var env: [String: String] { environment }

    func resolve() throws -> CredentialsProvider {
        var searched: [String] = []
        let clock = configuration.clock

        if explicitProfile {
            searched.append("environment variables (skipped: the profile `\(profile.name)` was chosen explicitly)")
        } else if let provider = try fromEnvironment() {
            return provider
        } else {
            searched.append("`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`")
        }

        if profile["role_arn"] != nil, profile["source_profile"] != nil || profile["credential_source"] != nil {
            throw unsupported(["role_arn", profile["source_profile"] != nil ? "source_profile" : "credential_source"])
        }

        let tokenFile = env["AWS_WEB_IDENTITY_TOKEN_FILE"] ?? profile["web_identity_token_file"]
        let roleARN = env["AWS_ROLE_ARN"] ?? profile["role_arn"]
        if let tokenFile, let roleARN {
            let sessionName = env["AWS_ROLE_SESSION_NAME"] ?? profile["role_session_name"] ?? "layerpack-\(Int(clock().timeIntervalSince1970))"
            let stsEndpoint = configuration.endpoint(for: "sts").url
            let configuration = configuration
            return try eager(CredentialsProvider(source: "web identity (role `\(roleARN)` via `\(stsEndpoint)`)", clock: clock) {
                try WebIdentity(tokenFile: tokenFile, roleARN: roleARN, sessionName: sessionName, endpoint: stsEndpoint, configuration: configuration).fetch()
            })
        }
        searched.append("web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`)")

        let ssoKeys = profile.settings.keys.filter { $0.hasPrefix("sso_") }.sorted()
        if !ssoKeys.isEmpty { throw unsupported(ssoKeys) }

        if let credentials = staticKeys(profile.credentialsFile.credentialsProfile(profile.name)) {
            return .fixed(credentials, source: "profile `\(profile.name)` in `\(profile.credentialsFile.path)`")
        }
        searched.append("profile `\(profile.name)` in the credentials file `\(profile.credentialsFile.path)`")

        if profile["credential_process"] != nil { throw unsupported(["credential_process"]) }

        if let credentials = staticKeys(profile.configFile.configProfile(profile.name)) {
            return .fixed(credentials, source: "profile `\(profile.name)` in `\(profile.configFile.path)`")
        }
        searched.append("profile `\(profile.name)` in the config file `\(profile.configFile.path)`")

        if let container = try ContainerCredentials(environment: env, transport: configuration.transport) {
            return try eager(CredentialsProvider(source: "the container credentials endpoint `\(container.url)`", clock: clock) {
                try container.fetch()
            })
        }
        searched.append("container credentials (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `AWS_CONTAINER_CREDENTIALS_FULL_URI`)")

        if env["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" {
            searched.append("EC2 instance metadata (skipped: `AWS_EC2_METADATA_DISABLED=true`)")
        } else {
            let endpoint = env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] ?? profile["ec2_metadata_service_endpoint"] ?? "http://169.254.169.254"
            let metadata = InstanceMetadata(endpoint: endpoint, transport: configuration.transport)
            do {
                return try eager(CredentialsProvider(source: "EC2 instance metadata at `\(metadata.endpoint)`", clock: clock) {
                    try metadata.fetch()
                })
            } catch let error as AWSClientError {
                searched.append("EC2 instance metadata at `\(metadata.endpoint)` (\(error))")
            }
        }
        throw AWSClientError.noCredentials(searched: searched)
    }

    private func fromEnvironment() throws -> CredentialsProvider? {
        switch (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) {
        case (nil, nil):
            return nil
        case (let id?, let secret?):
            let credentials = AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: env["AWS_SESSION_TOKEN"])
            return .fixed(credentials, source: "environment variables")
        case (nil, _):
            throw AWSClientError.invalidSetting(name: "AWS_ACCESS_KEY_ID", value: "", expected: "set too, since `AWS_SECRET_ACCESS_KEY` is")
        case (_, nil):
            throw AWSClientError.invalidSetting(name: "AWS_SECRET_ACCESS_KEY", value: "", expected: "set too, since `AWS_ACCESS_KEY_ID` is")
        }
    }

    private func staticKeys(_ settings: [String: String]?) -> AWSCredentials? {
        guard let settings, let id = settings["aws_access_key_id"], let secret = settings["aws_secret_access_key"] else { return nil }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: settings["aws_session_token"])
    }

    /// Fetches once now, so a broken source fails at resolution and not halfway through an upload.
    private func eager(_ provider: CredentialsProvider) throws -> CredentialsProvider {
        _ = try provider.credentials()
        return provider
    }

    private func unsupported(_ keys: [String]) -> AWSClientError {
        let path = profile.credentialsFile.credentialsProfile(profile.name)?[keys[0]] != nil ? profile.credentialsFile.path : profile.configFile.path
        return .unsupportedProfile(profile: profile.name, path: path, keys: keys)
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
private func parseExpiration(_ text: String) throws -> Date {
    guard let date = parseTimestamp(text) else {
        throw CredentialsAnswerError("its `Expiration` `\(Redaction.excerpt(text, limit: 100))` is not an ISO 8601 date and time such as `2026-11-26T08:00:00Z`")
    }
    return date
}

/// Why an answer with credentials was refused; becomes the reason of `credentialsFetchFailed`.
private struct CredentialsAnswerError: Error {
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
    let endpoint: String
    let configuration: AWSConfiguration

    func fetch() throws -> AWSCredentials {
        let source = "web identity (role `\(roleARN)`)"
        guard let data = FileManager.default.contents(atPath: tokenFile) else {
            throw AWSClientError.credentialsFetchFailed(source: source, reason: "the token file `\(tokenFile)` named by `AWS_WEB_IDENTITY_TOKEN_FILE` cannot be read")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        Redaction.register(token)
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ].map { "\($0.0)=\(SigV4Signer.percentEncode($0.1))" }.joined(separator: "&")
        let request = HTTPRequest(
            method: "POST", url: endpoint + "/", headers: ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"],
            body: .data(Data(form.utf8)), timeout: ServiceClient.deadline(httpTimeout: configuration.httpTimeout, bodyBytes: UInt64(form.utf8.count))
        )
        let response: HTTPResponse
        do {
            response = try configuration.retryPolicy.run {
                let response = try configuration.transport.send(request)
                guard response.isSuccess else {
                    throw AWSClientError.service(ServiceClient.decodeError(response, operation: "AssumeRoleWithWebIdentity"))
                }
                return response
            }
        } catch let error as AWSClientError {
            throw AWSClientError.credentialsFetchFailed(source: source, reason: error.description)
        }
        do {
            return try Self.credentials(fromAnswer: String(decoding: response.body, as: UTF8.self))
        } catch let error as CredentialsAnswerError {
            throw AWSClientError.credentialsFetchFailed(source: source, reason: "STS's answer is refused: \(error.reason)")
        }
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
