import AWSClient
import Foundation
import Testing
import TestSupport

/// Fixed keys for talking to local servers; the secret and token are long enough to be registered for
/// redaction, as real ones are.
private enum Keys {
    static let accessKeyID = "AKIDMISBEHAVING"
    static let secret = "misbehaving-secret-access-key-0123456789"
    static let token = "misbehaving-session-token-that-must-never-be-printed"
}

/// A configuration resolved from an environment whose every endpoint is `server`, with no waiting
/// between retries.
private func configuration(for server: StubHTTPServer, _ extra: [String: String] = [:]) throws -> AWSConfiguration {
    try AWSConfiguration.resolve(environment: [
        "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": Keys.accessKeyID, "AWS_SECRET_ACCESS_KEY": Keys.secret,
        "AWS_SESSION_TOKEN": Keys.token, "AWS_ENDPOINT_URL": server.endpoint, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    ].merging(extra) { $1 }, retryPolicy: RetryPolicy(sleep: { _ in }))
}

private let versionsPath = "/2018-10-31/layers/broken/versions"

/// Servers that answer slowly, endlessly, hugely or not in HTTP, as broken endpoints, proxies and captive
/// portals do (`local_http.py stub`).
@Suite struct MisbehavingServers {
    @Test func aBodyDribbledOneByteEveryHalfSecondHitsTheDeadline() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        // 100 bytes at 2 bytes/s would take 50 s per attempt; the deadline is 3 s.
        try server.route("GET", versionsPath, body: #"{"LayerVersions":[]}"# + String(repeating: " ", count: 80), misbehaving: .dribble(interval: 0.5))
        let lambda = LambdaClient(configuration: try configuration(for: server, ["LAYERPACK_HTTP_TIMEOUT": "3", "AWS_MAX_ATTEMPTS": "2"]))
        let started = ContinuousClock.now
        let error = #expect(throws: AWSClientError.self) { try lambda.listLayerVersions(layerName: "broken") }
        #expect(ContinuousClock.now - started < .seconds(30), "a generous bound: without a deadline this takes minutes")
        guard case .timedOut(_, let deadline) = error else { Issue.record("expected timedOut, got \(String(describing: error))"); return }
        #expect(deadline == .seconds(3))
        #expect(error?.description.contains("`LAYERPACK_HTTP_TIMEOUT`") == true)
        #expect(try server.requestLog().count == 2, "a deadline hit is retried like a reset connection")
    }

