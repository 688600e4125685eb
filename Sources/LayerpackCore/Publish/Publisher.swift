import AWSClient
import Foundation
import Hashing

/// What `publish` did or, with `--dry-run`, would do.
public struct PublishReport: Sendable {
    /// True when a new layer version was created by this run.
    public let published: Bool
    public let dryRun: Bool
    /// Why a version was (or would be) published, or why not.
    public let reason: String
    /// The version layerpack now manages: the new one, or the unchanged one. Nil only in a dry run
    /// for a layer with no version yet.
    public let layerVersion: LayerVersion?
    public let sourceCodeHash: String
    public let filename: String?
    public let s3Bucket: String?
    public let s3Key: String?
    public let s3ObjectVersion: String?
    /// The replaced version deleted after publishing (unless `skip_destroy`).
    public let deletedVersion: Int?
    public let warnings: [String]

    /// `name=value` pairs of the seed's attributes and the package's location, for `--json` and `GITHUB_OUTPUT`.
    public var outputs: [(String, String?)] {
        [
            ("published", String(published)),
            ("reason", reason),
            ("arn", layerVersion?.layerVersionArn),
            ("layer_arn", layerVersion?.layerArn),
            ("version", layerVersion.map { String($0.version) }),
            ("created_date", layerVersion?.createdDate),
            ("source_code_hash", sourceCodeHash),
            ("source_code_size", layerVersion?.content?.codeSize.map(String.init)),
            ("signing_job_arn", layerVersion?.content?.signingJobArn),
            ("signing_profile_version_arn", layerVersion?.content?.signingProfileVersionArn),
            ("filename", filename),
            ("s3_bucket", s3Bucket),
            ("s3_key", s3Key),
            ("s3_object_version", s3ObjectVersion),
        ]
    }
}

public struct PublishOptions: Sendable {
    public var dryRun = false
    /// Where the zip is (default: the config's `filename`).
    public var output: String?
    /// How the zip is built or checked when publish needs to.
    public var build: BuildOptions
    /// Called with progress lines (stderr in the CLI).
    public var progress: @Sendable (String) -> Void = { _ in }

    public init(dryRun: Bool = false, output: String? = nil, build: BuildOptions = BuildOptions(),
                progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.dryRun = dryRun
        self.output = output
        self.build = build
        self.progress = progress
    }
}

/// `layerpack publish`: build if needed, upload to S3 if configured, and publish a layer version only
/// when its content or metadata differ from the version layerpack manages.
public struct Publisher: Sendable {
    /// Lambda's limit for a zip sent in the PublishLayerVersion request itself.
    public static let directUploadLimit: Int64 = 50 * 1024 * 1024
    /// The S3 object metadata key holding the zip's base64 SHA-256.
    static let hashMetadataKey = "layerpack-sha256"

    let config: LayerConfig
    let aws: AWSConfiguration
    let options: PublishOptions

    public init(config: LayerConfig, aws: AWSConfiguration, options: PublishOptions = PublishOptions()) {
        self.config = config
        self.aws = aws
        var options = options
        if options.dryRun { options.build.readOnlyCache = true }
        self.options = options
    }

