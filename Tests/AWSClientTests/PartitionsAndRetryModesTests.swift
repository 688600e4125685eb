import AWSClient
import Foundation
import Testing
import Synchronization
import TestSupport

@Suite struct Partitions {
    @Test(arguments: [
        ("us-east-1", "aws", "https://lambda.us-east-1.amazonaws.com"),
        ("il-central-1", "aws", "https://lambda.il-central-1.amazonaws.com"),
        ("cn-northwest-1", "aws-cn", "https://lambda.cn-northwest-1.amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "https://lambda.us-gov-west-1.amazonaws.com"),
        ("us-iso-east-1", "aws-iso", "https://lambda.us-iso-east-1.c2s.ic.gov"),
        ("us-isob-east-1", "aws-iso-b", "https://lambda.us-isob-east-1.sc2s.sgov.gov"),
        ("eu-isoe-west-1", "aws-iso-e", "https://lambda.eu-isoe-west-1.cloud.adc-e.uk"),
        ("us-isof-south-1", "aws-iso-f", "https://lambda.us-isof-south-1.csp.hci.ic.gov"),
        ("eusc-de-east-1", "aws-eusc", "https://lambda.eusc-de-east-1.amazonaws.eu"),
        // A region newer than the table still gets the commercial partition's endpoints.
        ("xy-new-9", "aws", "https://lambda.xy-new-9.amazonaws.com"),
    ])
    func regionToPartitionAndEndpoint(region: String, partition: String, endpoint: String) {
        #expect(Partition.of(region: region).id == partition)
        let configuration = AWSConfiguration(region: region, credentials: .fixed(AWSCredentials(accessKeyID: "A", secretAccessKey: "B")), transport: StubTransport([]))
        #expect(configuration.endpoint(for: "lambda").url == endpoint)
    }

    @Test func theTableListsTheMostSpecificPartitionsFirst() {
        let ids = Partition.all.map(\.id)
        #expect(ids.last == "aws")
        #expect(ids.firstIndex(of: "aws-iso-b")! < ids.firstIndex(of: "aws-iso")!)
    }
}

@Suite struct RetryModes {
    @Test func modeAndItsDefaultAttemptsComeFromEnvironmentOrProfile() throws {
        let fixture = try ConfigFixture(config: "[default]\nregion = us-east-1\naws_access_key_id = A\naws_secret_access_key = B\nretry_mode = legacy\n")
        let legacy = try fixture.resolve()
        #expect(legacy.retryPolicy.mode == .legacy && legacy.retryPolicy.maxAttempts == 5)
        #expect(try fixture.resolve(["AWS_MAX_ATTEMPTS": "2"]).retryPolicy.maxAttempts == 2)
        let adaptive = try fixture.resolve(["AWS_RETRY_MODE": "adaptive"])
        #expect(adaptive.retryPolicy.mode == .adaptive && adaptive.retryPolicy.maxAttempts == 3 && adaptive.retryPolicy.rateLimiter != nil)
        #expect(try fixture.resolve(["AWS_RETRY_MODE": "standard"]).retryPolicy.rateLimiter == nil)
    }

    @Test func anUnknownModeIsAnError() throws {
        let fixture = try ConfigFixture(config: "[default]\nregion = us-east-1\naws_access_key_id = A\naws_secret_access_key = B\nretry_mode = fast\n")
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve() }
        #expect(error?.description == "The setting `retry_mode` is `fast`, but it must be `standard`, `legacy` or `adaptive`.")
        let environment = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_RETRY_MODE": "Standard"]) }
        #expect(environment?.description.hasPrefix("The setting `AWS_RETRY_MODE` is `Standard`") == true)
    }

    @Test func legacyRetriesItsOwnSet() {
        var policy = RetryPolicy()
        policy.mode = .legacy
        func service(_ status: Int, _ code: String) -> AWSClientError { .service(AWSServiceError(operation: "Op", statusCode: status, code: code, message: "")) }
        #expect(policy.shouldRetry(service(509, "LimitExceeded")))
        #expect(policy.shouldRetry(service(400, "RequestTimeout")))
        #expect(policy.shouldRetry(service(503, "SlowDown")), "503 is retried in every mode")
        #expect(!policy.shouldRetry(service(400, "TooManyRequestsException")), "a code only standard mode retries")
        #expect(RetryPolicy().shouldRetry(service(400, "TooManyRequestsException")))
        #expect(!RetryPolicy().shouldRetry(service(509, "LimitExceeded")))
    }

    @Test func amzRetryAfterIsMillisecondsAndBeatsRetryAfter() throws {
        let transport = StubTransport([
            .json(429, "{}", headers: ["X-Amzn-ErrorType": "TooManyRequestsException", "x-amz-retry-after": "2500", "Retry-After": "9"]),
            .json(429, "{}", headers: ["X-Amzn-ErrorType": "TooManyRequestsException", "Retry-After": "4"]),
            .json(200, #"{"LayerVersions":[]}"#),
        ])
        let sleeper = RecordingSleeper()
        let configuration = AWSConfiguration(
            region: "us-east-1", credentials: .fixed(AWSCredentials(accessKeyID: "A", secretAccessKey: "B")), configuredEndpoints: ["lambda": "http://127.0.0.1:9"],
            retryPolicy: RetryPolicy(sleep: sleeper.sleep, random: { 0 }), transport: transport)
        #expect(try LambdaClient(configuration: configuration).listLayerVersions(layerName: "layer").isEmpty)
        #expect(sleeper.recorded == [.milliseconds(2500), .seconds(4)])
    }
}

/// The adaptive mode's client-side rate limiting, on a fake clock.
@Suite struct AdaptiveRateLimiting {
    final class FakeClock: Sendable {
        let time = Mutex(100.0)
        var now: @Sendable () -> Double { { [self] in time.withLock { $0 } } }
        func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
    }

