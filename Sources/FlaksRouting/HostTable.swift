/// Picks the host for a Host header value: an exact name, else the longest matching
/// `*.suffix` wildcard, else the default host `*`.
///
/// The header is matched without its port, ASCII case-insensitively, and without a trailing dot
/// (RFC 9110 §7.2; RFC 3986 §3.2.2 for `[v6]` literals, which are matched without brackets).
/// Exact names are a hash lookup; wildcards are few (one per `*.suffix` name) and tried
/// longest first.
///
/// A header that is already canonical (no ASCII capital, no `:` or `[`, no trailing dot: what
/// clients send) is matched in place on its UTF-8 bytes without allocating; only other forms
/// go through `HostName.stripPort` and lowercasing. A table with nothing but `*` answers
/// without reading the header.
///
/// `package` so that FlaksTLS picks certificates by SNI with this same matcher.
package struct HostTable: Sendable {
    /// Canonical exact names (owner 0) -> host.
    private var exact = ByteTable()
    /// `(".example.com", host)`, longest suffix first.
    private var wildcards: [(suffix: [UInt8], host: Int)] = []
    private var fallback: Int?
    /// No names but `*`: every header picks the default host.
    private var onlyFallback = true

    package init() {}

    /// Adds the names of host number `host`. Names are validated and canonicalised here.
    package mutating func add(names: [String], host: Int) throws(RouteError) {
        guard !names.isEmpty else { throw RouteError("a host needs at least one name") }
        defer { onlyFallback = exact.count == 0 && wildcards.isEmpty }
        for raw in names {
            let name = try HostName.canonical(raw)
            if name == "*" {
                guard fallback == nil else { throw RouteError("host name \"*\" is used twice") }
                fallback = host
            } else if name.hasPrefix("*.") {
                let suffix = Array(name.utf8.dropFirst())
                guard !wildcards.contains(where: { $0.suffix == suffix }) else {
                    throw RouteError("host name \"\(raw)\" is used twice")
                }
                wildcards.append((suffix, host))
                wildcards.sort { $0.suffix.count > $1.suffix.count }
            } else {
                guard exact.find(owner: 0, name) == nil else { throw RouteError("host name \"\(raw)\" is used twice") }
                exact.set(owner: 0, name, to: host)
            }
        }
    }

    /// Whether `resolve` reads the header at all (not when `*` is the only name).
    package var readsHeader: Bool { !onlyFallback }

    /// The host for a raw Host header value (may carry a port), or nil.
    package func resolve(_ header: String?) -> Int? {
        guard let header, !onlyFallback else { return fallback }
        let inPlace = header.utf8.withContiguousStorageIfAvailable { bytes in
            Self.isCanonical(bytes) ? InPlace.resolved(resolve(canonical: bytes)) : .needsRewrite
        }
        if case .resolved(let host)? = inPlace { return host }
        // A port, brackets, capitals or a trailing dot (or a string without contiguous UTF-8).
        var name = String(HostName.stripPort(Substring(header)))
        if name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) { name = name.lowercased() }
        return name.withUTF8 { resolve(canonical: $0) }
    }

    /// A header matched on its own bytes, or one that needs `stripPort` or lowercasing first.
    private enum InPlace { case resolved(Int?), needsRewrite }

    /// Whether `stripPort` and lowercasing would leave the header as it is.
    private static func isCanonical(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for b in bytes where (b >= 0x41 && b <= 0x5A) || b == UInt8(ascii: ":") || b == UInt8(ascii: "[") {
            return false
        }
        return bytes.last != UInt8(ascii: ".")
    }

    /// The host for a name without port, brackets, capitals or trailing dot.
    private func resolve(canonical name: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !name.isEmpty else { return fallback }
        if let h = exact.find(owner: 0, name) { return h }
        for (suffix, host) in wildcards where name.count > suffix.count {
            let tail = UnsafeBufferPointer(rebasing: name[(name.count - suffix.count)...])
            if suffix.withUnsafeBufferPointer({ ByteTable.equal($0, tail) }) { return host }
        }
        return fallback
    }
}
