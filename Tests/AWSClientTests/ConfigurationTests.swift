import AWSClient
import Foundation
import Testing
import TestSupport

/// A scratch HOME with its own `~/.aws/config` and `~/.aws/credentials`, and a base environment that
/// points at nothing else: no instance metadata, no real home.
struct ConfigFixture {
    let home: String

    init(config: String = "", credentials: String = "") throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("layerpack-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home + "/.aws", withIntermediateDirectories: true)
        try config.write(toFile: home + "/.aws/config", atomically: true, encoding: .utf8)
        try credentials.write(toFile: home + "/.aws/credentials", atomically: true, encoding: .utf8)
    }

    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ["HOME": home, "AWS_EC2_METADATA_DISABLED": "true"].merging(extra) { $1 }
    }

    func resolve(_ extra: [String: String] = [:], profile: String? = nil) throws -> AWSConfiguration {
        try AWSConfiguration.resolve(environment: environment(extra), profile: profile, transport: StubTransport([]))
    }
}

@Suite struct ConfigurationPrecedence {
    static let profiles = """
        [default]
        region = eu-west-1
        aws_access_key_id = AKIDCONFIGDEFAULT
        aws_secret_access_key = config-default-secret

        [profile dev]
        region = eu-central-1
        endpoint_url = http://127.0.0.1:4566
        max_attempts = 7
        # a comment, and a nested section this client skips
        s3 =
          max_concurrent_requests = 20

        [staging]
        region = ap-south-1
        """
    static let credentials = """
        [dev]
        aws_access_key_id = AKIDDEVCREDENTIALS
        aws_secret_access_key = dev-credentials-secret
        aws_session_token = dev-token

        [staging]
        aws_access_key_id = AKIDSTAGING
        aws_secret_access_key = staging-secret
        """

