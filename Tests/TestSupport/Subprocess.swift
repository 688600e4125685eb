import Foundation
import Synchronization

/// What a finished program left behind.
public struct ProcessOutcome: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs `executable` to completion and captures its output; `environment` entries are added to (or
/// replace) this process's environment.
public func runProcess(_ executable: String, _ arguments: [String], in folder: String? = nil,
                       environment: [String: String] = [:]) throws -> ProcessOutcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read stderr on another thread, so a program filling both pipes cannot stall.
    let errorData = Mutex(Data())
    let errorHandle = err.fileHandleForReading
    let reading = DispatchGroup()
    DispatchQueue.global().async(group: reading) { errorData.withLock { $0 = errorHandle.readDataToEndOfFile() } }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    reading.wait()
    process.waitUntilExit()
    return ProcessOutcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                          stderr: String(decoding: errorData.withLock { $0 }, as: UTF8.self))
}

/// Runs `python/<script>` with the tests' Python (`LAYERPACK_TEST_PYTHON`, as `make test` sets it to the
/// virtual environment's, else `python3`).
public func runPythonScript(_ script: String, _ arguments: [String]) throws -> ProcessOutcome {
    let python = ProcessInfo.processInfo.environment["LAYERPACK_TEST_PYTHON"] ?? "python3"
    return try runProcess("/usr/bin/env", [python, HelperProcess.scriptsFolder + "/" + script] + arguments,
                          environment: ["PYTHONDONTWRITEBYTECODE": "1"])
}
