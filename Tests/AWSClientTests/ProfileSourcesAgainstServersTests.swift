import AWSClient
import Foundation
import Testing
import TestSupport

/// Profile sources against a real moto_server (signatures checked) and, for the SSO portal and SSO OIDC
/// that moto lacks, a local stub server that answers as AWS documents them.
@Suite struct ProfileSourcesAgainstServers {
    /// Moto's environment with the fixture's files and `HOME`, and no keys in the environment.
    func environment(_ moto: MotoServer, _ fixture: ConfigFixture, _ overrides: [String: String?] = [:]) -> [String: String] {
        var all: [String: String?] = [
            "AWS_CONFIG_FILE": fixture.home + "/.aws/config", "AWS_SHARED_CREDENTIALS_FILE": fixture.home + "/.aws/credentials",
            "HOME": fixture.home, "AWS_ACCESS_KEY_ID": nil, "AWS_SECRET_ACCESS_KEY": nil,
        ]
        all.merge(overrides) { $1 }
        return moto.environment(all)
    }

    /// Publishing a layer succeeds only when moto accepts the signature, so it proves the credentials.
    func publish(_ configuration: AWSConfiguration) throws -> Int {
        try LambdaClient(configuration: configuration).publishLayerVersion(PublishLayerVersionRequest(
            layerName: MotoServer.uniqueName("sources"), content: .zipFile(Data("zip".utf8)))).version
    }

    @Test func servicesSectionPointsAtMotoWithNoEndpointVariable() throws {
        let moto = try MotoServer.shared()
        let fixture = try ConfigFixture(config: """
            [default]
            region = us-east-1
            services = moto

            [services moto]
            lambda =
              endpoint_url = \(moto.endpoint)
            s3 =
              endpoint_url = \(moto.endpoint)
            """, credentials: "[default]\naws_access_key_id = \(moto.accessKeyID)\naws_secret_access_key = \(moto.secretAccessKey)\n")
        let configuration = try AWSConfiguration.resolve(environment: environment(moto, fixture, ["AWS_ENDPOINT_URL": nil]))
        #expect(configuration.endpoint(for: "lambda") == Endpoint(url: moto.endpoint, isCustom: true))
        #expect(try publish(configuration) == 1)
        let bucket = MotoServer.uniqueName("services")
        try S3Client(configuration: configuration).createBucket(bucket)
        #expect(try S3Client(configuration: configuration).headObject(bucket: bucket, key: "none") == nil)
    }

    @Test func roleFromSourceProfileSignsThePublish() throws {
        let moto = try MotoServer.shared()
        let fixture = try ConfigFixture(config: """
            [profile deploy]
            region = us-east-1
            role_arn = \(moto.assumableRoleARN)
            source_profile = base
            external_id = layerpack-test
            role_session_name = layerpack-ci
            duration_seconds = 1800

            [profile chained]
            region = us-east-1
            role_arn = \(moto.assumableRoleARN)
            source_profile = deploy
            """, credentials: "[base]\naws_access_key_id = \(moto.accessKeyID)\naws_secret_access_key = \(moto.secretAccessKey)\n")
        let configuration = try AWSConfiguration.resolve(environment: environment(moto, fixture, ["AWS_PROFILE": "deploy"]))
        let credentials = try configuration.credentials.credentials()
        #expect(credentials.accessKeyID != moto.accessKeyID && credentials.sessionToken != nil)
        let lifetime = try #require(credentials.expiration).timeIntervalSinceNow
        #expect(lifetime > 1700 && lifetime <= 1800, "DurationSeconds 1800 should give a 30-minute session, got \(lifetime) s")
        #expect(configuration.credentials.source.contains("role `\(moto.assumableRoleARN)`, profile `deploy`"))
        #expect(try publish(configuration) == 1)

        let chained = try AWSConfiguration.resolve(environment: environment(moto, fixture, ["AWS_PROFILE": "chained"]))
        #expect(chained.credentials.source.contains("profile `chained`, with credentials from assume-role"))
        #expect(try chained.credentials.credentials().accessKeyID != credentials.accessKeyID)
        #expect(try publish(chained) == 1)
    }

