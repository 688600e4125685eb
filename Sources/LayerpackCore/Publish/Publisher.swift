import AWSClient
import Foundation
import Hashing

/// What `publish` did for one target or, in a dry run, would do.
public struct TargetResult: Sendable {
    public let target: PublishTarget
    /// Nil when the target failed before it was planned.
    public let action: TargetPlan.Action?
    /// True when this run created a new layer version.
    public let published: Bool
    /// Why a version was (or would be) published, or why not.
    public let reason: String
    /// The version layerpack now manages: the new, adopted or unchanged one. Nil in a dry run that
    /// would publish, and when the target failed.
    public let layerVersion: LayerVersion?
    public let s3: S3Location?
    /// Versions deleted: the replaced one (unless `skip_destroy`), or those beyond `keep`.
    public let deletedVersions: [Int]
    /// Statements added to and removed from the managed version's policy.
    public let permissionsAdded: [String]
    public let permissionsRemoved: [String]
    /// Warnings, and the error when the target failed.
    public let diagnostics: [Diagnostic]

    public var failed: Bool { diagnostics.contains { $0.severity == .error } }
}

/// What `publish` did or, with `--dry-run`, would do, target by target.
public struct PublishReport: Sendable {
    public let dryRun: Bool
    public let sourceCodeHash: String
    public let filename: String?
    public let targets: [TargetResult]

    public var failed: Bool { targets.contains(where: \.failed) }

