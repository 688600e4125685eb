import Foundation
import Testing
import TestSupport

/// `.pre-commit-hooks.yaml` with the real `pre-commit` (from `.venv`, beside `LAYERPACK_TEST_PYTHON`), in a
/// temporary git repository whose `.pre-commit-config.yaml` points at a snapshot of this repository's
/// working tree, as a user's would point at a release: pre-commit clones it at `rev` and runs the hook
/// from `git commit`.
@Suite(.serialized) struct PreCommitHook {
    /// The hook that uses the `layerpack` on PATH (here: the one under test).
    @Test func systemHookPassesACleanTreeAndFailsAChangedSource() throws {
        let sandbox = try PreCommitSandbox(hook: "layerpack-check-system")
        let path = URL(fileURLWithPath: binary).deletingLastPathComponent().path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        try sandbox.expectCleanTreePassesAndChangedSourceFails(environment: ["PATH": path])
    }

    /// The hook as shipped: pre-commit builds layerpack with `swift build -c release` (minutes on two
    /// cores). Swift's package dependencies come from this checkout's `.build/checkouts` through SwiftPM
    /// mirrors in a scratch HOME, so nothing is fetched from the network.
    @Test func swiftHookBuildsLayerpackItself() throws {
        let checkouts = repositoryRoot + "/.build/checkouts"
        let mirrors = [("https://github.com/apple/swift-argument-parser", "swift-argument-parser"), ("https://github.com/jpsim/Yams", "Yams")]
        for (_, name) in mirrors {
            try #require(FileManager.default.fileExists(atPath: "\(checkouts)/\(name)/.git"), "build the package once first: \(checkouts)/\(name) is missing")
        }
        // The snapshot's own SwiftPM configuration (what `swift package config set-mirror` writes).
        let sandbox = try PreCommitSandbox(hook: "layerpack-check") { snapshot in
            let objects = mirrors.map { ["original": $0.0, "mirror": "\(checkouts)/\($0.1)"] }
            try FileManager.default.createDirectory(atPath: snapshot + "/.swiftpm/configuration", withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: ["version": 1, "object": objects])
                .write(to: URL(fileURLWithPath: snapshot + "/.swiftpm/configuration/mirrors.json"))
        }
        // Without the binary under test on PATH: the hook must find the one pre-commit built.
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .filter { !$0.contains(".build") }.joined(separator: ":")
        try sandbox.expectCleanTreePassesAndChangedSourceFails(environment: ["PATH": path, "HOME": sandbox.folder + "/home"])
    }
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A temporary folder with a snapshot repository of this working tree and a layer repository using one of its hooks.
final class PreCommitSandbox {
    let folder: String
    let layer: String
    let preCommit: String
    var gitEnvironment: [String: String]

    /// `prepare` may add files to the snapshot of this repository before it is committed.
    init(hook: String, prepare: (String) throws -> Void = { _ in }) throws {
        let python = ProcessInfo.processInfo.environment["LAYERPACK_TEST_PYTHON"] ?? ""
        preCommit = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("pre-commit").path
        if python.isEmpty || !FileManager.default.isExecutableFile(atPath: preCommit) {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                throw HelperError("pre-commit is required under CI=true; `make deps` installs it into .venv and `make test` sets LAYERPACK_TEST_PYTHON")
            }
            try Test.cancel("Skipped: no pre-commit beside LAYERPACK_TEST_PYTHON (`make deps` installs it).")
        }
        folder = NSTemporaryDirectory() + "/layerpack-pre-commit-\(UUID().uuidString)"
        layer = folder + "/layer"
        gitEnvironment = [
            "GIT_CONFIG_GLOBAL": folder + "/gitconfig", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
            "PRE_COMMIT_HOME": folder + "/pre-commit-cache",
            // Git (and so SwiftPM) may read local repositories only: nothing here reaches the network.
            "GIT_ALLOW_PROTOCOL": "file",
        ]
        try FileManager.default.createDirectory(atPath: folder + "/home", withIntermediateDirectories: true)
        try "[init]\n\tdefaultBranch = main\n".write(toFile: folder + "/gitconfig", atomically: true, encoding: .utf8)

        // The working tree's files as git sees them (tracked, and new ones not ignored), committed in a fresh repository.
        let snapshot = folder + "/layerpack"
        let listed = try runProcess("/usr/bin/git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], in: repositoryRoot)
        for file in listed.stdout.split(separator: "\0").map(String.init) where FileManager.default.fileExists(atPath: repositoryRoot + "/" + file) {
            let target = snapshot + "/" + file
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: repositoryRoot + "/" + file, toPath: target)
        }
        try prepare(snapshot)
        try git(["init", "-q"], in: snapshot)
        try git(["add", "-A", "--force"], in: snapshot)
        try git(["commit", "-q", "-m", "snapshot"], in: snapshot)
        let revision = try git(["rev-parse", "HEAD"], in: snapshot).trimmingCharacters(in: .whitespacesAndNewlines)

        try FileManager.default.copyItem(atPath: fixtures + "/python-layer", toPath: layer)
        try? FileManager.default.removeItem(atPath: layer + "/dist")
        try """
            repos:
              - repo: \(snapshot)
                rev: \(revision)
                hooks:
                  - id: \(hook)

            """.write(toFile: layer + "/.pre-commit-config.yaml", atomically: true, encoding: .utf8)
        try "dist/\n.layerpack/\n".write(toFile: layer + "/.gitignore", atomically: true, encoding: .utf8)
        try git(["init", "-q"], in: layer)
        try git(["add", "-A"], in: layer)
        try git(["commit", "-q", "-m", "the layer"], in: layer)
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    @discardableResult
    func git(_ arguments: [String], in directory: String, environment: [String: String] = [:]) throws -> String {
        let outcome = try runProcess("/usr/bin/git", arguments, in: directory, environment: gitEnvironment.merging(environment) { $1 })
        guard outcome.status == 0 else { throw HelperError("git \(arguments.joined(separator: " ")) failed: \(outcome.stderr)") }
        return outcome.stdout
    }

    func expectCleanTreePassesAndChangedSourceFails(environment: [String: String]) throws {
        let environment = gitEnvironment.merging(environment) { $1 }
        let install = try runProcess(preCommit, ["install"], in: layer, environment: environment)
        try #require(install.status == 0, "pre-commit install: \(install.stdout)\(install.stderr)")

        // A commit that leaves the sources alone passes.
        try "notes\n".write(toFile: layer + "/NOTES.md", atomically: true, encoding: .utf8)
        try git(["add", "NOTES.md"], in: layer)
        let clean = try runProcess("/usr/bin/git", ["commit", "-m", "notes"], in: layer, environment: environment)
        #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
        #expect((clean.stdout + clean.stderr).contains("layerpack check"))
        #expect((clean.stdout + clean.stderr).contains("Passed"))

        // A commit that changes a source without rebuilding fails and names the zip path.
        let source = layer + "/site-packages/greeting/__init__.py"
        let handle = try #require(FileHandle(forWritingAtPath: source))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("CHANGED = True\n".utf8))
        try handle.close()
        try git(["add", "-A"], in: layer)
        let changed = try runProcess("/usr/bin/git", ["commit", "-m", "change"], in: layer, environment: environment)
        #expect(changed.status != 0)
        #expect((changed.stdout + changed.stderr).contains("Failed"))
        #expect((changed.stdout + changed.stderr).contains("changed  python/greeting/__init__.py"), "\(changed.stdout)\(changed.stderr)")
    }
}
