import FlaksAccess
import FlaksConfig
import FlaksHandlers
import FlaksHTTP

/// A route's access rules, ready to check on the loop: the allow list, the rate limit (with the
/// route's key in the shared limiter) and HTTP Basic auth with its htpasswd users loaded at load
/// time (read again on every reload). Checked in the order of the contract: `allow` (403, no
/// challenge), then `rate` (429), then `auth` (401).
final class RouteAccess: Sendable {
    let allow: AddressList?
    let rate: RateLimit?
    /// The route's key in the rate limiter: stable across reloads for the same host and path.
    let rateRoute: UInt32
    let auth: BasicAuth?

    init(allow: AddressList?, rate: RateLimit?, rateRoute: UInt32, auth: BasicAuth?) {
        self.allow = allow; self.rate = rate; self.rateRoute = rateRoute; self.auth = auth
    }

    /// Builds the rules of `route` (host `hostLabel`); reads the htpasswd file. Throws a message
    /// naming the route's place in the manifest when the file cannot be used.
    static func build(_ rules: AccessRules, route: Route, hostLabel: String) throws(SiteError) -> RouteAccess? {
        guard !rules.isEmpty else { return nil }
        var auth: BasicAuth?
        if let a = rules.auth {
            do { auth = BasicAuth(realm: a.realm, users: try Htpasswd.load(path: a.users)) } catch {
                throw SiteError(messages: ["\(route.origin.map { $0 + ": " } ?? "")auth.users: \(error)"])
            }
        }
        // FNV-1a of host and path: the same route keeps its buckets across reloads.
        var h: UInt32 = 2_166_136_261
        for b in (hostLabel + "\u{0}" + route.path).utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return RouteAccess(allow: rules.allow, rate: rules.rate, rateRoute: h, auth: auth)
    }

    /// What the rules say about a request.
    enum Verdict {
        /// Go on (with the authenticated user, if `auth` checked one).
        case allowed(user: String?)
        /// Answer this error now.
        case denied(Response)
        /// The password must be checked on the worker pool (`BasicAuth.verify`).
        case verify(BasicCredentials)
    }

    /// The loop-side checks. `now` is monotonic nanoseconds.
    func check(client: IPAddress, authorization: String?, limiter: RateLimiter, cache: AuthCache, now: UInt64) -> Verdict {
        if let allow, !allow.contains(client) {
            return .denied(ErrorPage.response(.forbidden))
        }
        if let rate, case .limited(let retryAfter) = limiter.check(rate, route: rateRoute, client: client, now: Int64(now)) {
            var r = ErrorPage.response(HTTPStatus(429))
            r.headers.set("Retry-After", String(retryAfter))
            return .denied(r)
        }
        guard let auth else { return .allowed(user: nil) }
        switch auth.evaluate(authorization: authorization, cache: cache, now: Int64(now)) {
        case .allowed(let user): return .allowed(user: user)
        case .challenge: return .denied(unauthorized)
        case .needsCheck(let credentials): return .verify(credentials)
        }
    }

    /// 401 with the route's challenge (RFC 7617).
    var unauthorized: Response {
        var r = ErrorPage.response(HTTPStatus(401))
        if let auth { r.headers.set("WWW-Authenticate", auth.challenge) }
        return r
    }
}