    public func run() throws -> PublishReport {
        let artifact = try prepareArtifact()
        if config.s3Bucket == nil, let size = artifact.size, size > Publisher.directUploadLimit {
            throw PublishError.directUploadTooLarge(filename: artifact.filename ?? config.filename, size: size, limit: Publisher.directUploadLimit)
        }
        // Runs on this machine publishing this layer from this folder take turns; across machines,
        // publishing converges through what Lambda holds (see `adoptable` and `keepingLowestDuplicate`).
        let turn = options.dryRun ? nil : try PublishTurn(config: config, waiting: options.progress)
        defer { turn?.release() }
        let lambda = LambdaClient(configuration: aws)
        let managed = try managedVersion(lambda, hash: artifact.hash)
        let current = managed?.version
        let changes = current.map { differences(from: $0, hash: artifact.hash) } ?? ["no version of `\(config.layerName)` is published yet"]
        // Where the zip goes in S3 when a version is published; its object version is known after the upload.
        let target = config.s3Bucket.map { S3Location(bucket: $0, key: config.s3Key ?? defaultS3Key(hash: artifact.hash), objectVersion: nil) }

        if let current, changes.isEmpty {
            let reason = "version \(current.version) already has this content and metadata; nothing to publish"
            options.progress("\(config.layerName) is unchanged: \(reason).")
            // Where that version came from is known only when the state recorded it.
            let source = managed?.state.flatMap(S3Location.init(recordedIn:))
            if !options.dryRun { try record(current, hash: artifact.hash, s3: source) }
            return report(published: false, reason: reason, version: current, artifact: artifact, s3: source)
        }
        // A newer version than the state's may already hold this content: published by a run that was
        // killed before it recorded it, or by another machine. It is adopted rather than published again.
        if managed?.state != nil, let newest = try newestVersion(lambda), newest.version != current?.version,
           differences(from: newest, hash: artifact.hash).isEmpty {
            let newest = try lowestOfSameRun(newest, hash: artifact.hash, lambda: lambda)
            let reason = "version \(newest.version), newer than the recorded version \(current?.version ?? 0), already has this content and metadata; adopting it"
            options.progress("\(config.layerName) is already published: \(reason).")
            if options.dryRun {
                return report(published: false, reason: "would adopt: " + reason, version: newest, artifact: artifact, s3: nil)
            }
            let outcome = retire(current, keeping: newest, lambda: lambda)
            try record(newest, hash: artifact.hash, s3: nil)
            return PublishReport(published: false, dryRun: false, reason: reason, layerVersion: newest, sourceCodeHash: artifact.hash,
                                 filename: artifact.filename, s3Bucket: nil, s3Key: nil, s3ObjectVersion: nil,
                                 deletedVersion: outcome.deleted, warnings: outcome.warnings)
        }
        let reason = changes.joined(separator: "; ")
        if options.dryRun {
            options.progress("Would publish a new version of \(config.layerName): \(reason).")
            return report(published: false, reason: "would publish: " + reason, version: current, artifact: artifact, s3: target)
        }
        options.progress("Publishing a new version of \(config.layerName): \(reason).")

        let content: PublishLayerVersionRequest.Content
        var uploaded: S3Location?
        if let target {
            let objectVersion = try artifact.filename.map { try upload($0, to: target, hash: artifact.hash) } ?? config.s3ObjectVersion
            uploaded = S3Location(bucket: target.bucket, key: target.key, objectVersion: objectVersion)
            content = .s3(bucket: target.bucket, key: target.key, objectVersion: objectVersion)
        } else {
            let zip = artifact.filename ?? config.filename
            do { content = .zipFile(try Data(contentsOf: URL(fileURLWithPath: zip))) } catch {
                throw BuildError.unreadable(path: zip, reason: error.localizedDescription)
            }
        }
        let request = PublishLayerVersionRequest(
            layerName: config.layerName, content: content, description: config.description, licenseInfo: config.licenseInfo,
            compatibleRuntimes: config.compatibleRuntimes, compatibleArchitectures: config.compatibleArchitectures)
        let base = current?.version ?? 0
        let published = try keepingLowestDuplicate(
            try publishOnce(request, lambda: lambda, hash: artifact.hash, after: base), hash: artifact.hash, after: base, lambda: lambda)
        options.progress("Published \(published.layerVersionArn).")

        let outcome = retire(current, keeping: published, lambda: lambda)
        try record(published, hash: artifact.hash, s3: uploaded)
        return PublishReport(published: true, dryRun: false, reason: reason, layerVersion: published, sourceCodeHash: artifact.hash,
                             filename: artifact.filename, s3Bucket: uploaded?.bucket, s3Key: uploaded?.key, s3ObjectVersion: uploaded?.objectVersion,
                             deletedVersion: outcome.deleted, warnings: outcome.warnings)
    }

