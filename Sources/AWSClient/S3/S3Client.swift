import Foundation
import Hashing
import Shutdown
import Synchronization
import Workers

/// What HeadObject tells about an object.
public struct S3ObjectInfo: Sendable, Equatable {
    public var size: UInt64
    public var versionID: String?
    public var eTag: String?
    public var contentType: String?
    /// User metadata, from the `x-amz-meta-*` headers, names in lowercase without the prefix.
    public var metadata: [String: String]
}

/// What PutObject or CompleteMultipartUpload tells about the new object.
public struct S3UploadResult: Sendable, Equatable {
    /// Set when the bucket has versioning on.
    public var versionID: String?
    public var eTag: String?
    /// How many parts were uploaded; 0 for a single PutObject.
    public var partCount: Int
}

/// An upload that was started and not finished, as ListMultipartUploads lists it.
public struct S3MultipartUpload: Sendable, Equatable {
    public var key: String
    public var uploadID: String
}

/// S3 (SigV4 service `s3`): path-style addressing for configured endpoints, virtual-hosted style on AWS.
public struct S3Client: Sendable {
    let service: ServiceClient
    let pathStyle: Bool
    /// Files this large or larger go up in parts.
    public var multipartThreshold: UInt64
    /// Bytes per part (at least 5 MiB; raised when a file would need more than 10,000 parts).
    public var partSize: UInt64
    /// Parts in flight at once, each on its own thread and libcurl handle. Each part is read from the file as
    /// it is sent, so memory stays far below `concurrency × partSize`.
    public var concurrency: Int

    public static let mebibyte: UInt64 = 1 << 20

    public init(configuration: AWSConfiguration, multipartThreshold: UInt64 = 8 << 20, partSize: UInt64 = 8 << 20, concurrency: Int = 4) {
        let endpoint = configuration.endpoint(for: "s3")
        service = ServiceClient(signer: SigV4Signer(service: "s3", region: configuration.region), configuration: configuration, endpoint: endpoint.url)
        pathStyle = endpoint.isCustom
        self.multipartThreshold = multipartThreshold
        self.partSize = partSize
        self.concurrency = max(1, concurrency)
    }

    // MARK: Objects

    /// Size, version and user metadata of an object, or nil when there is no such object.
    public func headObject(bucket: String, key: String) throws -> S3ObjectInfo? {
        let response = try send(bucket, key: key, .init(operation: "HeadObject", method: "HEAD", path: "", acceptedStatuses: [404]))
        guard response.statusCode != 404 else { return nil }
        var metadata: [String: String] = [:]
        for (name, value) in response.headers where name.hasPrefix("x-amz-meta-") {
            metadata[String(name.dropFirst("x-amz-meta-".count))] = value
        }
        return S3ObjectInfo(
            size: UInt64(response[header: "content-length"] ?? "") ?? 0, versionID: response[header: "x-amz-version-id"],
            eTag: response[header: "etag"], contentType: response[header: "content-type"], metadata: metadata
        )
    }

    /// A range of an object's bytes, and the object's whole size (from `Content-Range`). `range` is
    /// `bytes=FIRST-LAST`, or `bytes=-N` for the last N bytes.
    public func getObjectRange(bucket: String, key: String, versionID: String? = nil, range: String) throws -> (bytes: Data, totalSize: Int64) {
        let response = try send(bucket, key: key, .init(
            operation: "GetObject", method: "GET", path: "", query: versionID.map { [("versionId", $0)] } ?? [], headers: ["Range": range]))
        return (response.body, try Self.totalSize(response, operation: "GetObject"))
    }

    /// The whole size a ranged answer (206) gives in `Content-Range: bytes FIRST-LAST/SIZE`; a 200 answer's body is all of it.
    public static func totalSize(_ response: HTTPResponse, operation: String) throws -> Int64 {
        if response.statusCode == 200 { return Int64(response.body.count) }
        guard let header = response[header: "content-range"], let slash = header.lastIndex(of: "/"),
              let size = Int64(header[header.index(after: slash)...].trimmingCharacters(in: .whitespaces)) else {
            throw AWSClientError.invalidResponse(operation: operation, reason: "a ranged answer without a `Content-Range` giving the size")
        }
        return size
    }

    /// Uploads a file, in one PutObject below `multipartThreshold` and in parts from there on.
    public func upload(fileAt path: String, bucket: String, key: String, metadata: [String: String] = [:], contentType: String) throws -> S3UploadResult {
        let size = try Self.fileSize(path)
        return size < multipartThreshold
            ? try putObject(fileAt: path, bucket: bucket, key: key, metadata: metadata, contentType: contentType)
            : try uploadMultipart(fileAt: path, bucket: bucket, key: key, metadata: metadata, contentType: contentType)
    }

