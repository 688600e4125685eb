import Foundation
import Hashing

/// AWS Signature Version 4 over HMAC-SHA256, for one service in one region.
///
/// `sign(_:payloadHash:credentials:date:)` is what clients call: it adds `host`, `x-amz-date`,
/// `x-amz-content-sha256` (always: moto verifies bodiless requests only with it, and it is valid SigV4
/// for every service), `x-amz-security-token` for temporary credentials, and `authorization`.
public struct SigV4Signer: Sendable {
    public let service: String
    public let region: String

    public init(service: String, region: String) {
        self.service = service
        self.region = region
    }

    /// S3 signs the path as it is sent; every other service percent-encodes each segment once more.
    var encodesPathTwice: Bool { service != "s3" }

    public static let emptyPayloadHash = SHA256.hash(Data()).hex

    /// Signs `request` in place.
    public func sign(_ request: inout HTTPRequest, payloadHash: String, credentials: AWSCredentials, date: Date) throws {
        let url = try WireURL(request.url)
        request.headers = request.headers.filter {
            !["authorization", "host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"].contains($0.key.lowercased())
        }
        request.headers["Host"] = url.hostHeader
        request.headers["X-Amz-Date"] = Self.timestamp(date)
        request.headers["X-Amz-Content-SHA256"] = payloadHash
        if let token = credentials.sessionToken { request.headers["X-Amz-Security-Token"] = token }
        request.headers["Authorization"] = authorization(
            method: request.method, path: url.path, query: url.query, headers: request.headers,
            payloadHash: payloadHash, credentials: credentials, date: date
        )
    }

    /// The `Authorization` header value for a request with exactly these headers, all of them signed.
    /// `path` and `query` are as sent on the wire (percent-encoded).
    public func authorization(
        method: String, path: String, query: String, headers: [String: String], payloadHash: String,
        credentials: AWSCredentials, date: Date
    ) -> String {
        let canonical = canonicalRequest(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        let signature = HMACSHA256.authenticationCode(
            for: Data(stringToSign(canonicalRequest: canonical.text, date: date).utf8),
            key: signingKey(secretAccessKey: credentials.secretAccessKey, date: date).bytes
        ).hex
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope(date)), SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"
    }

    func canonicalRequest(method: String, path: String, query: String, headers: [String: String], payloadHash: String)
        -> (text: String, signedHeaders: String)
    {
        var canonicalHeaders: [String: String] = [:]
        for (name, value) in headers {
            // Trim, and fold runs of spaces into one, as the spec asks.
            let folded = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            let key = name.lowercased()
            canonicalHeaders[key] = canonicalHeaders[key].map { $0 + "," + folded } ?? folded
        }
        let names = canonicalHeaders.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        let text = [
            method,
            canonicalPath(path),
            Self.canonicalQuery(query),
            names.map { "\($0):\(canonicalHeaders[$0]!)\n" }.joined(),
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        return (text, signedHeaders)
    }

    func canonicalPath(_ path: String) -> String {
        if path.isEmpty { return "/" }
        guard encodesPathTwice else { return path }
        return path.split(separator: "/", omittingEmptySubsequences: false)
            .map { Self.percentEncode(String($0)) }
            .joined(separator: "/")
    }

    /// Query parameters decoded, encoded strictly, sorted by name and then value.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(name: String, value: String)] = []
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = parts[0].removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (parts[1].removingPercentEncoding ?? String(parts[1])) : ""
            pairs.append((percentEncode(name), percentEncode(value)))
        }
        pairs.sort { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
        return pairs.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    func stringToSign(canonicalRequest: String, date: Date) -> String {
        let hash: String = SHA256.hash(Data(canonicalRequest.utf8)).hex
        return "AWS4-HMAC-SHA256\n\(Self.timestamp(date))\n\(scope(date))\n\(hash)"
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
    public func signingKey(secretAccessKey: String, date: Date) -> Digest {
        var key = Data("AWS4\(secretAccessKey)".utf8)
        for part in [String(Self.timestamp(date).prefix(8)), region, service, "aws4_request"] {
            key = Data(HMACSHA256.authenticationCode(for: Data(part.utf8), key: key).bytes)
        }
        return Digest(bytes: Array(key))
    }

    func scope(_ date: Date) -> String {
        "\(Self.timestamp(date).prefix(8))/\(region)/\(service)/aws4_request"
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    public static func timestamp(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ",
            parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec
        )
    }

    /// RFC 3986 encoding as SigV4 wants it: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case hex);
    /// `/` kept when `keepSlash` (S3 object keys in paths).
    public static func percentEncode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

/// The parts of a URL that signing needs, taken from its wire form without decoding anything.
struct WireURL {
    var scheme: String
    var host: String
    var port: Int?
    var path: String
    var query: String

    init(_ url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              let host = components.percentEncodedHost, !host.isEmpty
        else {
            throw AWSClientError.invalidArgument(name: "URL", value: url, expected: "an absolute `http://` or `https://` URL")
        }
        self.scheme = scheme
        self.host = host
        self.port = components.port
        self.path = components.percentEncodedPath
        self.query = components.percentEncodedQuery ?? ""
    }

    /// `host[:port]`, the port only when it is not the scheme's default.
    var hostHeader: String {
        guard let port, !(scheme == "https" && port == 443), !(scheme == "http" && port == 80) else { return host }
        return "\(host):\(port)"
    }
}
