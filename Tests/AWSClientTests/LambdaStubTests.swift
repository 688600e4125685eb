import AWSClient
import Foundation
import Testing
import TestSupport

/// Lambda paths moto does not cover (paging, GetLayerVersionByArn, Lambda's own error shapes), over a
/// stub transport.
@Suite struct LambdaOverStubTransport {
    func client(_ answers: [StubTransport.Answer]) -> (LambdaClient, StubTransport) {
        let transport = StubTransport(answers)
        let configuration = AWSConfiguration(
            region: "us-east-1", credentials: .fixed(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")),
            retryPolicy: RetryPolicy(sleep: { _ in }), transport: transport
        )
        return (LambdaClient(configuration: configuration), transport)
    }

    static func item(_ version: Int) -> String {
        #"{"LayerVersionArn":"arn:aws:lambda:us-east-1:123456789012:layer:my-layer:\#(version)","Version":\#(version),"CreatedDate":"2026-11-25T11:18:53.618+0000","CompatibleRuntimes":["python3.12"]}"#
    }

    @Test func listFollowsNextMarkerToTheEnd() throws {
        let (lambda, transport) = client([
            .json(200, #"{"LayerVersions":[\#(Self.item(3)),\#(Self.item(2))],"NextMarker":"page/2"}"#),
            .json(200, #"{"LayerVersions":[\#(Self.item(1))]}"#),
        ])
        let versions = try lambda.listLayerVersions(layerName: "my-layer", compatibleRuntime: "python3.12")
        #expect(versions.map(\.version) == [3, 2, 1])
        #expect(versions[0].layerArn == "arn:aws:lambda:us-east-1:123456789012:layer:my-layer")
        #expect(versions[0].content == nil)
        let urls = transport.requests.map(\.url)
        #expect(urls == [
            "https://lambda.us-east-1.amazonaws.com/2018-10-31/layers/my-layer/versions?MaxItems=50&CompatibleRuntime=python3.12",
            "https://lambda.us-east-1.amazonaws.com/2018-10-31/layers/my-layer/versions?MaxItems=50&Marker=page%2F2&CompatibleRuntime=python3.12",
        ])
    }

    @Test func aRepeatedMarkerStopsInsteadOfLoopingForever() throws {
        let page = StubTransport.Answer.json(200, #"{"LayerVersions":[\#(Self.item(1))],"NextMarker":"same"}"#)
        let (lambda, _) = client([page, page, page])
        #expect(throws: AWSClientError.self) { try lambda.listLayerVersions(layerName: "my-layer") }
    }

    @Test func getLayerVersionDecodesEverything() throws {
        let body = """
            {"Content":{"Location":"https://example.com/zip","CodeSha256":"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=","CodeSize":3,
             "SigningProfileVersionArn":"arn:sp","SigningJobArn":"arn:sj"},
             "LayerArn":"arn:aws:lambda:us-east-1:123456789012:layer:my-layer",
             "LayerVersionArn":"arn:aws:lambda:us-east-1:123456789012:layer:my-layer:4","Version":4,
             "Description":"deps","CreatedDate":"2026-11-25T11:18:53.618+0000","LicenseInfo":"MIT",
             "CompatibleRuntimes":["python3.12","python3.13"],"CompatibleArchitectures":["arm64"]}
            """
        let (lambda, transport) = client([.json(200, body)])
        let version = try #require(try lambda.getLayerVersion(layerName: "my-layer", version: 4))
        #expect(version == LayerVersion(
            layerArn: "arn:aws:lambda:us-east-1:123456789012:layer:my-layer",
            layerVersionArn: "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:4", version: 4,
            createdDate: "2026-11-25T11:18:53.618+0000", description: "deps", licenseInfo: "MIT",
            compatibleRuntimes: ["python3.12", "python3.13"], compatibleArchitectures: ["arm64"],
            content: .init(location: "https://example.com/zip", codeSha256: "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
                           codeSize: 3, signingProfileVersionArn: "arn:sp", signingJobArn: "arn:sj")
        ))
        #expect(transport.requests[0].method == "GET")
        #expect(transport.requests[0].url.hasSuffix("/2018-10-31/layers/my-layer/versions/4"))
    }

