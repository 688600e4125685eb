// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets over layerpack's readers. Built and run only by `make fuzz`, which instruments every
// target for ASan and coverage and says where compiler-rt's libFuzzer is; the main package never builds this.
// (`--sanitize=fuzzer` would also give the `embed-templates` build tool libFuzzer's `main`.)
let package = Package(
    name: "layerpack-fuzz",
    dependencies: [.package(name: "layerpack", path: "..")],
    targets: [
        // libFuzzer's entry point for a program with its own `main`.
        .systemLibrary(name: "CLibFuzzer"),
        .executableTarget(
            name: "layerpack-fuzz",
            dependencies: ["CLibFuzzer", .product(name: "LayerpackCore", package: "layerpack")],
            linkerSettings: [.linkedLibrary("clang_rt.fuzzer_no_main-x86_64"), .linkedLibrary("stdc++")]
        ),
    ]
)
