import AWSClient
import Foundation
import Hashing
import Testing
import TestSupport

/// CRC-32 checksums on uploads, as S3 documents them (Object Lock buckets require one). moto does not
/// check them, so the requests themselves are inspected.
@Suite struct S3UploadChecksums {
    func client(_ answers: [StubTransport.Answer]) -> (S3Client, StubTransport) {
        let transport = StubTransport(answers)
        let configuration = AWSConfiguration(
            region: "us-east-1", credentials: .fixed(AWSCredentials(accessKeyID: "A", secretAccessKey: "B")), configuredEndpoints: ["s3": "http://127.0.0.1:9"],
            transport: transport)
        return (S3Client(configuration: configuration, multipartThreshold: 5 << 20, partSize: 5 << 20, concurrency: 1), transport)
    }

    @Test func putObjectCarriesTheCRC32OfTheFile() throws {
        let file = try TemporaryFile(contents: "123456789")
        let (s3, transport) = client([.response(HTTPResponse(statusCode: 200, headers: ["ETag": "\"e\""]))])
        _ = try s3.upload(fileAt: file.path, bucket: "bucket", key: "layer.zip", contentType: "application/zip")
        let request = try #require(transport.requests.first)
        #expect(request.method == "PUT" && request.headers["x-amz-checksum-crc32"] == "y/Q5Jg==")
        #expect(request.headers["Authorization"]?.contains("x-amz-checksum-crc32") == true, "the checksum is signed")
    }

    @Test func multipartAnnouncesSendsAndListsEachPartsCRC32() throws {
        let file = try TemporaryFile(size: 11 << 20)
        let created = HTTPResponse(statusCode: 200, body: Data("<InitiateMultipartUploadResult><UploadId>upload-1</UploadId></InitiateMultipartUploadResult>".utf8))
        let part = { (n: Int) in StubTransport.Answer.response(HTTPResponse(statusCode: 200, headers: ["ETag": "\"etag-\(n)\""])) }
        let completed = HTTPResponse(statusCode: 200, body: Data("<CompleteMultipartUploadResult><ETag>\"whole-3\"</ETag></CompleteMultipartUploadResult>".utf8))
        let (s3, transport) = client([.response(created), part(1), part(2), part(3), .response(completed)])
        let result = try s3.upload(fileAt: file.path, bucket: "bucket", key: "layer.zip", contentType: "application/zip")
        #expect(result.partCount == 3)

        let requests = transport.requests
        try #require(requests.count == 5)
        #expect(requests[0].url.hasSuffix("?uploads=") && requests[0].headers["x-amz-checksum-algorithm"] == "CRC32")
        let contents = try Data(contentsOf: URL(fileURLWithPath: file.path))
        var expected: [String] = []
        for (index, range) in [0..<(5 << 20), (5 << 20)..<(10 << 20), (10 << 20)..<(11 << 20)].enumerated() {
            let checksum = CRC32.base64(contents[range].withUnsafeBytes { CRC32.checksum($0) })
            expected.append(checksum)
            #expect(requests[index + 1].url.contains("partNumber=\(index + 1)"))
            #expect(requests[index + 1].headers["x-amz-checksum-crc32"] == checksum)
        }
        guard case .data(let body) = requests[4].body else { Issue.record("CompleteMultipartUpload has no body"); return }
        let xml = String(decoding: body, as: UTF8.self)
        for (index, checksum) in expected.enumerated() {
            #expect(xml.contains("<Part><PartNumber>\(index + 1)</PartNumber><ETag>&quot;etag-\(index + 1)&quot;</ETag><ChecksumCRC32>\(checksum)</ChecksumCRC32></Part>"), "\(xml)")
        }
    }
}
