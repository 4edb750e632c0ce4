/// Picks the host for a Host header value: an exact name, else the longest matching
/// `*.suffix` wildcard, else the default host `*`.
///
/// The header is matched without its port, ASCII case-insensitively, and without a trailing dot
/// (RFC 9110 §7.2; RFC 3986 §3.2.2 for `[v6]` literals, which are matched without brackets).
/// Exact names are a hash lookup; wildcards are few (one per `*.suffix` name) and tried
/// longest first.
struct HostTable: Sendable {
    private var exact: [Substring: Int] = [:]
    /// `(".example.com", host)`, longest suffix first.
    private var wildcards: [(suffix: String, host: Int)] = []
    private var fallback: Int?

    /// Adds the names of host number `host`. Names are validated and canonicalised here.
    mutating func add(names: [String], host: Int) throws(RouteError) {
        guard !names.isEmpty else { throw RouteError("a host needs at least one name") }
        for raw in names {
            let name = try HostName.canonical(raw)
            if name == "*" {
                guard fallback == nil else { throw RouteError("host name \"*\" is used twice") }
                fallback = host
            } else if name.hasPrefix("*.") {
                let suffix = String(name.dropFirst())
                guard !wildcards.contains(where: { $0.suffix == suffix }) else {
                    throw RouteError("host name \"\(raw)\" is used twice")
                }
                wildcards.append((suffix, host))
                wildcards.sort { $0.suffix.utf8.count > $1.suffix.utf8.count }
            } else {
                guard exact[Substring(name)] == nil else { throw RouteError("host name \"\(raw)\" is used twice") }
                exact[Substring(name)] = host
            }
        }
    }

    /// The host for a raw Host header value (may carry a port), or nil.
    func resolve(_ header: String?) -> Int? {
        guard let header else { return fallback }
        var name = HostName.stripPort(Substring(header))
        if name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) { name = Substring(name.lowercased()) }
        guard !name.isEmpty else { return fallback }
        if let h = exact[name] { return h }
        let u = name.utf8
        for (suffix, host) in wildcards where u.count > suffix.utf8.count {
            if u.suffix(suffix.utf8.count).elementsEqual(suffix.utf8) { return host }
        }
        return fallback
    }
}
