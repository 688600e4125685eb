import Foundation

/// Region, credentials, endpoints and retry settings, resolved the way the AWS SDKs (botocore) do.
public struct AWSConfiguration: Sendable, CustomStringConvertible {
    public var region: String
    public var credentials: CredentialsProvider
    /// The profile settings were read from.
    public var profile: String
    /// Endpoint URLs set by configuration, by service key (`lambda`, `s3`, `sts`, `sso`, `sso_oidc`); services not listed use
    /// AWS's own endpoints.
    public var configuredEndpoints: [String: String]
    public var retryPolicy: RetryPolicy
    /// The deadline of a bodiless AWS request (`LAYERPACK_HTTP_TIMEOUT`); a request with a body gets 1 s
    /// more per MiB it sends.
    public var httpTimeout: Duration
    public var transport: any HTTPTransport
    /// The time used to sign requests.
    public var clock: @Sendable () -> Date
    /// Sent as `User-Agent` with every AWS request (not signed, as the SDKs leave it out of signatures).
    public var userAgent = "layerpack"

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

    /// The endpoint for a service: the configured URL (path-style S3), or AWS's own in `region` (by default
    /// the configuration's; SSO's is the profile's `sso_region`), in that region's partition.
    public func endpoint(for service: String, region: String? = nil) -> Endpoint {
        if let url = configuredEndpoints[service] {
            return Endpoint(url: url.hasSuffix("/") ? String(url.dropLast()) : url, isCustom: true)
        }
        let region = region ?? self.region
        let host = ["sso": "portal.sso", "sso_oidc": "oidc"][service] ?? service
        return Endpoint(url: "https://\(host).\(region).\(Partition.of(region: region).dnsSuffix)", isCustom: false)
    }