    @Test func credentialSourceEnvironmentAssumesWithTheEnvironmentsKeys() throws {
        let moto = try MotoServer.shared()
        let fixture = try ConfigFixture(config: "[profile deploy]\nregion = us-east-1\nrole_arn = \(moto.assumableRoleARN)\ncredential_source = Environment\n")
        // The keys in the environment are the source; the profile, chosen with `--profile`, assumes the role.
        let configuration = try AWSConfiguration.resolve(
            environment: environment(moto, fixture, ["AWS_ACCESS_KEY_ID": moto.accessKeyID, "AWS_SECRET_ACCESS_KEY": moto.secretAccessKey]),
            profile: "deploy")
        #expect(try configuration.credentials.credentials().accessKeyID != moto.accessKeyID)
        #expect(try publish(configuration) == 1)
    }

    /// The MFA code is asked for on a terminal: here a pseudo-terminal whose other end types the code.
    @Test func mfaCodeIsReadFromATerminal() throws {
        let moto = try MotoServer.shared()
        let fixture = try ConfigFixture(
            config: "[profile mfa]\nregion = us-east-1\nrole_arn = \(moto.assumableRoleARN)\nsource_profile = mfa\nmfa_serial = arn:aws:iam::123456789012:mfa/tester\n",
            credentials: "[mfa]\naws_access_key_id = \(moto.accessKeyID)\naws_secret_access_key = \(moto.secretAccessKey)\n")
        // A new pseudo-terminal pair: /dev/ptmx, unlocked (TIOCSPTLCK), and its /dev/pts number (TIOCGPTN).
        let controller = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        #expect(controller >= 0)
        defer { close(controller) }
        var unlock: CInt = 0, number: CInt = -1
        #expect(ioctl(controller, 0x4004_5431, &unlock) == 0 && ioctl(controller, 0x8004_5430, &number) == 0)
        let terminal = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
        try #require(terminal >= 0 && isatty(terminal) == 1)
        defer { close(terminal) }
        let typed = Array("123456\n".utf8)
        #expect(write(controller, typed, typed.count) == typed.count)

        let configuration = try AWSConfiguration.resolve(environment: environment(moto, fixture, ["AWS_PROFILE": "mfa"]), terminal: Terminal(input: terminal))
        #expect(try publish(configuration) == 1)
        var screen = [UInt8](repeating: 0, count: 4096)
        let count = read(controller, &screen, screen.count)
        #expect(String(decoding: screen.prefix(max(count, 0)), as: UTF8.self).contains("Enter MFA code for arn:aws:iam::123456789012:mfa/tester: "))
    }

    @Test func credentialProcessPrintingTheIAMUsersKey() throws {
        let moto = try MotoServer.shared()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("layerpack process \(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let script = folder + "/print-credentials"
        try """
            #!/bin/sh
            echo "print-credentials: handing out the key" >&2
            printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\\n' "$1" "$2"
            """.write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let fixture = try ConfigFixture(config: "[default]\nregion = us-east-1\ncredential_process = \"\(script)\" \(moto.accessKeyID) '\(moto.secretAccessKey)'\n")
        let configuration = try AWSConfiguration.resolve(environment: environment(moto, fixture))
        #expect(try configuration.credentials.credentials().accessKeyID == moto.accessKeyID)
        #expect(try publish(configuration) == 1)
    }

    // MARK: SSO

    static let ssoConfig = """
        [profile sso]
        region = us-east-1
        sso_session = corp
        sso_account_id = 111122223333
        sso_role_name = Deploy

        [profile legacy]
        region = us-east-1
        sso_start_url = https://example.awsapps.com/start
        sso_region = eu-west-1
        sso_account_id = 111122223333
        sso_role_name = Deploy

        [sso-session corp]
        sso_start_url = https://example.awsapps.com/start
        sso_region = eu-west-1
        sso_registration_scopes = sso:account:access
        """

    /// The token cache as `aws sso login` leaves it, under the name the AWS CLI gives it.
    func writeCache(_ fixture: ConfigFixture, name: String, _ object: [String: String]) throws -> String {
        let folder = fixture.home + "/.aws/sso/cache"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = "\(folder)/\(name).json"
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func timestamp(_ offset: TimeInterval) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date().addingTimeInterval(offset))
    }

