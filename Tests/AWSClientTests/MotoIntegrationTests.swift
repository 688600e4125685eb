import AWSClient
import Foundation
import Hashing
import Testing
import TestSupport

/// Against a real moto_server on 127.0.0.1 with signature checking on.
@Suite struct LambdaAgainstMoto {
    @Test func publishListGetDelete() throws {
        let moto = try MotoServer.shared()
        let lambda = LambdaClient(configuration: try moto.configuration())
        let name = MotoServer.uniqueName("layer")
        let zip = Data("PK not really a zip, moto does not look".utf8)
        let published = try lambda.publishLayerVersion(PublishLayerVersionRequest(
            layerName: name, content: .zipFile(zip), description: "test layer", licenseInfo: "MIT",
            compatibleRuntimes: ["python3.12"], compatibleArchitectures: ["arm64"]
        ))
        #expect(published.version == 1)
        #expect(published.layerVersionArn.hasSuffix(":layer:\(name):1"))
        #expect(published.content?.codeSha256 == SHA256.hash(zip).base64)
        #expect(published.content?.codeSize == zip.count)
        #expect(published.compatibleRuntimes == ["python3.12"])
        #expect(published.compatibleArchitectures == ["arm64"])
        #expect(published.createdDate?.isEmpty == false)

        let second = try lambda.publishLayerVersion(PublishLayerVersionRequest(layerName: name, content: .zipFile(zip)))
        #expect(second.version == 2)
        #expect(try lambda.listLayerVersions(layerName: name).map(\.version).sorted() == [1, 2])

        let fetched = try #require(try lambda.getLayerVersion(layerName: name, version: 1))
        #expect(fetched.description == "test layer" && fetched.licenseInfo == "MIT")
        #expect(fetched.content?.codeSha256 == published.content?.codeSha256)
        #expect(try lambda.getLayerVersion(layerName: name, version: 99) == nil)

        try lambda.deleteLayerVersion(layerName: name, version: 1)
        #expect(try lambda.getLayerVersion(layerName: name, version: 1) == nil)
        #expect(try lambda.listLayerVersions(layerName: name).map(\.version) == [2])
    }

    @Test func publishFromS3() throws {
        let moto = try MotoServer.shared()
        let configuration = try moto.configuration()
        let s3 = S3Client(configuration: configuration)
        let bucket = MotoServer.uniqueName("layers")
        try s3.createBucket(bucket)
        let file = try TemporaryFile(size: 1000)
        _ = try s3.putObject(fileAt: file.path, bucket: bucket, key: "layer.zip", contentType: "application/zip")
        let version = try LambdaClient(configuration: configuration).publishLayerVersion(PublishLayerVersionRequest(
            layerName: MotoServer.uniqueName("from-s3"), content: .s3(bucket: bucket, key: "layer.zip")))
        #expect(version.content?.codeSize == 1000)
    }

    @Test func wrongSecretIsRejectedWithAHelpfulErrorWithoutTheSecret() throws {
        let moto = try MotoServer.shared()
        let secret = "WrongSecretThatMustNotLeak0123456789abcd"
        let lambda = LambdaClient(configuration: try moto.configuration(["AWS_SECRET_ACCESS_KEY": secret]))
        let error = #expect(throws: AWSClientError.self) { try lambda.listLayerVersions(layerName: "any") }
        guard case .service(let serviceError) = error else { Issue.record("expected a service error, got \(String(describing: error))"); return }
        #expect(serviceError.code == "SignatureDoesNotMatch")
        #expect(serviceError.statusCode == 403)
        let text = serviceError.description
        #expect(text.contains("secret access key") && text.contains("clock"))
        #expect(!text.contains(secret) && !String(reflecting: error!).contains(secret))
    }
}

@Suite struct S3AgainstMoto {
    /// A client for moto and a new bucket with versioning on.
    static func versionedBucket(_ prefix: String) throws -> (S3Client, String) {
        let s3 = S3Client(configuration: try MotoServer.shared().configuration())
        let bucket = MotoServer.uniqueName(prefix)
        try s3.createBucket(bucket)
        try s3.enableVersioning(bucket: bucket)
        return (s3, bucket)
    }

