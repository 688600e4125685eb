import AWSClient
import Foundation
import Testing
import TestSupport

/// `services` sections, assume-role, `credential_process` and SSO profiles: how they are read, and every
/// way they can be wrong. Nothing here talks to a server (the transport answers nothing); the same
/// sources against moto and a local SSO portal are in `ProfileSourcesAgainstServers`.
@Suite struct ServicesSections {
    static let config = """
        [default]
        region = us-east-1
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key = default-secret
        services = local
        endpoint_url = http://127.0.0.1:9000

        [services local]
        lambda =
          endpoint_url = http://127.0.0.1:4566
        # s3 goes elsewhere
        s3 =
          endpoint_url = http://127.0.0.1:4567/
          addressing_style = path

        [profile ignoring]
        region = us-east-1
        aws_access_key_id = AKIDIGNORING
        aws_secret_access_key = ignoring-secret
        services = local
        ignore_configured_endpoint_urls = TRUE

        [profile typo]
        region = us-east-1
        aws_access_key_id = AKIDTYPO
        aws_secret_access_key = typo-secret
        services = locla
        """

    @Test func servicesSectionSetsEndpointsPerServiceAndProfileEndpointIsTheFallback() throws {
        let fixture = try ConfigFixture(config: Self.config)
        let configuration = try fixture.resolve()
        #expect(configuration.endpoint(for: "lambda") == Endpoint(url: "http://127.0.0.1:4566", isCustom: true))
        #expect(configuration.endpoint(for: "s3") == Endpoint(url: "http://127.0.0.1:4567", isCustom: true))
        #expect(configuration.endpoint(for: "sts").url == "http://127.0.0.1:9000")
        // The nested blocks are not settings of the profile.
        #expect(configuration.region == "us-east-1")
    }

    @Test func environmentVariablesBeatTheServicesSection() throws {
        let fixture = try ConfigFixture(config: Self.config)
        let global = try fixture.resolve(["AWS_ENDPOINT_URL": "http://127.0.0.1:1000"])
        #expect(global.endpoint(for: "lambda").url == "http://127.0.0.1:1000")
        let specific = try fixture.resolve(["AWS_ENDPOINT_URL": "http://127.0.0.1:1000", "AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:2000"])
        #expect(specific.endpoint(for: "lambda").url == "http://127.0.0.1:2000")
        #expect(specific.endpoint(for: "s3").url == "http://127.0.0.1:1000")
    }

    @Test func ignoreConfiguredEndpointURLsIgnoresTheServicesSection() throws {
        let fixture = try ConfigFixture(config: Self.config)
        let byProfile = try fixture.resolve(["AWS_PROFILE": "ignoring"])
        #expect(byProfile.endpoint(for: "lambda") == Endpoint(url: "https://lambda.us-east-1.amazonaws.com", isCustom: false))
        let byEnvironment = try fixture.resolve(["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"])
        #expect(byEnvironment.configuredEndpoints.isEmpty)
    }

    @Test func aMissingServicesSectionIsAnErrorNotRealAWS() throws {
        let fixture = try ConfigFixture(config: Self.config)
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_PROFILE": "typo"]) }
        #expect(error?.description == "The setting `services` is `locla`, but it must be the name of a `[services locla]` section in `\(fixture.home)/.aws/config` (profile `typo` names one that does not exist).")
    }

    @Test func ssoEndpointsAreThePortalAndOIDCOfTheSSORegion() throws {
        let fixture = try ConfigFixture(config: "[default]\nregion = us-east-1\naws_access_key_id = A\naws_secret_access_key = B\n")
        let configuration = try fixture.resolve()
        #expect(configuration.endpoint(for: "sso", region: "eu-west-1").url == "https://portal.sso.eu-west-1.amazonaws.com")
        #expect(configuration.endpoint(for: "sso_oidc", region: "eu-west-1").url == "https://oidc.eu-west-1.amazonaws.com")
    }
}

@Suite struct AssumeRoleProfiles {
    static let role = "arn:aws:iam::123456789012:role/deploy"

    func resolveError(_ config: String, credentials: String = "", profile: String, _ extra: [String: String] = [:]) throws -> String {
        let fixture = try ConfigFixture(config: config, credentials: credentials)
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_PROFILE": profile].merging(extra) { $1 }) }
        return try #require(error).description
    }

