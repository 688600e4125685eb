import Foundation
import Testing
import TestSupport

/// A layer whose only source is its own folder (`sources: [.]`), so everything layerpack writes —
/// zip, lock, stat cache, staged files — lands inside the source it walks.
private final class SelfContainedLayer {
    let path: String
    /// The zip paths the sources hold: what every zip built from them must hold, no more.
    let sourceFiles: [String]

    init(files: Int = 400, blobs: Int = 2) throws {
        path = NSTemporaryDirectory() + "/layerpack-self-\(UUID().uuidString)"
        var names = ["layerpack.yml"]
        try FileManager.default.createDirectory(atPath: path + "/lib", withIntermediateDirectories: true)
        for index in 0..<files {
            let name = "lib/module\(index).txt"
            try Data(String(repeating: "line \(index)\n", count: 200 + index % 50).utf8).write(to: URL(fileURLWithPath: path + "/" + name))
            names.append(name)
        }
        // Two larger files, so a build lasts long enough to be interrupted mid-way.
        for index in 0..<blobs {
            let name = "lib/blob\(index).bin"
            var generator = SystemRandomNumberGenerator()
            try Data((0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: path + "/" + name))
            names.append(name)
        }
        try Data("layer_name: self-contained\nlayout: provided\nsources: [.]\n".utf8).write(to: URL(fileURLWithPath: path + "/layerpack.yml"))
        sourceFiles = names.sorted()
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    var zip: String { path + "/dist/self-contained.zip" }

    /// The zip's entry names, from Info-ZIP's `zipinfo -1`.
    func zipEntries() throws -> [String] {
        let outcome = try runProcess("/usr/bin/env", ["zipinfo", "-1", zip])
        try #require(outcome.status == 0, "zipinfo failed: \(outcome.stderr)")
        return outcome.stdout.split(separator: "\n").map(String.init).sorted()
    }

    /// Staged files (layerpack's temporaries) anywhere in the layer's folder.
    func stagedFiles() -> [String] {
        (FileManager.default.subpaths(atPath: path) ?? []).filter { ($0 as NSString).lastPathComponent.hasPrefix(".layerpack-tmp.") }
    }

    func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: path)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

@Suite(.serialized) struct ExactlyTheSources {
    @Test func killedBuildsNeverLeaveTheirFilesInTheNextZip() throws {
        let layer = try SelfContainedLayer()
        #expect(try layerpack(["build", "--no-cache"], in: layer.path).status == 0)
        var killedWhileStaging = 0
        for round in 0..<24 {
            // Rounds alternate between cached and uncached builds, killed at moments spread over a build.
            let build = try layer.start(round % 2 == 0 ? ["build", "--no-cache"] : ["build"])
            if round % 3 == 0 {
                usleep(UInt32(round * 9_000 % 160_000))
            } else {
                // Strike while the build is writing: once a staged file exists, a moment later.
                while build.isRunning && layer.stagedFiles().isEmpty { usleep(500) }
                usleep(UInt32(round * 1_700 % 20_000))
            }
            kill(build.processIdentifier, SIGKILL)
            build.waitUntilExit()
            if !layer.stagedFiles().isEmpty { killedWhileStaging += 1 }

            let next = try layerpack(["build"], in: layer.path)
            #expect(next.status == 0, "round \(round): \(next.stderr)")
            #expect(try layer.zipEntries() == layer.sourceFiles, "round \(round)")
            #expect(layer.stagedFiles().isEmpty, "round \(round): \(layer.stagedFiles())")
            #expect(try layerpack(["check"], in: layer.path).status == 0, "round \(round)")
        }
        // The kills must have hit a build while it was writing, or the test proved nothing.
        #expect(killedWhileStaging > 0)
    }

    @Test func concurrentBuildsAgreeAndPackOnlyTheSources() throws {
        let layer = try SelfContainedLayer(files: 60, blobs: 0)
        for round in 0..<60 {
            let builds = try (0..<4).map { _ in try layer.start(["build"]) }
            for build in builds {
                build.waitUntilExit()
                #expect(build.terminationStatus == 0, "round \(round)")
            }
            #expect(try layer.zipEntries() == layer.sourceFiles, "round \(round)")
            #expect(try layerpack(["check"], in: layer.path).status == 0, "round \(round)")
        }
        #expect(layer.stagedFiles().isEmpty)
    }

    @Test func anInterruptedBuildRemovesWhatItStaged() throws {
        let layer = try SelfContainedLayer()
        var interrupted = 0
        for round in 0..<8 {
            let build = try layer.start(["build", "--no-cache"])
            // Strike once the zip is being written, the moment with the most to clean up.
            while build.isRunning && !((try? FileManager.default.contentsOfDirectory(atPath: layer.path + "/dist")) ?? []).contains(where: { $0.hasPrefix(".layerpack-tmp.") }) {
                usleep(1_000)
            }
            kill(build.processIdentifier, SIGINT)
            build.waitUntilExit()
            if build.terminationStatus == 130 { interrupted += 1 } else { #expect(build.terminationStatus == 0, "round \(round)") }
            #expect(layer.stagedFiles().isEmpty, "round \(round): \(layer.stagedFiles())")
        }
        #expect(interrupted > 0)
    }
}
