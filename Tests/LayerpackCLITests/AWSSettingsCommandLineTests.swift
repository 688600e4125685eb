import Foundation
import Testing
import TestSupport

/// AWS settings as the command line meets them: what a `credential_process` says reaches the user, and
/// every request says who sent it.
@Suite struct AWSSettingsCommandLine {
    /// A profile whose `credential_process` explains itself on stderr and fails: its words pass through,
    /// and layerpack's error names the profile and the exit status.
    @Test func credentialProcessStderrPassesThroughAndItsFailureNamesTheProfile() throws {
        let layer = try FixtureCopy("python-layer")
        let config = layer.path + "/aws-config"
        try """
            [profile broken]
            region = us-east-1
            credential_process = sh -c 'echo "token-helper: please sign in to the vault first" >&2; exit 4'
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let outcome = try layerpack(["publish", "--profile", "broken"], in: layer.path, environment: [
            "AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
        ])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("token-helper: please sign in to the vault first"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("The `credential_process` of the AWS profile `broken` did not give credentials: `sh` exited with status 4."))
    }

    @Test func everyRequestSendsLayerpacksUserAgent() throws {
        let server = try StubHTTPServer()
        defer { server.stop() }
        // An endpoint that quotes the request's User-Agent in its error message.
        try server.route("GET", "/2018-10-31/layers/greeting-deps/versions", status: 403, body: """
            <Error><Code>AccessDenied</Code><Message>denied to agent {header:User-Agent}</Message></Error>
            """)
        let layer = try FixtureCopy("python-layer")
        let version = try layerpack(["--version"], in: layer.path).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let outcome = try layerpack(["publish"], in: layer.path, environment: PublishCommandLine.localEnvironment(endpoint: server.endpoint, sessionToken: "cli-session-token-unused"))
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("denied to agent layerpack/\(version)."), "\(outcome.stderr)")
    }
}
