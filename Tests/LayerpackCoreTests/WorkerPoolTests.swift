import Foundation
import Synchronization
import Testing
import Workers
@testable import LayerpackCore

@Suite struct OneWorkerPool {
    @Test func threadsAreBoundedByTheLargestParallelismAskedAndReused() {
        let pool = WorkerPool(limit: 1)
        let done = DispatchGroup()
        let running = Atomic(0)
        let peak = Atomic(0)
        for _ in 0..<40 {
            done.enter()
            pool.submit(parallelism: 3) {
                let now = running.add(1, ordering: .sequentiallyConsistent).newValue
                _ = peak.max(now, ordering: .sequentiallyConsistent)
                usleep(2_000)
                running.subtract(1, ordering: .sequentiallyConsistent)
                done.leave()
            }
        }
        done.wait()
        #expect(pool.threadCount == 3)
        #expect(peak.load(ordering: .sequentiallyConsistent) <= 3)
        // Later work reuses the threads.
        done.enter()
        pool.submit { done.leave() }
        done.wait()
        #expect(pool.threadCount == 3)
    }

    @Test func thePrefetcherRunsOnThePoolItIsGiven() throws {
        let pool = WorkerPool(limit: 1)
        let prefetcher = Prefetcher(costs: Array(repeating: 1, count: 100), jobs: 2, budget: 10, pool: pool) { $0 * 2 }
        let values = try (0..<100).map { try prefetcher.take($0) }
        prefetcher.finish()
        #expect(values == (0..<100).map { $0 * 2 })
        #expect(pool.threadCount == 2)
    }
}
