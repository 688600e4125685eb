import Foundation

/// Region, credentials, endpoints and retry settings, resolved the way the AWS SDKs (botocore) do.
public struct AWSConfiguration: Sendable, CustomStringConvertible {
    public var region: String
    public var credentials: CredentialsProvider
    /// The profile settings were read from.
    public var profile: String
    /// Endpoint URLs set by configuration, by service id (`lambda`, `s3`, `sts`); services not listed use
    /// AWS's own endpoints.
    public var configuredEndpoints: [String: String]
    public var retryPolicy: RetryPolicy
    /// The deadline of a bodiless AWS request (`LAYERPACK_HTTP_TIMEOUT`); a request with a body gets 1 s
    /// more per MiB it sends.
    public var httpTimeout: Duration
    public var transport: any HTTPTransport
    /// The time used to sign requests.
    public var clock: @Sendable () -> Date

    public init(
        region: String, credentials: CredentialsProvider, profile: String = "default", configuredEndpoints: [String: String] = [:],
        retryPolicy: RetryPolicy = RetryPolicy(), httpTimeout: Duration = AWSConfiguration.defaultHTTPTimeout,
        transport: any HTTPTransport = CurlTransport(), clock: @escaping @Sendable () -> Date = Date.init
    ) {
        self.region = region
        self.credentials = credentials
        self.profile = profile
        self.configuredEndpoints = configuredEndpoints
        self.retryPolicy = retryPolicy
        self.httpTimeout = httpTimeout
        self.transport = transport
        self.clock = clock
    }

    /// The endpoint for a service: the configured URL (path-style S3), or AWS's own.
    public func endpoint(for service: String) -> Endpoint {
        if let url = configuredEndpoints[service] {
            return Endpoint(url: url.hasSuffix("/") ? String(url.dropLast()) : url, isCustom: true)
        }
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return Endpoint(url: "https://\(service).\(region).\(suffix)", isCustom: false)
    }

    public static let defaultHTTPTimeout = Duration.seconds(60)

    public var description: String {
        let endpoints = configuredEndpoints.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return Redaction.redact("AWSConfiguration(region: \(region), profile: \(profile), \(credentials), endpoints: [\(endpoints.joined(separator: ", "))], maxAttempts: \(retryPolicy.maxAttempts), httpTimeout: \(httpTimeout.formattedSeconds))")
    }
}

public struct Endpoint: Sendable, Equatable {
    /// Scheme, host, optional port and path, without a trailing `/`.
    public var url: String
    /// Set by configuration rather than AWS's own: S3 then uses path-style addressing.
    public var isCustom: Bool

    public init(url: String, isCustom: Bool) {
        self.url = url
        self.isCustom = isCustom
    }
}

