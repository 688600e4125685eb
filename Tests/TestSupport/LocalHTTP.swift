import AWSClient
import Foundation

/// A fault-injection proxy on 127.0.0.1 in front of an upstream (moto): it forwards every request unless a
/// fault is queued for it. One per test, so tests running in parallel do not see each other's faults.
///
/// ```swift
/// let proxy = try FaultProxy(upstream: moto)
/// try proxy.inject(.status(503, code: "SlowDown"), count: 2)
/// let s3 = S3Client(configuration: try moto.configuration(endpoint: proxy.endpoint))
/// ```
public final class FaultProxy: Sendable {
    public enum Fault: Sendable {
        /// Answer with an AWS error: S3-style XML, or with `json` Lambda-style (`X-Amzn-ErrorType` and a JSON body).
        case status(Int, code: String, retryAfter: Int? = nil, json: Bool = false)
        /// Close the connection with a TCP reset before forwarding anything.
        case connectionReset
        /// Forward the request, so the upstream acts on it, then close the connection without answering.
        case dropResponseAfterForwarding
        /// Forward the request, then keep the connection open and unanswered until `release()`.
        case holdResponseAfterForwarding
        /// Keep the request unforwarded and unanswered until `release()`, then close the connection.
        case hold
        /// Answer HTTP 200 with an S3 `<Error>` body, as S3 may answer CompleteMultipartUpload.
        case errorWithStatus200(code: String)
    }

    private let server: LocalServer
    /// `http://127.0.0.1:PORT`
    public var endpoint: String { server.endpoint }

    public init(upstream: MotoServer) throws {
        server = try LocalServer(arguments: ["proxy", "\(upstream.port)"], logName: "fault-proxy")
    }

    /// Applies `fault` to the next `count` requests whose `METHOD /path?query` contains `matching`.
    public func inject(_ fault: Fault, count: Int = 1, matching: String = "") throws {
        var object: [String: Any] = ["count": count, "match": matching]
        switch fault {
        case .status(let status, let code, let retryAfter, let json):
            object.merge(["action": "status", "status": status, "code": code, "json": json]) { $1 }
            object["retry_after"] = retryAfter
        case .connectionReset:
            object["action"] = "reset"
        case .dropResponseAfterForwarding:
            object["action"] = "drop_after_forward"
        case .holdResponseAfterForwarding:
            object["action"] = "hold_after_forward"
        case .hold:
            object["action"] = "hold"
        case .errorWithStatus200(let code):
            object.merge(["action": "error_200", "code": code]) { $1 }
        }
        try server.control("POST", "fault", object)
    }

    /// Every request the proxy received (faulted or forwarded), as `METHOD /path?query`, in order.
    public func requestLog() throws -> [String] { try server.log() }

    /// Waits (up to `timeout`) until a request is being held; false if none came.
    public func waitForHeldRequest(timeout: Duration = .seconds(60)) throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try server.held() > 0 { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// Lets every held request (and any later one) end: its connection is closed unanswered.
    public func release() throws { try server.control("POST", "release", [:]) }

    public func stop() { server.stop() }
}

/// A canned-answer HTTP server on 127.0.0.1, for credential endpoints (container, instance metadata) and
/// for servers that misbehave.
///
/// In a body, `{header:NAME}` becomes the request's `NAME` header (a server echoing what it was sent) and
/// `{fill:N}` becomes N letters `x`.
public final class StubHTTPServer: Sendable {
    /// Ways a route can misbehave, as broken servers, proxies and captive portals do.
    public enum Misbehaviour: Sendable {
        /// Honest headers, then the body one byte per `interval` seconds.
        case dribble(interval: Double)
        /// The body's bytes instead of an HTTP answer.
        case raw
        /// `count` extra headers of `size` bytes each.
        case paddedHeaders(count: Int, size: Int)
        /// A body of `size` bytes of `x`, chunked or with a `Content-Length`; the request log then gets a
        /// `streamed BYTES` line with how much the server could hand over before the client hung up.
        case stream(size: Int, chunked: Bool)
        /// ListLayerVersions pages of one version each, whose `NextMarker` is always a new one.
        case endlessPages
    }