    /// The portal's `GetRoleCredentials`: GET /federation/credentials with the token in
    /// `x-amz-sso_bearer_token`, answering the role's credentials (here moto's IAM user's key).
    func portal(_ moto: MotoServer, token: String) throws -> StubHTTPServer {
        let portal = try StubHTTPServer()
        let expiration = Int64(Date().addingTimeInterval(3600).timeIntervalSince1970 * 1000)
        try portal.route(
            "GET", "/federation/credentials",
            body: #"{"roleCredentials": {"accessKeyId": "\#(moto.accessKeyID)", "secretAccessKey": "\#(moto.secretAccessKey)", "sessionToken": "sso-session-token-value", "expiration": \#(expiration)}}"#,
            requiredHeader: ("x-amz-sso_bearer_token", token), requiredQuery: ["account_id": "111122223333", "role_name": "Deploy"])
        return portal
    }

    @Test func ssoSessionProfileThroughTheLocalPortal() throws {
        let moto = try MotoServer.shared()
        let portal = try portal(moto, token: "cached-access-token-1")
        defer { portal.stop() }
        let fixture = try ConfigFixture(config: Self.ssoConfig)
        _ = try writeCache(fixture, name: "ee0bfd2552fbd840c02cc48b6e823320543c450f", ["accessToken": "cached-access-token-1", "expiresAt": Self.timestamp(3600)])
        let configuration = try AWSConfiguration.resolve(environment: environment(moto, fixture, ["AWS_PROFILE": "sso", "AWS_ENDPOINT_URL_SSO": portal.endpoint]))
        let credentials = try configuration.credentials.credentials()
        #expect(credentials.accessKeyID == moto.accessKeyID && credentials.sessionToken == "sso-session-token-value")
        #expect(configuration.credentials.source.contains("SSO (account `111122223333`, role `Deploy`, profile `sso`)"))
        #expect(try portal.requestLog() == ["GET /federation/credentials?account_id=111122223333&role_name=Deploy"])
        // moto does not know the session token, so this publish is signed with the key only.
        let unsigned = try AWSConfiguration.resolve(environment: environment(moto, fixture, [
            "AWS_ACCESS_KEY_ID": credentials.accessKeyID, "AWS_SECRET_ACCESS_KEY": credentials.secretAccessKey]))
        #expect(try publish(unsigned) == 1)
    }

    @Test func legacySSOProfileUsesTheStartURLsCacheAndExpiredMeansLogIn() throws {
        let moto = try MotoServer.shared()
        let portal = try portal(moto, token: "legacy-access-token")
        defer { portal.stop() }
        let fixture = try ConfigFixture(config: Self.ssoConfig)
        let cache = try writeCache(fixture, name: "e8be5486177c5b5392bd9aa76563515b29358e6e", ["accessToken": "legacy-access-token", "expiresAt": Self.timestamp(600)])
        let env = environment(moto, fixture, ["AWS_PROFILE": "legacy", "AWS_ENDPOINT_URL_SSO": portal.endpoint])
        #expect(try AWSConfiguration.resolve(environment: env).credentials.credentials().accessKeyID == moto.accessKeyID)

        _ = try writeCache(fixture, name: "e8be5486177c5b5392bd9aa76563515b29358e6e", ["accessToken": "legacy-access-token", "expiresAt": "2020-01-01T00:00:00Z"])
        let error = #expect(throws: AWSClientError.self) { try AWSConfiguration.resolve(environment: env) }
        #expect(error?.description == "The AWS profile `legacy` signs in with SSO, but the cached SSO token `\(cache)` expired at 2020-01-01T00:00:00Z. Run `aws sso login --profile legacy` and try again; layerpack does not sign in itself.")
    }