    @Test func aDribbledPublishAnswerIsAnUnknownOutcomeSentOnce() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("POST", versionsPath, status: 201, body: String(repeating: " ", count: 100), misbehaving: .dribble(interval: 0.5))
        let lambda = LambdaClient(configuration: try configuration(for: server, ["LAYERPACK_HTTP_TIMEOUT": "3"]))
        let error = #expect(throws: AWSClientError.self) {
            try lambda.publishLayerVersion(PublishLayerVersionRequest(layerName: "broken", content: .zipFile(Data("zip".utf8))))
        }
        guard case .requestOutcomeUnknown(let operation, let reason) = error else { Issue.record("expected requestOutcomeUnknown, got \(String(describing: error))"); return }
        #expect(operation == "PublishLayerVersion")
        #expect(reason.contains("deadline of 3 s"))
        #expect(try server.requestLog() == ["POST \(versionsPath)"])
    }

    /// Lists until the client gives up; the error and how many requests it took.
    func listUntilStopped(_ server: StubHTTPServer) throws -> (error: AWSClientError?, requests: Int) {
        let lambda = LambdaClient(configuration: try configuration(for: server))
        let error = #expect(throws: AWSClientError.self) { try lambda.listLayerVersions(layerName: "broken") }
        return (error, try server.requestLog().count)
    }

    @Test func endlessNewMarkersStopAfter200Pages() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("GET", versionsPath, misbehaving: .endlessPages)
        let (error, requests) = try listUntilStopped(server)
        #expect(requests == 200)
        guard case .pagingStopped(_, let pages, _) = error else { Issue.record("expected pagingStopped, got \(String(describing: error))"); return }
        #expect(pages == 200)
        #expect(error?.description.contains("10000") == true)
    }

    static let oneVersion = #"{"LayerVersionArn":"arn:aws:lambda:us-east-1:123456789012:layer:broken:1","Version":1}"#

    @Test(arguments: [
        (page: #"{"LayerVersions":[\#(oneVersion)],"NextMarker":"same"}"#, requests: 2, reason: "the page marker `same` came back a second time"),
        (page: #"{"LayerVersions":[],"NextMarker":"more"}"#, requests: 1, reason: "page 1 holds no versions yet carries a `NextMarker`"),
    ])
    func aRepeatedMarkerOrAnEmptyPageWithAMarkerStops(_ answer: (page: String, requests: Int, reason: String)) throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("GET", versionsPath, body: answer.page)
        let (error, requests) = try listUntilStopped(server)
        #expect(requests == answer.requests)
        #expect(error?.description.contains(answer.reason) == true, "\(String(describing: error))")
    }

    @Test func aFiveMegabyteErrorMessageIsCutToAboutOneKilobyte() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("GET", versionsPath, status: 400, body: #"{"__type":"InvalidParameterValueException","message":"{fill:5000000}"}"#)
        let error = #expect(throws: AWSClientError.self) { try LambdaClient(configuration: try configuration(for: server)).listLayerVersions(layerName: "broken") }
        let text = try #require(error?.description)
        #expect(text.count < 1200, "\(text.count) characters")
        #expect(text.contains("`InvalidParameterValueException`"))
        #expect(text.contains("[cut here: the server sent 5000000 characters]"))
    }

    @Test(arguments: [true, false])
    func aHugeBodyIsRefusedWithoutBeingKept(chunked: Bool) throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        let offered = 1 << 30
        try server.route("GET", versionsPath, misbehaving: .stream(size: offered, chunked: chunked))
        let error = #expect(throws: AWSClientError.self) { try LambdaClient(configuration: try configuration(for: server)).listLayerVersions(layerName: "broken") }
        guard case .unusableAnswer = error else { Issue.record("expected unusableAnswer, got \(String(describing: error))"); return }
        #expect(error?.description.contains("larger than 8 MiB") == true)
        // The server notices the client hung up once the socket buffers are full.
        var streamed: Int?
        for _ in 0..<100 {
            streamed = try server.requestLog().first { $0.hasPrefix("streamed ") }.flatMap { Int($0.dropFirst("streamed ".count)) }
            if streamed != nil { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let handedOver = try #require(streamed, "the server never stopped streaming")
        #expect(handedOver < 64 << 20, "the client stopped reading after 8 MiB of a 1 GiB body: \(handedOver) bytes went out")
        #expect(try server.requestLog().filter { $0.hasPrefix("GET") }.count == 1, "not retried")
    }

    @Test func aGarbageStatusLineSaysTheAnswerIsNotHTTP() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("GET", versionsPath, body: "HELLO\r\n", misbehaving: .raw)
        let error = #expect(throws: AWSClientError.self) { try LambdaClient(configuration: try configuration(for: server)).listLayerVersions(layerName: "broken") }
        guard case .unusableAnswer = error else { Issue.record("expected unusableAnswer, got \(String(describing: error))"); return }
        let text = try #require(error?.description)
        #expect(text.contains("the answer is not HTTP"))
        #expect(!text.contains("Unsupported protocol"))
    }

    @Test(arguments: [(count: 1, size: 10_000_000), (count: 1000, size: 1000)])
    func hugeHeadersSayTheHeaderIsTooLarge(padding: (count: Int, size: Int)) throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("GET", versionsPath, body: #"{"LayerVersions":[]}"#, misbehaving: .paddedHeaders(count: padding.count, size: padding.size))
        let error = #expect(throws: AWSClientError.self) { try LambdaClient(configuration: try configuration(for: server)).listLayerVersions(layerName: "broken") }
        guard case .unusableAnswer = error else { Issue.record("expected unusableAnswer, got \(String(describing: error))"); return }
        let text = try #require(error?.description)
        #expect(text.contains("header") && text.contains("larger than"), "\(text)")
        #expect(!text.contains("Out of memory"))
    }

    @Test func aServerEchoingTheTokenAndAuthorizationGetsThemScrubbed() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("GET", versionsPath, status: 403, body: """
            <Error><Code>AccessDenied</Code><Message>Denied: token {header:X-Amz-Security-Token}, {header:Authorization}, key \(Keys.secret)</Message></Error>
            """)
        let error = #expect(throws: AWSClientError.self) { try LambdaClient(configuration: try configuration(for: server)).listLayerVersions(layerName: "broken") }
        let text = try #require(error?.description)
        #expect(text.contains("Credential=\(Keys.accessKeyID)/"), "the server did echo the Authorization header: \(text)")
        #expect(text.contains("Denied: token <redacted>,"))
        #expect(text.contains("Signature=<redacted>"))
        #expect(!text.contains(Keys.token) && !text.contains(Keys.secret))
        #expect(text.firstMatch(of: #/Signature=[0-9a-f]/#) == nil)
    }

    @Test func thePasswordOfAnEndpointURLIsNeverShown() throws {
        let password = "endpoint-password-in-the-url"
        let configuration = try AWSConfiguration.resolve(environment: [
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": Keys.accessKeyID, "AWS_SECRET_ACCESS_KEY": Keys.secret,
            "AWS_ENDPOINT_URL": "http://layerpack:\(password)@127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
        ])
        // Port 9 on loopback: nothing listens, so the request fails at once.
        let error = #expect(throws: AWSClientError.self) { try LambdaClient(configuration: configuration).listLayerVersions(layerName: "broken") }
        let text = try #require(error?.description)
        #expect(text.contains("http://<redacted>@127.0.0.1:9/"), "\(text)")
        for shown in [text, configuration.description] { #expect(!shown.contains(password), "\(shown)") }
        let refused = #expect(throws: AWSClientError.self) {
            try AWSConfiguration.resolve(environment: ["AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "ftp://layerpack:\(password)@127.0.0.1"])
        }
        #expect(refused?.description.contains("`ftp://<redacted>@127.0.0.1`") == true)
    }
}

@Suite struct RedactionOfSecrets {
    @Test func proxyPasswordsAreRegisteredByTheTransport() {
        _ = CurlTransport(environment: ["https_proxy": "http://me:proxy-password-1234@127.0.0.1:3128"])
        let basic = Data("me:proxy-password-1234".utf8).base64EncodedString()
        let text = Redaction.redact("the proxy said proxy-password-1234 and Basic \(basic)")
        #expect(text == "the proxy said <redacted> and Basic <redacted>")
    }

    @Test func userInfoAndSignaturesAreRemovedWhereverTheyAppear() {
        #expect(Redaction.redact("see `https://user:pw@example.com/a@b` and http://example.com/x@y")
                == "see `https://<redacted>@example.com/a@b` and http://example.com/x@y")
        #expect(Redaction.redact("Credential=AKID/20261126/us-east-1/lambda/aws4_request, Signature=0123456789abcdef0123456789abcdef")
                == "Credential=AKID/20261126/us-east-1/lambda/aws4_request, Signature=<redacted>")
        #expect(Redaction.redact("?X-Amz-Signature=fedcba9876543210fedc&x=1") == "?X-Amz-Signature=<redacted>&x=1")
    }

    @Test func shortStringsAreNotRegistered() {
        Redaction.register("secret")
        #expect(Redaction.redact("the secret access key") == "the secret access key")
    }
}