    @Test func getLayerVersionOf404IsNil() throws {
        let (lambda, _) = client([.json(404, #"{"Message":"The resource you requested does not exist.","Type":"User"}"#,
                                        headers: ["X-Amzn-ErrorType": "ResourceNotFoundException"])])
        #expect(try lambda.getLayerVersion(layerName: "my-layer", version: 9) == nil)
    }

    @Test func getLayerVersionByArnUsesTheFindQuery() throws {
        let (lambda, transport) = client([.json(200, Self.item(2))])
        let arn = "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:2"
        #expect(try lambda.getLayerVersion(arn: arn)?.version == 2)
        #expect(transport.requests[0].url == "https://lambda.us-east-1.amazonaws.com/2018-10-31/layers?find=LayerVersion&Arn=arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Alayer%3Amy-layer%3A2")
    }

    @Test func layerNameIsPercentEncodedAndValidated() throws {
        let (lambda, transport) = client([.json(200, #"{"LayerVersions":[]}"#)])
        _ = try lambda.listLayerVersions(layerName: "arn:aws:lambda:us-east-1:123456789012:layer:my-layer")
        #expect(transport.requests[0].url.contains("/layers/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Alayer%3Amy-layer/versions"))
        #expect(throws: AWSClientError.self) { try lambda.listLayerVersions(layerName: "has space") }
        #expect(throws: AWSClientError.self) { try lambda.listLayerVersions(layerName: String(repeating: "a", count: 141)) }
    }

    @Test func publishSendsTheDocumentedJSON() throws {
        let (lambda, transport) = client([.json(201, Self.item(5))])
        let version = try lambda.publishLayerVersion(PublishLayerVersionRequest(
            layerName: "my-layer", content: .s3(bucket: "b", key: "k.zip", objectVersion: "v1"), description: "d",
            licenseInfo: "MIT", compatibleRuntimes: ["python3.12"], compatibleArchitectures: ["x86_64", "arm64"]
        ))
        #expect(version.version == 5)
        let request = try #require(transport.requests.first)
        #expect(request.method == "POST" && request.url.hasSuffix("/2018-10-31/layers/my-layer/versions"))
        guard case .data(let body) = request.body else { Issue.record("expected a JSON body"); return }
        #expect(String(decoding: body, as: UTF8.self) == #"{"CompatibleArchitectures":["x86_64","arm64"],"CompatibleRuntimes":["python3.12"],"Content":{"S3Bucket":"b","S3Key":"k.zip","S3ObjectVersion":"v1"},"Description":"d","LicenseInfo":"MIT"}"#)
    }

    @Test func publishRejectsBadInputBeforeSending() throws {
        let (lambda, transport) = client([])
        #expect(throws: AWSClientError.self) {
            try lambda.publishLayerVersion(PublishLayerVersionRequest(layerName: "l", content: .zipFile(Data()), compatibleArchitectures: ["sparc"]))
        }
        #expect(throws: AWSClientError.self) {
            try lambda.publishLayerVersion(PublishLayerVersionRequest(layerName: "l", content: .zipFile(Data()), description: String(repeating: "x", count: 257)))
        }
        #expect(transport.requests.isEmpty)
    }
}

@Suite struct ErrorDecoding {
    func decode(_ answer: StubTransport.Answer) throws -> AWSServiceError? {
        let configuration = AWSConfiguration(
            region: "us-east-1", credentials: .fixed(AWSCredentials(accessKeyID: "A", secretAccessKey: "S")),
            retryPolicy: RetryPolicy(maxAttempts: 1), transport: StubTransport([answer])
        )
        do {
            _ = try LambdaClient(configuration: configuration).listLayerVersions(layerName: "l")
            return nil
        } catch AWSClientError.service(let error) {
            return error
        }
    }

