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
public final class CurlTransport: HTTPTransport {
    private let caBundle: String?
    private let environment: [String: String]
    private let idleHandles = Mutex<[EasyHandle]>([])

    /// - Parameters:
    ///   - caBundle: a PEM file of CA certificates to trust instead of the system's (`AWS_CA_BUNDLE`).
    ///   - environment: where proxy settings are read from.
    public init(caBundle: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        _ = Self.globalInit
        self.caBundle = caBundle
        self.environment = environment
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
        let transfer = try Transfer(body: request.body)
        defer { transfer.close() }
        let context = Unmanaged.passUnretained(transfer).toOpaque()

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
        // A transfer slower than 1 byte/s for a minute has stalled.
        try set(CURLOPT_LOW_SPEED_LIMIT, 1)
        try set(CURLOPT_LOW_SPEED_TIME, 60)
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
        guard code == CURLE_OK else { throw Self.error(for: code, url: request.url) }
        var status = 0
        try check(lp_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status))
        return HTTPResponse(statusCode: status, headers: transfer.headers, body: transfer.received)
    }

    private static func error(for code: CURLcode, url: String) -> AWSClientError {
        let reason = String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            return .tlsFailed(url: url, reason: reason)
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT, CURLE_SSL_CONNECT_ERROR:
            return .connectionFailed(url: url, reason: reason, requestMayHaveReachedServer: false)
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_OUT_OF_MEMORY:
            return .transportSetupFailed(reason: "\(reason) (`\(url)`)")
        default:
            return .connectionFailed(url: url, reason: reason, requestMayHaveReachedServer: true)
        }
    }

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
    private let body: HTTPBody
    private var sent: UInt64 = 0
    private var fileDescriptor: Int32 = -1

    init(body: HTTPBody) throws {
        self.body = body
        if case .file(let path, _, _) = body {
            fileDescriptor = open(path, O_RDONLY | O_CLOEXEC)
            if fileDescriptor < 0 {
                throw AWSClientError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
            }
        }
    }

    func close() {
        if fileDescriptor >= 0 { _ = Foundation.close(fileDescriptor) }
        fileDescriptor = -1
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

    func header(_ line: String) {
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

private let collectBody: lp_curl_data_callback = { buffer, size, count, context in
    let length = size * count
    if let buffer, length > 0 { transfer(context).received.append(UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: length) }
    return length
}

private let collectHeader: lp_curl_data_callback = { buffer, size, count, context in
    let length = size * count
    if let buffer {
        let bytes = UnsafeRawBufferPointer(start: buffer, count: length)
        transfer(context).header(String(decoding: bytes, as: UTF8.self))
    }
    return length
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
}
