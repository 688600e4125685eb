import ArgumentParser
import Foundation
import LayerpackCore
#if canImport(Glibc)
import Glibc
#endif

/// Options of the commands that read every source file: `build`, `hash` and `check`.
struct PackingOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Threads that read, hash and compress files (default: the number of cores). The zip is the same for any value.")
    var jobs: Int?

    @Option(help: ArgumentHelp(
        "Keep compressed entries here instead of `cache_dir` (default .layerpack/cache beside the config).",
        discussion: "Also read from LAYERPACK_CACHE_DIR."))
    var cacheDir: String?

    @Flag(help: "Read and write no cache: hash and compress every file.")
    var noCache = false

    @Flag(help: "Install `requirements` again even when .layerpack/deps holds them for this target.")
    var refreshDeps = false

    func validate() throws {
        if let jobs, !(1...BuildOptions.maxJobs).contains(jobs) {
            throw ValidationError("--jobs must be from 1 to \(BuildOptions.maxJobs), not \(jobs).")
        }
    }

    /// `--cache-dir`, else `LAYERPACK_CACHE_DIR`, as an absolute path; nil means the config's `cache_dir`.
    var cacheDirectory: String? {
        let directory = cacheDir ?? ProcessInfo.processInfo.environment["LAYERPACK_CACHE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        return directory.map { URL(fileURLWithPath: NSString(string: $0).expandingTildeInPath).standardizedFileURL.path }
    }

    /// Settings resolve flag → environment → config file → default; the config's part is in LayerpackCore.
    func buildOptions(progress: TerminalProgress? = nil) -> BuildOptions {
        var options = BuildOptions(jobs: jobs ?? BuildOptions.defaultJobs, useCache: !noCache, cacheDirectory: cacheDirectory)
        if let progress { options.progress = { progress.update($0) } }
        return options
    }
}

/// One line on stderr, redrawn in place, for work that lasts long enough to wonder about. Drawn only
/// when stderr is a terminal, so CI logs and pipes stay quiet.
final class TerminalProgress: @unchecked Sendable {
    private let label: String
    private let started = Date()
    private let lock = NSLock()
    private var lastDrawn: Date?

    /// Draws nothing during the first half second, then at most ten times a second.
    private static let delay: TimeInterval = 0.5
    private static let interval: TimeInterval = 0.1

    /// Nil when stderr is not a terminal.
    init?(label: String) {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        self.label = label
    }

    func update(_ progress: BuildProgress) {
        lock.withLock {
            let now = Date()
            guard now.timeIntervalSince(started) >= TerminalProgress.delay,
                  lastDrawn.map({ now.timeIntervalSince($0) >= TerminalProgress.interval }) ?? true
                    || progress.entriesDone == progress.entriesTotal
            else { return }
            lastDrawn = now
            let percent = progress.bytesTotal > 0 ? Int(progress.bytesDone * 100 / progress.bytesTotal) : 100
            write("\r\u{1B}[K\(label) \(progress.entriesDone)/\(progress.entriesTotal) files, \(percent)% of \(megabytes(progress.bytesTotal))")
        }
    }

    /// Clears the line, if anything was drawn.
    func finish() {
        lock.withLock {
            if lastDrawn != nil { write("\r\u{1B}[K") }
            lastDrawn = nil
        }
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    private func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
}
