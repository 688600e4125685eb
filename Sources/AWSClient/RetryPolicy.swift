import Foundation

/// The AWS SDKs' "standard" retry mode.
///
/// At most `maxAttempts` attempts in all. Retried: connection errors and timeouts, HTTP 500/502/503/504,
/// and throttling and timeout error codes (`AWSServiceError.isRetryable`). Before retry n (after n failed
/// attempts) it waits `random() * min(2^(n-1), 20)` seconds, or what a `Retry-After` header asks if
/// that is longer (still at most 20 s). The sleeper and the random source are injectable, so tests run on
/// a fake clock.
public struct RetryPolicy: Sendable {
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
            delay = max(delay, .seconds(retryAfter))
        }
        return min(delay, maxBackoff)
    }

    /// Runs `attempt` until it succeeds, fails with an error that is not retryable, or runs out of attempts;
    /// the last error is thrown as it was.
    public func run<Result>(_ attempt: () throws -> Result) throws -> Result {
        var failed = 0
        while true {
            do {
                return try attempt()
            } catch let error as AWSClientError where error.isRetryable && failed + 1 < maxAttempts {
                failed += 1
                sleep(delay(afterFailedAttempts: failed, error: error))
            }
        }
    }
}
