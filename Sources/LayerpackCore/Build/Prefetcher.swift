import Foundation
import Workers

/// Computes values for items `0..<costs.count` on worker threads, ahead of one consumer that takes
/// them in order.
///
/// Workers claim items in order, in runs of consecutive items (up to `runLength` items costing up to
/// `runCost` together, or one item that costs more), and stop claiming while the items claimed but not
/// yet taken would cost more than `budget` together (one item is always allowed, however large), so
/// what is held at once is bounded by the budget plus the items in progress, whatever the number of
/// items. A worker hands over a whole run at once and the consumer takes it at once, so the lock is
/// taken a few times per run rather than per item. Each value is computed exactly once and the consumer
/// sees them in index order, so the result does not depend on the number of workers or on which
/// finished first.
final class Prefetcher<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private let costs: [Int64]
    private let budget: Int64
    private let produce: @Sendable (Int) throws -> Value
    // Guarded by `condition`.
    /// Runs computed and not yet taken, by their first item (optional, so the consumer can take each out).
    private var computedRuns: [Int: [Result<Value, Error>?]] = [:]
    private var nextClaim = 0
    private var outstandingCost: Int64 = 0
    private var stopped = false
    private var runningWorkers = 0
    private var peakCost: Int64 = 0
    // The consumer's own: the run it is taking items from, and the cost of the items it took since it
    // last held the lock (still counted as outstanding until then). One thread touches them, so they are
    // not checked for overlapping access on each item.
    @exclusivity(unchecked) private var currentRun: [Result<Value, Error>?] = []
    @exclusivity(unchecked) private var positionInRun = 0
    @exclusivity(unchecked) private var nextTake = 0
    @exclusivity(unchecked) private var takenCost: Int64 = 0

    /// Runs are short enough that the consumer waits little for the first item of one, and long enough
    /// that small files cost the lock a few times per hundred.
    static var runLength: Int { 64 }
    static var runCost: Int64 { 1 << 20 }

    /// Starts `jobs` workers (at least one) on the shared worker pool that call `produce` with item indexes.
    init(costs: [Int64], jobs: Int, budget: Int64, pool: WorkerPool = .shared, produce: @escaping @Sendable (Int) throws -> Value) {
        self.costs = costs
        self.budget = budget
        self.produce = produce
        let workers = max(1, min(jobs, costs.count))
        runningWorkers = costs.isEmpty ? 0 : workers
        for _ in 0..<runningWorkers {
            pool.submit(parallelism: jobs) { [self] in work() }
        }
    }

    /// The most that was ever claimed and not yet taken, for tests of the budget.
    var peakOutstandingCost: Int64 {
        condition.lock()
        defer { condition.unlock() }
        return peakCost
    }

    /// Waits for item `index` and hands it over, or rethrows what computing it threw. Items are taken
    /// once each, in order, by one consumer.
    func take(_ index: Int) throws -> Value {
        precondition(index == nextTake, "Prefetcher items are taken in order: expected \(nextTake), asked for \(index)")
        if positionInRun == currentRun.count {
            condition.lock()
            if takenCost > 0 {
                outstandingCost -= takenCost
                takenCost = 0
                condition.broadcast()
            }
            while computedRuns[index] == nil { condition.wait() }
            currentRun = computedRuns.removeValue(forKey: index)!
            condition.unlock()
            positionInRun = 0
        }
        // The run lets go of each value as it is handed over.
        let result = currentRun[positionInRun].take()!
        positionInRun += 1
        nextTake += 1
        takenCost += costs[index]
        return try result.get()
    }

    /// Stops the workers claiming more items and waits for those in progress. Call it when done,
    /// including after an error, so no worker outlives the caller's use of the inputs.
    func finish() {
        condition.lock()
        defer { condition.unlock() }
        stopped = true
        condition.broadcast()
        while runningWorkers > 0 { condition.wait() }
        computedRuns.removeAll()
    }

    private func work() {
        while let run = claim() {
            let results = run.map { index -> Result<Value, Error>? in Result { try produce(index) } }
            condition.lock()
            computedRuns[run.lowerBound] = results
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next run of items to compute, waiting while the budget is spent; nil when there is nothing left.
    private func claim() -> Range<Int>? {
        condition.lock()
        defer { condition.unlock() }
        while !stopped && nextClaim < costs.count && outstandingCost > 0 && outstandingCost + costs[nextClaim] > budget {
            condition.wait()
        }
        guard !stopped && nextClaim < costs.count else {
            runningWorkers -= 1
            condition.broadcast()
            return nil
        }
        let start = nextClaim
        var runCost: Int64 = 0
        repeat {
            runCost += costs[nextClaim]
            outstandingCost += costs[nextClaim]
            nextClaim += 1
        } while nextClaim < costs.count && nextClaim - start < Self.runLength
            && runCost + costs[nextClaim] <= Self.runCost && outstandingCost + costs[nextClaim] <= budget
        peakCost = max(peakCost, outstandingCost)
        return start..<nextClaim
    }
}