    /// A token within 15 minutes of its end is refreshed with SSO OIDC `CreateToken` (POST /token with
    /// the cached refresh token and client), and the cache is written back with the new token.
    @Test func nearlyExpiredSessionTokenIsRefreshedAndWrittenBack() throws {
        let moto = try MotoServer.shared()
        let portal = try portal(moto, token: "refreshed-access-token-2")
        defer { portal.stop() }
        try portal.route(
            "POST", "/token", body: #"{"accessToken": "refreshed-access-token-2", "expiresIn": 28800, "refreshToken": "refresh-token-2", "tokenType": "Bearer"}"#,
            requiredJSON: ["grantType": "refresh_token", "refreshToken": "refresh-token-1", "clientId": "client-id-1", "clientSecret": "client-secret-value-1"])
        let fixture = try ConfigFixture(config: Self.ssoConfig)
        let cache = try writeCache(fixture, name: "ee0bfd2552fbd840c02cc48b6e823320543c450f", [
            "startUrl": "https://example.awsapps.com/start", "region": "eu-west-1", "accessToken": "old-access-token-1",
            "expiresAt": Self.timestamp(300), "refreshToken": "refresh-token-1", "clientId": "client-id-1",
            "clientSecret": "client-secret-value-1", "registrationExpiresAt": Self.timestamp(86_400 * 30),
        ])
        let configuration = try AWSConfiguration.resolve(environment: environment(moto, fixture, [
            "AWS_PROFILE": "sso", "AWS_ENDPOINT_URL_SSO": portal.endpoint, "AWS_ENDPOINT_URL_SSO_OIDC": portal.endpoint]))
        #expect(try configuration.credentials.credentials().accessKeyID == moto.accessKeyID)
        let written = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cache))) as? [String: String])
        #expect(written["accessToken"] == "refreshed-access-token-2" && written["refreshToken"] == "refresh-token-2")
        #expect(written["startUrl"] == "https://example.awsapps.com/start" && written["clientId"] == "client-id-1")
        let expiresAt = try #require(written["expiresAt"].flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(abs(expiresAt.timeIntervalSinceNow - 28800) < 600)
        #expect(try FileManager.default.attributesOfItem(atPath: cache)[.posixPermissions] as? Int == 0o600)
    }

    @Test func expiredTokenThatCannotBeRefreshedSaysToLogInAndShowsNoSecret() throws {
        let moto = try MotoServer.shared()
        let portal = try portal(moto, token: "never-sent")
        defer { portal.stop() }
        try portal.route("POST", "/token", status: 400, body: #"{"error": "invalid_grant", "error_description": "refresh token expired"}"#)
        let fixture = try ConfigFixture(config: Self.ssoConfig)
        _ = try writeCache(fixture, name: "ee0bfd2552fbd840c02cc48b6e823320543c450f", [
            "accessToken": "expired-access-token", "expiresAt": "2020-01-01T00:00:00Z", "refreshToken": "refresh-token-secret",
            "clientId": "client-id-1", "clientSecret": "client-secret-value-1",
        ])
        let error = #expect(throws: AWSClientError.self) {
            try AWSConfiguration.resolve(environment: environment(moto, fixture, [
                "AWS_PROFILE": "sso", "AWS_ENDPOINT_URL_SSO": portal.endpoint, "AWS_ENDPOINT_URL_SSO_OIDC": portal.endpoint]))
        }
        let text = try #require(error?.description)
        #expect(text.contains("expired at 2020-01-01T00:00:00Z; refreshing it failed:") && text.hasSuffix("Run `aws sso login --profile sso` and try again; layerpack does not sign in itself."), "\(text)")
        for secret in ["expired-access-token", "refresh-token-secret", "client-secret-value-1"] { #expect(!text.contains(secret)) }
        #expect(try portal.requestLog() == ["POST /token"])
    }
}
