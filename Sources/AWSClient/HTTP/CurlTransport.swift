internal import CLibcurl
import Foundation
import Synchronization

/// `HTTPTransport` over libcurl's easy interface.
///
/// TLS peer and host verification are always on. Proxies come from the environment given at creation
/// (`https_proxy`/`HTTPS_PROXY`, `http_proxy`, `all_proxy`/`ALL_PROXY`, and `no_proxy`/`NO_PROXY` for the
/// hosts to reach directly), read the way libcurl reads them, but from that dictionary rather than the
/// process, so what applies is what was configured. Easy handles are pooled: each concurrent request gets
/// its own, and connections are reused across requests unless `freshConnection` asks otherwise.
///
/// Answers are bounded: response headers up to `headerLimit`, bodies up to `bodyLimit` (the transfer is
/// aborted as soon as either is passed, so nothing larger is ever held in memory).
public final class CurlTransport: HTTPTransport {
    private let caBundle: String?
    private let environment: [String: String]
    private let idleHandles = Mutex<[EasyHandle]>([])

    /// Far above any answer Lambda or S3 gives to the requests this client sends (their bodies are a few KB).
    public static let bodyLimit = 8 << 20
    public static let headerLimit = 64 << 10

    /// - Parameters:
    ///   - caBundle: a PEM file of CA certificates to trust instead of the system's (`AWS_CA_BUNDLE`).
    ///   - environment: where proxy settings are read from.
    public init(caBundle: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        _ = Self.globalInit
        self.caBundle = caBundle
        self.environment = environment
        for name in ["https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"] {
            if let proxy = environment[name] { Redaction.registerPassword(in: proxy) }
        }
    }

    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let handle = try idleHandles.withLock { $0.popLast() } ?? EasyHandle()
        defer { idleHandles.withLock { $0.append(handle) } }
        return try handle.perform(request, caBundle: caBundle, proxy: proxy(for: request))
    }

    /// The proxy and no-proxy list for a request; an empty proxy means "connect directly".
    private func proxy(for request: HTTPRequest) -> (proxy: String, noProxy: String?) {
        if request.bypassProxy { return ("", nil) }
        let isHTTPS = request.url.lowercased().hasPrefix("https:")
        // libcurl ignores an upper-case HTTP_PROXY (a CGI program could be handed one by a client); so do we.
        let specific = isHTTPS ? (environment["https_proxy"] ?? environment["HTTPS_PROXY"]) : environment["http_proxy"]
        let proxy = specific ?? environment["all_proxy"] ?? environment["ALL_PROXY"] ?? ""
        return (proxy, environment["no_proxy"] ?? environment["NO_PROXY"])
    }
}

