import Foundation
import Testing
@testable import LayerpackCore
#if canImport(Glibc)
import Glibc
#endif

/// What the walk records of each entry, and the errors of trees it cannot pack.
@Suite struct SourceWalk {
    @Test func everyEntryHasItsSourcePathAndItsFilesStat() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/top.py", "top\n")
        try folder.write("src/pkg/deep/er/mod.py", "mod\n")
        try folder.write("src/pkg/deep/er/tool", "#!/bin/sh\n", mode: 0o755)
        try folder.write("src/pkg/skip/me/x.py", "x\n")
        try folder.write("src/pkg/deep/notes.md", "notes\n")
        try folder.write("src/shared/data.txt", "data\n")
        try folder.symlink("src/pkg/shared", to: "../shared")
        try folder.symlink("src/alias.py", to: "top.py")
        try folder.write("src/pkg/.layerpack-tmp.1.2.3.out.zip", "a file some layerpack run is writing")
        let config = try folder.config("""
            layer_name: x
            layout: python
            sources: [src]
            exclude: ["pkg/**/me/", "*.md"]
            """)
        let entries = try LayerPlan(config: config).entries
        #expect(entries.map(\.zipPath) == [
            "python/alias.py", "python/pkg/deep/er/mod.py", "python/pkg/deep/er/tool", "python/pkg/shared/data.txt",
            "python/shared/data.txt", "python/top.py",
        ])
        // A followed link's entry is the file it leads to, under the link's name.
        #expect(entries.map(\.sourcePath) == [
            folder.url("src/top.py"), folder.url("src/pkg/deep/er/mod.py"), folder.url("src/pkg/deep/er/tool"),
            folder.url("src/shared/data.txt"), folder.url("src/shared/data.txt"), folder.url("src/top.py"),
        ])
        for entry in entries {
            var info = stat()
            try #require(lstat(entry.sourcePath, &info) == 0)
            #expect(entry.fileStat == FileStat(info), "\(entry.zipPath)")
            #expect(entry.size == Int64(info.st_size))
            #expect(entry.origin == "src")
        }
        #expect(entries.map(\.mode) == [0o100644, 0o100644, 0o100755, 0o100644, 0o100644, 0o100644])
    }

    /// The walk sorts names within each folder (a folder's with its `/`) instead of sorting whole paths:
    /// names that sort around `/` (`.`, `-`, space, `0`) and a followed link to a folder must still land
    /// in bytewise zip path order, as must two sources whose paths interleave.
    @Test func entriesComeInBytewiseZipPathOrder() throws {
        let folder = try TemporaryFolder()
        for path in ["a/x", "a/b/y", "a.txt", "a-b", "a b", "a0", "A", "ab", "a.d/z", "é.py", "e.py", "z/ä", "z/a/q", "Z"] {
            try folder.write("src/\(path)", "\(path)\n")
        }
        try folder.symlink("src/a+", to: "a")
        try folder.write("more/a.u", "u\n")
        try folder.write("more/a/m", "m\n")
        let config = try folder.config("""
            layer_name: x
            layout: provided
            sources: [src, more]
            """)
        let paths = try LayerPlan(config: config).entries.map(\.zipPath)
        #expect(paths.count == 18)
        #expect(paths == paths.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        #expect(paths.prefix(8) == ["A", "Z", "a b", "a+/b/y", "a+/x", "a-b", "a.d/z", "a.txt"])
    }

    @Test func aNameThatIsNotUTF8IsAnErrorNamingItsFolder() throws {
        let folder = try TemporaryFolder()
        try folder.write("src/ok.py", "ok\n")
        try FileManager.default.createDirectory(atPath: folder.url("src/pkg"), withIntermediateDirectories: true)
        // `caf\xe9.py`: Latin-1, as an old archive might have left it.
        let name = Array(folder.url("src/pkg/caf").utf8) + [0xE9] + Array(".py".utf8) + [0]
        let descriptor = name.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644) }
        try #require(descriptor >= 0)
        close(descriptor)
        let config = try folder.config("layer_name: x\nlayout: python\nsources: [src]\n")
        expectError("A file name in `\(folder.url("src/pkg"))` is not valid UTF-8") { _ = try LayerPlan(config: config) }
    }

    @Test func aFileWhereAFolderIsNeededIsNamedWithTheFirstEntryInZipOrderThatNeedsIt() throws {
        let folder = try TemporaryFolder()
        try folder.write("tree/a/b-z/k.txt", "k\n")
        try folder.write("tree/a/b/c.txt", "c\n")
        try folder.write("tree/x/y.txt", "y\n")
        try folder.write("file", "f\n")
        let config = try folder.config("""
            layer_name: x
            layout: provided
            sources:
              - tree
              - {path: file, to: x}
              - {path: file, to: a/b}
            """)
        // In zip order `a/b-z/k.txt` comes between the file `a/b` and `a/b/c.txt`, the first entry that needs `a/b`.
        expectError("`file (\(folder.url("file")))` goes to the zip path `a/b`, but `tree (\(folder.url("tree/a/b/c.txt")))` needs `a/b` to be a folder") {
            _ = try LayerPlan(config: config)
        }
    }
}
