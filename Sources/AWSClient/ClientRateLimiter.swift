import Foundation
import Synchronization

/// The client-side rate limiting of the "adaptive" retry mode, as the AWS SDKs do it: nothing until a
/// throttling answer, then a token bucket whose rate drops to 70 % of the rate being sent at each
/// throttle and grows back along a cubic curve (CUBIC, scale 0.4) while requests succeed, never above
/// twice the rate actually measured. `acquire()` waits for a token before each attempt.
public final class ClientRateLimiter: Sendable {
    static let beta = 0.7
    static let scale = 0.4
    static let minimumRate = 0.5

    struct State {
        var enabled = false
        var fillRate = 0.0
        var tokens = 0.0
        var lastRefill: Double?
        // CUBIC
        var lastMaxRate = 0.0
        var lastThrottle = 0.0
        // The measured sending rate: requests per half-second bucket, smoothed.
        var measuredRate = 0.0
        var bucket = 0.0
        var bucketCount = 0.0
    }

    private let state = Mutex(State())
    private let sleep: @Sendable (Duration) -> Void
    /// Seconds on a monotonic clock.
    private let now: @Sendable () -> Double

    public init(sleep: @escaping @Sendable (Duration) -> Void, now: @escaping @Sendable () -> Double = ClientRateLimiter.monotonicSeconds) {
        self.sleep = sleep
        self.now = now
    }

    public static let monotonicSeconds: @Sendable () -> Double = {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Whether a throttle has switched limiting on.
    public var isLimiting: Bool { state.withLock { $0.enabled } }
    /// Requests per second the bucket allows.
    public var rate: Double { state.withLock { $0.fillRate } }

    /// Takes a token, first waiting as long as the bucket needs to hold one. No wait before the first
    /// throttle. The wait happens outside the lock, so other threads are not held up by it.
    public func acquire() {
        let wait: Double = state.withLock { state in
            guard state.enabled else { return 0 }
            refill(&state)
            state.tokens -= 1
            return state.tokens >= 0 ? 0 : -state.tokens / state.fillRate
        }
        if wait > 0 { sleep(.milliseconds(Int64((wait * 1000).rounded(.up)))) }
    }

    /// After each answer: a throttle lowers the rate, a success raises it along the cubic curve.
    public func record(throttled: Bool) {
        state.withLock { state in
            let time = now()
            measure(&state, at: time)
            let newRate: Double
            if throttled {
                let current = state.enabled ? min(state.measuredRate, state.fillRate) : state.measuredRate
                state.lastMaxRate = current
                state.lastThrottle = time
                newRate = current * Self.beta
                state.enabled = true
            } else {
                guard state.enabled else { return }
                let k = cbrt(state.lastMaxRate * (1 - Self.beta) / Self.scale)
                newRate = Self.scale * pow(time - state.lastThrottle - k, 3) + state.lastMaxRate
            }
            refill(&state)
            state.fillRate = max(min(newRate, 2 * state.measuredRate), Self.minimumRate)
            state.tokens = min(state.tokens, max(state.fillRate, 1))
        }
    }

    private func refill(_ state: inout State) {
        let time = now()
        if let last = state.lastRefill {
            state.tokens = min(state.tokens + (time - last) * state.fillRate, max(state.fillRate, 1))
        }
        state.lastRefill = time
    }

    private func measure(_ state: inout State, at time: Double) {
        let bucket = (time * 2).rounded(.down) / 2
        state.bucketCount += 1
        if bucket > state.bucket {
            let current = state.bucketCount / (bucket - state.bucket)
            state.measuredRate = current * 0.8 + state.measuredRate * 0.2
            state.bucketCount = 0
            state.bucket = bucket
        }
    }
}
