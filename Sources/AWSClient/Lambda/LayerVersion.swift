import Foundation

/// A published Lambda layer version, as GetLayerVersion and PublishLayerVersion describe it.
/// ListLayerVersions describes versions without `content`.
public struct LayerVersion: Sendable, Equatable, Codable {
    public var layerArn: String
    public var layerVersionArn: String
    public var version: Int
    /// ISO 8601, as AWS sends it (`2026-11-25T11:18:53.618+0000`).
    public var createdDate: String?
    public var description: String?
    public var licenseInfo: String?
    public var compatibleRuntimes: [String]
    public var compatibleArchitectures: [String]
    /// Nil in ListLayerVersions results.
    public var content: Content?

    public struct Content: Sendable, Equatable, Codable {
        /// A presigned URL to download the zip, valid for ten minutes.
        public var location: String?
        /// Base64 of the zip's SHA-256, like Terraform's `filebase64sha256()`.
        public var codeSha256: String?
        public var codeSize: Int?
        public var signingProfileVersionArn: String?
        public var signingJobArn: String?

        public init(location: String? = nil, codeSha256: String? = nil, codeSize: Int? = nil, signingProfileVersionArn: String? = nil, signingJobArn: String? = nil) {
            self.location = location
            self.codeSha256 = codeSha256
            self.codeSize = codeSize
            self.signingProfileVersionArn = signingProfileVersionArn
            self.signingJobArn = signingJobArn
        }

        enum CodingKeys: String, CodingKey {
            case location = "Location", codeSha256 = "CodeSha256", codeSize = "CodeSize"
            case signingProfileVersionArn = "SigningProfileVersionArn", signingJobArn = "SigningJobArn"
        }
    }

    enum CodingKeys: String, CodingKey {
        case layerArn = "LayerArn", layerVersionArn = "LayerVersionArn", version = "Version", createdDate = "CreatedDate"
        case description = "Description", licenseInfo = "LicenseInfo", compatibleRuntimes = "CompatibleRuntimes"
        case compatibleArchitectures = "CompatibleArchitectures", content = "Content"
    }

    public init(
        layerArn: String, layerVersionArn: String, version: Int, createdDate: String? = nil, description: String? = nil,
        licenseInfo: String? = nil, compatibleRuntimes: [String] = [], compatibleArchitectures: [String] = [], content: Content? = nil
    ) {
        self.layerArn = layerArn
        self.layerVersionArn = layerVersionArn
        self.version = version
        self.createdDate = createdDate
        self.description = description
        self.licenseInfo = licenseInfo
        self.compatibleRuntimes = compatibleRuntimes
        self.compatibleArchitectures = compatibleArchitectures
        self.content = content
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        layerVersionArn = try container.decode(String.self, forKey: .layerVersionArn)
        version = try container.decode(Int.self, forKey: .version)
        // List items carry no LayerArn: it is the version ARN without its `:version` suffix.
        layerArn = try container.decodeIfPresent(String.self, forKey: .layerArn)
            ?? String(layerVersionArn[..<(layerVersionArn.lastIndex(of: ":") ?? layerVersionArn.endIndex)])
        createdDate = try container.decodeIfPresent(String.self, forKey: .createdDate)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        licenseInfo = try container.decodeIfPresent(String.self, forKey: .licenseInfo)
        compatibleRuntimes = try container.decodeIfPresent([String].self, forKey: .compatibleRuntimes) ?? []
        compatibleArchitectures = try container.decodeIfPresent([String].self, forKey: .compatibleArchitectures) ?? []
        content = try container.decodeIfPresent(Content.self, forKey: .content)
    }
}

/// What PublishLayerVersion creates a version from.
public struct PublishLayerVersionRequest: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        /// The zip itself, sent base64-encoded (up to 50 MB zipped).
        case zipFile(Data)
        /// A zip already in S3, in the same region.
        case s3(bucket: String, key: String, objectVersion: String? = nil)
    }

    public var layerName: String
    public var content: Content
    public var description: String?
    public var licenseInfo: String?
    public var compatibleRuntimes: [String]
    public var compatibleArchitectures: [String]

    public init(
        layerName: String, content: Content, description: String? = nil, licenseInfo: String? = nil,
        compatibleRuntimes: [String] = [], compatibleArchitectures: [String] = []
    ) {
        self.layerName = layerName
        self.content = content
        self.description = description
        self.licenseInfo = licenseInfo
        self.compatibleRuntimes = compatibleRuntimes
        self.compatibleArchitectures = compatibleArchitectures
    }
}