    @Test func putAndHeadWithMetadataAndVersionID() throws {
        let (s3, bucket) = try Self.versionedBucket("versioned")
        let file = try TemporaryFile(size: 12345)
        // A space and slashes; moto 5.2.1 mis-verifies keys holding `+` or `:` (boto3's too), so the signing of
        // those is pinned by the known-answer tests instead.
        let key = "layers/my layer/v1.zip"
        let put = try s3.upload(fileAt: file.path, bucket: bucket, key: key, metadata: ["sha256": "abc123"], contentType: "application/zip")
        #expect(put.partCount == 0)
        let versionID = try #require(put.versionID)
        let head = try #require(try s3.headObject(bucket: bucket, key: key))
        #expect(head.size == 12345)
        #expect(head.versionID == versionID)
        #expect(head.metadata == ["sha256": "abc123"])
        #expect(head.contentType == "application/zip")
        #expect(try s3.headObject(bucket: bucket, key: "missing.zip") == nil)
    }

    @Test func multipartUploadOfTwentyMebibytes() throws {
        let (s3, bucket) = try Self.versionedBucket("multipart")
        let file = try TemporaryFile(size: 20 * 1024 * 1024 + 123)
        let result = try s3.upload(fileAt: file.path, bucket: bucket, key: "big.zip", metadata: ["sha256": "x"], contentType: "application/zip")
        #expect(result.partCount == 3)
        #expect(result.versionID != nil)
        #expect(result.eTag?.hasSuffix("-3\"") == true)
        let head = try #require(try s3.headObject(bucket: bucket, key: "big.zip"))
        #expect(head.size == 20 * 1024 * 1024 + 123)
        #expect(head.metadata["sha256"] == "x")
        #expect(try s3.listMultipartUploads(bucket: bucket).isEmpty)
    }

    @Test func failedMultipartUploadIsAborted() throws {
        let moto = try MotoServer.shared()
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        let s3 = S3Client(configuration: try moto.configuration(endpoint: proxy.endpoint), concurrency: 2)
        let bucket = MotoServer.uniqueName("aborted")
        try s3.createBucket(bucket)
        try proxy.inject(.status(400, code: "InvalidPart"), count: 1, matching: "partNumber=2&")
        let file = try TemporaryFile(size: 17 * 1024 * 1024)
        let error = #expect(throws: AWSClientError.self) {
            try s3.upload(fileAt: file.path, bucket: bucket, key: "big.zip", contentType: "application/zip")
        }
        guard case .service(let serviceError) = error else { Issue.record("expected a service error, got \(String(describing: error))"); return }
        #expect(serviceError.code == "InvalidPart" && serviceError.operation == "UploadPart")
        #expect(try proxy.requestLog().contains { $0.hasPrefix("DELETE /\(bucket)/big.zip?uploadId=") })
        #expect(try s3.listMultipartUploads(bucket: bucket).isEmpty)
        #expect(try s3.headObject(bucket: bucket, key: "big.zip") == nil)
    }
}

@Suite struct CredentialSourcesAgainstLocalServers {
    @Test func webIdentityThroughMotoSTS() throws {
        let moto = try MotoServer.shared()
        let tokenFile = try TemporaryFile(contents: "eyJhbGciOi.fake.token\n")
        let configuration = try moto.configuration([
            "AWS_ACCESS_KEY_ID": nil, "AWS_SECRET_ACCESS_KEY": nil,
            "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile.path, "AWS_ROLE_ARN": moto.webIdentityRoleARN,
            "AWS_ROLE_SESSION_NAME": "layerpack-test",
        ])
        #expect(configuration.credentials.source.contains(moto.webIdentityRoleARN))
        let credentials = try configuration.credentials.credentials()
        #expect(credentials.accessKeyID != moto.accessKeyID)
        #expect(credentials.sessionToken?.isEmpty == false)
        #expect(credentials.expiration.map { $0 > Date() } == true)
        // The role's credentials work against moto, signature checking and all.
        #expect(try LambdaClient(configuration: configuration).listLayerVersions(layerName: MotoServer.uniqueName("none")).isEmpty)
    }

