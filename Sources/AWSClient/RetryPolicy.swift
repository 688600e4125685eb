import Foundation

/// The AWS SDKs' retry modes, as `AWS_RETRY_MODE` / `retry_mode` name them.
public enum RetryMode: String, Sendable, CaseIterable {
    /// Connection errors and timeouts, HTTP 500/502/503/504, throttling and timeout codes
    /// (`AWSServiceError.isRetryable`); 3 attempts unless set.
    case standard
    /// botocore's older rules (`AWSServiceError.isRetryableInLegacyMode`); 5 attempts unless set.
    case legacy
    /// "standard", and after a throttling answer the client also slows its own sending
    /// (`ClientRateLimiter`).
    case adaptive

    /// The attempts when neither `AWS_MAX_ATTEMPTS` nor `max_attempts` is set.
    public var defaultMaxAttempts: Int { self == .legacy ? 5 : 3 }
}

/// Retries in one of the AWS SDKs' modes (`RetryMode`).
///
/// At most `maxAttempts` attempts in all. Before retry n (after n failed attempts) it waits
/// `random() * min(2^(n-1), 20)` seconds, or what the service asked (`x-amz-retry-after`,
/// `Retry-After`) if that is longer (still at most 20 s). The sleeper and the random source are
/// injectable, so tests run on a fake clock.
public struct RetryPolicy: Sendable {
    public var mode: RetryMode = .standard {
        didSet { rateLimiter = mode == .adaptive ? ClientRateLimiter(sleep: sleep) : nil }
    }
    /// Shared by every request made with this policy, in "adaptive" mode only.
    public private(set) var rateLimiter: ClientRateLimiter?
    public var maxAttempts: Int
    public var maxBackoff: Duration
    public var sleep: @Sendable (Duration) -> Void
    /// A number in `0..<1`.
    public var random: @Sendable () -> Double

    public init(
        maxAttempts: Int = 3,
        maxBackoff: Duration = .seconds(20),
        sleep: @escaping @Sendable (Duration) -> Void = RetryPolicy.sleepForReal,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.maxBackoff = maxBackoff
        self.sleep = sleep
        self.random = random
    }

    /// Blocks the calling thread: the client is synchronous.
    public static let sleepForReal: @Sendable (Duration) -> Void = { Thread.sleep(forTimeInterval: Double($0.milliseconds) / 1000) }

    /// How long to wait after `failedAttempts` attempts failed with `error`.
    public func delay(afterFailedAttempts failedAttempts: Int, error: AWSClientError) -> Duration {
        let ceiling = min(Duration.seconds(1 << min(failedAttempts - 1, 30)), maxBackoff)
        var delay = ceiling * random()
        if case .service(let serviceError) = error, let retryAfter = serviceError.retryAfter {
            delay = max(delay, retryAfter)
        }
        return min(delay, maxBackoff)
    }

    /// Runs `attempt` until it succeeds, fails with an error that is not retryable, or runs out of attempts;
    /// the last error is thrown as it was.
    public func run<Result>(_ attempt: () throws -> Result) throws -> Result {
        var failed = 0
        while true {
            rateLimiter?.acquire()
            do {
                let result = try attempt()
                rateLimiter?.record(throttled: false)
                return result
            } catch let error as AWSClientError {
                if case .service(let serviceError) = error { rateLimiter?.record(throttled: serviceError.isThrottling) }
                guard shouldRetry(error), failed + 1 < maxAttempts else { throw error }
                failed += 1
                sleep(delay(afterFailedAttempts: failed, error: error))
            }
        }
    }

    /// Whether this mode retries `error`.
    public func shouldRetry(_ error: AWSClientError) -> Bool {
        guard mode == .legacy else { return error.isRetryable }
        switch error {
        case .connectionFailed, .hostNotFound, .timedOut: return true
        case .service(let serviceError): return serviceError.isRetryableInLegacyMode
        default: return false
        }
    }
}