    /// Deletes the version `kept` replaces, unless `skip_destroy`. A failure is a warning: the new
    /// version is already published and about to be recorded.
    func retire(_ replaced: LayerVersion?, keeping kept: LayerVersion, lambda: LambdaClient) -> (deleted: Int?, warnings: [String]) {
        guard let replaced, replaced.version != kept.version, !config.skipDestroy else { return (nil, []) }
        do {
            try lambda.deleteLayerVersion(layerName: config.layerName, version: replaced.version)
            options.progress("Deleted the replaced version \(replaced.version) (set `skip_destroy: true` to keep old versions).")
            return (replaced.version, [])
        } catch {
            return (nil, ["Version \(kept.version) is in place, but deleting the replaced version \(replaced.version) failed: \(error)"])
        }
    }

    /// Where a layer's zip is in S3.
    struct S3Location {
        let bucket: String
        let key: String
        let objectVersion: String?
    }

    // MARK: - The zip

    struct Artifact {
        let hash: String
        let size: Int64?
        /// The local zip; nil when publishing an existing S3 object.
        let filename: String?
    }

    /// The zip and its hash: the one on disk when it still matches the sources and the lock, else a
    /// fresh build (in a dry run, its hash only). Without sources, the config's `source_code_hash`.
    func prepareArtifact() throws -> Artifact {
        guard !config.sources.isEmpty else {
            guard let hash = config.sourceCodeHash else { throw PublishError.sourceCodeHashNeeded(file: config.file) }
            return Artifact(hash: hash, size: nil, filename: nil)
        }
        let zip = options.output.map { absolutePath($0, in: FileManager.default.currentDirectoryPath) } ?? config.filename
        let plan = try LayerPlan(config: config, ownFiles: [zip, options.build.cacheDirectory])
        if let lock = try LockFile.read(at: config.lockFilePath), FileManager.default.fileExists(atPath: zip),
           try LayerCheck.run(plan, options: options.build).isClean, try SHA256.hash(fileAt: zip).base64 == lock.sourceCodeHash {
            options.progress("\(config.relativePath(zip)) matches the sources and \(config.relativePath(config.lockFilePath)); using it.")
            return Artifact(hash: lock.sourceCodeHash, size: lock.sourceCodeSize, filename: zip)
        }
        if options.dryRun {
            let result = try LayerBuilder.dryRun(plan, options: options.build)
            return Artifact(hash: result.sourceCodeHash, size: result.sourceCodeSize, filename: zip)
        }
        options.progress("Building \(config.relativePath(zip)).")
        let result = try LayerBuilder.build(plan, output: options.output, options: options.build)
        return Artifact(hash: result.sourceCodeHash, size: result.sourceCodeSize, filename: result.filename)
    }

    // MARK: - The version to compare with

    /// The version in the state file if it still exists (in the same region and account), with that
    /// state; else the newest published version; else nil.
    /// (With no state, the newest version, or when it holds this content, the lowest of the versions
    /// holding it since: see `lowestOfSameRun`.)
    func managedVersion(_ lambda: LambdaClient, hash: String) throws -> (version: LayerVersion, state: PublishState?)? {
        if let state = try PublishState.read(for: config), state.layerName == config.layerName,
           let recorded = try? LayerVersionARN(state.arn), recorded.region == aws.region,
           let version = try lambda.getLayerVersion(layerName: config.layerName, version: state.version),
           (try? LayerVersionARN(version.layerVersionArn))?.account == recorded.account {
            return (version, state)
        }
        guard let newest = try newestVersion(lambda) else { return nil }
        return (differences(from: newest, hash: hash).isEmpty ? try lowestOfSameRun(newest, hash: hash, lambda: lambda) : newest, nil)
    }

    func newestVersion(_ lambda: LambdaClient) throws -> LayerVersion? {
        guard let newest = try lambda.listLayerVersions(layerName: config.layerName).max(by: { $0.version < $1.version }) else {
            return nil
        }
        return try lambda.getLayerVersion(layerName: config.layerName, version: newest.version)
    }

