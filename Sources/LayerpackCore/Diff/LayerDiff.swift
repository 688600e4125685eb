import AWSClient
import Foundation

/// `layerpack diff`: the local sources against a published version, zip path by zip path.
public struct DiffReport: Sendable, Encodable {
    public let arn: String
    public let version: Int
    /// Where the published zip was read from: `s3://bucket/key` or `Content.Location`.
    public let readFrom: String
    public let added: [String]
    public let removed: [String]
    /// Paths in both whose size, CRC-32 or mode differ.
    public let changed: [String]
    /// Bytes of the published zip that were read (its central directory, not its data).
    public let bytesRead: Int64

    public var isEqual: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }

    enum CodingKeys: String, CodingKey {
        case arn, version, readFrom = "read_from", added, removed, changed, equal, bytesRead = "bytes_read"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(arn, forKey: .arn)
        try container.encode(version, forKey: .version)
        try container.encode(readFrom, forKey: .readFrom)
        try container.encode(added, forKey: .added)
        try container.encode(removed, forKey: .removed)
        try container.encode(changed, forKey: .changed)
        try container.encode(isEqual, forKey: .equal)
        try container.encode(bytesRead, forKey: .bytesRead)
    }
}

public enum LayerDiff {
    /// Compares `plan`'s sources with `version` (default: the managed one — the state's, else the
    /// newest) in `aws.region`. The published zip's central directory is read by HTTP range requests:
    /// from the S3 object the state recorded for that version, signed, else from GetLayerVersion's
    /// presigned `Content.Location`. Local CRC-32s come from the stat cache where files are unchanged.
    public static func run(_ plan: LayerPlan, aws: AWSConfiguration, version requested: Int? = nil, options: BuildOptions = BuildOptions()) throws -> DiffReport {
        let config = plan.config
        let lambda = LambdaClient(configuration: aws)
        let state = try PublishState.read(for: config)
        let version: LayerVersion
        if let requested {
            guard let found = try lambda.getLayerVersion(layerName: config.layerName, version: requested) else {
                throw PublishError.layerVersionNotFound(arn: "\(config.layerName):\(requested) in \(aws.region)")
            }
            version = found
        } else {
            let publisher = Publisher(config: config, aws: aws)
            let observation = try publisher.observe(PublishTarget(layerName: config.layerName, region: aws.region),
                                                    artifact: PlannedArtifact(sourceCodeHash: "", sourceCodeSize: nil, filename: nil), state: state)
            guard let managed = observation.recordedVersion ?? observation.newestRun.first else {
                throw DiffError.nothingPublished(layerName: config.layerName, region: aws.region)
            }
            version = managed
        }
        let record = state?.records(in: aws.region).first { $0.version == version.version && $0.arn == version.layerVersionArn }
        let reader = try RangeReader(version: version, s3: record?.s3Location, aws: aws)
        let (tail, size) = try reader.tail(ZipDirectory.tailLength)
        let directory = try ZipDirectory.read(tail: [UInt8](tail), size: size) { offset, length in try reader.read(offset: offset, length: length) }
        let published = Dictionary(directory.entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

        // Local CRC-32s on worker threads, from the stat cache where a file is unchanged.
        let contents = ContentReader(plan: plan, options: options)
        let entries = plan.entries
        let prefetcher = Prefetcher(costs: entries.map(\.size), jobs: options.jobs, budget: .max) { index in
            try contents.fingerprint(at: index).crc
        }
        defer { prefetcher.finish() }
        var changed: [String] = []
        for (index, entry) in entries.enumerated() {
            let crc = try prefetcher.take(index)
            if let other = published[entry.zipPath], other.crc != crc || other.size != entry.size || other.mode != entry.mode {
                changed.append(entry.zipPath)
            }
        }
        prefetcher.finish()
        contents.finish()
        let local = Set(entries.map(\.zipPath))
        return DiffReport(
            arn: version.layerVersionArn, version: version.version, readFrom: reader.description,
            added: entries.map(\.zipPath).filter { published[$0] == nil },
            removed: directory.entries.map(\.name).filter { !local.contains($0) }.sorted(by: bytewiseLess),
            changed: changed, bytesRead: reader.bytesRead)
    }
}

/// Reads ranges of a published zip: from S3 (signed) or from a presigned URL (as is, unsigned).
final class RangeReader: CustomStringConvertible, @unchecked Sendable {
    private enum Source {
        case s3(S3Client, S3Location)
        case url(String, any HTTPTransport)
    }

    private let source: Source
    private(set) var bytesRead: Int64 = 0

    init(version: LayerVersion, s3: S3Location?, aws: AWSConfiguration) throws {
        if let s3 {
            source = .s3(S3Client(configuration: aws), s3)
        } else if let location = version.content?.location, location.hasPrefix("https://") || location.hasPrefix("http://") {
            source = .url(location, aws.transport)
        } else {
            throw DiffError.noWayToRead(arn: version.layerVersionArn, location: version.content?.location)
        }
    }

    var description: String {
        switch source {
        case .s3(_, let location): return "s3://\(location.bucket)/\(location.key)"
        case .url: return "Content.Location"
        }
    }

    /// The last `length` bytes (or all, when the zip is smaller) and the zip's size.
    func tail(_ length: Int64) throws -> (Data, Int64) { try get("bytes=-\(length)") }

    func read(offset: Int64, length: Int64) throws -> Data {
        guard length > 0 else { return Data() }
        return try get("bytes=\(offset)-\(offset + length - 1)").0
    }

    private func get(_ range: String) throws -> (Data, Int64) {
        let answer: (Data, Int64)
        switch source {
        case .s3(let client, let location):
            answer = try client.getObjectRange(bucket: location.bucket, key: location.key, versionID: location.objectVersion, range: range)
        case .url(let url, let transport):
            let response = try transport.send(HTTPRequest(method: "GET", url: url, headers: ["Range": range], timeout: .seconds(60)))
            guard response.isSuccess else {
                throw DiffError.locationRefused(status: response.statusCode)
            }
            answer = (response.body, try S3Client.totalSize(response, operation: "GET Content.Location"))
        }
        bytesRead += Int64(answer.0.count)
        return answer
    }
}

public enum DiffError: Error, CustomStringConvertible, Equatable {
    case nothingPublished(layerName: String, region: String)
    case noWayToRead(arn: String, location: String?)
    case locationRefused(status: Int)

    public var description: String {
        switch self {
        case .nothingPublished(let layerName, let region):
            return "No version of `\(layerName)` is published in \(region) to compare with. Publish one, or name one with `--version`."
        case .noWayToRead(let arn, let location):
            return "`\(arn)` cannot be read: the state records no S3 object for it, and Lambda's `Content.Location` is `\(location ?? "absent")`, not an https URL."
        case .locationRefused(let status):
            return "Lambda's `Content.Location` for the version answered HTTP \(status) (the presigned URL lasts ten minutes; run diff again)."
        }
    }
}