/// Owns one curl easy handle. Used by one thread at a time: `CurlTransport` hands it out from its pool.
final class EasyHandle: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer

    init() throws {
        guard let handle = curl_easy_init() else {
            throw AWSClientError.transportSetupFailed(reason: "curl_easy_init returned no handle")
        }
        self.handle = handle
    }

    deinit { curl_easy_cleanup(handle) }

    func perform(_ request: HTTPRequest, caBundle: String?, proxy: (proxy: String, noProxy: String?)) throws -> HTTPResponse {
        // Forget the previous request's options but keep the connection cache.
        curl_easy_reset(handle)
        let transfer = try Transfer(body: request.body, isHead: request.method == "HEAD")
        defer { transfer.close() }
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        // libcurl's own detail of a failure; unset again before the buffer is freed.
        try check(lp_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, transfer.errorDetail))
        defer { _ = lp_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil) }

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // libcurl adds `Expect: 100-continue` to large uploads; an empty value turns that off.
        for line in request.headers.map({ "\($0.key): \($0.value)" }) + ["Expect:"] {
            headerList = curl_slist_append(headerList, line)
        }

        try set(CURLOPT_URL, request.url)
        // Send the path as signed: libcurl would otherwise squash `.` and `..` segments (valid in S3 keys).
        try set(CURLOPT_PATH_AS_IS, 1)
        try set(CURLOPT_PROTOCOLS_STR, "http,https")
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_SSL_VERIFYPEER, 1)
        try set(CURLOPT_SSL_VERIFYHOST, 2)
        if let caBundle { try set(CURLOPT_CAINFO, caBundle) }
        try set(CURLOPT_PROXY, proxy.proxy)
        if let noProxy = proxy.noProxy { try set(CURLOPT_NOPROXY, noProxy) }
        try set(CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout.milliseconds))
        if let timeout = request.timeout { try set(CURLOPT_TIMEOUT_MS, Int(timeout.milliseconds)) }
        // A transfer slower than 1 byte/s for a minute has stalled (sooner than a large upload's deadline).
        try set(CURLOPT_LOW_SPEED_LIMIT, 1)
        try set(CURLOPT_LOW_SPEED_TIME, Self.stallSeconds)
        if request.freshConnection {
            try set(CURLOPT_FRESH_CONNECT, 1)
            try set(CURLOPT_FORBID_REUSE, 1)
        }
        try check(lp_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))

        switch request.method {
        case "GET": break
        case "HEAD": try set(CURLOPT_NOBODY, 1)
        case "PUT", "POST":
            // One path for both: the body always comes from the read callback with a known length, so
            // libcurl sends `Content-Length` and never invents a form `Content-Type`.
            try set(CURLOPT_UPLOAD, 1)
            try check(lp_curl_setopt_offset(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.count)))
            try check(lp_curl_setopt_data_callback(handle, CURLOPT_READFUNCTION, readBody))
            try check(lp_curl_setopt_pointer(handle, CURLOPT_READDATA, context))
            if request.method == "POST" { try set(CURLOPT_CUSTOMREQUEST, "POST") }
        default: try set(CURLOPT_CUSTOMREQUEST, request.method)
        }
        try check(lp_curl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, collectBody))
        try check(lp_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        try check(lp_curl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, collectHeader))
        try check(lp_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))

        let code = curl_easy_perform(handle)
        if let readError = transfer.readError {
            throw AWSClientError.unreadableFile(path: readError.path, reason: readError.reason)
        }
        if let problem = transfer.refusal { throw AWSClientError.unusableAnswer(url: request.url, problem: problem) }
        guard code == CURLE_OK else { throw error(for: code, request: request, transfer: transfer) }
        var status = 0
        try check(lp_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status))
        return HTTPResponse(statusCode: status, headers: transfer.headers, body: transfer.received)
    }

    /// Some libcurl codes mean something else once a connection is made: "unsupported protocol" is an
    /// answer that is not HTTP/1.x, "out of memory" a header line over libcurl's limit.
    private func error(for code: CURLcode, request: HTTPRequest, transfer: Transfer) -> AWSClientError {
        let url = request.url
        let reason = String(cString: curl_easy_strerror(code))
        var connectMicroseconds: curl_off_t = 0, totalMicroseconds: curl_off_t = 0
        _ = lp_curl_getinfo_offset(handle, CURLINFO_CONNECT_TIME_T, &connectMicroseconds)
        _ = lp_curl_getinfo_offset(handle, CURLINFO_TOTAL_TIME_T, &totalMicroseconds)
        let connected = connectMicroseconds > 0
        // The same code says the deadline passed or the transfer stalled (the low-speed limit); 100 ms of
        // slack for when libcurl notices.
        if code == CURLE_OPERATION_TIMEDOUT, connected, let deadline = request.timeout, totalMicroseconds / 1000 + 100 >= deadline.milliseconds {
            return .timedOut(url: url, deadline: deadline)
        }
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            return .tlsFailed(url: url, reason: reason)
        case CURLE_COULDNT_RESOLVE_HOST:
            return .hostNotFound(url: url, reason: reason, region: nil)
        case CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT, CURLE_SSL_CONNECT_ERROR:
            return .connectionFailed(url: url, reason: reason, requestMayHaveReachedServer: false)
        case CURLE_OPERATION_TIMEDOUT where connected:
            return .connectionFailed(url: url, reason: "the transfer stalled (under 1 byte/s for \(Self.stallSeconds) s)", requestMayHaveReachedServer: true)
        case CURLE_OPERATION_TIMEDOUT:
            return .connectionFailed(url: url, reason: "no connection within \(request.connectTimeout.formattedSeconds)", requestMayHaveReachedServer: false)
        case CURLE_UNSUPPORTED_PROTOCOL where connected:
            return .unusableAnswer(url: url, problem: "the answer is not HTTP (its first line is not an `HTTP/1.x` status line)")
        case CURLE_WEIRD_SERVER_REPLY where connected:
            return .unusableAnswer(url: url, problem: "the answer is not valid HTTP (libcurl: \(transfer.errorText ?? reason))")
        case CURLE_OUT_OF_MEMORY where connected && !transfer.bodyStarted, Self.tooLarge where connected:
            return .unusableAnswer(url: url, problem: "a response header is larger than libcurl accepts (\(CURL_MAX_HTTP_HEADER / 1024) KiB)")
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_OUT_OF_MEMORY:
            return .transportSetupFailed(reason: "\(reason) (`\(url)`)")
        default:
            return .connectionFailed(url: url, reason: reason, requestMayHaveReachedServer: true)
        }
    }

    private static let stallSeconds = 60

    /// `CURLE_TOO_LARGE`, which libcurl 8.6 and later return for an oversized header; older ones say
    /// `CURLE_OUT_OF_MEMORY`. Spelled as its number, as the headers this is built against may predate it.
    private static let tooLarge = CURLcode(rawValue: 100)

    private func set(_ option: CURLoption, _ value: Int) throws {
        try check(lp_curl_setopt_long(handle, option, value))
    }

    private func set(_ option: CURLoption, _ value: String) throws {
        try check(lp_curl_setopt_string(handle, option, value))
    }

    private func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else {
            throw AWSClientError.transportSetupFailed(reason: String(cString: curl_easy_strerror(code)))
        }
    }
}