    /// Why `version` differs from what the config and the zip ask for; empty when it does not.
    func differences(from version: LayerVersion, hash: String) -> [String] {
        var changes: [String] = []
        let published = version.content?.codeSha256 ?? "unknown"
        if published != hash { changes.append("the content changed (version \(version.version) has \(published), the zip has \(hash))") }
        if (version.description ?? "") != (config.description ?? "") { changes.append("`description` changed") }
        if (version.licenseInfo ?? "") != (config.licenseInfo ?? "") { changes.append("`license_info` changed") }
        if Set(version.compatibleRuntimes) != Set(config.compatibleRuntimes) { changes.append("`compatible_runtimes` changed") }
        if Set(version.compatibleArchitectures) != Set(config.compatibleArchitectures) { changes.append("`compatible_architectures` changed") }
        return changes
    }

    // MARK: - S3

    func defaultS3Key(hash: String) -> String {
        let hex = Data(base64Encoded: hash).map { Digest(bytes: Array($0)).hex } ?? hash
        return "layerpack/\(config.layerName)/\(hex).zip"
    }

    /// Uploads the zip unless the object already holds this hash; returns the object's version id.
    /// Then aborts the unfinished multipart uploads of this key that killed runs left behind (S3 bills
    /// for their parts); only once the object holds this zip, so a live upload of the same zip by a
    /// concurrent run can only be aborted when its work is already done (it then finds the object in
    /// place and carries on).
    func upload(_ zip: String, to target: S3Location, hash: String) throws -> String? {
        let (bucket, key) = (target.bucket, target.key)
        let s3 = S3Client(configuration: aws)
        let objectVersion: String?
        if let existing = try s3.headObject(bucket: bucket, key: key), existing.metadata[Publisher.hashMetadataKey] == hash {
            options.progress("s3://\(bucket)/\(key) already holds this zip; not uploading it again.")
            objectVersion = existing.versionID
        } else {
            options.progress("Uploading to s3://\(bucket)/\(key).")
            do {
                objectVersion = try s3.upload(fileAt: zip, bucket: bucket, key: key, metadata: [Publisher.hashMetadataKey: hash],
                                              contentType: "application/zip").versionID
            } catch AWSClientError.service(let error) where error.code == "NoSuchUpload" {
                // Another run finished uploading this zip and aborted ours as abandoned.
                guard let existing = try s3.headObject(bucket: bucket, key: key), existing.metadata[Publisher.hashMetadataKey] == hash else {
                    throw AWSClientError.service(error)
                }
                objectVersion = existing.versionID
            }
        }
        for abandoned in try s3.listMultipartUploads(bucket: bucket, prefix: key) where abandoned.key == key {
            options.progress("Aborting an unfinished upload of s3://\(bucket)/\(key) that an interrupted run left behind.")
            try s3.abortMultipartUpload(bucket: bucket, key: key, uploadID: abandoned.uploadID)
        }
        return objectVersion
    }

    // MARK: - Publishing exactly once

    /// Publishes, and after any failure that may hide a version created anyway (a lost response, a
    /// server error, throttling) looks for that version before trying again, so the same content is
    /// never published twice.
    func publishOnce(_ request: PublishLayerVersionRequest, lambda: LambdaClient, hash: String, after previous: Int) throws -> LayerVersion {
        var failures = 0
        while true {
            do {
                return try lambda.publishLayerVersion(request)
            } catch let error as AWSClientError where error.isRetryable || error.requestMayHaveReachedServer {
                failures += 1
                options.progress("PublishLayerVersion did not answer cleanly (\(error)); checking whether it was published.")
                if let newest = try newestVersion(lambda), newest.version > previous, differences(from: newest, hash: hash).isEmpty {
                    return newest
                }
                guard failures < aws.retryPolicy.maxAttempts else {
                    throw PublishError.publishNotConfirmed(layerName: config.layerName, attempts: failures, lastError: "\(error)")
                }
                aws.retryPolicy.sleep(aws.retryPolicy.delay(afterFailedAttempts: failures, error: error))
            }
        }
    }