    /// Uploads a file in one request, streamed from disk, with its CRC-32 (`x-amz-checksum-crc32`, which
    /// buckets with Object Lock require).
    public func putObject(fileAt path: String, bucket: String, key: String, metadata: [String: String] = [:], contentType: String) throws -> S3UploadResult {
        let size = try Self.fileSize(path)
        let digests = try ServiceClient.digestFileRange(path: path, offset: 0, length: size)
        var headers = Self.objectHeaders(metadata, contentType: contentType)
        headers["x-amz-checksum-crc32"] = CRC32.base64(digests.crc32)
        let response = try send(bucket, key: key, .init(
            operation: "PutObject", method: "PUT", path: "", headers: headers,
            body: .file(path: path, offset: 0, length: size), payloadHash: digests.sha256.hex
        ))
        return S3UploadResult(versionID: response[header: "x-amz-version-id"], eTag: response[header: "etag"], partCount: 0)
    }

    /// Uploads a file in parts of `partSize`, `concurrency` at a time, with CRC-32 checksums: announced
    /// (`x-amz-checksum-algorithm: CRC32`), sent with each part, and listed per part on completion. On any
    /// failure the upload is aborted, so no parts are left behind (and billed), and the first error is thrown.
    public func uploadMultipart(fileAt path: String, bucket: String, key: String, metadata: [String: String] = [:], contentType: String) throws -> S3UploadResult {
        guard partSize >= 5 * Self.mebibyte else {
            throw AWSClientError.invalidArgument(name: "partSize", value: "\(partSize)", expected: "at least 5 MiB (5242880 bytes), S3's smallest part")
        }
        let size = try Self.fileSize(path)
        let partSize = max(self.partSize, (size + 9_999) / 10_000)
        let partCount = max(1, Int((size + partSize - 1) / partSize))

        var headers = Self.objectHeaders(metadata, contentType: contentType)
        headers["x-amz-checksum-algorithm"] = "CRC32"
        let created = try send(bucket, key: key, .init(
            operation: "CreateMultipartUpload", method: "POST", path: "", query: [("uploads", "")], headers: headers
        ))
        guard let uploadID = XML.value(of: "UploadId", in: String(decoding: created.body, as: UTF8.self)) else {
            throw AWSClientError.invalidResponse(operation: "CreateMultipartUpload", reason: "it holds no `UploadId`")
        }
        // Interrupted (Ctrl-C, SIGTERM), the upload is aborted so its parts are not left behind.
        let client = self
        let cleanup = Shutdown.onInterrupt { try? client.abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID) }
        defer { Shutdown.unregister(cleanup) }
        do {
            let uploaded = try uploadParts(path: path, size: size, partSize: partSize, partCount: partCount, bucket: bucket, key: key, uploadID: uploadID)
            let parts = uploaded.enumerated().map {
                "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\(XML.escape($0.element.eTag))</ETag><ChecksumCRC32>\($0.element.checksum)</ChecksumCRC32></Part>"
            }
            let body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\(parts.joined())</CompleteMultipartUpload>"
            let response = try send(bucket, key: key, .init(
                operation: "CompleteMultipartUpload", method: "POST", path: "", query: [("uploadId", uploadID)],
                headers: ["Content-Type": "application/xml"], body: .data(Data(body.utf8)), errorsMayCome200: true
            ))
            let text = String(decoding: response.body, as: UTF8.self)
            return S3UploadResult(versionID: response[header: "x-amz-version-id"], eTag: XML.value(of: "ETag", in: text) ?? response[header: "etag"], partCount: partCount)
        } catch {
            try? abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID)
            throw error
        }
    }

    /// Uploads every part, `concurrency` threads pulling part numbers from a shared counter; returns the
    /// ETags and Base64 CRC-32s in part order. After the first failure no new part starts.
    private func uploadParts(path: String, size: UInt64, partSize: UInt64, partCount: Int, bucket: String, key: String, uploadID: String) throws -> [UploadedPart] {
        struct Progress {
            var next = 1
            var eTags: [Int: UploadedPart] = [:]
            var failure: (any Error)?
        }
        let progress = Mutex(Progress())
        let finished = DispatchGroup()
        let client = self
        for _ in 0..<min(concurrency, partCount) {
            finished.enter()
            WorkerPool.shared.submit(parallelism: concurrency) {
                defer { finished.leave() }
                while let part = progress.withLock({ state -> Int? in
                    guard state.failure == nil, state.next <= partCount else { return nil }
                    defer { state.next += 1 }
                    return state.next
                }) {
                    let offset = UInt64(part - 1) * partSize
                    do {
                        let eTag = try client.uploadPart(path: path, offset: offset, length: min(partSize, size - offset),
                                                         number: part, bucket: bucket, key: key, uploadID: uploadID)
                        progress.withLock { $0.eTags[part] = eTag }
                    } catch {
                        progress.withLock { state in if state.failure == nil { state.failure = error } }
                    }
                }
            }
        }
        finished.wait()
        let state = progress.withLock { ($0.failure, $0.eTags) }
        if let failure = state.0 { throw failure }
        return (1...partCount).map { state.1[$0]! }
    }

    private struct UploadedPart {
        var eTag: String
        /// Base64 CRC-32, as sent in `x-amz-checksum-crc32`.
        var checksum: String
    }

    private func uploadPart(path: String, offset: UInt64, length: UInt64, number: Int, bucket: String, key: String, uploadID: String) throws -> UploadedPart {
        let digests = try ServiceClient.digestFileRange(path: path, offset: offset, length: length)
        let checksum = CRC32.base64(digests.crc32)
        let response = try send(bucket, key: key, .init(
            operation: "UploadPart", method: "PUT", path: "", query: [("partNumber", "\(number)"), ("uploadId", uploadID)],
            headers: ["x-amz-checksum-crc32": checksum], body: .file(path: path, offset: offset, length: length), payloadHash: digests.sha256.hex
        ))
        guard let eTag = response[header: "etag"] else {
            throw AWSClientError.invalidResponse(operation: "UploadPart", reason: "part \(number) came back without an `ETag`")
        }
        return UploadedPart(eTag: eTag, checksum: checksum)
    }

    public func abortMultipartUpload(bucket: String, key: String, uploadID: String) throws {
        _ = try send(bucket, key: key, .init(operation: "AbortMultipartUpload", method: "DELETE", path: "", query: [("uploadId", uploadID)]))
    }

    /// Uploads started in a bucket, of keys starting with `prefix`, and neither completed nor aborted (the first 1,000).
    public func listMultipartUploads(bucket: String, prefix: String? = nil) throws -> [S3MultipartUpload] {
        let query = [("uploads", "")] + (prefix.map { [("prefix", $0)] } ?? [])
        let response = try send(bucket, key: nil, .init(operation: "ListMultipartUploads", method: "GET", path: "", query: query))
        return XML.values(of: "Upload", in: String(decoding: response.body, as: UTF8.self)).compactMap { upload in
            guard let key = XML.value(of: "Key", in: upload), let id = XML.value(of: "UploadId", in: upload) else { return nil }
            return S3MultipartUpload(key: key, uploadID: id)
        }
    }

    // MARK: Buckets

    public func createBucket(_ bucket: String) throws {
        let region = service.signer.region
        let body = region == "us-east-1" ? HTTPBody.none : .data(Data(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(region)</LocationConstraint></CreateBucketConfiguration>".utf8))
        _ = try send(bucket, key: nil, .init(operation: "CreateBucket", method: "PUT", path: "", body: body))
    }

    public func enableVersioning(bucket: String) throws {
        let body = "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>"
        _ = try send(bucket, key: nil, .init(
            operation: "PutBucketVersioning", method: "PUT", path: "", query: [("versioning", "")],
            headers: ["Content-Type": "application/xml"], body: .data(Data(body.utf8))
        ))
    }

    // MARK: Plumbing

    /// Sends `call` to the bucket (and key): `/bucket/key` on a configured endpoint, `bucket.s3…/key` on
    /// AWS (path style there too for bucket names with dots, which would not match the TLS certificate).
    private func send(_ bucket: String, key: String?, _ call: ServiceClient.Call) throws -> HTTPResponse {
        var call = call
        var service = self.service
        let keyPath = key.map { "/" + SigV4Signer.percentEncode($0, keepSlash: true) } ?? "/"
        if pathStyle || bucket.contains(".") {
            call.path = "/\(SigV4Signer.percentEncode(bucket))" + (key == nil ? "" : keyPath)
        } else {
            service.endpoint = service.endpoint.replacingOccurrences(of: "https://", with: "https://\(bucket).")
            call.path = keyPath
        }
        return try service.send(call)
    }

    private static func objectHeaders(_ metadata: [String: String], contentType: String) -> [String: String] {
        var headers = ["Content-Type": contentType]
        for (name, value) in metadata { headers["x-amz-meta-\(name.lowercased())"] = value }
        return headers
    }

    static func fileSize(_ path: String) throws -> UInt64 {
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        } catch {
            throw AWSClientError.unreadableFile(path: path, reason: "it cannot be examined (\(error.localizedDescription))")
        }
    }
}