    @Test func containerCredentialsWithAuthorizationTokenFile() throws {
        let moto = try MotoServer.shared()
        let server = try StubHTTPServer()
        defer { server.stop() }
        let body = #"{"AccessKeyId":"\#(moto.accessKeyID)","SecretAccessKey":"\#(moto.secretAccessKey)","Token":"container-token","Expiration":"2099-01-01T00:00:00Z"}"#
        try server.route("GET", "/v2/credentials/abc", body: body, requiredHeader: ("Authorization", "Bearer container-auth"))
        let tokenFile = try TemporaryFile(contents: "Bearer container-auth\n")
        let configuration = try moto.configuration([
            "AWS_ACCESS_KEY_ID": nil, "AWS_SECRET_ACCESS_KEY": nil,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.endpoint + "/v2/credentials/abc",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile.path, "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored",
        ])
        let credentials = try configuration.credentials.credentials()
        #expect(credentials.accessKeyID == moto.accessKeyID)
        #expect(credentials.sessionToken == "container-token")
        #expect(credentials.expiration == Date(timeIntervalSince1970: 4_070_908_800))
        #expect(try server.requestLog() == ["GET /v2/credentials/abc"])
    }

    @Test func containerCredentialsRejectAWrongToken() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("GET", "/creds", body: "{}", requiredHeader: ("Authorization", "right"))
        let token = "container-token-that-must-not-leak"
        let error = #expect(throws: AWSClientError.self) {
            try AWSConfiguration.resolve(environment: [
                "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.endpoint + "/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
            ])
        }
        #expect(error?.description.contains("HTTP 401") == true)
        #expect(error?.description.contains(token) == false)
    }

    @Test func instanceMetadataV2() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        try server.route("PUT", "/latest/api/token", body: "imds-session-token")
        try server.route("GET", "/latest/meta-data/iam/security-credentials/", body: "layer-role\n", requiredHeader: ("X-aws-ec2-metadata-token", "imds-session-token"))
        try server.route("GET", "/latest/meta-data/iam/security-credentials/layer-role",
                         body: #"{"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"imds-secret","Token":"imds-token","Expiration":"2099-01-01T00:00:00Z"}"#,
                         requiredHeader: ("X-aws-ec2-metadata-token", "imds-session-token"))
        let configuration = try AWSConfiguration.resolve(environment: [
            "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.endpoint + "/",
        ])
        #expect(try configuration.credentials.credentials().accessKeyID == "ASIAIMDS")
        #expect(try server.requestLog().count == 3)
    }

    @Test func instanceMetadataDisabledIsNeverContacted() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        #expect(throws: AWSClientError.self) {
            try AWSConfiguration.resolve(environment: [
                "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.endpoint,
            ])
        }
        #expect(try server.requestLog().isEmpty)
    }
}

@Suite struct RetriesThroughTheFaultProxy {
    static let noWait = RetryPolicy(sleep: { _ in })

    @Test func serviceUnavailableTwiceThenSuccess() throws {
        let moto = try MotoServer.shared()
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        let s3 = S3Client(configuration: try moto.configuration(endpoint: proxy.endpoint, retryPolicy: Self.noWait))
        let bucket = MotoServer.uniqueName("retry")
        try s3.createBucket(bucket)
        try proxy.inject(.status(503, code: "SlowDown"), count: 2)
        #expect(try s3.headObject(bucket: bucket, key: "nothing") == nil)
        #expect(try proxy.requestLog().filter { $0.hasPrefix("HEAD") }.count == 3)
    }