    /// When publishers on other machines published the same change at the same time, every one of
    /// them keeps the lowest version holding it: each deletes its own duplicate and reports that one.
    func keepingLowestDuplicate(_ published: LayerVersion, hash: String, after base: Int, lambda: LambdaClient) throws -> LayerVersion {
        let kept = try lowestOfSameRun(published, hash: hash, lambda: lambda)
        guard kept.version != published.version else { return published }
        options.progress("Version \(kept.version) was published with the same content and metadata meanwhile; keeping it and deleting the duplicate version \(published.version).")
        try lambda.deleteLayerVersion(layerName: config.layerName, version: published.version)
        return kept
    }

    /// The lowest of the versions that hold this content and metadata, counting down from `top` (which
    /// does) until a version that does not. Versions are numbered in the order Lambda created them, so
    /// every run that sees the same versions agrees on it, whichever of the duplicates it saw first.
    func lowestOfSameRun(_ top: LayerVersion, hash: String, lambda: LambdaClient) throws -> LayerVersion {
        var lowest = top
        let below = try lambda.listLayerVersions(layerName: config.layerName).map(\.version).filter { $0 < top.version }.sorted(by: >)
        for number in below {
            // A version deleted since the listing is passed over.
            guard let version = try lambda.getLayerVersion(layerName: config.layerName, version: number) else { continue }
            guard differences(from: version, hash: hash).isEmpty else { break }
            lowest = version
        }
        return lowest
    }

    // MARK: - State and report

    func record(_ version: LayerVersion, hash: String, s3: S3Location?) throws {
        try PublishState(
            layerName: config.layerName, layerArn: version.layerArn, arn: version.layerVersionArn, version: version.version,
            createdDate: version.createdDate, sourceCodeHash: version.content?.codeSha256 ?? hash, sourceCodeSize: version.content?.codeSize,
            s3Bucket: s3?.bucket, s3Key: s3?.key, s3ObjectVersion: s3?.objectVersion
        ).write(for: config)
    }

    func report(published: Bool, reason: String, version: LayerVersion?, artifact: Artifact, s3: S3Location?) -> PublishReport {
        PublishReport(published: published, dryRun: options.dryRun, reason: reason, layerVersion: version, sourceCodeHash: artifact.hash,
                      filename: artifact.filename, s3Bucket: s3?.bucket, s3Key: s3?.key, s3ObjectVersion: s3?.objectVersion,
                      deletedVersion: nil, warnings: [])
    }
}

/// `layerpack import ARN`: adopts an existing layer version into the state file, as `terraform import` does.
public enum LayerImport {
    public static func run(arn text: String, config: LayerConfig, aws: AWSConfiguration) throws -> LayerVersion {
        let arn = try LayerVersionARN(text)
        guard arn.layerName == config.layerName else {
            throw PublishError.layerNameMismatch(arn: text, arnName: arn.layerName, configName: config.layerName, file: config.file)
        }
        guard arn.region == aws.region else {
            throw PublishError.regionMismatch(arn: text, arnRegion: arn.region, configuredRegion: aws.region)
        }
        guard let version = try LambdaClient(configuration: aws).getLayerVersion(layerName: arn.layerName, version: arn.version) else {
            throw PublishError.layerVersionNotFound(arn: text)
        }
        // The lookup is by name in the credentials' own account; the ARN may name another.
        if let found = try? LayerVersionARN(version.layerVersionArn), found.account != arn.account {
            throw PublishError.accountMismatch(arn: text, arnAccount: arn.account, credentialsAccount: found.account)
        }
        try PublishState(
            layerName: config.layerName, layerArn: version.layerArn, arn: version.layerVersionArn, version: version.version,
            createdDate: version.createdDate, sourceCodeHash: version.content?.codeSha256, sourceCodeSize: version.content?.codeSize,
            s3Bucket: nil, s3Key: nil, s3ObjectVersion: nil
        ).write(for: config)
        return version
    }
}

extension Publisher.S3Location {
    /// The location a state file recorded, if it recorded one.
    init?(recordedIn state: PublishState) {
        guard let bucket = state.s3Bucket, let key = state.s3Key else { return nil }
        self.init(bucket: bucket, key: key, objectVersion: state.s3ObjectVersion)
    }
}
