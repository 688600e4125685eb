import Foundation

/// The one pool of threads that compression and network work run on: the build's readers and
/// compressors and S3's part uploads submit their tasks here instead of starting threads of their own.
///
/// Threads are started as tasks arrive, up to `limit`, and then kept for the next tasks. The limit
/// is the most any user asked for (`--jobs`, the upload concurrency), so the total number of threads
/// is bounded by that, however many builds and uploads a run makes. Tasks are run in the order they
/// were submitted. A task may block (on I/O, or waiting for its consumer), but must not wait for
/// another task of the pool: callers coordinate from their own threads.
public final class WorkerPool: @unchecked Sendable {
    public static let shared = WorkerPool(limit: max(ProcessInfo.processInfo.activeProcessorCount, 4))

    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var limit: Int
    private var threads = 0
    private var idle = 0

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Threads started so far, for tests.
    public var threadCount: Int { condition.withLock { threads } }

    /// Runs `task` on a pool thread. `parallelism` raises the pool's limit to at least that many, so
    /// that as many of a caller's tasks can run at once.
    public func submit(parallelism: Int = 1, _ task: @escaping @Sendable () -> Void) {
        condition.withLock {
            limit = max(limit, parallelism)
            queue.append(task)
            if idle > 0 {
                condition.signal()
            } else if threads < limit {
                threads += 1
                let thread = Thread { [self] in work() }
                thread.name = "layerpack-worker"
                thread.start()
            }
        }
    }

    private func work() {
        while true {
            condition.lock()
            while queue.isEmpty {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let task = queue.removeFirst()
            condition.unlock()
            task()
        }
    }
}
