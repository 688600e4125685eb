import Foundation
import Hashing

/// Role credentials from the IAM Identity Center (SSO) portal, with the token `aws sso login` cached.
///
/// A profile names its session with `sso_session` (an `[sso-session name]` section holding
/// `sso_start_url` and `sso_region`), or, in the legacy form, has `sso_start_url` and `sso_region`
/// itself; either way it needs `sso_account_id` and `sso_role_name`. The token is read from
/// `~/.aws/sso/cache/<SHA-1 of the session name, or of the start URL>.json`. A session's token that
/// expires within 15 minutes is refreshed with SSO OIDC `CreateToken` and written back, as the AWS CLI
/// does; layerpack never signs in itself.
struct SSOCredentials: Sendable {
    let profile: String
    let accountID: String
    let roleName: String
    let startURL: String
    let ssoRegion: String
    /// Nil for the legacy form, whose tokens cannot be refreshed.
    let sessionName: String?
    let cacheFile: String
    let configuration: AWSConfiguration

    static let refreshWindow: TimeInterval = 15 * 60

    /// Nil when the profile has no SSO settings.
    init?(profile: ProfileSettings, environment: [String: String], configuration: AWSConfiguration) throws {
        let legacyKeys = ["sso_start_url", "sso_region", "sso_account_id", "sso_role_name"]
        guard profile["sso_session"] != nil || legacyKeys.contains(where: { profile[$0] != nil }) else { return nil }
        func invalid(_ problem: String) -> AWSClientError {
            .invalidProfile(profile: profile.name, path: profile.configFile.path, problem: problem)
        }
        var settings = profile.settings
        if let name = profile["sso_session"] {
            guard let session = profile.configFile.ssoSession(name) else {
                throw invalid("its `sso_session` is `\(name)`, but `\(profile.configFile.path)` has no `[sso-session \(name)]` section")
            }
            for key in ["sso_start_url", "sso_region"] {
                if let own = profile[key], let shared = session[key], own != shared {
                    throw invalid("its `\(key)` `\(own)` differs from the `\(shared)` of `[sso-session \(name)]`; remove it from the profile")
                }
                settings[key] = session[key]
            }
        }
        let missing = legacyKeys.filter { settings[$0] == nil }
        if !missing.isEmpty {
            throw invalid("it signs in with SSO but has no \(missing.map { "`\($0)`" }.joined(separator: ", "))\(profile["sso_session"].map { " (`sso_start_url` and `sso_region` belong in `[sso-session \($0)]`)" } ?? "")")
        }
        self.profile = profile.name
        accountID = settings["sso_account_id"]!
        roleName = settings["sso_role_name"]!
        startURL = settings["sso_start_url"]!
        ssoRegion = settings["sso_region"]!
        sessionName = profile["sso_session"]
        guard let home = environment["HOME"] else {
            throw AWSClientError.ssoLoginNeeded(profile: profile.name, reason: "`HOME` is not set, so the token cache `~/.aws/sso/cache` cannot be found")
        }
        cacheFile = "\(home)/.aws/sso/cache/\(SHA1.hash(Data((sessionName ?? startURL).utf8)).hex).json"
        self.configuration = configuration
    }

    func fetch() throws -> AWSCredentials {
        let token = try accessToken()
        let portal = configuration.endpoint(for: "sso", region: ssoRegion).url
        let query = [("account_id", accountID), ("role_name", roleName)].map { "\($0.0)=\(SigV4Signer.percentEncode($0.1))" }.joined(separator: "&")
        let response = try call("GetRoleCredentials", HTTPRequest(
            method: "GET", url: "\(portal)/federation/credentials?\(query)", headers: ["x-amz-sso_bearer_token": token],
            timeout: configuration.httpTimeout
        ), refusedTokenMeans: "the SSO portal `\(portal)` refused the cached token")
        guard let json = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
              let role = json["roleCredentials"] as? [String: Any],
              let id = role["accessKeyId"] as? String, let secret = role["secretAccessKey"] as? String,
              let sessionToken = role["sessionToken"] as? String, let expiration = role["expiration"] as? NSNumber
        else {
            throw AWSClientError.credentialsFetchFailed(source: source, reason: "the portal's `GetRoleCredentials` answer has no complete `roleCredentials` (`accessKeyId`, `secretAccessKey`, `sessionToken`, `expiration`)")
        }
        return AWSCredentials(
            accessKeyID: id, secretAccessKey: secret, sessionToken: sessionToken,
            expiration: Date(timeIntervalSince1970: expiration.doubleValue / 1000)
        )
    }

    private var source: String { "SSO (account `\(accountID)`, role `\(roleName)`)" }