    /// `name=value` pairs of a target's seed attributes and the package's location, for `--json` and `GITHUB_OUTPUT`.
    public func outputs(of result: TargetResult) -> [(String, String?)] {
        let version = result.layerVersion
        return [
            ("published", String(result.published)),
            ("reason", result.reason),
            ("layer_name", result.target.layerName),
            ("region", result.target.region),
            ("arn", version?.layerVersionArn),
            ("layer_arn", version?.layerArn),
            ("version", version.map { String($0.version) }),
            ("created_date", version?.createdDate),
            ("source_code_hash", sourceCodeHash),
            ("source_code_size", version?.content?.codeSize.map(String.init)),
            ("signing_job_arn", version?.content?.signingJobArn),
            ("signing_profile_version_arn", version?.content?.signingProfileVersionArn),
            ("filename", filename),
            ("s3_bucket", result.s3?.bucket),
            ("s3_key", result.s3?.key),
            ("s3_object_version", result.s3?.objectVersion),
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

/// `layerpack publish`: observe every target (the configured region, or each of `regions:`), plan, and
/// apply exactly the plan — build only when bytes are needed, upload to S3 if configured, publish a
/// version only where the content or metadata differ from the managed version.
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

    /// The targets: one per region of `regions:`, else the configured region.
    public var targets: [PublishTarget] {
        (config.regions.isEmpty ? [aws.region] : config.regions).map { PublishTarget(layerName: config.layerName, region: $0) }
    }

    public func run() throws -> PublishReport {
        // Runs on this machine publishing this layer from this folder take turns; across machines,
        // publishing converges through what Lambda holds (adopting, and keeping the lowest duplicate).
        let turn = options.dryRun ? nil : try PublishTurn(config: config, waiting: options.progress)
        defer { turn?.release() }
        let planned = try makePlan(zipNeeded: false)
        return applyPlanned(planned)
    }

    /// A plan with what it was made from: the zip, the state, and each target's observation (or why
    /// it could not be observed).
    struct Planned {
        let zip: ZipOnDemand
        let state: StateStore
        let observed: [Result<TargetObservation, any Error>]
        let plan: PublishPlan
    }

    /// Observe and plan. The zip is built only when a version is published from its bytes, or when
    /// `zipNeeded` (a plan file names a zip that must exist). Built here it may differ from the lock's
    /// hash (another compressor version): then the plan is made again for it.
    func makePlan(zipNeeded: Bool) throws -> Planned {
        var zip = try prepareArtifact()
        if config.s3Bucket == nil, let size = zip.artifact.sourceCodeSize, size > Publisher.directUploadLimit {
            throw PublishError.directUploadTooLarge(filename: zip.artifact.filename ?? config.filename, size: size, limit: Publisher.directUploadLimit)
        }
        let state = StateStore(config: config, state: try PublishState.read(for: config))
        var observed = observe(artifact: zip.artifact, state: state.current)
        var plan = PublishPlanner.plan(config: config, artifact: zip.artifact, observations: observed.compactMap { try? $0.get() })
        if (plan.needsZip || zipNeeded) && !options.dryRun, let built = try zip.materialize(), built != zip.artifact {
            options.progress("The zip built here has the hash \(built.sourceCodeHash), not the lock's \(zip.artifact.sourceCodeHash); planning again for it.")
            zip = zip.replacing(built)
            observed = observe(artifact: built, state: state.current)
            plan = PublishPlanner.plan(config: config, artifact: built, observations: observed.compactMap { try? $0.get() })
        }
        return Planned(zip: zip, state: state, observed: observed, plan: plan)
    }

    /// Carries out the plan for every target that could be observed, in parallel (a dry run only reports it).
    func applyPlanned(_ planned: Planned) -> PublishReport {
        let plan = planned.plan
        var targetPlans = plan.targets.makeIterator()
        let steps: [Result<TargetPlan, any Error>] = planned.observed.map { observation in observation.map { _ in targetPlans.next()! } }
        let results = concurrentMap(zip: steps, targets) { step, target in
            switch step {
            case .failure(let error):
                return failure(target, error, action: nil)
            case .success(let targetPlan):
                if options.dryRun { return dryRunResult(targetPlan) }
                do { return try apply(targetPlan, artifact: plan.artifact, zip: planned.zip, state: planned.state) } catch {
                    return failure(targetPlan.target, error, action: targetPlan.action)
                }
            }
        }
        return PublishReport(dryRun: options.dryRun, sourceCodeHash: plan.artifact.sourceCodeHash, filename: plan.artifact.filename, targets: results)
    }

    /// `layerpack plan`: builds (or reuses) the zip, observes every target and returns the plan to
    /// review and later apply. A target that cannot be observed fails it: such a plan cannot be applied.
    public func plan() throws -> PlanFile {
        let planned = try makePlan(zipNeeded: true)
        for case .failure(let error) in planned.observed { throw error }
        return try PlanFile(config: config, plan: planned.plan)
    }

    /// `layerpack apply`: carries out exactly a plan made by `plan()`, refusing it when the config or
    /// the zip changed since, or when a target's newest version is no longer the one the plan saw.
    public func apply(_ file: PlanFile) throws -> PublishReport {
        guard try FileIO.digestOfConfig(config) == file.configSHA256 else { throw PublishError.configChangedSincePlan(config: config.file) }
        let plan = file.plan
        if let zip = plan.artifact.filename, plan.targets.contains(where: { $0.action == .publish }) {
            let now = FileManager.default.fileExists(atPath: zip) ? try SHA256.hash(fileAt: zip).base64 : nil
            guard now == plan.artifact.sourceCodeHash else { throw PublishError.zipChangedSincePlan(zip: zip, planned: plan.artifact.sourceCodeHash, now: now) }
        }
        let turn = try PublishTurn(config: config, waiting: options.progress)
        defer { turn.release() }
        let state = StateStore(config: config, state: try PublishState.read(for: config))
        let observed = observe(artifact: plan.artifact, state: state.current)
        for (observation, targetPlan) in zip(observed, plan.targets) {
            let now = try observation.get()
            guard now.target.region == targetPlan.target.region else { throw PublishError.planTargetsDiffer(config: config.file) }
            if now.versions.first != targetPlan.newestVersion {
                throw PublishError.stalePlan(target: "\(targetPlan.target)", planned: targetPlan.newestVersion, now: now.versions.first)
            }
        }
        guard observed.count == plan.targets.count else { throw PublishError.planTargetsDiffer(config: config.file) }
        let zip = ZipOnDemand(artifact: plan.artifact, plan: nil, options: options, built: true)
        return applyPlanned(Planned(zip: zip, state: state, observed: observed, plan: plan))
    }

    // MARK: - The zip

    /// The zip and its hash. With sources that still match a lock, the lock's hash and size: nothing is
    /// built until a version must be published from the bytes (the CI fast path). Otherwise a fresh build
    /// (in a dry run, its hash only). Without sources, the config's `source_code_hash`.
    func prepareArtifact() throws -> ZipOnDemand {
        guard !config.sources.isEmpty else {
            guard let hash = config.sourceCodeHash else { throw PublishError.sourceCodeHashNeeded(file: config.file) }
            return ZipOnDemand(artifact: PlannedArtifact(sourceCodeHash: hash, sourceCodeSize: nil, filename: nil), plan: nil, options: options)
        }
        let zip = options.output.map { absolutePath($0, in: FileManager.default.currentDirectoryPath) } ?? config.filename
        let plan = try LayerPlan(config: config, ownFiles: [zip, options.build.cacheDirectory])
        if let lock = try LockFile.read(at: config.lockFilePath), try LayerCheck.run(plan, options: options.build).isClean {
            options.progress("The sources match \(config.relativePath(config.lockFilePath)); comparing its source_code_hash with what is published.")
            return ZipOnDemand(artifact: PlannedArtifact(sourceCodeHash: lock.sourceCodeHash, sourceCodeSize: lock.sourceCodeSize, filename: zip),
                               plan: plan, options: options)
        }
        if options.dryRun {
            let result = try LayerBuilder.dryRun(plan, options: options.build)
            return ZipOnDemand(artifact: PlannedArtifact(sourceCodeHash: result.sourceCodeHash, sourceCodeSize: result.sourceCodeSize, filename: zip),
                               plan: nil, options: options)
        }
        options.progress("Building \(config.relativePath(zip)).")
        let result = try LayerBuilder.build(plan, output: options.output, options: options.build)
        return ZipOnDemand(artifact: PlannedArtifact(sourceCodeHash: result.sourceCodeHash, sourceCodeSize: result.sourceCodeSize, filename: result.filename),
                           plan: nil, options: options, built: true)
    }

    // MARK: - Observe

    /// Every target's observation, in parallel; a target that cannot be observed is a failure of its own.
    func observe(artifact: PlannedArtifact, state: PublishState?) -> [Result<TargetObservation, any Error>] {
        concurrentMap(targets) { target in
            Result { try observe(target, artifact: artifact, state: state) }
        }
    }

    func observe(_ target: PublishTarget, artifact: PlannedArtifact, state: PublishState?) throws -> TargetObservation {
        let aws = configuration(for: target)
        let lambda = LambdaClient(configuration: aws)
        var observation = TargetObservation(target: target)
        let listed = try lambda.listLayerVersions(layerName: config.layerName)
        observation.versions = listed.map(\.version).sorted(by: >)
        observation.target.account = listed.first.flatMap { try? LayerVersionARN($0.layerVersionArn).account }
        var described: [Int: LayerVersion] = [:]
        func describe(_ number: Int) throws -> LayerVersion? {
            if let known = described[number] { return known }
            let version = try lambda.getLayerVersion(layerName: config.layerName, version: number)
            described[number] = version
            return version
        }
        // The state's record for this account and region, if its version is still there.
        if state?.layerName == config.layerName, let account = observation.target.account,
           let record = state?.records(in: target.region).first(where: { $0.account == account }),
           observation.versions.contains(record.version), let version = try describe(record.version) {
            observation.recorded = record
            observation.recordedVersion = version
        }
        if let top = observation.versions.first, let newest = try describe(top) {
            observation.newestRun = try Publisher.duplicates(of: newest, below: observation.versions.dropFirst(), describe: describe)
        }
        if config.permissions != nil {
            for version in Set([observation.recordedVersion?.version, observation.newestRun.last?.version].compactMap { $0 }) {
                observation.policies[String(version)] = try lambda.layerVersionPolicyStatementIDs(layerName: config.layerName, version: version)
            }
        }
        if let bucket = config.s3Bucket(in: target.region), artifact.filename != nil {
            let key = config.s3Key ?? PublishPlanner.defaultS3Key(config: config, hash: artifact.sourceCodeHash)
            let object = try S3Client(configuration: aws).headObject(bucket: bucket, key: key)
            observation.objectHash = object?.metadata[Publisher.hashMetadataKey]
            observation.objectVersion = object?.versionID
        }
        return observation
    }

    func configuration(for target: PublishTarget) -> AWSConfiguration {
        var configuration = aws
        configuration.region = target.region
        return configuration
    }

    // MARK: - Apply

    func apply(_ plan: TargetPlan, artifact: PlannedArtifact, zip: ZipOnDemand, state: StateStore) throws -> TargetResult {
        let lambda = LambdaClient(configuration: configuration(for: plan.target))
        let managed: LayerVersion
        var uploaded: S3Location?
        switch plan.action {
        case .unchanged:
            managed = plan.version!
            uploaded = plan.s3
            options.progress("\(plan.target): unchanged: \(plan.reason).")
        case .adopt:
            managed = plan.version!
            options.progress("\(plan.target): already published: \(plan.reason).")
        case .publish:
            options.progress("\(plan.target): publishing a new version: \(plan.reason).")
            let content: PublishLayerVersionRequest.Content
            if let location = plan.s3 {
                if !plan.upload && artifact.filename != nil {
                    options.progress("\(plan.target): s3://\(location.bucket)/\(location.key) already holds this zip; publishing from it without uploading.")
                }
                let objectVersion = plan.upload ? try upload(try zip.path(), to: location, hash: artifact.sourceCodeHash, target: plan.target)
                                                : location.objectVersion
                uploaded = S3Location(bucket: location.bucket, key: location.key, objectVersion: objectVersion)
                content = .s3(bucket: location.bucket, key: location.key, objectVersion: objectVersion)
            } else {
                let path = try zip.path()
                do { content = .zipFile(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
                    throw BuildError.unreadable(path: path, reason: error.localizedDescription)
                }
            }
            let request = PublishLayerVersionRequest(
                layerName: config.layerName, content: content, description: config.description, licenseInfo: config.licenseInfo,
                compatibleRuntimes: config.compatibleRuntimes, compatibleArchitectures: config.compatibleArchitectures)
            managed = try keepingLowestDuplicate(
                try publishOnce(request, lambda: lambda, hash: artifact.sourceCodeHash, after: plan.newestVersion ?? 0),
                hash: artifact.sourceCodeHash, lambda: lambda, target: plan.target)
            options.progress("\(plan.target): published \(managed.layerVersionArn).")
        }
        try reconcilePermissions(plan, on: managed, lambda: lambda)
        let deleted = delete(plan.deleteVersions, keeping: managed, target: plan.target, lambda: lambda)
        try state.record(managed, hash: artifact.sourceCodeHash, s3: uploaded)
        return TargetResult(target: plan.target, action: plan.action, published: plan.action == .publish, reason: plan.reason,
                            layerVersion: managed, s3: uploaded, deletedVersions: deleted.versions,
                            permissionsAdded: plan.addPermissions.map(\.statementID), permissionsRemoved: plan.removeStatements,
                            diagnostics: deleted.warnings)
    }

    /// Gives the managed version exactly the configured statements. A new version has none, and when
    /// publishing kept an older duplicate instead, its policy is read again rather than assumed.
    func reconcilePermissions(_ plan: TargetPlan, on managed: LayerVersion, lambda: LambdaClient) throws {
        guard let wanted = config.permissions else { return }
        var add = plan.addPermissions
        var remove = plan.removeStatements
        if plan.action == .publish {
            let present = Set(try lambda.layerVersionPolicyStatementIDs(layerName: config.layerName, version: managed.version)
                .filter { $0.hasPrefix(LayerPermission.statementPrefix) })
            add = wanted.filter { !present.contains($0.statementID) }
            remove = present.subtracting(wanted.map(\.statementID)).sorted()
        }
        for permission in add {
            options.progress("\(plan.target): letting \(permission.summary) use version \(managed.version) (`\(permission.statementID)`).")
            try lambda.addLayerVersionPermission(layerName: config.layerName, version: managed.version, statementID: permission.statementID,
                                                 principal: permission.principal, organizationID: permission.organizationID)
        }
        for statement in remove {
            options.progress("\(plan.target): removing the statement `\(statement)` from version \(managed.version).")
            try lambda.removeLayerVersionPermission(layerName: config.layerName, version: managed.version, statementID: statement)
        }
    }

    func dryRunResult(_ plan: TargetPlan) -> TargetResult {
        let prefix = plan.action == .publish ? "would publish: " : plan.action == .adopt ? "would adopt: " : ""
        options.progress("\(plan.target): \(prefix.isEmpty ? "unchanged: " : prefix)\(plan.reason).")
        return TargetResult(target: plan.target, action: plan.action, published: false, reason: prefix + plan.reason,
                            layerVersion: plan.version, s3: plan.s3, deletedVersions: [], permissionsAdded: [], permissionsRemoved: [],
                            diagnostics: [])
    }

    func failure(_ target: PublishTarget, _ error: any Error, action: TargetPlan.Action?) -> TargetResult {
        TargetResult(target: target, action: action, published: false, reason: "failed", layerVersion: nil, s3: nil, deletedVersions: [],
                     permissionsAdded: [], permissionsRemoved: [], diagnostics: [Diagnostic(.error, "\(error)", at: .target(target))])
    }

    /// Deletes the planned versions, never the managed one. A failure is a warning: the managed version
    /// is already in place and about to be recorded.
    func delete(_ versions: [Int], keeping managed: LayerVersion, target: PublishTarget, lambda: LambdaClient) -> (versions: [Int], warnings: [Diagnostic]) {
        var deleted: [Int] = []
        var warnings: [Diagnostic] = []
        for version in versions where version != managed.version {
            do {
                try lambda.deleteLayerVersion(layerName: config.layerName, version: version)
                deleted.append(version)
                options.progress("\(target): deleted version \(version)\(config.keep.map { " (`keep: \($0)`)" } ?? " (set `skip_destroy: true` to keep replaced versions)").")
            } catch {
                warnings.append(Diagnostic(.warning, "Version \(managed.version) is in place, but deleting version \(version) failed: \(error)", at: .target(target)))
            }
        }
        return (deleted, warnings)
    }

    // MARK: - S3

    /// Uploads the zip unless the object already holds this hash; returns the object's version id.
    /// Then aborts the unfinished multipart uploads of this key that killed runs left behind (S3 bills
    /// for their parts); only once the object holds this zip, so a live upload of the same zip by a
    /// concurrent run can only be aborted when its work is already done (it then finds the object in
    /// place and carries on).
    func upload(_ zip: String, to target: S3Location, hash: String, target publishTarget: PublishTarget) throws -> String? {
        let (bucket, key) = (target.bucket, target.key)
        let s3 = S3Client(configuration: configuration(for: publishTarget))
        let objectVersion: String?
        if let existing = try s3.headObject(bucket: bucket, key: key), existing.metadata[Publisher.hashMetadataKey] == hash {
            options.progress("\(publishTarget): s3://\(bucket)/\(key) already holds this zip; not uploading it again.")
            objectVersion = existing.versionID
        } else {
            options.progress("\(publishTarget): uploading to s3://\(bucket)/\(key).")
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
            options.progress("\(publishTarget): aborting an unfinished upload of s3://\(bucket)/\(key) that an interrupted run left behind.")
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
                if let newest = try lambda.listLayerVersions(layerName: config.layerName).map(\.version).max(), newest > previous,
                   let version = try lambda.getLayerVersion(layerName: config.layerName, version: newest),
                   PublishPlanner.differences(from: version, config: config, hash: hash).isEmpty {
                    return version
                }
                guard failures < aws.retryPolicy.maxAttempts else {
                    throw PublishError.publishNotConfirmed(layerName: config.layerName, attempts: failures, lastError: "\(error)")
                }
                aws.retryPolicy.sleep(aws.retryPolicy.delay(afterFailedAttempts: failures, error: error))
            }
        }
    }

    /// `top` and the versions just below it (numbers newest first) with the same content and metadata,
    /// newest first; a version deleted since the listing (`describe` gives nil) is passed over.
    static func duplicates(of top: LayerVersion, below numbers: some Sequence<Int>, describe: (Int) throws -> LayerVersion?) throws -> [LayerVersion] {
        var run = [top]
        for number in numbers {
            guard let version = try describe(number) else { continue }
            guard version.isDuplicate(of: top) else { break }
            run.append(version)
        }
        return run
    }

    /// When publishers on other machines published the same change at the same time, every one of
    /// them keeps the lowest version holding it: each deletes its own duplicate and reports that one.
    /// Versions are numbered in the order Lambda created them, so all agree on which is lowest.
    func keepingLowestDuplicate(_ published: LayerVersion, hash: String, lambda: LambdaClient, target: PublishTarget) throws -> LayerVersion {
        let below = try lambda.listLayerVersions(layerName: config.layerName).map(\.version).filter { $0 < published.version }.sorted(by: >)
        let kept = try Publisher.duplicates(of: published, below: below) {
            try lambda.getLayerVersion(layerName: config.layerName, version: $0)
        }.last!
        guard kept.version != published.version else { return published }
        options.progress("\(target): version \(kept.version) was published with the same content and metadata meanwhile; keeping it and deleting the duplicate version \(published.version).")
        try lambda.deleteLayerVersion(layerName: config.layerName, version: published.version)
        return kept
    }
}

/// The zip a plan refers to, built only when its bytes are needed (once, for every target).
final class ZipOnDemand: @unchecked Sendable {
    let artifact: PlannedArtifact
    private let plan: LayerPlan?
    private let options: PublishOptions
    private let lock = NSLock()
    private var ready: Bool

    init(artifact: PlannedArtifact, plan: LayerPlan?, options: PublishOptions, built: Bool = false) {
        self.artifact = artifact
        self.plan = plan
        self.options = options
        ready = built
    }

    /// The same sources, with the artifact a build produced.
    func replacing(_ built: PlannedArtifact) -> ZipOnDemand {
        ZipOnDemand(artifact: built, plan: nil, options: options, built: true)
    }

    /// Makes sure the zip is on disk: the one there when its hash is the artifact's, else a new build.
    /// Returns the built artifact when a build was needed.
    func materialize() throws -> PlannedArtifact? {
        try lock.withLock {
            guard !ready, let filename = artifact.filename else { return nil }
            if FileManager.default.fileExists(atPath: filename), try SHA256.hash(fileAt: filename).base64 == artifact.sourceCodeHash {
                options.progress("\(filename) matches the lock; using it.")
                ready = true
                return nil
            }
            guard let plan else { return nil }
            options.progress("Building \(plan.config.relativePath(filename)).")
            let result = try LayerBuilder.build(plan, output: options.output, options: options.build)
            ready = true
            return PlannedArtifact(sourceCodeHash: result.sourceCodeHash, sourceCodeSize: result.sourceCodeSize, filename: result.filename)
        }
    }

    /// The zip's path, built first if need be.
    func path() throws -> String {
        _ = try materialize()
        return artifact.filename!
    }
}

/// The state file, updated as each target is applied (targets run in parallel).
final class StateStore: @unchecked Sendable {
    private let config: LayerConfig
    private let lock = NSLock()
    private var state: PublishState?

    init(config: LayerConfig, state: PublishState?) {
        self.config = config
        self.state = state
    }

    var current: PublishState? { lock.withLock { state } }

    func record(_ version: LayerVersion, hash: String, s3: S3Location?) throws {
        let record = try TargetRecord(version, hash: hash, s3: s3)
        try lock.withLock {
            var updated = state?.layerName == config.layerName ? state! : PublishState(layerName: config.layerName)
            updated.update(record)
            try updated.write(for: config)
            state = updated
        }
    }
}

/// `transform` over `items` on up to one thread per item, results in the items' order.
func concurrentMap<T, R: Sendable>(_ items: [T], _ transform: (T) -> R) -> [R] {
    concurrentMap(zip: items, items) { item, _ in transform(item) }
}

func concurrentMap<A, B, R: Sendable>(zip first: [A], _ second: [B], _ transform: (A, B) -> R) -> [R] {
    guard first.count > 1 else { return zip(first, second).map(transform) }
    let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: first.count)
    results.initialize(repeating: nil)
    defer { results.deallocate() }
    withoutActuallyEscaping(transform) { transform in
        let box = UncheckedBox((first, second, transform, results))
        DispatchQueue.concurrentPerform(iterations: first.count) { index in
            let (first, second, transform, results) = box.value
            results[index] = transform(first[index], second[index])
        }
    }
    return results.map { $0! }
}

private struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// `layerpack import ARN`: adopts an existing layer version into the state file, as `terraform import` does.
public enum LayerImport {
    public static func run(arn text: String, config: LayerConfig, aws: AWSConfiguration) throws -> LayerVersion {
        let arn = try LayerVersionARN(text)
        guard arn.layerName == config.layerName else {
            throw PublishError.layerNameMismatch(arn: text, arnName: arn.layerName, configName: config.layerName, file: config.file)
        }
        guard arn.region == aws.region || config.regions.contains(arn.region) else {
            throw PublishError.regionMismatch(arn: text, arnRegion: arn.region, configuredRegion: aws.region)
        }
        var configuration = aws
        configuration.region = arn.region
        guard let version = try LambdaClient(configuration: configuration).getLayerVersion(layerName: arn.layerName, version: arn.version) else {
            throw PublishError.layerVersionNotFound(arn: text)
        }
        // The lookup is by name in the credentials' own account; the ARN may name another.
        if let found = try? LayerVersionARN(version.layerVersionArn), found.account != arn.account {
            throw PublishError.accountMismatch(arn: text, arnAccount: arn.account, credentialsAccount: found.account)
        }
        try StateStore(config: config, state: try PublishState.read(for: config)).record(version, hash: version.content?.codeSha256 ?? "", s3: nil)
        return version
    }
}