    @Test func devNullConfigFilesReadAsEmpty() throws {
        let fixture = try ConfigFixture()
        let configuration = try fixture.resolve(["AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                                                 "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_REGION": "us-east-1"])
        #expect(configuration.region == "us-east-1")
        #expect(try configuration.credentials.credentials().accessKeyID == "AKIDENV")
    }

    @Test func environmentCredentialsBeatProfile() throws {
        let fixture = try ConfigFixture(config: Self.profiles, credentials: Self.credentials)
        let configuration = try fixture.resolve(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_PROFILE": "dev"])
        #expect(try configuration.credentials.credentials().accessKeyID == "AKIDENV")
        #expect(configuration.credentials.source == "environment variables")
        #expect(configuration.profile == "dev")
        #expect(configuration.region == "eu-central-1")
    }

    @Test func explicitProfileBeatsEnvironmentCredentials() throws {
        let fixture = try ConfigFixture(config: Self.profiles, credentials: Self.credentials)
        let configuration = try fixture.resolve(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret"], profile: "dev")
        let credentials = try configuration.credentials.credentials()
        #expect(credentials.accessKeyID == "AKIDDEVCREDENTIALS")
        #expect(credentials.sessionToken == "dev-token")
    }

    @Test func awsProfileSelectsProfileAndCredentialsFileWins() throws {
        let fixture = try ConfigFixture(config: Self.profiles, credentials: Self.credentials)
        let configuration = try fixture.resolve(["AWS_PROFILE": "dev"])
        #expect(try configuration.credentials.credentials().accessKeyID == "AKIDDEVCREDENTIALS")
        #expect(configuration.credentials.source.contains(fixture.home + "/.aws/credentials"))
        #expect(configuration.retryPolicy.maxAttempts == 7)
    }

    @Test func awsDefaultProfileIsReadBeforeAWSProfile() throws {
        let fixture = try ConfigFixture(config: Self.profiles, credentials: Self.credentials)
        let configuration = try fixture.resolve(["AWS_DEFAULT_PROFILE": "dev", "AWS_PROFILE": "default"])
        #expect(configuration.profile == "dev")
    }

    @Test func defaultProfileFromConfigFile() throws {
        let fixture = try ConfigFixture(config: Self.profiles)
        let configuration = try fixture.resolve()
        #expect(configuration.profile == "default")
        #expect(configuration.region == "eu-west-1")
        #expect(try configuration.credentials.credentials().accessKeyID == "AKIDCONFIGDEFAULT")
        #expect(configuration.credentials.source.contains("/.aws/config"))
    }

    @Test func bareSectionInConfigFileIsNotAProfile() throws {
        // `[staging]` in the config file is not profile `staging`: its region must not be used.
        let fixture = try ConfigFixture(config: Self.profiles, credentials: Self.credentials)
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_PROFILE": "staging"]) }
        guard case .noRegion = error else { Issue.record("expected noRegion, got \(String(describing: error))"); return }
        let configuration = try fixture.resolve(["AWS_PROFILE": "staging", "AWS_REGION": "us-west-2"])
        #expect(try configuration.credentials.credentials().accessKeyID == "AKIDSTAGING")
    }

    @Test func missingProfileIsAnError() throws {
        let fixture = try ConfigFixture(config: Self.profiles)
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_PROFILE": "nope", "AWS_REGION": "us-east-1"]) }
        #expect(error?.description.contains("`nope`") == true)
        #expect(error?.description.contains("[profile nope]") == true)
    }

    @Test func regionOrder() throws {
        let fixture = try ConfigFixture(config: Self.profiles)
        #expect(try fixture.resolve(["AWS_REGION": "us-west-1", "AWS_DEFAULT_REGION": "us-west-2"]).region == "us-west-1")
        #expect(try fixture.resolve(["AWS_DEFAULT_REGION": "us-west-2"]).region == "us-west-2")
        #expect(try fixture.resolve().region == "eu-west-1")
    }

    @Test func endpointOrder() throws {
        let fixture = try ConfigFixture(config: Self.profiles, credentials: Self.credentials)
        let specific = try fixture.resolve([
            "AWS_PROFILE": "dev", "AWS_ENDPOINT_URL": "http://127.0.0.1:1000", "AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:2000",
        ])
        #expect(specific.endpoint(for: "lambda") == Endpoint(url: "http://127.0.0.1:2000", isCustom: true))
        #expect(specific.endpoint(for: "s3") == Endpoint(url: "http://127.0.0.1:1000", isCustom: true))
        let profile = try fixture.resolve(["AWS_PROFILE": "dev"])
        #expect(profile.endpoint(for: "s3").url == "http://127.0.0.1:4566")
        let aws = try fixture.resolve()
        #expect(aws.endpoint(for: "lambda") == Endpoint(url: "https://lambda.eu-west-1.amazonaws.com", isCustom: false))
        #expect(aws.endpoint(for: "s3").url == "https://s3.eu-west-1.amazonaws.com")
    }

    @Test func ignoreConfiguredEndpointURLsDropsThemAll() throws {
        let fixture = try ConfigFixture(config: Self.profiles, credentials: Self.credentials)
        let configuration = try fixture.resolve([
            "AWS_PROFILE": "dev", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2000", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
        ])
        #expect(configuration.configuredEndpoints.isEmpty)
        #expect(configuration.endpoint(for: "s3") == Endpoint(url: "https://s3.eu-central-1.amazonaws.com", isCustom: false))
    }

    @Test func maxAttemptsFromEnvironmentBeatsProfile() throws {
        let fixture = try ConfigFixture(config: Self.profiles, credentials: Self.credentials)
        #expect(try fixture.resolve(["AWS_PROFILE": "dev", "AWS_MAX_ATTEMPTS": "2"]).retryPolicy.maxAttempts == 2)
        #expect(try fixture.resolve().retryPolicy.maxAttempts == 3)
        #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_MAX_ATTEMPTS": "zero"]) }
    }

    @Test func httpTimeoutFromEnvironment() throws {
        let fixture = try ConfigFixture(config: Self.profiles)
        #expect(try fixture.resolve().httpTimeout == .seconds(60))
        #expect(try fixture.resolve(["LAYERPACK_HTTP_TIMEOUT": "5"]).httpTimeout == .seconds(5))
        for bad in ["soon", "0", "2.5", "-1"] {
            let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["LAYERPACK_HTTP_TIMEOUT": bad]) }
            #expect(error?.description == "The setting `LAYERPACK_HTTP_TIMEOUT` is `\(bad)`, but it must be a whole number of seconds from 1 to 86400 (default 60).")
        }
    }

    @Test func missingCredentialsNamesEveryPlaceLooked() throws {
        let fixture = try ConfigFixture()
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_REGION": "us-east-1"]) }
        let text = try #require(error?.description)
        for place in ["AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", fixture.home + "/.aws/credentials", fixture.home + "/.aws/config",
                      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_EC2_METADATA_DISABLED"] {
            #expect(text.contains(place), "the error should name \(place): \(text)")
        }
    }

    @Test func missingRegionNamesEveryPlaceLooked() throws {
        let fixture = try ConfigFixture()
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "B"]) }
        let text = try #require(error?.description)
        #expect(text.contains("`AWS_REGION`") && text.contains("`AWS_DEFAULT_REGION`") && text.contains(fixture.home + "/.aws/config"))
    }

    @Test func configFilePathsFromEnvironment() throws {
        let fixture = try ConfigFixture()
        let other = try ConfigFixture(config: "[profile ci]\nregion = sa-east-1\n", credentials: "[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = s\n")
        let configuration = try fixture.resolve([
            "AWS_CONFIG_FILE": other.home + "/.aws/config", "AWS_SHARED_CREDENTIALS_FILE": other.home + "/.aws/credentials", "AWS_PROFILE": "ci",
        ])
        #expect(configuration.region == "sa-east-1")
        #expect(try configuration.credentials.credentials().accessKeyID == "AKIDCI")
    }

    @Test func malformedLineIsReportedWithFileAndLine() throws {
        let fixture = try ConfigFixture(config: "[default]\nregion = us-east-1\nthis is not a setting\n")
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve() }
        #expect(error?.description.hasPrefix(fixture.home + "/.aws/config:3: error:") == true)
    }

    @Test func malformedLinesNeverEchoASecret() throws {
        let beforeSection = try ConfigFixture(credentials: "aws_secret_access_key = TOPSECRETOUTSIDE\n[default]\n")
        let first = #expect(throws: AWSClientError.self) { try beforeSection.resolve() }
        #expect(first?.description.contains("credentials:1: error: a `key = value` setting comes before any `[section]`") == true)
        #expect(first?.description.contains("TOPSECRETOUTSIDE") == false)
        let bare = try ConfigFixture(credentials: "[default]\naws_secret_access_key TOPSECRETBARE\n")
        let second = #expect(throws: AWSClientError.self) { try bare.resolve() }
        #expect(second?.description.contains("credentials:2: error:") == true)
        #expect(second?.description.contains("TOPSECRETBARE") == false)
    }

    /// botocore's parser takes `key: value` as well as `key = value`.
    @Test func colonSeparatesKeyAndValueToo() throws {
        let fixture = try ConfigFixture(config: "[default]\nregion: eu-west-1\nendpoint_url = http://127.0.0.1:4566\n",
                                        credentials: "[default]\naws_access_key_id: AKIDCOLON\naws_secret_access_key:colon-secret\n")
        let configuration = try fixture.resolve()
        #expect(configuration.region == "eu-west-1")
        #expect(configuration.endpoint(for: "lambda").url == "http://127.0.0.1:4566")
        #expect(try configuration.credentials.credentials().secretAccessKey == "colon-secret")
    }

    @Test func secretsNeverAppearInDescriptions() throws {
        let fixture = try ConfigFixture(credentials: "[default]\naws_access_key_id = AKIDVISIBLE\naws_secret_access_key = TOPSECRETVALUE\naws_session_token = TOKENVALUE\n")
        let configuration = try fixture.resolve(["AWS_REGION": "us-east-1"])
        let credentials = try configuration.credentials.credentials()
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in [configuration.description, "\(credentials)", String(reflecting: credentials), dumped, "\(configuration.credentials)"] {
            #expect(!text.contains("TOPSECRETVALUE") && !text.contains("TOKENVALUE") && !text.contains("AKIDVISIBLE"), "leaked in: \(text)")
        }
        #expect(credentials.secretAccessKey == "TOPSECRETVALUE")
    }
}
