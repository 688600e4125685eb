import Foundation

/// The Lambda layer API (rest-json, SigV4 service `lambda`).
public struct LambdaClient: Sendable {
    let service: ServiceClient

    public init(configuration: AWSConfiguration) {
        service = ServiceClient(
            signer: SigV4Signer(service: "lambda", region: configuration.region), configuration: configuration,
            endpoint: configuration.endpoint(for: "lambda").url
        )
    }

    /// Publishes a new version. Lambda always creates one, even for content it already has.
    ///
    /// Not idempotent, so it is sent once over a fresh connection and never retried here. When the
    /// request may have reached Lambda but no answer came back, this throws
    /// `AWSClientError.requestOutcomeUnknown`: look (ListLayerVersions) before publishing again.
    public func publishLayerVersion(_ request: PublishLayerVersionRequest) throws -> LayerVersion {
        try Self.validate(layerName: request.layerName)
        if let description = request.description, description.count > 256 {
            throw AWSClientError.invalidArgument(name: "Description", value: String(description.prefix(40)) + "…", expected: "at most 256 characters")
        }
        if let license = request.licenseInfo, license.count > 512 {
            throw AWSClientError.invalidArgument(name: "LicenseInfo", value: String(license.prefix(40)) + "…", expected: "at most 512 characters")
        }
        if request.compatibleRuntimes.count > 15 {
            throw AWSClientError.invalidArgument(name: "CompatibleRuntimes", value: request.compatibleRuntimes.joined(separator: ","), expected: "at most 15 runtimes")
        }
        for architecture in request.compatibleArchitectures where !["x86_64", "arm64"].contains(architecture) {
            throw AWSClientError.invalidArgument(name: "CompatibleArchitectures", value: architecture, expected: "`x86_64` or `arm64`")
        }
        var body: [String: Any] = [:]
        switch request.content {
        case .zipFile(let zip):
            body["Content"] = ["ZipFile": zip.base64EncodedString()]
        case .s3(let bucket, let key, let objectVersion):
            var content = ["S3Bucket": bucket, "S3Key": key]
            content["S3ObjectVersion"] = objectVersion
            body["Content"] = content
        }
        body["Description"] = request.description
        body["LicenseInfo"] = request.licenseInfo
        if !request.compatibleRuntimes.isEmpty { body["CompatibleRuntimes"] = request.compatibleRuntimes }
        if !request.compatibleArchitectures.isEmpty { body["CompatibleArchitectures"] = request.compatibleArchitectures }
        let response = try service.send(.init(
            operation: "PublishLayerVersion", method: "POST", path: Self.versionsPath(request.layerName),
            headers: ["Content-Type": "application/json"],
            body: .data(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])), idempotent: false
        ))
        return try decode(LayerVersion.self, from: response, operation: "PublishLayerVersion")
    }

    /// At most this many pages of 50 (10,000 versions) are read.
    public static let maximumListPages = 200

    /// Every version of a layer, newest first, following `NextMarker` to the last page.
    ///
    /// Stops with `AWSClientError.pagingStopped` after `maximumListPages` pages, when a marker comes back a
    /// second time, or when a page holds no versions yet carries a marker: signs of a server that would
    /// otherwise be asked forever.
    public func listLayerVersions(layerName: String, compatibleRuntime: String? = nil, compatibleArchitecture: String? = nil) throws -> [LayerVersion] {
        try Self.validate(layerName: layerName)
        struct Page: Decodable {
            var LayerVersions: [LayerVersion]?
            var NextMarker: String?
        }
        var versions: [LayerVersion] = []
        var marker: String?
        var seenMarkers: Set<String> = []
        var pages = 0
        while true {
            var query = [("MaxItems", "50")]
            if let marker { query.append(("Marker", marker)) }
            if let compatibleRuntime { query.append(("CompatibleRuntime", compatibleRuntime)) }
            if let compatibleArchitecture { query.append(("CompatibleArchitecture", compatibleArchitecture)) }
            let response = try service.send(.init(operation: "ListLayerVersions", method: "GET", path: Self.versionsPath(layerName), query: query))
            let page = try decode(Page.self, from: response, operation: "ListLayerVersions")
            pages += 1
            versions += page.LayerVersions ?? []
            marker = page.NextMarker.flatMap { $0.isEmpty ? nil : $0 }
            guard let marker else { break }
            let stop = { (reason: String) in AWSClientError.pagingStopped(operation: "ListLayerVersions", pages: pages, reason: reason) }
            if !seenMarkers.insert(marker).inserted {
                throw stop("the page marker `\(Redaction.excerpt(marker, limit: 100))` came back a second time")
            }
            if page.LayerVersions?.isEmpty ?? true {
                throw stop("page \(pages) holds no versions yet carries a `NextMarker`")
            }
            if pages == Self.maximumListPages {
                throw stop("layer `\(layerName)` has more than \(Self.maximumListPages) pages of 50 versions, and layerpack reads at most \(Self.maximumListPages * 50); delete old versions")
            }
        }
        return versions
    }

    /// One version, or nil when the layer or the version does not exist.
    public func getLayerVersion(layerName: String, version: Int) throws -> LayerVersion? {
        try Self.validate(layerName: layerName)
        let response = try service.send(.init(
            operation: "GetLayerVersion", method: "GET", path: Self.versionsPath(layerName) + "/\(version)", acceptedStatuses: [404]
        ))
        return response.statusCode == 404 ? nil : try decode(LayerVersion.self, from: response, operation: "GetLayerVersion")
    }

    /// One version by its ARN, or nil when it does not exist.
    public func getLayerVersion(arn: String) throws -> LayerVersion? {
        let response = try service.send(.init(
            operation: "GetLayerVersionByArn", method: "GET", path: "/2018-10-31/layers",
            query: [("find", "LayerVersion"), ("Arn", arn)], acceptedStatuses: [404]
        ))
        return response.statusCode == 404 ? nil : try decode(LayerVersion.self, from: response, operation: "GetLayerVersionByArn")
    }

    /// Deletes a version; deleting one that is already gone succeeds, as in Lambda.
    public func deleteLayerVersion(layerName: String, version: Int) throws {
        try Self.validate(layerName: layerName)
        _ = try service.send(.init(operation: "DeleteLayerVersion", method: "DELETE", path: Self.versionsPath(layerName) + "/\(version)"))
    }

    /// Lets `principal` (an account id or `*`, with `organizationID` only with `*`) use a version.
    public func addLayerVersionPermission(layerName: String, version: Int, statementID: String, principal: String, organizationID: String?) throws {
        try Self.validate(layerName: layerName)
        var body = ["StatementId": statementID, "Action": "lambda:GetLayerVersion", "Principal": principal]
        body["OrganizationId"] = organizationID
        _ = try service.send(.init(
            operation: "AddLayerVersionPermission", method: "POST", path: Self.versionsPath(layerName) + "/\(version)/policy",
            headers: ["Content-Type": "application/json"], body: .data(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
        ))
    }

    /// The statement ids of a version's policy; empty when it has none (or the version is gone).
    public func layerVersionPolicyStatementIDs(layerName: String, version: Int) throws -> [String] {
        try Self.validate(layerName: layerName)
        let response = try service.send(.init(
            operation: "GetLayerVersionPolicy", method: "GET", path: Self.versionsPath(layerName) + "/\(version)/policy", acceptedStatuses: [404]
        ))
        guard response.statusCode != 404 else { return [] }
        struct Answer: Decodable { var Policy: String? }
        struct Policy: Decodable {
            struct Statement: Decodable { var Sid: String? }
            var Statement: [Statement]?
        }
        let answer = try decode(Answer.self, from: response, operation: "GetLayerVersionPolicy")
        guard let text = answer.Policy, !text.isEmpty else { return [] }
        do {
            return try JSONDecoder().decode(Policy.self, from: Data(text.utf8)).Statement?.compactMap(\.Sid) ?? []
        } catch {
            throw AWSClientError.invalidResponse(operation: "GetLayerVersionPolicy", reason: "the policy is not a JSON policy document")
        }
    }

    /// Removes one statement from a version's policy.
    public func removeLayerVersionPermission(layerName: String, version: Int, statementID: String) throws {
        try Self.validate(layerName: layerName)
        _ = try service.send(.init(
            operation: "RemoveLayerVersionPermission", method: "DELETE",
            path: Self.versionsPath(layerName) + "/\(version)/policy/\(SigV4Signer.percentEncode(statementID))"
        ))
    }

    static func versionsPath(_ layerName: String) -> String {
        "/2018-10-31/layers/\(SigV4Signer.percentEncode(layerName))/versions"
    }

    /// 1–140 characters of `[a-zA-Z0-9-_]`, or a layer ARN.
    static func validate(layerName: String) throws {
        let allowed = layerName.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
        let isARN = layerName.hasPrefix("arn:") && layerName.contains(":layer:") && layerName.count <= 140
        guard isARN || (allowed && (1...140).contains(layerName.count)) else {
            throw AWSClientError.invalidArgument(name: "LayerName", value: layerName, expected: "1 to 140 letters, digits, `-` and `_`, or a layer ARN")
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, from response: HTTPResponse, operation: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: response.body)
        } catch {
            throw AWSClientError.invalidResponse(operation: operation, reason: "the JSON does not match (\(error))")
        }
    }
}
