import Foundation

/// One HTTP exchange's request. Header names are matched case-insensitively.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The full URL as it goes on the wire: the path and query already percent-encoded.
    public var url: String
    public var headers: [String: String]
    public var body: HTTPBody
    /// Use a new connection and close it afterwards, so libcurl never re-sends the request on its own over
    /// a reused connection that died. For requests that are not idempotent.
    public var freshConnection: Bool
    /// Deadline of the whole exchange, from connecting to the last byte of the answer; when it passes the
    /// transport throws `AWSClientError.timedOut`. The AWS clients always set one
    /// (`AWSConfiguration.httpTimeout` plus 1 s per MiB of body); nil means none.
    public var timeout: Duration?
    /// Connect timeout.
    public var connectTimeout: Duration
    /// Never go through a proxy: for link-local metadata endpoints, as the AWS SDKs do.
    public var bypassProxy: Bool

    public init(
        method: String, url: String, headers: [String: String] = [:], body: HTTPBody = .none,
        freshConnection: Bool = false, timeout: Duration? = nil, connectTimeout: Duration = .seconds(10),
        bypassProxy: Bool = false
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.freshConnection = freshConnection
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.bypassProxy = bypassProxy
    }
}

/// A request body: none, bytes in memory, or a byte range of a file read as it is sent (bounded memory).
public enum HTTPBody: Sendable, Equatable {
    case none
    case data(Data)
    case file(path: String, offset: UInt64, length: UInt64)

    public var count: UInt64 {
        switch self {
        case .none: return 0
        case .data(let data): return UInt64(data.count)
        case .file(_, _, let length): return length
        }
    }
}

public struct HTTPResponse: Sendable {
    public var statusCode: Int
    /// Header names in lowercase; repeated headers joined with `,`.
    public var headers: [String: String]
    public var body: Data

    public init(statusCode: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.statusCode = statusCode
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $0 + "," + $1 })
        self.body = body
    }

    public subscript(header name: String) -> String? { headers[name.lowercased()] }

    public var isSuccess: Bool { (200..<300).contains(statusCode) }
}

/// Sends one HTTP request and waits for its response. Implementations must be safe to call from several
/// threads at once.
public protocol HTTPTransport: Sendable {
    /// Throws `AWSClientError.connectionFailed` when no complete response came back; any HTTP status,
    /// error or not, is a response.
    func send(_ request: HTTPRequest) throws -> HTTPResponse
}
