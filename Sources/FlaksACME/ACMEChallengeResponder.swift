import FlaksSync

/// The HTTP-01 answers being served (RFC 8555 §8.3), shared by every plain listener. The
/// executor publishes and withdraws (`ACMEEffect.serveHTTP01` / `.withdrawHTTP01`); a loop asks
/// `response(forPath:)` before routing any request on a plain listener (and before
/// `redirect_http`). Thread-safe; the lock covers one dictionary operation.
public final class ACMEChallengeResponder: Sendable {
    /// RFC 8555 §8.3.
    public static let pathPrefix = "/.well-known/acme-challenge/"
    private let tokens = Locked<[String: [UInt8]]>([:])   // any thread

    public init() {}

    public func publish(token: String, keyAuthorization: String) {
        tokens.withLock { $0[token] = Array(keyAuthorization.utf8) }
    }

    public func withdraw(token: String) {
        _ = tokens.withLock { $0.removeValue(forKey: token) }
    }

    /// Performs an `ACMEEffect` that concerns HTTP-01; false for the other effects.
    @discardableResult
    public func perform(_ effect: ACMEEffect) -> Bool {
        switch effect {
        case .serveHTTP01(let token, let keyAuthorization): publish(token: token, keyAuthorization: keyAuthorization); return true
        case .withdrawHTTP01(let token): withdraw(token: token); return true
        default: return false
        }
    }

    /// The body to answer `GET path` with (200, `Content-Type: application/octet-stream`), or
    /// nil when `path` (without the query) is not a published token: the request then goes to
    /// the routes as usual (a site's own webroot challenge files keep working).
    public func response(forPath path: String) -> [UInt8]? {
        guard path.hasPrefix(Self.pathPrefix) else { return nil }
        let token = String(path.dropFirst(Self.pathPrefix.count))
        guard !token.isEmpty else { return nil }
        return tokens.withLock { $0[token] }
    }

    /// Number of tokens served (for tests and status).
    public var count: Int { tokens.withLock { $0.count } }
}