/// Answers with credentials that are cut short or carry an `Expiration` that is not a date: refused, not
/// half used.
@Suite struct RefusedCredentialAnswers {
    static let completeSTSAnswer = """
        <AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
        <AccessKeyId>ASIASTS</AccessKeyId><SecretAccessKey>sts-secret-access-key</SecretAccessKey>\
        <SessionToken>sts-session-token-value</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>\
        </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>
        """

    func resolveWebIdentity(answer: String) throws -> AWSClientError? {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("POST", "/", body: answer)
        let tokenFile = try TemporaryFile(contents: "eyJhbGciOi.fake.token\n")
        return #expect(throws: AWSClientError.self) {
            try AWSConfiguration.resolve(environment: [
                "AWS_REGION": "us-east-1", "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile.path, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
                "AWS_ENDPOINT_URL_STS": server.endpoint, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            ])
        }
    }

    @Test func aTruncatedSTSAnswerIsRefused() throws {
        let cut = String(Self.completeSTSAnswer.prefix(upTo: Self.completeSTSAnswer.range(of: "session-token")!.lowerBound))
        let error = try resolveWebIdentity(answer: cut)
        guard case .credentialsFetchFailed(_, let reason) = error else { Issue.record("expected credentialsFetchFailed, got \(String(describing: error))"); return }
        #expect(reason.contains("no complete `<Credentials>` element (it may have been cut short)"))
    }

    @Test func anSTSAnswerWithoutASessionTokenIsRefused() throws {
        let error = try resolveWebIdentity(answer: Self.completeSTSAnswer.replacingOccurrences(of: "<SessionToken>sts-session-token-value</SessionToken>", with: ""))
        #expect(error?.description.contains("has no `SessionToken`") == true)
    }

    @Test func anSTSExpirationThatIsNotADateIsRefused() throws {
        let error = try resolveWebIdentity(answer: Self.completeSTSAnswer.replacingOccurrences(of: "2099-01-01T00:00:00Z", with: "tomorrow"))
        #expect(error?.description.contains("its `Expiration` `tomorrow` is not an ISO 8601 date") == true)
    }

    @Test func containerCredentialsWithAnExpirationThatIsNotADateAreRefused() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("GET", "/creds", body: #"{"AccessKeyId":"ASIAC","SecretAccessKey":"container-secret","Token":"t","Expiration":"soon"}"#)
        let error = #expect(throws: AWSClientError.self) {
            try AWSConfiguration.resolve(environment: [
                "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.endpoint + "/creds",
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            ])
        }
        guard case .credentialsFetchFailed(_, let reason) = error else { Issue.record("expected credentialsFetchFailed, got \(String(describing: error))"); return }
        #expect(reason.contains("`Expiration` `soon` is not an ISO 8601 date"))
    }

    @Test func instanceMetadataCredentialsWithAnExpirationThatIsNotADateAreRefused() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("PUT", "/latest/api/token", body: "imds-session-token")
        try server.route("GET", "/latest/meta-data/iam/security-credentials/", body: "layer-role\n")
        try server.route("GET", "/latest/meta-data/iam/security-credentials/layer-role",
                         body: #"{"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"imds-secret","Token":"imds-token","Expiration":"2099-13-45"}"#)
        let error = #expect(throws: AWSClientError.self) {
            try AWSConfiguration.resolve(environment: [
                "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.endpoint,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            ])
        }
        guard case .noCredentials(let searched) = error else { Issue.record("expected noCredentials, got \(String(describing: error))"); return }
        #expect(searched.last?.contains("`Expiration` `2099-13-45` is not an ISO 8601 date") == true, "\(searched)")
    }
}

@Suite struct RequestDeadlines {
    @Test func theDeadlineIsTheSettingPlusOneSecondPerMebibyteSent() throws {
        let transport = StubTransport([.response(HTTPResponse(statusCode: 200)), .response(HTTPResponse(statusCode: 200))])
        let configuration = AWSConfiguration(
            region: "eu-west-1", credentials: .fixed(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")),
            retryPolicy: RetryPolicy(sleep: { _ in }), httpTimeout: .seconds(7), transport: transport
        )
        let s3 = S3Client(configuration: configuration)
        let file = try TemporaryFile(size: 3 << 20)
        _ = try s3.putObject(fileAt: file.path, bucket: "bucket", key: "k.zip", contentType: "application/zip")
        _ = try s3.headObject(bucket: "bucket", key: "k.zip")
        #expect(transport.requests.map(\.timeout) == [.seconds(10), .seconds(7)])
    }
}
