/// A route's `auth`: the realm, the users, and the two-step check the server runs.
///
/// Step 1, `evaluate`, is cheap (a base64 decode, a dictionary lookup, one HMAC) and may run on an
/// event loop: it answers at once for a missing or malformed Authorization field (401) and for a
/// password verified recently (`AuthCache`). Everything else is `.needsCheck`, and step 2, `verify`,
/// runs crypt(3) and must run on the worker pool: at most `threads` checks at once, however many
/// requests wait. An unknown user goes to step 2 too (its dummy check must cost the same time).
///
/// Order on a route (config-schema.md, "access"): `allow` (403), then `rate` (429), then `auth` (401).
public struct BasicAuth: Sendable {
    /// The realm shown by the browser's prompt.
    public let realm: String
    /// The users and hashes (from `auth.users`, read at start and on every reload).
    public let users: Htpasswd
    /// The WWW-Authenticate value of every 401 on this route (`BasicCredentials.challenge(realm:)`).
    public let challenge: String

    public init(realm: String, users: Htpasswd) {
        self.realm = realm
        self.users = users
        challenge = BasicCredentials.challenge(realm: realm)
    }

    /// What step 1 decided.
    public enum Decision: Sendable, Equatable {
        /// Authenticated from the cache: go on (REMOTE_USER = `user`).
        case allowed(user: String)
        /// No usable credentials: answer 401 with `challenge` now.
        case challenge
        /// Run `verify` on the worker pool.
        case needsCheck(BasicCredentials)
    }

    /// Step 1 (loop-safe): `authorization` is the Authorization field value, nil when absent.
    public func evaluate(authorization: String?, cache: AuthCache, now: Int64) -> Decision {
        guard let authorization, let credentials = BasicCredentials.parse(authorization) else { return .challenge }
        if let entry = users.entry(for: credentials.user),
           cache.contains(cache.key(user: credentials.user, password: credentials.password, storedHash: entry.hash), now: now) {
            return .allowed(user: credentials.user)
        }
        return .needsCheck(credentials)
    }

    /// Step 2 (blocking, worker pool only): checks the password and caches a success at `now`.
    public func verify(_ credentials: BasicCredentials, cache: AuthCache, now: Int64,
                       hasher: some PasswordHasher = Crypt()) -> PasswordCheck {
        let result = users.check(credentials, hasher: hasher)
        if result == .valid, let entry = users.entry(for: credentials.user) {
            cache.insert(cache.key(user: credentials.user, password: credentials.password, storedHash: entry.hash), now: now)
        }
        return result
    }
}