    @Test func sourceProfileAndCredentialSourceTogetherAreRefused() throws {
        let text = try resolveError("[profile a]\nregion = us-east-1\nrole_arn = \(Self.role)\nsource_profile = b\ncredential_source = Environment\n", profile: "a")
        #expect(text.hasPrefix("The AWS profile `a` in `") && text.contains("sets both `source_profile` and `credential_source`"))
    }

    @Test func aLoopOfSourceProfilesIsRefused() throws {
        let text = try resolveError("""
            [profile a]
            region = us-east-1
            role_arn = \(Self.role)
            source_profile = b
            [profile b]
            role_arn = \(Self.role)
            source_profile = a
            """, profile: "a")
        #expect(text.contains("its `source_profile` chain loops: `a` → `b` → `a`"), "\(text)")
    }

    @Test func aMissingOrEmptySourceProfileIsNamed() throws {
        let missing = try resolveError("[profile a]\nregion = us-east-1\nrole_arn = \(Self.role)\nsource_profile = nowhere\n", profile: "a")
        #expect(missing.contains("its `source_profile` `nowhere` does not exist"))
        let empty = try resolveError("[profile a]\nregion = us-east-1\nrole_arn = \(Self.role)\nsource_profile = b\n[profile b]\nregion = us-east-1\n", profile: "a")
        #expect(empty.contains("its `source_profile` `b` has no credentials"))
    }

    @Test func credentialSourceMustBeOneOfThree() throws {
        let text = try resolveError("[profile a]\nregion = us-east-1\nrole_arn = \(Self.role)\ncredential_source = Ec2Metadata\n", profile: "a")
        #expect(text.contains("its `credential_source` is `Ec2Metadata`, but it must be `Environment`, `Ec2InstanceMetadata` or `EcsContainer`"))
        let environment = try resolveError("[profile a]\nregion = us-east-1\nrole_arn = \(Self.role)\ncredential_source = Environment\n", profile: "a")
        #expect(environment.contains("`credential_source = Environment` needs `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`"))
    }

    @Test func durationSecondsMustBeANumber() throws {
        let text = try resolveError(
            "[profile a]\nregion = us-east-1\nrole_arn = \(Self.role)\nsource_profile = a\nduration_seconds = an hour\n",
            credentials: "[a]\naws_access_key_id = AKIDA\naws_secret_access_key = secret-a\n", profile: "a")
        #expect(text.contains("its `duration_seconds` is `an hour`, but it must be a whole number of seconds"))
    }

    /// With no terminal (standard input here is /dev/null), `mfa_serial` is a clear error, and STS is
    /// never asked.
    @Test func mfaWithoutATerminalIsAClearError() throws {
        let fixture = try ConfigFixture(
            config: "[profile a]\nregion = us-east-1\nrole_arn = \(Self.role)\nsource_profile = a\nmfa_serial = arn:aws:iam::123456789012:mfa/tester\n",
            credentials: "[a]\naws_access_key_id = AKIDA\naws_secret_access_key = secret-a\n")
        let devNull = open("/dev/null", O_RDONLY)
        defer { close(devNull) }
        let transport = StubTransport([])
        let error = #expect(throws: AWSClientError.self) {
            try AWSConfiguration.resolve(environment: fixture.environment(["AWS_PROFILE": "a"]), transport: transport, terminal: Terminal(input: devNull))
        }
        #expect(error?.description.hasPrefix("The AWS profile `a` assumes its role with the MFA device `arn:aws:iam::123456789012:mfa/tester` (`mfa_serial`), but no MFA code could be asked for: standard input is not a terminal. Run layerpack in a terminal") == true)
        #expect(transport.requests.isEmpty)
    }
}

