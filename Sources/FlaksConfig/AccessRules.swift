import FlaksAccess

/// A route's access rules (any route kind): `allow`, then `rate`, then `auth`
/// (config-schema.md, "access"). Every rule is optional; a route without any has `AccessRules()`.
///
/// The values are the runtime's own types from `FlaksAccess`, checked at load time: the server
/// uses them as they are, nothing is parsed again per request. The htpasswd file named by
/// `auth.users` is NOT read here: the runtime loads it (`Htpasswd.load`) at start and on every
/// reload, and its errors become manifest errors at that key.
public struct AccessRules: Sendable, Equatable {
    /// `auth: {realm, users}`: HTTP Basic authentication (RFC 7617).
    public struct Auth: Sendable, Equatable {
        /// `realm`, sent in the challenge. Default "Restricted".
        public var realm: String
        /// `users`: absolute path of the htpasswd file (relative paths resolve against the manifest's
        /// directory). Required.
        public var users: String
        public init(realm: String = "Restricted", users: String) {
            self.realm = realm; self.users = users
        }
    }

    /// `auth`; nil = no authentication.
    public var auth: Auth?
    /// `allow: [CIDR...]`: the client addresses let in (others get 403); nil = everybody. Never empty.
    public var allow: AddressList?
    /// `rate: {requests, per, burst}`: per client address (IPv6 per /64); over it, 429 with
    /// Retry-After. `burst` defaults to `requests`. nil = no limit.
    public var rate: RateLimit?

    public init(auth: Auth? = nil, allow: AddressList? = nil, rate: RateLimit? = nil) {
        self.auth = auth; self.allow = allow; self.rate = rate
    }

    /// Whether the route has no rule at all.
    public var isEmpty: Bool { auth == nil && allow == nil && rate == nil }
}
