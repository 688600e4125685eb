import Foundation
import Workers

/// Computes values for items `0..<costs.count` on worker threads, ahead of one consumer that takes
/// them in order.
///
/// Workers claim items in order and stop claiming while the items claimed but not yet taken cost
/// more than `budget` together (one item is always allowed, however large), so what is held at once
/// is bounded by the budget plus the items in progress, whatever the number of items. Each value is
/// computed exactly once and the consumer sees them in index order, so the result does not depend on
/// the number of workers or on which finished first.
final class Prefetcher<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private let costs: [Int64]
    private let budget: Int64
    private let produce: @Sendable (Int) throws -> Value
    // Guarded by `condition`.
    private var results: [Int: Result<Value, Error>] = [:]
    private var nextClaim = 0
    private var nextTake = 0
    private var outstandingCost: Int64 = 0
    private var stopped = false
    private var runningWorkers = 0
    private var peakCost: Int64 = 0

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
    /// once each, in order.
    func take(_ index: Int) throws -> Value {
        condition.lock()
        defer { condition.unlock() }
        precondition(index == nextTake, "Prefetcher items are taken in order: expected \(nextTake), asked for \(index)")
        while results[index] == nil { condition.wait() }
        let result = results.removeValue(forKey: index)!
        outstandingCost -= costs[index]
        nextTake += 1
        condition.broadcast()
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
        results.removeAll()
    }

    private func work() {
        while let index = claim() {
            let result = Result { try produce(index) }
            condition.lock()
            results[index] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next item to compute, waiting while the budget is spent; nil when there is nothing left.
    private func claim() -> Int? {
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
        let index = nextClaim
        nextClaim += 1
        outstandingCost += costs[index]
        peakCost = max(peakCost, outstandingCost)
        return index
    }
}