    @Test func headerWinsAndIsCutAtColon() throws {
        let error = try decode(.json(400, #"{"__type":"Other","message":"Bad runtime"}"#,
                                     headers: ["X-Amzn-ErrorType": "InvalidParameterValueException:http://internal.amazon.com/", "X-Amzn-RequestId": "r-1"]))
        #expect(error == AWSServiceError(operation: "ListLayerVersions", statusCode: 400, code: "InvalidParameterValueException", message: "Bad runtime", requestID: "r-1"))
    }

    @Test func emptyOrColonOnlyHeaderFallsBackToTheBody() throws {
        for header in [":", ":suffix", ""] {
            let error = try decode(.json(400, #"{"__type":"InvalidParameterValueException","message":"m"}"#, headers: ["X-Amzn-ErrorType": header]))
            #expect(error?.code == "InvalidParameterValueException", "X-Amzn-ErrorType: \(header)")
        }
    }

    @Test func jsonTypeWithNamespace() throws {
        let error = try decode(.json(400, #"{"__type":"com.amazonaws.lambda#CodeStorageExceededException","Message":"Code storage limit exceeded"}"#))
        #expect(error?.code == "CodeStorageExceededException")
        #expect(error?.message == "Code storage limit exceeded")
    }

    @Test func xmlAsS3AndMotoSendIt() throws {
        let xml = "<?xml version=\"1.0\"?><ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error><RequestId>abc</RequestId></ErrorResponse>"
        let error = try #require(try decode(.response(HTTPResponse(statusCode: 403, body: Data(xml.utf8)))))
        #expect(error.code == "SignatureDoesNotMatch")
        #expect(error.requestID == "abc")
        #expect(error.description.contains("secret access key") && error.description.contains("clock") && error.description.contains("region"))
        #expect(!error.isRetryable)
    }

    @Test func bodilessErrorGetsACodeFromItsStatus() throws {
        #expect(try decode(.response(HTTPResponse(statusCode: 403)))?.code == "Forbidden")
    }

    @Test func accessDeniedNamesTheIAMActionToAllow() {
        #expect(AWSServiceError(operation: "HeadObject", statusCode: 403, code: "AccessDenied", message: "").description.contains("`s3:GetObject`"))
        #expect(AWSServiceError(operation: "PublishLayerVersion", statusCode: 403, code: "AccessDeniedException", message: "").description.contains("`lambda:PublishLayerVersion`"))
    }

    @Test func invalidClientTokenIdSaysToCheckTheKey() throws {
        let error = try decode(.json(403, #"{"message":"The security token included in the request is invalid."}"#, headers: ["X-Amzn-ErrorType": "InvalidClientTokenId"]))
        #expect(error?.description.contains("access key id") == true)
    }
}

/// S3 addressing on real AWS endpoints, which moto (a custom endpoint, so path style) never shows.
@Suite struct S3AddressingOverStubTransport {
    func client() -> (S3Client, StubTransport) {
        let transport = StubTransport([
            .response(HTTPResponse(statusCode: 200, headers: ["x-amz-version-id": "v1", "Content-Length": "3", "x-amz-meta-layerpack-sha256": "abc="])),
            .response(HTTPResponse(statusCode: 200, headers: ["Content-Length": "3"])),
        ])
        let configuration = AWSConfiguration(
            region: "eu-west-1", credentials: .fixed(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")),
            retryPolicy: RetryPolicy(sleep: { _ in }), transport: transport
        )
        return (S3Client(configuration: configuration), transport)
    }

    @Test func virtualHostedOnAWSAndPathStyleForDottedBuckets() throws {
        let (s3, transport) = client()
        let object = try #require(try s3.headObject(bucket: "my-artifacts", key: "layers/a b+c.zip"))
        #expect(object.versionID == "v1")
        #expect(object.metadata["layerpack-sha256"] == "abc=")
        _ = try s3.headObject(bucket: "my.dotted.bucket", key: "k.zip")
        #expect(transport.requests.map(\.url) == [
            "https://my-artifacts.s3.eu-west-1.amazonaws.com/layers/a%20b%2Bc.zip",
            "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/k.zip",
        ])
    }
}
