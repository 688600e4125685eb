import Foundation

/// Everything that can go wrong talking to AWS, phrased so the user knows what to check.
///
/// Descriptions never contain secrets: credentials appear only as their access key id, and not even that
/// in most cases; every description passes through `Redaction.redact`, and a server's own words are cut
/// to about 1 KB.
public enum AWSClientError: Error, CustomStringConvertible, Sendable {
    /// No connection could be made, or it broke before a full response arrived. Retryable.
    /// `requestMayHaveReachedServer` is false only when the request certainly never left this machine
    /// (name resolution or connect failed).
    case connectionFailed(url: String, reason: String, requestMayHaveReachedServer: Bool)
    /// The endpoint's host name did not resolve: the request never left. Retryable (DNS has blips).
    /// `region` is set when the host is AWS's own endpoint for that region, which may then be wrong.
    case hostNotFound(url: String, reason: String, region: String?)
    /// The connection was made but the exchange did not finish within the request's deadline. Retryable.
    case timedOut(url: String, deadline: Duration)
    /// The server answered, but not with something usable: not HTTP, or a header or body far larger than
    /// any AWS answer. Not retried.
    case unusableAnswer(url: String, problem: String)
    /// The TLS handshake or certificate check failed. Not retried: it fails the same way again.
    case tlsFailed(url: String, reason: String)
    /// libcurl refused to set up a request: a bug or a broken libcurl.
    case transportSetupFailed(reason: String)
    /// A non-idempotent request (`operation`) was sent once and its outcome is not known: the server may
    /// have acted on it. The caller decides whether to look and try again.
    case requestOutcomeUnknown(operation: String, reason: String)
    /// AWS (or the endpoint) answered with an error.
    case service(AWSServiceError)
    /// A success response could not be understood.
    case invalidResponse(operation: String, reason: String)
    /// A listing was stopped before its end, so a server that keeps sending page markers cannot keep us
    /// asking forever.
    case pagingStopped(operation: String, pages: Int, reason: String)
    case unreadableFile(path: String, reason: String)
    case invalidArgument(name: String, value: String, expected: String)

    case noCredentials(searched: [String])
    case noRegion(searched: [String])
    case profileNotFound(profile: String, searched: [String])
    /// A profile's settings contradict each other or name something that is not there.
    case invalidProfile(profile: String, path: String, problem: String)
    /// An assume-role profile has `mfa_serial`, and there is no terminal to ask for the code on.
    case mfaCodeUnavailable(profile: String, serial: String, reason: String)
    /// A profile's `credential_process` failed or printed something other than credentials.
    case credentialProcessFailed(profile: String, reason: String)
    /// The SSO token `aws sso login` cached is missing, expired or refused, and could not be refreshed.
    case ssoLoginNeeded(profile: String, reason: String)
    case malformedConfigFile(path: String, line: Int, problem: String)
    case invalidSetting(name: String, value: String, expected: String)
    /// Fetching temporary credentials from `source` (web identity, container, EC2 metadata) failed.
    case credentialsFetchFailed(source: String, reason: String)

    /// Whether a retry might succeed: connection trouble, throttling, transient server errors.
    public var isRetryable: Bool {
        switch self {
        case .connectionFailed, .hostNotFound, .timedOut: return true
        case .service(let error): return error.isRetryable
        default: return false
        }
    }

    /// True when a request may have been acted on even though no success came back.
    public var requestMayHaveReachedServer: Bool {
        switch self {
        case .connectionFailed(_, _, let reached): return reached
        case .requestOutcomeUnknown, .timedOut, .unusableAnswer: return true
        default: return false
        }
    }

    public var description: String { Redaction.redact(text) }

    /// For an error in a line of a file: the file, the line, and the message without them.
    public var fileLine: (path: String, line: Int, message: String)? {
        guard case .malformedConfigFile(let path, let line, let problem) = self else { return nil }
        return (path, line, "\(problem). Fix or remove that line (its text is not shown, as it may hold a secret).")
    }