    private let server: LocalServer
    /// `http://127.0.0.1:PORT`
    public var endpoint: String { server.endpoint }

    public init() throws {
        server = try LocalServer(arguments: ["stub"], logName: "stub-http")
    }

    /// Answers `method path` with `status` and `body`; with `requiredHeader`, answers 401 unless the request
    /// carries that header with that value; with `requiredQuery` or `requiredJSON`, answers 400 unless the
    /// query or the JSON body carries those parameters with those values. Unknown routes get 404.
    public func route(
        _ method: String, _ path: String, status: Int = 200, body: String = "", requiredHeader: (name: String, value: String)? = nil,
        requiredQuery: [String: String] = [:], requiredJSON: [String: String] = [:], misbehaving misbehaviour: Misbehaviour? = nil
    ) throws {
        var object: [String: Any] = ["method": method, "path": path, "status": status, "body": body]
        if let requiredHeader { object["require_header"] = [requiredHeader.name, requiredHeader.value] }
        if !requiredQuery.isEmpty { object["require_query"] = requiredQuery }
        if !requiredJSON.isEmpty { object["require_json"] = requiredJSON }
        switch misbehaviour {
        case nil: break
        case .dribble(let interval): object["misbehave"] = ["kind": "dribble", "interval": interval]
        case .raw: object["misbehave"] = ["kind": "raw"]
        case .paddedHeaders(let count, let size): object["misbehave"] = ["kind": "headers", "count": count, "size": size]
        case .stream(let size, let chunked): object["misbehave"] = ["kind": "stream", "size": size, "chunked": chunked]
        case .endlessPages: object["misbehave"] = ["kind": "endless_pages"]
        }
        try server.control("POST", "route", object)
    }

    public func requestLog() throws -> [String] { try server.log() }

    /// Serves the file at `file` on `GET path`, whole or by `Range`, as a static server or S3 does.
    public func serve(_ path: String, file: String) throws {
        try server.control("POST", "route", ["method": "GET", "path": path, "file": file])
    }

    public func stop() { server.stop() }
}

/// `python/local_http.py` in one of its modes, and its control API.
private final class LocalServer: Sendable {
    let endpoint: String
    private let helper: HelperProcess
    private let transport = CurlTransport(environment: [:])

    init(arguments: [String], logName: String) throws {
        helper = try HelperProcess(script: "local_http.py", arguments: arguments, logName: logName, timeout: 30)
        guard let port = helper.greeting["port"] as? Int else { throw HelperError("local_http.py answered without a port") }
        endpoint = "http://127.0.0.1:\(port)"
    }

    func control(_ method: String, _ action: String, _ object: [String: Any]) throws {
        let body = try JSONSerialization.data(withJSONObject: object)
        let response = try transport.send(HTTPRequest(method: method, url: "\(endpoint)/__control/\(action)", body: .data(body), timeout: .seconds(10)))
        guard response.isSuccess else { throw HelperError("local_http.py refused `\(action)`: HTTP \(response.statusCode)") }
    }

    func held() throws -> Int {
        let response = try transport.send(HTTPRequest(method: "GET", url: "\(endpoint)/__control/held", timeout: .seconds(10)))
        return ((try JSONSerialization.jsonObject(with: response.body) as? [String: Any])?["held"] as? Int) ?? 0
    }

    func log() throws -> [String] {
        let response = try transport.send(HTTPRequest(method: "GET", url: "\(endpoint)/__control/log", timeout: .seconds(10)))
        return (try JSONSerialization.jsonObject(with: response.body) as? [String]) ?? []
    }

    func stop() { helper.stop() }
}
