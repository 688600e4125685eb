import Foundation
import Testing
import TestSupport

/// A full disk, made real: `dist/` is a 256 KiB tmpfs mounted in a private mount namespace (`unshare -m`,
/// which needs root, as CI has).
@Suite struct FullDisk {
    @Test func aFullDiskNamesTheZipAndLeavesNothingBehind() throws {
        guard try runProcess("/usr/bin/env", ["unshare", "-m", "true"]).status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("unshare -m is needed under CI=true") }
            return
        }
        let layer = try FixtureCopy("python-layer")
        var generator = SystemRandomNumberGenerator()
        try Data((0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            .write(to: URL(fileURLWithPath: layer.path + "/site-packages/greeting/noise.bin"))
        try FileManager.default.createDirectory(atPath: layer.path + "/dist", withIntermediateDirectories: true)
        let lock = try Data(contentsOf: URL(fileURLWithPath: layer.path + "/layerpack.lock"))
        let script = "mount -t tmpfs -o size=256k tmpfs dist && \"$0\" build; status=$?; ls -A dist; exit $status"
        let outcome = try runProcess("/usr/bin/env", ["unshare", "-m", "sh", "-c", script, binary], in: layer.path)
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("dist/greeting-deps.zip") && outcome.stderr.contains("the disk is full"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains(".layerpack-tmp"))
        #expect(outcome.stdout.isEmpty, "left in dist: \(outcome.stdout)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: layer.path + "/layerpack.lock")) == lock)
    }
}
