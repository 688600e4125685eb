import Dispatch
import Foundation
import Synchronization

/// What a run must undo when it is interrupted (Ctrl-C, SIGTERM from a CI runner): temporary files,
/// S3 multipart uploads in flight. Work registers an action while it has something to undo and
/// unregisters it when done; on SIGINT or SIGTERM the actions run, newest first, and the process exits
/// 130 or 143 as a shell would report the signal. A second signal during that exits at once.
public enum Shutdown {
    /// Identifies a registered action, to unregister it.
    public struct Token: Sendable, Hashable {
        fileprivate let id: Int
    }

    private struct Registry {
        var next = 0
        var actions: [Int: @Sendable () -> Void] = [:]
    }

    /// Behind an `NSLock` (pthread) rather than `Mutex`: ThreadSanitizer does not see `Mutex`'s futex on
    /// Linux and reported its guarded accesses as races, hiding real ones behind them.
    private static let registry = LockedRegistry()

    private final class LockedRegistry: @unchecked Sendable {
        private let lock = NSLock()
        private var registry = Registry()

        func withLock<T>(_ body: (inout Registry) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body(&registry)
        }
    }
    private static let cleaning = Atomic(false)
    private static let sources = Mutex<[any DispatchSourceSignal]>([])

    /// Starts handling SIGINT and SIGTERM. Call once, early, from the command line's entry point;
    /// without it, signals keep their default action and registered actions never run.
    public static func install() {
        sources.withLock { sources in
            guard sources.isEmpty else { return }
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { interrupted(by: signalNumber) }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// Runs `action` if the process is interrupted before `unregister` is called with the token. Register
    /// before starting what the action undoes. Once an interrupt is being handled, this never returns:
    /// the process is about to exit, and nothing new may start behind the clean-up's back.
    public static func onInterrupt(_ action: @escaping @Sendable () -> Void) -> Token {
        while cleaning.load(ordering: .sequentiallyConsistent) { pause() }
        return registry.withLock { registry in
            registry.next += 1
            registry.actions[registry.next] = action
            return Token(id: registry.next)
        }
    }

    public static func unregister(_ token: Token) {
        _ = registry.withLock { $0.actions.removeValue(forKey: token.id) }
    }

    private static func interrupted(by signalNumber: Int32) {
        let status = 128 + signalNumber
        guard cleaning.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else {
            _exit(status)
        }
        let name = signalNumber == SIGINT ? "an interrupt (SIGINT)" : "SIGTERM"
        FileHandle.standardError.write(Data("layerpack: stopped by \(name); cleaning up what this run started.\n".utf8))
        let actions = registry.withLock { registry in registry.actions.sorted { $0.key > $1.key }.map(\.value) }
        for action in actions { action() }
        // Not `exit`: its clean-up of the runtime would race the threads still at work.
        fflush(nil)
        _exit(status)
    }
}
