import Foundation
import Hashing

/// What the service clients share: where to send, how to sign, how to retry, how to read errors.
struct ServiceClient: Sendable {
    let signer: SigV4Signer
    /// Scheme, host and optional port and base path, without a trailing `/`.
    var endpoint: String
    let credentials: CredentialsProvider
    let transport: any HTTPTransport
    let retryPolicy: RetryPolicy
    /// The deadline of a bodiless request; see `deadline(httpTimeout:bodyBytes:)`.
    let httpTimeout: Duration
    let clock: @Sendable () -> Date
    let userAgent: String

    init(signer: SigV4Signer, configuration: AWSConfiguration, endpoint: String) {
        self.signer = signer
        self.endpoint = endpoint
        credentials = configuration.credentials
        transport = configuration.transport
        retryPolicy = configuration.retryPolicy
        httpTimeout = configuration.httpTimeout
        clock = configuration.clock
        userAgent = configuration.userAgent
    }

    struct Call {
        var operation: String
        var method: String
        /// Percent-encoded, starting with `/`.
        var path: String
        var query: [(String, String)] = []
        var headers: [String: String] = [:]
        var body: HTTPBody = .none
        /// Known in advance for file parts (hashed while they were planned); computed otherwise.
        var payloadHash: String?
        /// False for calls that are not idempotent: one attempt over a fresh connection, and a connection
        /// failure after the request may have left becomes `requestOutcomeUnknown`.
        var idempotent = true
        /// HTTP statuses that are answers, not errors (a 404 that means "no such thing").
        var acceptedStatuses: Set<Int> = []
        /// S3 may answer 200 and put an `<Error>` in the body (CompleteMultipartUpload, CopyObject): such
        /// an answer is taken as the HTTP 500 it stands for, and retried as one, as the AWS SDKs do.
        var errorsMayCome200 = false
    }

    func send(_ call: Call) throws -> HTTPResponse {
        var url = endpoint + call.path
        if !call.query.isEmpty {
            url += "?" + call.query.map { SigV4Signer.percentEncode($0.0) + "=" + SigV4Signer.percentEncode($0.1) }.joined(separator: "&")
        }
        let payloadHash = try call.payloadHash ?? Self.payloadHash(of: call.body)
        let deadline = Self.deadline(httpTimeout: httpTimeout, bodyBytes: call.body.count)
        let attempt = {
            var request = HTTPRequest(method: call.method, url: url, headers: call.headers, body: call.body, freshConnection: !call.idempotent, timeout: deadline)
            try signer.sign(&request, payloadHash: payloadHash, credentials: try credentials.credentials(), date: clock())
            request.headers["User-Agent"] = userAgent
            var response = try transport.send(request)
            if call.errorsMayCome200, response.statusCode == 200, String(decoding: response.body.prefix(512), as: UTF8.self).contains("<Error>") {
                response.statusCode = 500
            }
            if response.isSuccess || call.acceptedStatuses.contains(response.statusCode) { return response }
            throw AWSClientError.service(Self.decodeError(response, operation: call.operation))
        }
        let attemptNamingTheRegion = {
            do { return try attempt() } catch AWSClientError.hostNotFound(let url, let reason, nil) where Self.isAWSHost(url, region: signer.region) {
                throw AWSClientError.hostNotFound(url: url, reason: reason, region: signer.region)
            }
        }
        guard call.idempotent else {
            do { return try attemptNamingTheRegion() } catch let error as AWSClientError {
                switch error {
                case .connectionFailed(_, let reason, true), .unusableAnswer(_, let reason):
                    throw AWSClientError.requestOutcomeUnknown(operation: call.operation, reason: reason)
                case .timedOut(_, let deadline):
                    throw AWSClientError.requestOutcomeUnknown(operation: call.operation, reason: "no complete answer within the request's deadline of \(deadline.formattedSeconds)")
                default:
                    throw error
                }
            }
        }
        return try retryPolicy.run(attemptNamingTheRegion)
    }

    /// Whether `url` is AWS's own endpoint in `region` (`https://SERVICE.REGION.SUFFIX`), not a configured one.
    static func isAWSHost(_ url: String, region: String) -> Bool {
        guard let host = URLComponents(string: url)?.host else { return false }
        return host.contains(".\(region).") && host.hasSuffix(Partition.of(region: region).dnsSuffix)
    }

    /// An unsigned request (web identity, the SSO portal and OIDC) with the configuration's retries; an
    /// error answer is thrown as `AWSClientError.service`.
    static func sendUnsigned(_ request: HTTPRequest, operation: String, configuration: AWSConfiguration) throws -> HTTPResponse {
        var request = request
        request.headers["User-Agent"] = configuration.userAgent
        return try configuration.retryPolicy.run {
            let response = try configuration.transport.send(request)
            guard response.isSuccess else { throw AWSClientError.service(decodeError(response, operation: operation)) }
            return response
        }
    }