/// State shared with libcurl's callbacks during one transfer.
private final class Transfer {
    var received = Data()
    var headers: [String: String] = [:]
    var readError: (path: String, reason: String)?
    /// Why the answer was refused while it arrived (too large); the transfer was aborted.
    var refusal: String?
    var bodyStarted = false
    /// libcurl's error buffer.
    let errorDetail = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
    private var headerBytes = 0
    private let isHead: Bool
    private let body: HTTPBody
    private var sent: UInt64 = 0
    private var fileDescriptor: Int32 = -1

    init(body: HTTPBody, isHead: Bool) throws {
        errorDetail.initialize(to: 0)
        self.isHead = isHead
        self.body = body
        if case .file(let path, _, _) = body {
            fileDescriptor = open(path, O_RDONLY | O_CLOEXEC)
            if fileDescriptor < 0 {
                throw AWSClientError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
            }
        }
    }

    deinit { errorDetail.deallocate() }

    func close() {
        if fileDescriptor >= 0 { _ = Foundation.close(fileDescriptor) }
        fileDescriptor = -1
    }

    var errorText: String? {
        let text = String(cString: errorDetail)
        return text.isEmpty ? nil : text
    }

    /// Fills `buffer` with the next bytes of the body; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let remaining = body.count - sent
        let wanted = Int(min(UInt64(buffer.count), remaining))
        guard wanted > 0 else { return 0 }
        switch body {
        case .none:
            return 0
        case .data(let data):
            let start = data.startIndex + Int(sent)
            data.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: start..<start + wanted)
            sent += UInt64(wanted)
            return wanted
        case .file(let path, let offset, _):
            let count = pread(fileDescriptor, buffer.baseAddress, wanted, off_t(offset + sent))
            guard count > 0 else {
                readError = (path, count == 0 ? "the file became shorter while it was being sent" : String(cString: strerror(errno)))
                return nil
            }
            sent += UInt64(count)
            return count
        }
    }

    /// Keeps a chunk of the body; false (abort) once it would pass `CurlTransport.bodyLimit`.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bodyStarted = true
        guard received.count + bytes.count <= CurlTransport.bodyLimit else {
            refusal = Self.bodyTooLarge
            return false
        }
        received.append(contentsOf: bytes)
        return true
    }

    /// Takes one header line; false (abort) once the headers pass `CurlTransport.headerLimit` or announce
    /// a body over `CurlTransport.bodyLimit`.
    func header(_ bytes: UnsafeRawBufferPointer) -> Bool {
        headerBytes += bytes.count
        guard headerBytes <= CurlTransport.headerLimit else {
            refusal = "its headers are larger than \(CurlTransport.headerLimit >> 10) KiB"
            return false
        }
        header(String(decoding: bytes, as: UTF8.self))
        if !isHead, let length = headers["content-length"].flatMap({ UInt64($0) }), length > CurlTransport.bodyLimit {
            refusal = Self.bodyTooLarge
            return false
        }
        return true
    }

    private static let bodyTooLarge = "its body is larger than \(CurlTransport.bodyLimit >> 20) MiB, far more than any answer to the requests layerpack sends"

    private func header(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        // A new status line starts a new header block (after `100 Continue` or a proxy's `CONNECT`).
        if trimmed.hasPrefix("HTTP/") { headers = [:]; return }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = trimmed[..<colon].lowercased()
        let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        headers[name] = headers[name].map { $0 + "," + value } ?? value
    }
}

private func transfer(_ context: UnsafeMutableRawPointer?) -> Transfer {
    Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
}

/// Returning less than `length` makes libcurl abort the transfer.
private let collectBody: lp_curl_data_callback = { buffer, size, count, context in
    let length = size * count
    guard let buffer, length > 0 else { return length }
    return transfer(context).receive(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : 0
}

private let collectHeader: lp_curl_data_callback = { buffer, size, count, context in
    let length = size * count
    guard let buffer else { return length }
    return transfer(context).header(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : 0
}

private let readBody: lp_curl_data_callback = { buffer, size, count, context in
    guard let buffer else { return 0 }
    let target = UnsafeMutableRawBufferPointer(start: buffer, count: size * count)
    return transfer(context).read(into: target) ?? Int(CURL_READFUNC_ABORT)
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// `3 s`, `2.5 s`.
    var formattedSeconds: String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(Double(milliseconds) / 1000) s"
    }
}