    private var text: String {
        switch self {
        case .connectionFailed(let url, let reason, _):
            return "Could not reach `\(url)`: \(reason). Check the network, the endpoint URL and any proxy settings (`HTTPS_PROXY`, `NO_PROXY`)."
        case .hostNotFound(let url, let reason, let region?):
            return "The host of `\(url)` was not found (\(reason)). The region `\(region)` may be wrong: check `AWS_REGION`, `AWS_DEFAULT_REGION` and the profile's `region` (layerpack keeps no list of regions, so a new region works as soon as AWS serves it), and the network's DNS."
        case .hostNotFound(let url, let reason, nil):
            return "The host of `\(url)` was not found (\(reason)). Check the endpoint URL and the network's DNS."
        case .timedOut(let url, let deadline):
            return "`\(url)` did not send a complete answer within the request's deadline of \(deadline.formattedSeconds). The deadline of an AWS request is `LAYERPACK_HTTP_TIMEOUT` seconds (default 60) plus 1 s per MiB it sends: raise it for a slow network, or check the endpoint URL and any proxy."
        case .unusableAnswer(let url, let problem):
            return "`\(url)` answered with something layerpack cannot use: \(problem). Check that the endpoint URL and any proxy lead to AWS or a service that speaks its API."
        case .tlsFailed(let url, let reason):
            return "The TLS connection to `\(url)` failed: \(reason). Check the endpoint's certificate, or point `AWS_CA_BUNDLE` at the CA bundle that signs it."
        case .transportSetupFailed(let reason):
            return "libcurl could not set up the request: \(reason)."
        case .requestOutcomeUnknown(let operation, let reason):
            return "The `\(operation)` request was sent but no usable answer came back (\(reason)); AWS may or may not have carried it out. Look before trying again."
        case .service(let error):
            return error.description
        case .invalidResponse(let operation, let reason):
            return "The response to `\(operation)` could not be understood: \(reason)."
        case .pagingStopped(let operation, let pages, let reason):
            return "Stopped listing with `\(operation)` after \(pages) \(pages == 1 ? "page" : "pages"): \(reason). A server that kept sending page markers would otherwise be asked forever; check that the endpoint is AWS or a faithful emulation of it."
        case .unreadableFile(let path, let reason):
            return "Could not read `\(path)`: \(reason)."
        case .invalidArgument(let name, let value, let expected):
            return "`\(name)` is `\(value)`, but it must be \(expected)."
        case .noCredentials(let searched):
            return "No AWS credentials were found. Looked in: \(searched.joined(separator: "; ")). Set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or choose a profile that has credentials with `AWS_PROFILE`."
        case .noRegion(let searched):
            return "No AWS region is configured. Looked in: \(searched.joined(separator: "; ")). Set `AWS_REGION`, or add `region = …` to the profile."
        case .profileNotFound(let profile, let searched):
            return "The AWS profile `\(profile)` does not exist. Looked in: \(searched.joined(separator: "; ")). In the config file a profile's section is `[profile \(profile)]`; in the credentials file it is `[\(profile)]`."
        case .invalidProfile(let profile, let path, let problem):
            return "The AWS profile `\(profile)` in `\(path)` cannot be used: \(problem)."
        case .mfaCodeUnavailable(let profile, let serial, let reason):
            return "The AWS profile `\(profile)` assumes its role with the MFA device `\(serial)` (`mfa_serial`), but no MFA code could be asked for: \(reason). Run layerpack in a terminal, or export temporary credentials first (for example with `aws configure export-credentials --profile \(profile) --format env`)."
        case .credentialProcessFailed(let profile, let reason):
            return "The `credential_process` of the AWS profile `\(profile)` did not give credentials: \(reason). It must exit with status 0 and print JSON such as `{\"Version\": 1, \"AccessKeyId\": …, \"SecretAccessKey\": …, \"SessionToken\": …, \"Expiration\": \"2026-11-26T08:00:00Z\"}`; run the command yourself to see what it prints."
        case .ssoLoginNeeded(let profile, let reason):
            return "The AWS profile `\(profile)` signs in with SSO, but \(reason). Run `aws sso login --profile \(profile)` and try again; layerpack does not sign in itself."
        case .malformedConfigFile(let path, let line, _):
            return "\(path):\(line): error: \(fileLine!.message)"
        case .invalidSetting(let name, let value, let expected):
            return "The setting `\(name)` is `\(value)`, but it must be \(expected)."
        case .credentialsFetchFailed(let source, let reason):
            return "Could not get credentials from \(source): \(reason)."
        }
    }
}