    /// The services whose endpoint can be configured, by the key a `[services name]` section uses; the
    /// environment variable is `AWS_ENDPOINT_URL_` and the key in upper case.
    static let configurableServices = ["lambda", "s3", "sts", "sso", "sso_oidc"]

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
    /// - Credentials, first source that has them (botocore's order):
    ///   1. `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (or its old name
    ///      `AWS_SECURITY_TOKEN`); skipped when `profile` is passed explicitly, as botocore skips them;
    ///   2. assume-role: the profile's `role_arn` with `source_profile` (whose own sources are tried in
    ///      this list's order from 2, so roles chain) or `credential_source` (`Environment`,
    ///      `Ec2InstanceMetadata`, `EcsContainer`); `external_id`, `role_session_name`,
    ///      `duration_seconds`, `mfa_serial` (the code is asked for on `terminal`); STS AssumeRole signed
    ///      with the source's credentials;
    ///   3. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN` (or the profile's
    ///      `web_identity_token_file` and `role_arn`), `AWS_ROLE_SESSION_NAME`, exchanged with STS
    ///      AssumeRoleWithWebIdentity;
    ///   4. SSO: `sso_session` (or the legacy `sso_start_url`), `sso_account_id`, `sso_role_name`, with the
    ///      token `aws sso login` cached (see `SSOCredentials`);
    ///   5. the credentials file's profile: `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`;
    ///   6. the profile's `credential_process` (see `CredentialProcess`);
    ///   7. the same keys in the config file's profile;
    ///   8. container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (at `http://169.254.170.2`) or
    ///      `AWS_CONTAINER_CREDENTIALS_FULL_URI` (https, or a loopback or ECS/EKS agent address), with
    ///      `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or `AWS_CONTAINER_AUTHORIZATION_TOKEN`;
    ///   9. EC2 instance metadata (IMDSv2, 1 s timeouts) at `AWS_EC2_METADATA_SERVICE_ENDPOINT` or the
    ///      profile's `ec2_metadata_service_endpoint` (default `http://169.254.169.254`), unless
    ///      `AWS_EC2_METADATA_DISABLED=true`.
    /// - Endpoints, per service (`lambda`, `s3`, `sts`, `sso`, `sso_oidc`): `AWS_ENDPOINT_URL_<SERVICE>`,
    ///   `AWS_ENDPOINT_URL`, the service's `endpoint_url` in the `[services name]` section the profile's
    ///   `services = name` names, the profile's `endpoint_url`; none when
    ///   `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` (or the profile's `ignore_configured_endpoint_urls = true`).
    /// - Region: must be a valid DNS label; the error names where the value came from.
    /// - Retries: mode from `AWS_RETRY_MODE`, the profile's `retry_mode` (`standard`, `legacy`,
    ///   `adaptive`; default `standard`); attempts from `AWS_MAX_ATTEMPTS`, the profile's `max_attempts`,
    ///   else 5 in legacy mode and 3 otherwise.
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
        clock: @escaping @Sendable () -> Date = Date.init,
        terminal: Terminal = .standardInput,
        userAgent: String = "layerpack"
    ) throws -> AWSConfiguration {
        let env = environment.filter { !$0.value.isEmpty }
        let profileName = explicitProfile ?? env["AWS_DEFAULT_PROFILE"] ?? env["AWS_PROFILE"] ?? "default"
        let home = env["HOME"]
        let configPath = env["AWS_CONFIG_FILE"].map { expandTilde($0, home: home) } ?? home.map { "\($0)/.aws/config" }
        let credentialsPath = env["AWS_SHARED_CREDENTIALS_FILE"].map { expandTilde($0, home: home) } ?? home.map { "\($0)/.aws/credentials" }
        let configFile = try configPath.map(ProfileFile.load) ?? ProfileFile(path: "~/.aws/config (no HOME)", sections: [:])
        let credentialsFile = try credentialsPath.map(ProfileFile.load) ?? ProfileFile(path: "~/.aws/credentials (no HOME)", sections: [:])
        let found = ProfileSettings(name: profileName, configFile: configFile, credentialsFile: credentialsFile)
        if profileName != "default" || explicitProfile != nil, found == nil {
            throw AWSClientError.profileNotFound(
                profile: profileName,
                searched: ["the config file `\(configFile.path)`", "the credentials file `\(credentialsFile.path)`"]
            )
        }
        let profile = found ?? ProfileSettings(name: profileName, settings: [:], configFile: configFile, credentialsFile: credentialsFile)
        let settings = profile.settings

        guard let region = env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? settings["region"] else {
            throw AWSClientError.noRegion(searched: [
                "`AWS_REGION`", "`AWS_DEFAULT_REGION`",
                "`region` in profile `\(profileName)` of `\(configFile.path)` and `\(credentialsFile.path)`",
            ])
        }
        // A region is part of every host name, so it must be a valid DNS label (botocore checks the same).
        let regionOrigin = env["AWS_REGION"] != nil ? "`AWS_REGION`" : env["AWS_DEFAULT_REGION"] != nil ? "`AWS_DEFAULT_REGION`"
            : "`region` in profile `\(profileName)` of `\(configFile.path)` or `\(credentialsFile.path)`"
        guard region.range(of: #"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"#, options: .regularExpression) != nil else {
            throw AWSClientError.invalidSetting(
                name: regionOrigin.trimmingCharacters(in: ["`"]), value: region,
                expected: "a region name such as `us-west-2`: letters, digits and `-` only (a comment after the value is not allowed on the same line)")
        }
        var retry = retryPolicy
        if let text = env["AWS_RETRY_MODE"] ?? settings["retry_mode"] {
            guard let mode = RetryMode(rawValue: text) else {
                throw AWSClientError.invalidSetting(
                    name: env["AWS_RETRY_MODE"] != nil ? "AWS_RETRY_MODE" : "retry_mode", value: text, expected: "`standard`, `legacy` or `adaptive`")
            }
            retry.mode = mode
        }
        var maxAttempts = retry.mode.defaultMaxAttempts
        if let text = env["AWS_MAX_ATTEMPTS"] ?? settings["max_attempts"] {
            guard let value = Int(text), value >= 1 else {
                throw AWSClientError.invalidSetting(name: env["AWS_MAX_ATTEMPTS"] != nil ? "AWS_MAX_ATTEMPTS" : "max_attempts", value: text, expected: "a whole number of attempts, 1 or more")
            }
            maxAttempts = value
        }
        let endpoints = try configuredEndpoints(env: env, profile: profile)
        var httpTimeout = defaultHTTPTimeout
        if let text = env["LAYERPACK_HTTP_TIMEOUT"] {
            guard let seconds = Int(text), (1...86_400).contains(seconds) else {
                throw AWSClientError.invalidSetting(name: "LAYERPACK_HTTP_TIMEOUT", value: text, expected: "a whole number of seconds from 1 to 86400 (default 60)")
            }
            httpTimeout = .seconds(seconds)
        }
        retry.maxAttempts = maxAttempts
        let transport = transport ?? CurlTransport(caBundle: env["AWS_CA_BUNDLE"] ?? settings["ca_bundle"], environment: environment)
        var configuration = AWSConfiguration(
            region: region, credentials: .fixed(AWSCredentials(accessKeyID: "", secretAccessKey: "")), profile: profileName,
            configuredEndpoints: endpoints, retryPolicy: retry, httpTimeout: httpTimeout, transport: transport, clock: clock
        )
        configuration.userAgent = userAgent
        configuration.credentials = try CredentialChain(
            environment: env, explicitProfile: explicitProfile != nil, profile: profile, configuration: configuration, terminal: terminal
        ).resolve()
        return configuration
    }

    /// Per service, the first of `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, the `endpoint_url` of
    /// the service's block in the `[services name]` section the profile names with `services = name`, and
    /// the profile's `endpoint_url`; none when configured endpoints are ignored.
    private static func configuredEndpoints(env: [String: String], profile: ProfileSettings) throws -> [String: String] {
        // As botocore: `true` in any case ignores them, any other value does not.
        if (env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] ?? profile["ignore_configured_endpoint_urls"])?.lowercased() == "true" { return [:] }
        // As botocore, a `services` name without its section is an error once the section is needed.
        func fromSection(_ service: String) throws -> String? {
            guard let sectionName = profile["services"] else { return nil }
            guard let section = profile.configFile.servicesSection(sectionName) else {
                throw AWSClientError.invalidSetting(
                    name: "services", value: sectionName,
                    expected: "the name of a `[services \(sectionName)]` section in `\(profile.configFile.path)` (profile `\(profile.name)` names one that does not exist)")
            }
            return section["\(service).endpoint_url"]
        }
        var endpoints: [String: String] = [:]
        for service in configurableServices {
            let variable = "AWS_ENDPOINT_URL_\(service.uppercased())"
            var candidates: [(String, String?)] = [(variable, env[variable]), ("AWS_ENDPOINT_URL", env["AWS_ENDPOINT_URL"])]
            if !candidates.contains(where: { $0.1 != nil }) {
                candidates += [("[services \(profile["services"] ?? "")] \(service).endpoint_url", try fromSection(service)), ("endpoint_url", profile["endpoint_url"])]
            }
            guard let (name, value) = candidates.first(where: { $0.1?.isEmpty == false }).map({ ($0.0, $0.1!) }) else { continue }
            Redaction.registerPassword(in: value)
            guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                throw AWSClientError.invalidSetting(name: name, value: value, expected: "an `http://` or `https://` URL")
            }
            endpoints[service] = value
        }
        return endpoints
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

    init(name: String, settings: [String: String], configFile: ProfileFile, credentialsFile: ProfileFile) {
        self.name = name
        self.settings = settings
        self.configFile = configFile
        self.credentialsFile = credentialsFile
    }

    /// Profile `name` from both files (the credentials file wins where both set a key); nil when neither
    /// has it.
    init?(name: String, configFile: ProfileFile, credentialsFile: ProfileFile) {
        let config = configFile.configProfile(name), credentials = credentialsFile.credentialsProfile(name)
        guard config != nil || credentials != nil else { return nil }
        self.init(name: name, settings: (config ?? [:]).merging(credentials ?? [:]) { $1 }, configFile: configFile, credentialsFile: credentialsFile)
    }

    subscript(_ key: String) -> String? { settings[key] }
}
