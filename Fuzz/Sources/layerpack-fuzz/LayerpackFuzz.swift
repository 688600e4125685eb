import CLibFuzzer
import Foundation
import Hashing
@testable import LayerpackCore

/// libFuzzer over the readers of what layerpack finds on disk, where any bytes may turn up: the config,
/// the lock, the stat cache and the entry cache; and over the DEFLATE block reader that joins chunks of
/// large files. Each must refuse bad bytes without trapping; a reader that accepts some also reads back
/// what layerpack writes for them.
///
///     layerpack-fuzz config|lock|stat-cache|entry-cache|deflate-blocks [libFuzzer options] [corpus folders]
@main
enum LayerpackFuzz {
    static func main() {
        var arguments = CommandLine.arguments
        guard arguments.count > 1, let target = target(named: arguments[1]) else {
            FileHandle.standardError.write(Data("usage: layerpack-fuzz config|lock|stat-cache|entry-cache|deflate-blocks [libFuzzer options] [corpus folders]\n".utf8))
            exit(64)
        }
        selectedTarget = target
        atexit { for folder in temporaryFolders { try? FileManager.default.removeItem(atPath: folder) } }
        arguments.remove(at: 1)
        var argc = Int32(arguments.count)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let status = argv.withUnsafeMutableBufferPointer { buffer in
            var pointer = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &pointer) { data, size in
                selectedTarget?(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
                return 0
            }
        }
        exit(status)
    }

    static func target(named name: String) -> (([UInt8]) -> Void)? {
        switch name {
        case "config": return config
        case "lock": return lock
        case "stat-cache": return statCache
        case "entry-cache": return entryCache
        case "deflate-blocks": return deflateBlocks
        default: return nil
        }
    }

    /// A config's text. Its folder holds the sources the seed configs name, so the fuzzer gets past them.
    static func config(_ bytes: [UInt8]) {
        _ = try? LayerConfig.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.yml", directory: configFolder)
    }

    static let configFolder: String = {
        let folder = temporaryFolder()
        for source in ["src/pkg", "site-packages/greeting", "bundle/ruby/3.3.0", "build", "vendor"] {
            try! FileManager.default.createDirectory(atPath: folder + "/" + source, withIntermediateDirectories: true)
        }
        for file in ["vendor/greet.sh", "build/greeting-extension"] {
            FileManager.default.createFile(atPath: folder + "/" + file, contents: Data("#!/bin/sh\n".utf8))
        }
        return folder
    }()

    /// A lock file; one that reads also reads back the same from its own encoding.
    static func lock(_ bytes: [UInt8]) {
        guard let lock = try? LockFile.parse(Data(bytes), path: "fuzz.lock") else { return }
        let again = try? LockFile.parse(Data(lock.encoded()), path: "fuzz.lock")
        precondition(again == lock, "the lock read from its own encoding differs")
    }

    /// A stat cache as found, and the same bytes sealed with their CRC-32, so the fuzzer also reaches
    /// the records; one that reads also reads back the same from its own encoding, and matching it
    /// against a plan of its own zip paths reads every record in bounds.
    static func statCache(_ bytes: [UInt8]) {
        _ = StatCache.Snapshot.parse(bytes)
        var sealed = bytes
        sealed.appendLittleEndian(bytes.withUnsafeBytes { CRC32.checksum($0) })
        guard let snapshot = StatCache.Snapshot.parse(sealed) else { return }
        let records = snapshot.records
        let again = StatCache.Snapshot.parse(StatCache.Snapshot.encode(records: records, reference: snapshot.reference, lock: snapshot.lock))
        precondition(again?.records == records && again?.reference == snapshot.reference && again?.lock == snapshot.lock,
                     "the stat cache read from its own encoding differs")
    }

    /// An entry-cache file, as found and with a correct checksum trailer, asked for by the digest, level
    /// and size its header gives (so the fuzzer gets past those checks).
    static func entryCache(_ bytes: [UInt8]) {
        let header = bytes + [UInt8](repeating: 0, count: max(0, 64 - bytes.count))
        let digest = Digest(bytes: Array(header[8..<40]))
        let size = Int64(bitPattern: header.littleEndian(UInt64.self, at: 48)) & .max
        let cache = EntryCache(directory: entryCacheFolder, level: Int(header[40] % 10), readOnly: true)
        let path = cache.path(for: digest)
        let trailer = bytes.withUnsafeBytes { crc32($0) }
        for file in [bytes, bytes + withUnsafeBytes(of: trailer.littleEndian, Array.init)] {
            try! Data(file).write(to: URL(fileURLWithPath: path))
            if let payload = cache.payload(for: digest, size: size) {
                precondition(payload.bytes.count == file.count - 68 && payload.uncompressedSize == Int(size) && payload.contentDigest == digest,
                             "an entry was accepted that does not match its header")
            }
        }
        unlink(path)
    }

    static let entryCacheFolder = temporaryFolder()

    /// Raw DEFLATE: the block reader stays within the bytes, and what it finds lies within them.
    static func deflateBlocks(_ bytes: [UInt8]) {
        guard let (finalBlock, end) = bytes.withUnsafeBytes({ DeflateBlocks.finalBlockAndEnd($0) }) else { return }
        precondition(0 <= finalBlock && finalBlock + 3 <= end && end <= bytes.count * 8, "the final block found lies outside the stream")
    }

    /// A new folder, in memory where the system has one: the entry-cache target writes a file per input,
    /// which on a busy disk took 100 times as long.
    static func temporaryFolder() -> String {
        let parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NSTemporaryDirectory()
        var template = Array((parent + "/layerpack-fuzz-XXXXXX").utf8CString)
        let folder = String(cString: mkdtemp(&template)!)
        temporaryFolders.append(folder)
        return folder
    }
}

/// The target libFuzzer calls; set once before it starts.
nonisolated(unsafe) private var selectedTarget: (([UInt8]) -> Void)?
/// The folders the targets made, removed when libFuzzer exits.
nonisolated(unsafe) private var temporaryFolders: [String] = []