extension AWSConfiguration {
    /// Resolves everything from an environment and the shared config files, as botocore does.
    ///
    /// - Profile: `profile` if given, else `AWS_DEFAULT_PROFILE`, else `AWS_PROFILE`, else `default`.
    ///   Files: `AWS_CONFIG_FILE` (default `~/.aws/config`; `[default]`, `[profile name]`) and
    ///   `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`; `[name]`); where both set a key, the
    ///   credentials file wins. `~` is `HOME` from `environment`; without it there are no default files.
    /// - Region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`.
    /// - Credentials, first source that has them:
    ///   1. `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (skipped when `profile` is
    ///      passed explicitly, as botocore skips them for an explicit profile);
    ///   2. a profile with `role_arn` plus `source_profile`/`credential_source` is refused as unsupported;
    ///   3. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN` (or the profile's
    ///      `web_identity_token_file` and `role_arn`), `AWS_ROLE_SESSION_NAME`, exchanged with STS
    ///      AssumeRoleWithWebIdentity at `AWS_ENDPOINT_URL_STS`/`AWS_ENDPOINT_URL`/the regional endpoint;
    ///   4. a profile using SSO is refused as unsupported;
    ///   5. the credentials file's profile: `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`;
    ///   6. a profile with `credential_process` is refused as unsupported;
    ///   7. the same keys in the config file's profile;
    ///   8. container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (at `http://169.254.170.2`) or
    ///      `AWS_CONTAINER_CREDENTIALS_FULL_URI` (https, or a loopback or ECS/EKS agent address), with
    ///      `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or `AWS_CONTAINER_AUTHORIZATION_TOKEN`;
    ///   9. EC2 instance metadata (IMDSv2, 1 s timeouts) at `AWS_EC2_METADATA_SERVICE_ENDPOINT` or the
    ///      profile's `ec2_metadata_service_endpoint` (default `http://169.254.169.254`), unless
    ///      `AWS_EC2_METADATA_DISABLED=true`.
    /// - Endpoints, per service: `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, the profile's
    ///   `endpoint_url`; none when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` (or the profile's
    ///   `ignore_configured_endpoint_urls = true`).
    /// - Retries: `AWS_MAX_ATTEMPTS`, the profile's `max_attempts`, 3. The mode is always "standard".
    /// - Deadline of each AWS request: `LAYERPACK_HTTP_TIMEOUT` seconds (default 60) plus 1 s per MiB sent.
    /// - CA bundle: `AWS_CA_BUNDLE`, the profile's `ca_bundle`.
    ///
    /// - Parameter transport: used for credential endpoints and kept for the service clients; by default
    ///   libcurl with the resolved CA bundle and `environment`'s proxy settings.
    public static func resolve(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        profile explicitProfile: String? = nil,
        transport: (any HTTPTransport)? = nil,
        retryPolicy: RetryPolicy = RetryPolicy(),
        clock: @escaping @Sendable () -> Date = Date.init
    ) throws -> AWSConfiguration {
        let env = environment.filter { !$0.value.isEmpty }
        let profileName = explicitProfile ?? env["AWS_DEFAULT_PROFILE"] ?? env["AWS_PROFILE"] ?? "default"
        let home = env["HOME"]
        let configPath = env["AWS_CONFIG_FILE"].map { expandTilde($0, home: home) } ?? home.map { "\($0)/.aws/config" }
        let credentialsPath = env["AWS_SHARED_CREDENTIALS_FILE"].map { expandTilde($0, home: home) } ?? home.map { "\($0)/.aws/credentials" }
        let configFile = try configPath.map(ProfileFile.load) ?? ProfileFile(path: "~/.aws/config (no HOME)", sections: [:])
        let credentialsFile = try credentialsPath.map(ProfileFile.load) ?? ProfileFile(path: "~/.aws/credentials (no HOME)", sections: [:])
        let configProfile = configFile.configProfile(profileName)
        let credentialsProfile = credentialsFile.credentialsProfile(profileName)
        if profileName != "default" || explicitProfile != nil, configProfile == nil, credentialsProfile == nil {
            throw AWSClientError.profileNotFound(
                profile: profileName,
                searched: ["the config file `\(configFile.path)`", "the credentials file `\(credentialsFile.path)`"]
            )
        }
        let settings = (configProfile ?? [:]).merging(credentialsProfile ?? [:]) { $1 }
        let profile = ProfileSettings(name: profileName, settings: settings, configFile: configFile, credentialsFile: credentialsFile)

        guard let region = env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? settings["region"] else {
            throw AWSClientError.noRegion(searched: [
                "`AWS_REGION`", "`AWS_DEFAULT_REGION`",
                "`region` in profile `\(profileName)` of `\(configFile.path)` and `\(credentialsFile.path)`",
            ])
        }
        var maxAttempts = 3
        if let text = env["AWS_MAX_ATTEMPTS"] ?? settings["max_attempts"] {
            guard let value = Int(text), value >= 1 else {
                throw AWSClientError.invalidSetting(name: env["AWS_MAX_ATTEMPTS"] != nil ? "AWS_MAX_ATTEMPTS" : "max_attempts", value: text, expected: "a whole number of attempts, 1 or more")
            }
            maxAttempts = value
        }
        let ignoreEndpoints = (env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] ?? settings["ignore_configured_endpoint_urls"])?.lowercased() == "true"
        var endpoints: [String: String] = [:]
        if !ignoreEndpoints {
            for service in ["lambda", "s3", "sts"] {
                let variable = "AWS_ENDPOINT_URL_\(service.uppercased())"
                let (name, value): (String, String?) =
                    env[variable] != nil ? (variable, env[variable])
                    : env["AWS_ENDPOINT_URL"] != nil ? ("AWS_ENDPOINT_URL", env["AWS_ENDPOINT_URL"])
                    : ("endpoint_url", settings["endpoint_url"])
                guard let value else { continue }
                Redaction.registerPassword(in: value)
                guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                    throw AWSClientError.invalidSetting(name: name, value: value, expected: "an `http://` or `https://` URL")
                }
                endpoints[service] = value
            }
        }
        var httpTimeout = defaultHTTPTimeout
        if let text = env["LAYERPACK_HTTP_TIMEOUT"] {
            guard let seconds = Int(text), (1...86_400).contains(seconds) else {
                throw AWSClientError.invalidSetting(name: "LAYERPACK_HTTP_TIMEOUT", value: text, expected: "a whole number of seconds from 1 to 86400 (default 60)")
            }
            httpTimeout = .seconds(seconds)
        }
        var retry = retryPolicy
        retry.maxAttempts = maxAttempts
        let transport = transport ?? CurlTransport(caBundle: env["AWS_CA_BUNDLE"] ?? settings["ca_bundle"], environment: environment)
        var configuration = AWSConfiguration(
            region: region, credentials: .fixed(AWSCredentials(accessKeyID: "", secretAccessKey: "")), profile: profileName,
            configuredEndpoints: endpoints, retryPolicy: retry, httpTimeout: httpTimeout, transport: transport, clock: clock
        )
        configuration.credentials = try CredentialChain(
            environment: env, explicitProfile: explicitProfile != nil, profile: profile, configuration: configuration
        ).resolve()
        return configuration
    }

    private static func expandTilde(_ path: String, home: String?) -> String {
        guard path.hasPrefix("~/"), let home else { return path }
        return home + path.dropFirst()
    }
}

/// One profile's merged settings and where they came from.
struct ProfileSettings {
    let name: String
    let settings: [String: String]
    let configFile: ProfileFile
    let credentialsFile: ProfileFile

    subscript(_ key: String) -> String? { settings[key] }
}
