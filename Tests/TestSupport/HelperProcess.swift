import Foundation
import Synchronization

/// A Python helper from `python/`, started with a pipe on its stdin that only this process holds: when the
/// test process ends, for any reason, the pipe closes and the helper exits.
final class HelperProcess: Sendable {
    private let process: Process
    private let stdinPipe: Pipe
    /// The JSON object the helper printed on its first line.
    let greeting: [String: any Sendable]

    /// `python/` beside this file.
    static let scriptsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python").path

    /// Starts `python3 python/<script> <arguments>` and waits (up to `timeout`) for its first line.
    init(script: String, arguments: [String] = [], logName: String, timeout: TimeInterval = 90) throws {
        let python = ProcessInfo.processInfo.environment["LAYERPACK_TEST_PYTHON"] ?? "python3"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "\(Self.scriptsFolder)/\(script)"] + arguments
        var environment = ProcessInfo.processInfo.environment
        // The helpers talk only to 127.0.0.1; a developer's proxy must not get in between.
        environment["NO_PROXY"] = "127.0.0.1,localhost"
        environment["no_proxy"] = "127.0.0.1,localhost"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        process.environment = environment
        let stdinPipe = Pipe()
        let stdoutPipe = Pipe()
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("layerpack-\(logName)-\(getpid()).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = FileHandle(forWritingAtPath: logPath)
        do { try process.run() } catch {
            throw HelperError("`\(python)` could not be started to run `\(script)`: \(error)")
        }
        // A helper that never answers is stopped, which ends the read below.
        let answered = Atomic(false)
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            if !answered.load(ordering: .relaxed) && process.isRunning { process.terminate() }
        }
        var line = Data()
        while let byte = try? stdoutPipe.fileHandleForReading.read(upToCount: 1), let first = byte.first, first != UInt8(ascii: "\n") {
            line.append(first)
        }
        answered.store(true, ordering: .relaxed)
        let log = { (try? String(contentsOfFile: logPath, encoding: .utf8)).map { String($0.suffix(1500)) } ?? "" }
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            process.terminate()
            throw HelperError("`\(script)` did not start (log `\(logPath)`): \(log())")
        }
        if let error = object["error"] as? String {
            throw HelperError("`\(script)` failed: \(error). Log `\(logPath)`: \(log())")
        }
        self.process = process
        self.stdinPipe = stdinPipe
        self.greeting = object.compactMapValues { value -> (any Sendable)? in (value as? String) ?? (value as? Int) }
    }

    func stop() {
        try? stdinPipe.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
    }

    deinit { stop() }
}

/// Why a test helper could not be started or driven.
public struct HelperError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