    /// The cached access token, refreshed first when it is near its end and can be.
    func accessToken() throws -> String {
        guard let data = FileManager.default.contents(atPath: cacheFile) else {
            throw AWSClientError.ssoLoginNeeded(profile: profile, reason: "there is no cached SSO token `\(cacheFile)`")
        }
        guard var cache = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let token = cache["accessToken"] as? String, let expiresAt = (cache["expiresAt"] as? String).flatMap(parseTimestamp)
        else {
            throw AWSClientError.ssoLoginNeeded(profile: profile, reason: "the cached SSO token `\(cacheFile)` has no `accessToken` and `expiresAt`")
        }
        Redaction.register(token)
        let now = configuration.clock()
        var refreshFailure = ""
        if sessionName != nil, expiresAt.timeIntervalSince(now) < Self.refreshWindow {
            do {
                if let refreshed = try refresh(&cache, now: now) { return refreshed }
                refreshFailure = "; it cannot be refreshed (the cache has no `refreshToken`, `clientId` and `clientSecret`, or the client registration expired)"
            } catch let error as AWSClientError {
                refreshFailure = "; refreshing it failed: \(error)"
            }
        }
        guard expiresAt > now else {
            throw AWSClientError.ssoLoginNeeded(
                profile: profile, reason: "the cached SSO token `\(cacheFile)` expired at \(ISO8601DateFormatter().string(from: expiresAt))\(refreshFailure)")
        }
        return token
    }

    /// SSO OIDC `CreateToken` with the cached refresh token; the new token is written back to the cache.
    /// Nil when the cache holds nothing to refresh with.
    private func refresh(_ cache: inout [String: Any], now: Date) throws -> String? {
        guard let refreshToken = cache["refreshToken"] as? String, let clientID = cache["clientId"] as? String,
              let clientSecret = cache["clientSecret"] as? String
        else { return nil }
        if let registrationEnd = (cache["registrationExpiresAt"] as? String).flatMap(parseTimestamp), registrationEnd <= now { return nil }
        Redaction.register(refreshToken)
        Redaction.register(clientSecret)
        let oidc = configuration.endpoint(for: "sso_oidc", region: ssoRegion).url
        let body = try JSONSerialization.data(withJSONObject: [
            "grantType": "refresh_token", "clientId": clientID, "clientSecret": clientSecret, "refreshToken": refreshToken,
        ], options: [.sortedKeys])
        let response = try call("CreateToken", HTTPRequest(
            method: "POST", url: "\(oidc)/token", headers: ["Content-Type": "application/json"], body: .data(body),
            timeout: configuration.httpTimeout
        ), refusedTokenMeans: "SSO OIDC `\(oidc)` refused the cached refresh token")
        guard let json = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
              let token = json["accessToken"] as? String, let expiresIn = json["expiresIn"] as? NSNumber
        else {
            throw AWSClientError.credentialsFetchFailed(source: source, reason: "the SSO OIDC `CreateToken` answer has no `accessToken` and `expiresIn`")
        }
        Redaction.register(token)
        cache["accessToken"] = token
        cache["expiresAt"] = Self.cacheTimestamp(now.addingTimeInterval(expiresIn.doubleValue))
        if let newRefreshToken = json["refreshToken"] as? String {
            Redaction.register(newRefreshToken)
            cache["refreshToken"] = newRefreshToken
        }
        try writeCache(cache)
        return token
    }

    /// `2026-11-26T08:00:00Z`, as the AWS CLI writes `expiresAt`.
    static func cacheTimestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// Replaces the cache file whole (a temporary file renamed over it), readable by its owner only.
    private func writeCache(_ cache: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: cache, options: [.sortedKeys])
        let temporary = "\(cacheFile).layerpack-\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]),
              rename(temporary, cacheFile) == 0
        else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw AWSClientError.credentialsFetchFailed(source: source, reason: "the refreshed SSO token could not be written back to `\(cacheFile)` (\(reason))")
        }
    }

    /// One unsigned call with retries; 401 and 403 mean the token is no good, which only signing in fixes.
    private func call(_ operation: String, _ request: HTTPRequest, refusedTokenMeans refusal: String) throws -> HTTPResponse {
        do {
            return try ServiceClient.sendUnsigned(request, operation: operation, configuration: configuration)
        } catch let error as AWSClientError {
            if case .service(let service) = error, [400, 401, 403].contains(service.statusCode) {
                throw AWSClientError.ssoLoginNeeded(profile: profile, reason: "\(refusal) (HTTP \(service.statusCode) `\(service.code)`)")
            }
            throw AWSClientError.credentialsFetchFailed(source: source, reason: error.description)
        }
    }
}
