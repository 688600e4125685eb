import AWSClient
import Foundation
import Testing
import TestSupport

@Suite struct RetryPolicyOnAFakeClock {
    static let credentials = CredentialsProvider.fixed(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret"))

    func lambda(_ answers: [StubTransport.Answer], maxAttempts: Int = 3, random: Double = 1.0) -> (LambdaClient, StubTransport, RecordingSleeper) {
        let transport = StubTransport(answers)
        let sleeper = RecordingSleeper()
        let configuration = AWSConfiguration(
            region: "us-east-1", credentials: Self.credentials, configuredEndpoints: ["lambda": "http://127.0.0.1:9"],
            retryPolicy: RetryPolicy(maxAttempts: maxAttempts, sleep: sleeper.sleep, random: { random }), transport: transport
        )
        return (LambdaClient(configuration: configuration), transport, sleeper)
    }

    static let emptyList = StubTransport.Answer.json(200, #"{"LayerVersions":[]}"#)

    @Test func backoffIsRandomTimesCappedPowerOfTwo() {
        let policy = RetryPolicy(maxAttempts: 10, random: { 0.5 })
        let error = AWSClientError.connectionFailed(url: "u", reason: "r", requestMayHaveReachedServer: true)
        #expect(policy.delay(afterFailedAttempts: 1, error: error) == .milliseconds(500))
        #expect(policy.delay(afterFailedAttempts: 2, error: error) == .seconds(1))
        #expect(policy.delay(afterFailedAttempts: 3, error: error) == .seconds(2))
        #expect(policy.delay(afterFailedAttempts: 6, error: error) == .seconds(10))
        #expect(policy.delay(afterFailedAttempts: 7, error: error) == .seconds(10), "2^6 = 64 s is capped at 20 s")
        let full = RetryPolicy(maxAttempts: 10, random: { 0.999 })
        #expect(full.delay(afterFailedAttempts: 9, error: error) < .seconds(20))
    }

    @Test func serverErrorsAreRetriedUpToMaxAttempts() throws {
        let (client, transport, sleeper) = lambda([.json(503, "{}"), .json(500, "{}"), Self.emptyList])
        #expect(try client.listLayerVersions(layerName: "layer").isEmpty)
        #expect(transport.requests.count == 3)
        #expect(sleeper.recorded == [.seconds(1), .seconds(2)])
    }

    @Test func givesUpAfterMaxAttemptsWithTheLastError() throws {
        let (client, transport, sleeper) = lambda([.json(502, "{}"), .json(502, "{}"), .json(504, #"{"message":"gateway"}"#), Self.emptyList])
        let error = #expect(throws: AWSClientError.self) { try client.listLayerVersions(layerName: "layer") }
        guard case .service(let serviceError) = error else { Issue.record("expected a service error"); return }
        #expect(serviceError.statusCode == 504)
        #expect(transport.requests.count == 3)
        #expect(sleeper.recorded.count == 2)
    }

    @Test func awsMaxAttemptsOfOneMeansNoRetry() throws {
        let (client, transport, _) = lambda([.json(503, "{}"), Self.emptyList], maxAttempts: 1)
        #expect(throws: AWSClientError.self) { try client.listLayerVersions(layerName: "layer") }
        #expect(transport.requests.count == 1)
    }

    @Test func throttlingHonoursRetryAfter() throws {
        let throttled = StubTransport.Answer.json(429, #"{"message":"Rate exceeded"}"#, headers: ["X-Amzn-ErrorType": "TooManyRequestsException", "Retry-After": "7"])
        let (client, transport, sleeper) = lambda([throttled, Self.emptyList], random: 0.1)
        #expect(try client.listLayerVersions(layerName: "layer").isEmpty)
        #expect(transport.requests.count == 2)
        #expect(sleeper.recorded == [.seconds(7)])
    }

    @Test func s3SlowDownIsThrottling() throws {
        let error = AWSServiceError(operation: "PutObject", statusCode: 503, code: "SlowDown", message: "Please reduce your request rate.")
        #expect(error.isThrottling && error.isRetryable)
    }

    @Test func connectionErrorsAreRetried() throws {
        let reset = StubTransport.Answer.error(.connectionFailed(url: "http://127.0.0.1:9", reason: "Connection reset by peer", requestMayHaveReachedServer: true))
        let (client, transport, _) = lambda([reset, Self.emptyList])
        #expect(try client.listLayerVersions(layerName: "layer").isEmpty)
        #expect(transport.requests.count == 2)
    }

    @Test func nonRetryableErrorFailsAtOnceWithCodeMessageAndRequestID() throws {
        let denied = StubTransport.Answer.json(
            403, #"{"Message":"User is not authorized to perform: lambda:ListLayerVersions"}"#,
            headers: ["X-Amzn-ErrorType": "AccessDeniedException:http://internal.amazon.com/coral/", "x-amzn-RequestId": "req-123"])
        let (client, transport, sleeper) = lambda([denied, Self.emptyList])
        let error = #expect(throws: AWSClientError.self) { try client.listLayerVersions(layerName: "layer") }
        #expect(transport.requests.count == 1)
        #expect(sleeper.recorded.isEmpty)
        let text = try #require(error?.description)
        #expect(text.contains("`AccessDeniedException`") && text.contains("not authorized") && text.contains("`req-123`"))
        #expect(text.contains("IAM policy") && text.contains("`lambda:ListLayerVersions`"))
    }

    @Test func publishIsAttemptedExactlyOnceAndReportsAnUnknownOutcome() throws {
        let dropped = StubTransport.Answer.error(.connectionFailed(url: "http://127.0.0.1:9", reason: "Empty reply from server", requestMayHaveReachedServer: true))
        let (client, transport, _) = lambda([dropped, .json(201, "{}")])
        let error = #expect(throws: AWSClientError.self) {
            try client.publishLayerVersion(PublishLayerVersionRequest(layerName: "layer", content: .zipFile(Data("zip".utf8))))
        }
        guard case .requestOutcomeUnknown(let operation, _) = error else { Issue.record("expected requestOutcomeUnknown, got \(String(describing: error))"); return }
        #expect(operation == "PublishLayerVersion")
        #expect(error?.requestMayHaveReachedServer == true)
        #expect(transport.requests.count == 1)
        #expect(transport.requests.first?.freshConnection == true)
    }

    @Test func publishThrottledIsNotRetriedEither() throws {
        let throttled = StubTransport.Answer.json(429, "{}", headers: ["X-Amzn-ErrorType": "TooManyRequestsException"])
        let (client, transport, _) = lambda([throttled, .json(201, "{}")])
        let error = #expect(throws: AWSClientError.self) {
            try client.publishLayerVersion(PublishLayerVersionRequest(layerName: "layer", content: .zipFile(Data("zip".utf8))))
        }
        #expect(error?.isRetryable == true, "the caller may retry a throttled publish: it certainly did not happen")
        #expect(error?.requestMayHaveReachedServer == false)
        #expect(transport.requests.count == 1)
    }
}