    @Test func nothingIsLimitedBeforeAThrottle() {
        let sleeper = RecordingSleeper(), clock = FakeClock()
        let limiter = ClientRateLimiter(sleep: sleeper.sleep, now: clock.now)
        for _ in 0..<20 { limiter.acquire(); limiter.record(throttled: false) }
        #expect(!limiter.isLimiting && sleeper.recorded.isEmpty)
    }

    @Test func aThrottleSlowsSendingAndSuccessesRaiseTheRateAgain() {
        let sleeper = RecordingSleeper(), clock = FakeClock()
        let limiter = ClientRateLimiter(sleep: sleeper.sleep, now: clock.now)
        // Ten requests a second for two seconds, then a throttle.
        for _ in 0..<20 { limiter.acquire(); limiter.record(throttled: false); clock.advance(0.1) }
        limiter.record(throttled: true)
        #expect(limiter.isLimiting)
        let throttledRate = limiter.rate
        #expect(throttledRate > 0.5 && throttledRate < 10, "the rate drops below what was sent: \(throttledRate)")
        // Sending faster than the rate now waits.
        for _ in 0..<5 { limiter.acquire() }
        #expect(!sleeper.recorded.isEmpty)
        // Successes over the next seconds raise the rate along the cubic curve.
        for _ in 0..<30 { clock.advance(0.2); limiter.acquire(); limiter.record(throttled: false) }
        #expect(limiter.rate > throttledRate)
    }
}

@Suite struct RegionsAndHeaders {
    @Test func aRegionThatIsNotAHostLabelNamesWhereItCameFrom() throws {
        let fixture = try ConfigFixture(config: "[default]\nregion = us-west-2 # comment\naws_access_key_id = A\naws_secret_access_key = B\n")
        let error = #expect(throws: AWSClientError.self) { try fixture.resolve() }
        #expect(error?.description.hasPrefix("The setting `region` in profile `default` of `\(fixture.home)/.aws/config` or `\(fixture.home)/.aws/credentials` is `us-west-2 # comment`, but it must be a region name such as `us-west-2`") == true, "\(String(describing: error))")
        let environment = #expect(throws: AWSClientError.self) { try fixture.resolve(["AWS_REGION": "us_west_2"]) }
        #expect(environment?.description.hasPrefix("The setting `AWS_REGION` is `us_west_2`") == true)
    }

    /// The transport says the host was not found; for AWS's own endpoint the message says the region may
    /// be wrong, for a configured endpoint it does not.
    @Test func anUnresolvableRegionalEndpointSaysTheRegionMayBeWrong() throws {
        let notFound = StubTransport.Answer.error(.hostNotFound(url: "https://lambda.us-wset-2.amazonaws.com/", reason: "Could not resolve host", region: nil))
        let transport = StubTransport([notFound])
        let configuration = AWSConfiguration(
            region: "us-wset-2", credentials: .fixed(AWSCredentials(accessKeyID: "A", secretAccessKey: "B")),
            retryPolicy: RetryPolicy(maxAttempts: 1), transport: transport)
        let error = #expect(throws: AWSClientError.self) { try LambdaClient(configuration: configuration).listLayerVersions(layerName: "layer") }
        #expect(error?.description.contains("The region `us-wset-2` may be wrong") == true, "\(String(describing: error))")

        let custom = AWSConfiguration(
            region: "us-wset-2", credentials: .fixed(AWSCredentials(accessKeyID: "A", secretAccessKey: "B")), configuredEndpoints: ["lambda": "http://localstack:4566"],
            retryPolicy: RetryPolicy(maxAttempts: 1), transport: StubTransport([.error(.hostNotFound(url: "http://localstack:4566/", reason: "Could not resolve host", region: nil))]))
        let customError = #expect(throws: AWSClientError.self) { try LambdaClient(configuration: custom).listLayerVersions(layerName: "layer") }
        #expect(customError?.description.contains("Check the endpoint URL") == true)
    }

    @Test func userAgentIsSentAndNotSigned() throws {
        let transport = StubTransport([.json(200, #"{"LayerVersions":[]}"#)])
        var configuration = AWSConfiguration(
            region: "us-east-1", credentials: .fixed(AWSCredentials(accessKeyID: "A", secretAccessKey: "B")), configuredEndpoints: ["lambda": "http://127.0.0.1:9"],
            transport: transport)
        configuration.userAgent = "layerpack/9.9.9"
        _ = try LambdaClient(configuration: configuration).listLayerVersions(layerName: "layer")
        let request = try #require(transport.requests.first)
        #expect(request.headers["User-Agent"] == "layerpack/9.9.9")
        #expect(request.headers["Authorization"]?.contains("user-agent") == false)
    }
}