/// An error response from an AWS service: its code, message and request id.
public struct AWSServiceError: Sendable, CustomStringConvertible, Equatable {
    public var operation: String
    public var statusCode: Int
    /// The AWS error code, for example `ResourceNotFoundException` or `SignatureDoesNotMatch`.
    public var code: String
    public var message: String
    public var requestID: String?
    /// How long the service asked to wait: `x-amz-retry-after` (milliseconds) or `Retry-After` (seconds).
    public var retryAfter: Duration?

    public init(operation: String, statusCode: Int, code: String, message: String, requestID: String? = nil, retryAfter: Duration? = nil) {
        self.operation = operation
        self.statusCode = statusCode
        self.code = code
        self.message = message
        self.requestID = requestID
        self.retryAfter = retryAfter
    }

    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    ]
    static let transientCodes: Set<String> = ["RequestTimeout", "RequestTimeoutException", "InternalError"]

    public var isThrottling: Bool { Self.throttlingCodes.contains(code) || statusCode == 429 }

    /// Retried in "standard" and "adaptive" mode: throttling, timeouts and HTTP 500, 502, 503, 504.
    public var isRetryable: Bool {
        isThrottling || Self.transientCodes.contains(code) || [500, 502, 503, 504].contains(statusCode)
    }

    /// Retried in "legacy" mode: botocore's general retry rules (HTTP 429, 500, 502, 503, 504, 509 and
    /// its throttling codes) and S3's `RequestTimeout`.
    public var isRetryableInLegacyMode: Bool {
        [429, 500, 502, 503, 504, 509].contains(statusCode)
            || ["Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "ProvisionedThroughputExceededException",
                "RequestTimeout"].contains(code)
    }

    /// What the user should check for the errors people meet most.
    var hint: String? {
        switch code {
        case "SignatureDoesNotMatch":
            return "Check that the secret access key belongs to the access key id, that this machine's clock is right, and that the region matches the endpoint."
        case "InvalidClientTokenId", "InvalidAccessKeyId", "UnrecognizedClientException":
            return "Check the access key id: it is unknown to AWS, belongs to another partition, or has been deleted or deactivated."
        case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
            return "The credentials or the request have expired: refresh the session token and check this machine's clock."
        case "AccessDenied", "AccessDeniedException", "Forbidden":
            return "Check the IAM policy of the caller: it must allow `\(iamAction)` on this resource, and no SCP or resource policy may deny it."
        default:
            return nil
        }
    }

    /// The IAM action an operation needs.
    private var iamAction: String {
        let actions = [
            "GetLayerVersionByArn": "lambda:GetLayerVersion", "HeadObject": "s3:GetObject", "CreateMultipartUpload": "s3:PutObject",
            "UploadPart": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
            "ListMultipartUploads": "s3:ListBucketMultipartUploads", "PutBucketVersioning": "s3:PutBucketVersioning",
            "AssumeRole": "sts:AssumeRole",
        ]
        if let action = actions[operation] { return action }
        return operation.hasSuffix("LayerVersion") || operation.hasSuffix("LayerVersions") ? "lambda:\(operation)" : "s3:\(operation)"
    }

    public var description: String {
        var text = "AWS rejected `\(operation)` with HTTP \(statusCode) `\(code)`"
        text += message.isEmpty ? "." : ": \(message)\(message.hasSuffix(".") ? "" : ".")"
        if let hint { text += " " + hint }
        if let requestID { text += " (request id `\(requestID)`)" }
        return Redaction.redact(text)
    }
}