@Suite struct CredentialProcessProfiles {
    func resolve(_ command: String) throws -> AWSConfiguration {
        let fixture = try ConfigFixture(config: "[profile p]\nregion = us-east-1\ncredential_process = \(command)\n")
        return try fixture.resolve(["AWS_PROFILE": "p", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
    }

    func error(_ command: String) throws -> String {
        let error = #expect(throws: AWSClientError.self) { try resolve(command) }
        return try #require(error).description
    }

    /// The command line is split as a POSIX shell quotes, without running a shell: the program sees
    /// the quoted words whole.
    @Test func argumentsAreSplitAsTheCLIDoes() throws {
        let script = #"'printf "{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\", \"SessionToken\": \"%s\", \"Expiration\": \"2099-01-01T00:00:00Z\"}" "$1" "$2" "$3"'"#
        let configuration = try resolve(#"sh -c \#(script) sh "key with spaces" it\'s "tok\$en""#)
        let credentials = try configuration.credentials.credentials()
        #expect(credentials.accessKeyID == "key with spaces")
        #expect(credentials.secretAccessKey == "it's")
        #expect(credentials.sessionToken == "tok$en")
        #expect(credentials.expiration == Date(timeIntervalSince1970: 4_070_908_800))
        #expect(configuration.credentials.source == "the `credential_process` of profile `p`")
    }

    @Test func aFailingCommandNamesTheProfileAndStatus() throws {
        #expect(try error("sh -c 'exit 3'").hasPrefix("The `credential_process` of the AWS profile `p` did not give credentials: `sh` exited with status 3."))
        #expect(try error("no-such-program-layerpack --flag").contains("its program `no-such-program-layerpack` is not on `PATH`"))
        #expect(try error("sh -c 'echo \"unclosed").contains("its command line has a quote that is never closed"))
    }

    @Test func badOutputIsRefusedWithoutShowingIt() throws {
        let notJSON = try error("echo SECRETISHOUTPUT")
        #expect(notJSON.contains("its output is not a JSON object") && !notJSON.contains("SECRETISHOUTPUT"))
        #expect(try error(#"echo '{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "B"}'"#).contains("its JSON has `Version` `2`, but only version `1` is understood"))
        #expect(try error(#"echo '{"Version": 1, "AccessKeyId": "A"}'"#).contains("its JSON has no `SecretAccessKey`"))
        #expect(try error(#"echo '{"AccessKeyId": "A", "SecretAccessKey": "B"}'"#).contains("its JSON has no `Version`"))
        #expect(try error(#"echo '{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "B", "Expiration": "soon"}'"#).contains("its `Expiration` `soon` is not an ISO 8601 date"))
    }
}

@Suite struct SSOProfiles {
    @Test func missingSettingsAreListed() throws {
        let fixture = try ConfigFixture(config: "[profile sso]\nregion = us-east-1\nsso_start_url = https://example.awsapps.com/start\nsso_account_id = 111122223333\n")
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_PROFILE": "sso"]) }
        #expect(error?.description.contains("it signs in with SSO but has no `sso_region`, `sso_role_name`") == true)
        let session = try ConfigFixture(config: "[profile sso]\nregion = us-east-1\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n")
        let sessionError = #expect(throws: AWSClientError.self) { try session.resolve(["AWS_PROFILE": "sso"]) }
        #expect(sessionError?.description.contains("its `sso_session` is `corp`, but `\(session.home)/.aws/config` has no `[sso-session corp]` section") == true)
    }

    @Test func noCachedTokenSaysToLogIn() throws {
        let fixture = try ConfigFixture(config: """
            [profile sso]
            region = us-east-1
            sso_session = corp
            sso_account_id = 111122223333
            sso_role_name = Deploy
            [sso-session corp]
            sso_start_url = https://example.awsapps.com/start
            sso_region = eu-west-1
            """)
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_PROFILE": "sso"]) }
        // The cache file is named by the SHA-1 of the session name, as the AWS CLI names it.
        #expect(error?.description == "The AWS profile `sso` signs in with SSO, but there is no cached SSO token `\(fixture.home)/.aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json`. Run `aws sso login --profile sso` and try again; layerpack does not sign in itself.")
    }
}

@Suite struct LegacyAndEverywhereLooked {
    @Test func awsSecurityTokenIsTheSessionTokensOlderName() throws {
        let fixture = try ConfigFixture()
        let configuration = try fixture.resolve(["AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDOLD", "AWS_SECRET_ACCESS_KEY": "old-secret", "AWS_SECURITY_TOKEN": "old-token-value"])
        #expect(try configuration.credentials.credentials().sessionToken == "old-token-value")
        let both = try fixture.resolve(["AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDOLD", "AWS_SECRET_ACCESS_KEY": "old-secret",
                                        "AWS_SECURITY_TOKEN": "old-token-value", "AWS_SESSION_TOKEN": "new-token-value"])
        #expect(try both.credentials.credentials().sessionToken == "new-token-value")
    }

    @Test func noCredentialsNamesEveryProfileSource() throws {
        let fixture = try ConfigFixture()
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_REGION": "us-east-1"]) }
        let text = try #require(error?.description)
        for place in ["assume-role", "SSO (`sso_session` or `sso_start_url` in profile `default`)", "`credential_process` in profile `default`"] {
            #expect(text.contains(place), "the error should name \(place): \(text)")
        }
    }
}
