/// What stops `publish` or `import`, naming the value at fault and what to do.
public enum PublishError: Error, CustomStringConvertible, Equatable, DiagnosticConvertible {
    case directUploadTooLarge(filename: String, size: Int64, limit: Int64)
    case sourceCodeHashNeeded(file: String)
    case invalidLayerVersionARN(String)
    case layerNameMismatch(arn: String, arnName: String, configName: String, file: String)
    case regionMismatch(arn: String, arnRegion: String, configuredRegion: String)
    case layerVersionNotFound(arn: String)
    case accountMismatch(arn: String, arnAccount: String, credentialsAccount: String)
    case publishNotConfirmed(layerName: String, attempts: Int, lastError: String)
    case configChangedSincePlan(config: String)
    case zipChangedSincePlan(zip: String, planned: String, now: String?)
    case stalePlan(target: String, planned: Int?, now: Int?)
    case planTargetsDiffer(config: String)
    case gitHubOutputNotWritable(path: String, reason: String)
    case gitHubOutputWriteFailed(path: String, reason: String)

    public var description: String { diagnostic.description }

    public var diagnostic: Diagnostic {
        if case .sourceCodeHashNeeded(let file) = self { return Diagnostic(.error, message, at: .file(path: file, line: nil)) }
        return Diagnostic(.error, message)
    }

    /// What is wrong, in full sentences, without the location.
    var message: String {
        switch self {
        case .directUploadTooLarge(let filename, let size, let limit):
            return "`\(filename)` is \(size) bytes, over the \(limit)-byte (50 MB) limit for uploading a layer directly to Lambda. Set `s3_bucket` (and optionally `s3_key`) in the config so layerpack uploads it to S3 and publishes from there."
        case .sourceCodeHashNeeded:
            return "With `s3_bucket`, `s3_key` and no `sources`, layerpack publishes the existing object and needs `source_code_hash` (the base64 SHA-256 of that zip, as `layerpack hash FILE` or Terraform's `filebase64sha256()` gives it) to know when it changed."
        case .invalidLayerVersionARN(let arn):
            return "`\(arn)` is not a layer version ARN. Expected `arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION`, e.g. `arn:aws:lambda:eu-west-1:123456789012:layer:shared-deps:3`."
        case .layerNameMismatch(let arn, let arnName, let configName, let file):
            return "`\(arn)` is a version of the layer `\(arnName)`, but \(file) manages `\(configName)`. Import a version of `\(configName)`, or pass the matching `--config`."
        case .regionMismatch(let arn, let arnRegion, let configuredRegion):
            return "`\(arn)` is in the region `\(arnRegion)`, but the configured region is `\(configuredRegion)`. Set `AWS_REGION=\(arnRegion)` to import it."
        case .layerVersionNotFound(let arn):
            return "The layer version `\(arn)` does not exist (or is not visible with these credentials)."
        case .accountMismatch(let arn, let arnAccount, let credentialsAccount):
            return "`\(arn)` is in the account `\(arnAccount)`, but the AWS credentials are for the account `\(credentialsAccount)`. Import with credentials for `\(arnAccount)`."
        case .configChangedSincePlan(let config):
            return "`\(config)` changed since the plan was made; run `layerpack plan` again."
        case .zipChangedSincePlan(let zip, let planned, let now):
            return "The zip changed since the plan: `\(zip)` \(now.map { "has the hash `\($0)`" } ?? "is missing"), the plan publishes `\(planned)`. Run `layerpack plan` again."
        case .stalePlan(let target, let planned, let now):
            let what = now.map { now in planned.map { now > $0 ? "version \(now) was published since" : "version \($0) is gone (the newest is now \(now))" } ?? "version \(now) was published since" }
                ?? "version \(planned.map(String.init) ?? "?") is gone"
            return "Stale plan for \(target): \(what); run `layerpack plan` again."
        case .planTargetsDiffer(let config):
            return "The targets of `\(config)` are not the plan's (its `regions:` or the AWS region changed); run `layerpack plan` again."
        case .publishNotConfirmed(let layerName, let attempts, let lastError):
            return "Publishing a new version of `\(layerName)` failed \(attempts) times and no matching version was found afterwards. The last error: \(lastError)"
        case .gitHubOutputNotWritable(let path, let reason):
            return "Cannot append the step outputs to `\(path)`, the file GITHUB_OUTPUT names: \(reason). Nothing was published. Set GITHUB_OUTPUT to a file that can be appended to, or leave it unset."
        case .gitHubOutputWriteFailed(let path, let reason):
            return "Could not append the step outputs to `\(path)`, the file GITHUB_OUTPUT names: \(reason). The results above stand; only the step outputs are missing or incomplete."
        }
    }
}
