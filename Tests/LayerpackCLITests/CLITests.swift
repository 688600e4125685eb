import AWSClient
import Foundation
import Testing
import TestSupport

/// The `layerpack` binary SwiftPM built beside this test bundle.
let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("layerpack").path
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures").path

func layerpack(_ arguments: [String], in folder: String, environment: [String: String] = [:]) throws -> ProcessOutcome {
    try #require(FileManager.default.isExecutableFile(atPath: binary), "the layerpack binary is missing at \(binary)")
    return try runProcess(binary, arguments, in: folder, environment: environment)
}

/// A copy of a fixture in a fresh temporary folder, removed afterwards.
final class FixtureCopy {
    let path: String

    init(_ name: String) throws {
        path = NSTemporaryDirectory() + "/layerpack-cli-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: fixtures + "/" + name, toPath: path)
        try? FileManager.default.removeItem(atPath: path + "/dist")
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct CLI {
    @Test func buildPrintsResultsOnStdoutAndProgressOnStderr() throws {
        let layer = try FixtureCopy("python-layer")
        let outcome = try layerpack(["build"], in: layer.path)
        #expect(outcome.status == 0)
        #expect(outcome.stdout == """
            filename: dist/greeting-deps.zip
            source_code_hash: dTpLxKKBuwitxuSnFK83UjIFlmDgEEllmGdXEZH/gPE=
            source_code_size: 637
            file_count: 3

            """)
        #expect(outcome.stderr.contains("Packing 3 files"))
    }

    @Test func buildJSONHasTheSeedsAttributes() throws {
        let layer = try FixtureCopy("python-layer")
        let outcome = try layerpack(["build", "--json"], in: layer.path)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        #expect(object["layer_name"] as? String == "greeting-deps")
        #expect(object["source_code_hash"] as? String == "dTpLxKKBuwitxuSnFK83UjIFlmDgEEllmGdXEZH/gPE=")
        #expect(object["source_code_size"] as? Int == 637)
        #expect(object["file_count"] as? Int == 3)
        #expect((object["filename"] as? String)?.hasSuffix("/dist/greeting-deps.zip") == true)
    }

    @Test func hashOfAFileAndOfTheLayer() throws {
        let layer = try FixtureCopy("python-layer")
        let layerHash = try layerpack(["hash"], in: layer.path)
        #expect(layerHash.stdout == "dTpLxKKBuwitxuSnFK83UjIFlmDgEEllmGdXEZH/gPE=\n")
        #expect(!FileManager.default.fileExists(atPath: layer.path + "/dist"))
        let fileHash = try layerpack(["hash", "layerpack.yml"], in: layer.path)
        let expected = try layerpackShell("openssl dgst -sha256 -binary layerpack.yml | base64", in: layer.path)
        #expect(fileHash.stdout == expected)
    }

    @Test func sameHashInEveryTimeZone() throws {
        let layer = try FixtureCopy("python-layer")
        for zone in ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Kiritimati"] {
            let outcome = try layerpack(["hash"], in: layer.path, environment: ["TZ": zone, "LC_ALL": "C"])
            #expect(outcome.stdout == "dTpLxKKBuwitxuSnFK83UjIFlmDgEEllmGdXEZH/gPE=\n", "TZ=\(zone)")
        }
    }

    @Test func sameHashForCheckoutsUnderAnyUmaskAndPath() throws {
        // Copy the fixture as a checkout under each umask would leave it, to two different paths.
        var hashes: Set<String> = []
        for mask in ["022", "077", "002"] {
            let target = NSTemporaryDirectory() + "/layerpack-umask-\(mask)-\(UUID().uuidString)/nested/checkout"
            defer { try? FileManager.default.removeItem(atPath: (target as NSString).deletingLastPathComponent) }
            let shell = "umask \(mask) && mkdir -p '\(target)' && cp -R '\(fixtures)/python-layer/.' '\(target)' && rm -rf '\(target)/dist' && cd '\(target)' && '\(binary)' hash"
            let outcome = try layerpackShell(shell, in: fixtures)
            hashes.insert(outcome)
        }
        #expect(hashes == ["dTpLxKKBuwitxuSnFK83UjIFlmDgEEllmGdXEZH/gPE=\n"])
    }

    @Test func checkExitCodes() throws {
        let layer = try FixtureCopy("python-layer")
        // The committed lock matches the fixture.
        let clean = try layerpack(["check"], in: layer.path)
        #expect(clean.status == 0)
        #expect(clean.stdout == "layerpack.lock matches the sources.\n")

        try Data("# changed\n".utf8).write(to: URL(fileURLWithPath: layer.path + "/site-packages/greeting/core.py"))
        try Data("new\n".utf8).write(to: URL(fileURLWithPath: layer.path + "/site-packages/greeting/extra.py"))
        let drift = try layerpack(["check"], in: layer.path)
        #expect(drift.status == 1)
        #expect(drift.stdout == """
            layerpack.lock does not match the sources:
              added    python/greeting/extra.py
              changed  python/greeting/core.py

            """)
        #expect(drift.stderr.contains("layerpack build"))

        let json = try layerpack(["check", "--json"], in: layer.path)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["clean"] as? Bool == false)
        #expect(object["changed"] as? [String] == ["python/greeting/core.py"])

        let broken = try layerpack(["check", "--config", "absent.yml"], in: layer.path)
        #expect(broken.status == 2)
        #expect(broken.stderr.contains("absent.yml"))
        #expect(broken.stdout.isEmpty)
    }

    @Test(arguments: [
        ("unknown-key.yml", "unknown-key.yml:3: error: Unknown key `compatible_runtime`. Did you mean `compatible_runtimes`?"),
        ("bad-runtime.yml", "bad-runtime.yml:2: error: `python3.99` is not a valid `compatible_runtimes`."),
        ("syntax-error.yml", "syntax-error.yml:3:"),
        ("missing-source.yml", "missing-source.yml:4: error: The source `not-built-yet` does not exist"),
        ("s3-key-without-bucket.yml", "s3-key-without-bucket.yml:4: error: `s3_key` needs `s3_bucket` to be set as well."),
    ])
    func badConfigsGetOneParagraphAndStatus2(_ file: String, _ expected: String) throws {
        let outcome = try layerpack(["build", "--config", "Fixtures/bad-configs/\(file)"], in: fixtures + "/..")
        #expect(outcome.status == 2)
        #expect(outcome.stderr.hasPrefix("Fixtures/bad-configs/" + expected), "\(outcome.stderr)")
        #expect(outcome.stderr.split(separator: "\n").count == 1)
        #expect(!outcome.stderr.contains("Fatal error"))
        #expect(outcome.stdout.isEmpty)
    }

    @Test func initWritesAScaffoldOnceAndItBuilds() throws {
        let folder = NSTemporaryDirectory() + "/layerpack-init-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/build/python/pkg", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data("x = 1\n".utf8).write(to: URL(fileURLWithPath: folder + "/build/python/pkg/mod.py"))
        let first = try layerpack(["init", "--runtime", "python3.12", "--name", "starter"], in: folder)
        #expect(first.status == 0)
        let text = try String(contentsOfFile: folder + "/layerpack.yml", encoding: .utf8)
        #expect(text.contains("layer_name: starter") && text.contains("compatible_runtimes: [python3.12]"))
        let again = try layerpack(["init"], in: folder)
        #expect(again.status == 2)
        #expect(again.stderr.contains("already exists"))
        #expect(try String(contentsOfFile: folder + "/layerpack.yml", encoding: .utf8) == text)
        let build = try layerpack(["build"], in: folder)
        #expect(build.status == 0)
        #expect(build.stdout.contains("file_count: 1"))
    }

    /// `help/layerpack.txt` for the root, `help/COMMAND.txt` for each subcommand, at 80 columns.
    @Test(arguments: ["layerpack", "build", "hash", "check", "diff", "plan", "apply", "publish", "import", "init", "schema", "config"])
    func helpMatchesItsGoldenText(_ command: String) throws {
        let golden = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("help/\(command).txt").path, encoding: .utf8)
        let arguments = command == "layerpack" ? ["--help"] : [command, "--help"]
        let outcome = try layerpack(arguments, in: fixtures, environment: ["COLUMNS": "80"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout == golden)
    }

    @Test func everySubcommandHasAGoldenHelpText() throws {
        let root = try layerpack(["--help"], in: fixtures, environment: ["COLUMNS": "80"]).stdout
        let listed = root.components(separatedBy: "SUBCOMMANDS:\n").last?.split(separator: "\n")
            .filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }.compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0.allSatisfy(\.isLowercase) } ?? []
        let goldens = try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("help").path)
        #expect(listed.count >= 8)
        #expect(Set(listed.map { "\($0).txt" }).subtracting(goldens).isEmpty, "subcommands without help/NAME.txt: \(listed)")
    }

    @Test func usageErrorsExit64() throws {
        #expect(try layerpack(["build", "--no-such-flag"], in: fixtures).status == 64)
    }
}

/// A copy of the python-layer fixture under a fresh layer name (`prefix-…`), with `filename` (as YAML)
/// when given, and `extra` config lines appended.
func renamedPythonLayer(_ prefix: String, filename: String? = nil, extra: String = "") throws -> (layer: FixtureCopy, name: String) {
    let layer = try FixtureCopy("python-layer")
    let name = MotoServer.uniqueName(prefix)
    let config = try String(contentsOfFile: layer.path + "/layerpack.yml", encoding: .utf8)
        .replacingOccurrences(of: "layer_name: greeting-deps", with: "layer_name: \(name)")
        .replacingOccurrences(of: "filename: dist/greeting-deps.zip", with: "filename: \(filename ?? "dist/greeting-deps.zip")")
    try Data((config + extra).utf8).write(to: URL(fileURLWithPath: layer.path + "/layerpack.yml"))
    return (layer, name)
}

/// A shell command's standard output.
private func layerpackShell(_ command: String, in folder: String) throws -> String {
    try runProcess("/bin/sh", ["-c", command], in: folder).stdout
}

@Suite struct PublishCommandLine {
    @Test func publishWritesJSONAndGitHubOutputs() throws {
        let moto = try MotoServer.shared()
        let (layer, name) = try namedLayer()
        let outputs = layer.path + "/github-output"
        try Data("earlier=kept\n".utf8).write(to: URL(fileURLWithPath: outputs))
        var environment = moto.environment().compactMapValues { $0 }
        environment["GITHUB_OUTPUT"] = outputs

        let first = try layerpack(["publish", "--json"], in: layer.path, environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        #expect(object["published"] as? Bool == true)
        #expect(object["version"] as? Int == 1)
        #expect((object["arn"] as? String)?.hasSuffix(":layer:\(name):1") == true)
        for key in ["layer_arn", "created_date", "source_code_hash", "source_code_size", "signing_job_arn", "signing_profile_version_arn", "filename", "s3_bucket", "s3_key", "s3_object_version"] {
            #expect(object.keys.contains(key), "missing \(key)")
        }
        #expect(!first.stdout.contains(moto.secretAccessKey) && !first.stderr.contains(moto.secretAccessKey))

        let second = try layerpack(["publish"], in: layer.path, environment: environment)
        #expect(second.status == 0)
        #expect(second.stdout.contains("published: false"))
        let lines = try String(contentsOfFile: outputs, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "earlier=kept")
        #expect(lines.contains("published=true") && lines.contains("published=false"))
        #expect(lines.contains { $0.hasPrefix("arn=arn:aws:lambda:us-east-1:") && $0.hasSuffix(":layer:\(name):1") })
        #expect(lines.contains("s3_bucket="))
        #expect(lines.contains { $0.hasPrefix("reason=version 1 already has this content") })
        let state = try String(contentsOfFile: layer.path + "/layerpack.state.json", encoding: .utf8)
        #expect(!state.contains(moto.secretAccessKey) && !state.contains(moto.accessKeyID))
    }

    /// Keys for a local server, with no config files, metadata or proxy in the way, and no retries.
    static func localEnvironment(endpoint: String, sessionToken: String) -> [String: String] {
        ["AWS_ACCESS_KEY_ID": "AKIDCLI", "AWS_SECRET_ACCESS_KEY": cliSecret, "AWS_SESSION_TOKEN": sessionToken, "AWS_REGION": "us-east-1",
         "AWS_ENDPOINT_URL": endpoint, "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
         "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1", "NO_PROXY": "127.0.0.1"]
    }
    static let cliSecret = "cli-secret-access-key-0123456789abcdef"

    @Test func aServerEchoingTheTokenAndAuthorizationDoesNotGetThemPrinted() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        // A broken endpoint that quotes the request's credentials headers in its error message.
        try server.route("GET", "/2018-10-31/layers/greeting-deps/versions", status: 403, body: """
            <Error><Code>AccessDenied</Code><Message>token {header:X-Amz-Security-Token}, {header:Authorization}</Message></Error>
            """)
        let layer = try FixtureCopy("python-layer")
        let token = "cli-session-token-that-must-never-be-printed"
        let outcome = try layerpack(["publish"], in: layer.path, environment: Self.localEnvironment(endpoint: server.endpoint, sessionToken: token))
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("`AccessDenied`") && outcome.stderr.contains("Credential=AKIDCLI/"), "the server echoed: \(outcome.stderr)")
        #expect(!outcome.stderr.contains(token) && !outcome.stderr.contains(Self.cliSecret))
        #expect(outcome.stderr.contains("token <redacted>, ") && outcome.stderr.contains("Signature=<redacted>"))
    }

    @Test func thePasswordOfAnEndpointURLIsNotPrinted() throws {
        let layer = try FixtureCopy("python-layer")
        // Port 9 on loopback: nothing listens, so publishing fails at its first request.
        let outcome = try layerpack(["publish"], in: layer.path, environment: Self.localEnvironment(
            endpoint: "http://layerpack:endpoint-password-in-the-url@127.0.0.1:9", sessionToken: "cli-session-token-unused"))
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("http://<redacted>@127.0.0.1:9/"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("endpoint-password-in-the-url"))
    }

    private func namedLayer(filename: String? = nil) throws -> (layer: FixtureCopy, name: String) {
        try renamedPythonLayer("cli", filename: filename)
    }

    @Test func aFilenameWithNewlinesCannotSetOtherOutputs() throws {
        let moto = try MotoServer.shared()
        let (layer, _) = try namedLayer(filename: "\"dist/x\\nversion=666\\n.zip\"")
        let outputs = layer.path + "/github-output"
        var environment = moto.environment().compactMapValues { $0 }
        environment["GITHUB_OUTPUT"] = outputs

        let outcome = try layerpack(["publish"], in: layer.path, environment: environment)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let read = try readGitHubOutputs(try String(contentsOfFile: outputs, encoding: .utf8))
        #expect(read.filter { $0.name == "version" }.map(\.value) == ["1"])
        #expect(read.filter { $0.name == "filename" }.count == 1)
        #expect(read.first { $0.name == "filename" }?.value.hasSuffix("/dist/x\nversion=666\n.zip") == true)
        #expect(read.map(\.name) == ["published", "reason", "layer_name", "region", "arn", "layer_arn", "version", "created_date", "source_code_hash", "source_code_size",
                                     "signing_job_arn", "signing_profile_version_arn", "filename", "s3_bucket", "s3_key", "s3_object_version"])
    }

    @Test(arguments: ["missing-folder/github-output", "."])
    func anUnwritableGitHubOutputStopsThePublishBeforeAnyChange(_ relative: String) throws {
        let moto = try MotoServer.shared()
        let (layer, name) = try namedLayer()
        var environment = moto.environment().compactMapValues { $0 }
        environment["GITHUB_OUTPUT"] = layer.path + "/" + relative

        let outcome = try layerpack(["publish"], in: layer.path, environment: environment)
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("`\(layer.path)/\(relative)`") && outcome.stderr.contains("Nothing was published"), "\(outcome.stderr)")
        #expect(try LambdaClient(configuration: try moto.configuration()).listLayerVersions(layerName: name).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: layer.path + "/layerpack.state.json"))
    }

    @Test func noCredentialsIsAClearError() throws {
        let layer = try FixtureCopy("python-layer")
        let outcome = try layerpack(["publish"], in: layer.path, environment: [
            "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "", "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
        ])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("No AWS credentials were found"))
        #expect(outcome.stderr.contains("AWS_ACCESS_KEY_ID"))
    }
}

@Suite struct VerifyOnTheCommandLine {
    /// This machine's own `/bin/true`: an x86_64 ELF needing a recent glibc, in a python3.11 arm64 layer.
    private func layer(verify: String) throws -> String {
        let folder = NSTemporaryDirectory() + "/layerpack-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/build", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: folder + "/build/true")
        try """
            layer_name: native
            compatible_runtimes: [python3.11]
            compatible_architectures: [arm64]
            sources: [build]
            verify: \(verify)
            """.write(toFile: folder + "/layerpack.yml", atomically: true, encoding: .utf8)
        return folder
    }

    /// `layerpack build` in the layer, then whether it wrote the zip.
    private func build(verify: String) throws -> (outcome: ProcessOutcome, wroteZip: Bool) {
        let folder = try layer(verify: verify)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let outcome = try layerpack(["build"], in: folder)
        return (outcome, FileManager.default.fileExists(atPath: folder + "/dist/native.zip"))
    }

    @Test func anErrorExits2NamingTheFileAndWritesNothing() throws {
        let (outcome, wroteZip) = try build(verify: "error")
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("layerpack.yml: error: The layer holds 1 file that would not load on its Lambda target"))
        #expect(outcome.stderr.contains("`python/true` (from `build/true`) is built for x86_64, but the layer is for `arm64`"))
        #expect(!wroteZip)
    }

    @Test func warnPrintsEachFindingAsAWarningAndBuilds() throws {
        let (outcome, wroteZip) = try build(verify: "warn")
        #expect(outcome.status == 0)
        #expect(outcome.stderr.contains("warning: `python/true` (from `build/true`) is built for x86_64"))
        #expect(wroteZip)
    }
}
