// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "layerpack",
    products: [
        .executable(name: "layerpack", targets: ["layerpack"]),
        .library(name: "LayerpackCore", targets: ["LayerpackCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
    ],
    targets: [
        // C libraries, each wrapped once. Flags come from pkg-config; the apt package is named for `swift build`'s hint.
        .systemLibrary(name: "CLibzip", pkgConfig: "libzip", providers: [.apt(["libzip-dev"])]),
        .systemLibrary(name: "CLibcrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibcurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CLibdeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // glibc's `mallopt`, for the command line's allocator setting.
        .systemLibrary(name: "CMalloc"),

        // What an interrupted run undoes (temporary files, multipart uploads) before it exits.
        .target(name: "Shutdown"),
        // The one pool of threads that compression and network work run on.
        .target(name: "Workers"),
        // SHA-256 and HMAC-SHA256 over OpenSSL libcrypto; CRC-32 over libdeflate.
        .target(name: "Hashing", dependencies: ["CLibcrypto", "CLibdeflate"]),
        // A small AWS client: SigV4, SDK-style configuration, retries, S3 and Lambda over libcurl.
        .target(name: "AWSClient", dependencies: ["Hashing", "Shutdown", "Workers", "CLibcurl"], plugins: ["EmbedTemplates"]),
        // Everything layerpack does: config, layouts, deterministic zips, lock file, check, publish.
        .target(
            name: "LayerpackCore",
            dependencies: ["Hashing", "Shutdown", "Workers", "AWSClient", "CLibzip", "CLibdeflate", .product(name: "Yams", package: "Yams")],
            plugins: ["EmbedTemplates"]
        ),
        // The command line: parses, calls LayerpackCore, prints.
        .executableTarget(
            name: "layerpack",
            dependencies: ["LayerpackCore", "AWSClient", "Hashing", "Shutdown", "CMalloc", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // templates/ is the one source of truth for layouts, scaffolds and partitions; this plugin embeds it
        // into LayerpackCore and AWSClient.
        .executableTarget(name: "embed-templates"),
        .plugin(name: "EmbedTemplates", capability: .buildTool(), dependencies: ["embed-templates"]),

        // Test helpers shared by the test targets: the moto_server harness, temporary folders.
        .target(name: "TestSupport", dependencies: ["AWSClient"], path: "Tests/TestSupport", exclude: ["python"]),
        .testTarget(name: "HashingTests", dependencies: ["Hashing"]),
        .testTarget(name: "AWSClientTests", dependencies: ["AWSClient", "Hashing", "TestSupport"]),
        // CLibzip: split entries are read back with libzip too; CZlib: zlib's inflate finds block boundaries
        // to check DeflateBlocks against.
        .testTarget(name: "LayerpackCoreTests", dependencies: ["LayerpackCore", "Hashing", "Workers", "TestSupport", "CLibzip", "CZlib"]),
        // Runs the built `layerpack` binary: exit codes, stdout/stderr, JSON, help text.
        .testTarget(name: "LayerpackCLITests", dependencies: ["layerpack", "AWSClient", "TestSupport"], exclude: ["help"]),
    ]
)