    /// The deadline of a whole exchange: `httpTimeout` (`LAYERPACK_HTTP_TIMEOUT`) plus 1 s per MiB sent.
    static func deadline(httpTimeout: Duration, bodyBytes: UInt64) -> Duration {
        httpTimeout + .milliseconds(Int64(bodyBytes * 1000 / (1 << 20)))
    }

    static func payloadHash(of body: HTTPBody) throws -> String {
        switch body {
        case .none: return SigV4Signer.emptyPayloadHash
        case .data(let data): return SHA256.hash(data).hex
        case .file(let path, let offset, let length): return try digestFileRange(path: path, offset: offset, length: length).sha256.hex
        }
    }

    /// SHA-256 (for the signature) and CRC-32 (for S3's checksum) of `length` bytes of a file from
    /// `offset`, read once, 1 MiB at a time.
    static func digestFileRange(path: String, offset: UInt64, length: UInt64) throws -> (sha256: Digest, crc32: UInt32) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw AWSClientError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var crc: UInt32 = 0
        var remaining = length
        do {
            try handle.seek(toOffset: offset)
            while remaining > 0 {
                guard let chunk = try handle.read(upToCount: Int(min(remaining, 1 << 20))), !chunk.isEmpty else {
                    throw AWSClientError.unreadableFile(path: path, reason: "it ends before byte \(offset + length)")
                }
                hasher.update(chunk)
                crc = chunk.withUnsafeBytes { CRC32.checksum($0, continuing: crc) }
                remaining -= UInt64(chunk.count)
            }
        } catch let error as AWSClientError {
            throw error
        } catch {
            throw AWSClientError.unreadableFile(path: path, reason: error.localizedDescription)
        }
        return (hasher.finalize(), crc)
    }

    /// Reads an AWS error response: the code from `X-Amzn-ErrorType` (cut at `:`), else the JSON body's
    /// `__type` or `code`, else an XML `<Code>` (S3, and moto for every service); the message from `message`
    /// or `Message`; the request id from `x-amzn-RequestId` or `x-amz-request-id`.
    static func decodeError(_ response: HTTPResponse, operation: String) -> AWSServiceError {
        var code: String?
        var message: String?
        if let header = response[header: "x-amzn-errortype"],
           let type = header.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first, !type.isEmpty {
            code = String(type)
        }
        if let json = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] {
            if code == nil, let type = (json["__type"] ?? json["code"] ?? json["Code"]) as? String {
                // `__type` may be qualified: `com.amazonaws.lambda#ResourceNotFoundException`.
                code = type.split(separator: "#").last.map(String.init)
            }
            message = (json["message"] ?? json["Message"]) as? String
        } else if !response.body.isEmpty {
            let xml = String(decoding: response.body, as: UTF8.self)
            code = code ?? XML.value(of: "Code", in: xml)
            message = XML.value(of: "Message", in: xml)
        }
        let requestID = response[header: "x-amzn-requestid"] ?? response[header: "x-amz-request-id"]
            ?? XML.value(of: "RequestId", in: String(decoding: response.body, as: UTF8.self))
        // A server's words are shown, so only as much of them as a message needs.
        return AWSServiceError(
            operation: operation, statusCode: response.statusCode,
            code: Redaction.excerpt(code ?? Self.codeForStatus(response.statusCode), limit: 100), message: Redaction.excerpt(message ?? ""),
            requestID: requestID.map { Redaction.excerpt($0, limit: 100) }, retryAfter: retryAfter(response)
        )
    }

    /// `x-amz-retry-after` in milliseconds, else `Retry-After` in seconds (an HTTP date is not used).
    static func retryAfter(_ response: HTTPResponse) -> Duration? {
        func number(_ name: String) -> Int? { response[header: name].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.flatMap { $0 >= 0 ? $0 : nil } }
        return number("x-amz-retry-after").map { .milliseconds($0) } ?? number("retry-after").map { .seconds($0) }
    }

    /// A code for bodiless errors (answers to HEAD), named as S3 names them.
    private static func codeForStatus(_ status: Int) -> String {
        switch status {
        case 400: return "BadRequest"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 429: return "TooManyRequestsException"
        case 503: return "ServiceUnavailable"
        default: return "HTTP\(status)"
        }
    }
}

/// Just enough XML for S3's small, flat answers: the text of elements by name.
enum XML {
    static func value(of element: String, in xml: String) -> String? { values(of: element, in: xml).first }

    static func values(of element: String, in xml: String) -> [String] {
        var results: [String] = []
        var rest = xml[...]
        while let open = rest.range(of: "<\(element)>") ?? rest.range(of: "<\(element) "),
              let openEnd = rest[open.lowerBound...].firstIndex(of: ">"),
              let close = rest[openEnd...].range(of: "</\(element)>")
        {
            results.append(unescape(String(rest[rest.index(after: openEnd)..<close.lowerBound])))
            rest = rest[close.upperBound...]
        }
        return results
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