    @Test func throttledWithRetryAfter() throws {
        let moto = try MotoServer.shared()
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        let sleeper = RecordingSleeper()
        let lambda = LambdaClient(configuration: try moto.configuration(endpoint: proxy.endpoint, retryPolicy: RetryPolicy(sleep: sleeper.sleep, random: { 0 })))
        try proxy.inject(.status(429, code: "TooManyRequestsException", retryAfter: 2, json: true))
        #expect(try lambda.listLayerVersions(layerName: MotoServer.uniqueName("none")).isEmpty)
        #expect(sleeper.recorded == [.seconds(2)])
        #expect(try proxy.requestLog().count == 2)
    }

    @Test func connectionResetIsRetried() throws {
        let moto = try MotoServer.shared()
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        let lambda = LambdaClient(configuration: try moto.configuration(endpoint: proxy.endpoint, retryPolicy: Self.noWait))
        try proxy.inject(.connectionReset)
        #expect(try lambda.listLayerVersions(layerName: MotoServer.uniqueName("none")).isEmpty)
        #expect(try proxy.requestLog().count == 2)
    }

    @Test func tooManyFailuresSurfaceTheLastError() throws {
        let moto = try MotoServer.shared()
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        let lambda = LambdaClient(configuration: try moto.configuration(endpoint: proxy.endpoint, ["AWS_MAX_ATTEMPTS": "2"], retryPolicy: Self.noWait))
        try proxy.inject(.status(500, code: "ServiceException", json: true), count: 5)
        let error = #expect(throws: AWSClientError.self) { try lambda.listLayerVersions(layerName: "l") }
        #expect(error?.description.contains("`ServiceException`") == true)
        #expect(try proxy.requestLog().count == 2)
    }

    @Test func droppedPublishResponseIsReportedAsUnknownOutcomeAndSentOnce() throws {
        let moto = try MotoServer.shared()
        let proxy = try FaultProxy(upstream: moto)
        defer { proxy.stop() }
        let configuration = try moto.configuration(endpoint: proxy.endpoint, retryPolicy: Self.noWait)
        let lambda = LambdaClient(configuration: configuration)
        let name = MotoServer.uniqueName("dropped")
        try proxy.inject(.dropResponseAfterForwarding, matching: "POST")
        let error = #expect(throws: AWSClientError.self) {
            try lambda.publishLayerVersion(PublishLayerVersionRequest(layerName: name, content: .zipFile(Data("zip".utf8))))
        }
        #expect(error?.requestMayHaveReachedServer == true)
        #expect(try proxy.requestLog().filter { $0.hasPrefix("POST") }.count == 1)
        #expect(try LambdaClient(configuration: try moto.configuration()).listLayerVersions(layerName: name).count == 1)
    }
}

@Suite struct ProxySettings {
    @Test func noProxyBypassesTheProxyForListedHosts() throws {
        let moto = try MotoServer.shared()
        // Port 9 (discard) on loopback: nothing listens, so using the proxy fails at once.
        let deadProxy = "http://127.0.0.1:9"
        let viaProxy = LambdaClient(configuration: try moto.configuration(["http_proxy": deadProxy, "NO_PROXY": nil], retryPolicy: RetryPolicy(maxAttempts: 1)))
        let error = #expect(throws: AWSClientError.self) { try viaProxy.listLayerVersions(layerName: "l") }
        guard case .connectionFailed(_, _, let reached) = error else { Issue.record("expected a connection failure, got \(String(describing: error))"); return }
        #expect(!reached)
        let bypassing = LambdaClient(configuration: try moto.configuration(["http_proxy": deadProxy, "NO_PROXY": "127.0.0.1"]))
        #expect(try bypassing.listLayerVersions(layerName: MotoServer.uniqueName("none")).isEmpty)
    }
}

/// A file in the temporary folder, removed when the value goes away.
final class TemporaryFile {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("layerpack-aws-\(UUID().uuidString)").path

    init(contents: String) throws {
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A file of `size` bytes of a repeating pattern, written 1 MiB at a time.
    init(size: Int) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        defer { try? handle.close() }
        let chunk = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        var remaining = size
        while remaining > 0 {
            try handle.write(contentsOf: chunk.prefix(remaining))
            remaining -= min(remaining, chunk.count)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
