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
            let name = try Self.canonicalName(raw)
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
        var name = Self.stripPort(Substring(header))
        if name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) { name = Substring(name.lowercased()) }
        guard !name.isEmpty else { return fallback }
        if let h = exact[name] { return h }
        let u = name.utf8
        for (suffix, host) in wildcards where u.count > suffix.utf8.count {
            if u.suffix(suffix.utf8.count).elementsEqual(suffix.utf8) { return host }
        }
        return fallback
    }

    /// `Example.COM:8080` -> `Example.COM`, `[::1]:8080` -> `::1`, `example.com.` -> `example.com`.
    /// Does not lowercase (the caller does, only when needed, to avoid allocating).
    static func stripPort(_ h: Substring) -> Substring {
        var h = h
        if h.utf8.first == UInt8(ascii: "[") {
            let close = h.utf8.firstIndex(of: UInt8(ascii: "]")) ?? h.endIndex
            return h[h.utf8.index(after: h.startIndex)..<close]
        }
        if let colon = h.utf8.lastIndex(of: UInt8(ascii: ":")),
           !h.utf8[..<colon].contains(UInt8(ascii: ":")) {   // a bare "::1" keeps its colons
            h = h[..<colon]
        }
        if h.utf8.last == UInt8(ascii: ".") { h = h.dropLast() }
        return h
    }

    /// Validates a manifest host name and returns it lowercased, without trailing dot or brackets.
    static func canonicalName(_ raw: String) throws(RouteError) -> String {
        let bad = RouteError("bad host name \"\(raw)\": expected a DNS name, an IP address, \"*.suffix\" or \"*\"")
        var name = raw.lowercased()
        if name == "*" { return name }
        if name.hasPrefix("[") {
            guard name.hasSuffix("]") else { throw bad }
            name = String(name.dropFirst().dropLast())
        }
        if name.hasSuffix(".") { name.removeLast() }
        var body = Substring(name)
        if body.hasPrefix("*.") { body = body.dropFirst(2) }
        guard !body.isEmpty,
              body.utf8.allSatisfy({ isLetter($0) || isDigit($0) || $0 == 0x2D || $0 == 0x2E || $0 == 0x3A || $0 == 0x5F }),
              !body.hasPrefix("."), !body.contains("..")
        else { throw bad }
        return name
    }
}
