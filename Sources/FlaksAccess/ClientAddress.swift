import FlaksHTTP

/// The client address of a request: the one function that `allow`, `rate`, `ip_hash`,
/// REMOTE_ADDR, the X-Forwarded-For sent upstream and the access log all take it from.
///
/// The rule (config-schema.md, "The client address"): the peer's address, unless the peer is in
/// `server.trusted_proxies`; then X-Forwarded-For is read from the right, each entry being the
/// address the proxy to its right saw, and the first entry that is not itself a trusted proxy is the
/// client. Entries left of it were written by the client or by proxies we do not trust, so they are
/// never looked at: a client that sends `X-Forwarded-For: 127.0.0.1` gains nothing.
///
/// Decisions:
/// - Every X-Forwarded-For field line counts, in order, as one comma-separated list
///   (RFC 9110 §5.3); empty list elements are skipped (RFC 9110 §5.6.1).
/// - An entry is a bare IPv4 or IPv6 address; `a.b.c.d:port`, `[v6]` and `[v6]:port` are accepted
///   too (some load balancers write ports), the port ignored. Whitespace around an entry is trimmed.
/// - All entries trusted: the leftmost one (the furthest hop the chain vouches for).
/// - A garbage entry (`unknown`, `_hidden`, `unix:`, a hostname, anything that does not parse)
///   stops the walk as the end of the list would: the answer is the last address reached, which is
///   a trusted proxy (the one that wrote or passed on the garbage). It is never skipped over, because
///   what lies left of it was not vouched for by anyone we trust.
public enum ClientAddress {
    /// The client address for a connection from `peer` carrying these X-Forwarded-For field values
    /// (every line, in order; empty when there is none).
    public static func resolve(peer: IPAddress, xForwardedFor: [String], trusted: AddressList) -> IPAddress {
        guard !trusted.isEmpty, trusted.contains(peer) else { return peer }
        var current = peer
        for value in xForwardedFor.reversed() {
            var value = value
            let outcome = value.withUTF8 { walk($0, from: current, trusted: trusted) }
            switch outcome {
            case .client(let a): return a
            case .stopped(let a): return a
            case .allTrusted(let a): current = a
            }
        }
        return current
    }

    /// The same, reading the X-Forwarded-For fields from a request's header fields.
    public static func resolve(peer: IPAddress, headers: HeaderFields, trusted: AddressList) -> IPAddress {
        guard !trusted.isEmpty, trusted.contains(peer) else { return peer }
        return resolve(peer: peer, xForwardedFor: headers.values("X-Forwarded-For"), trusted: trusted)
    }

    private enum Walk {
        case client(IPAddress)     // an untrusted entry: the answer
        case stopped(IPAddress)    // garbage: the answer is the last address reached
        case allTrusted(IPAddress) // every entry of this line trusted; the leftmost so far
    }

    /// Walks one field value from its right end.
    private static func walk(_ v: UnsafeBufferPointer<UInt8>, from start: IPAddress, trusted: AddressList) -> Walk {
        var current = start
        var end = v.count
        while end > 0 {
            var begin = end
            while begin > 0 && v[begin - 1] != 0x2C { begin -= 1 }  // ','
            var lo = begin, hi = end
            while lo < hi && (v[lo] == 0x20 || v[lo] == 0x09) { lo += 1 }
            while hi > lo && (v[hi - 1] == 0x20 || v[hi - 1] == 0x09) { hi -= 1 }
            if lo < hi {
                guard let a = parseEntry(UnsafeBufferPointer(rebasing: v[lo..<hi])) else { return .stopped(current) }
                current = a
                if !trusted.contains(a) { return .client(a) }
            }
            end = begin - 1
        }
        return .allTrusted(current)
    }

    /// One X-Forwarded-For entry: an address, `a.b.c.d:port`, `[v6]` or `[v6]:port`.
    static func parseEntry(_ e: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        guard let first = e.first else { return nil }
        if first == 0x5B {  // '['
            guard let close = e.firstIndex(of: 0x5D) else { return nil }
            let rest = e[(close + 1)...]
            guard rest.isEmpty || isPort(UnsafeBufferPointer(rebasing: rest)) else { return nil }
            guard let a = IPAddress.parse(UnsafeBufferPointer(rebasing: e[1..<close])), !a.isV4 || hasColon(e[1..<close])
            else { return nil }
            return a
        }
        if let a = IPAddress.parse(e) { return a }
        // a.b.c.d:port (only one colon: anything with more is IPv6 and must be bracketed to carry a port)
        guard let colon = e.firstIndex(of: 0x3A), e[(colon + 1)...].firstIndex(of: 0x3A) == nil,
              isPort(UnsafeBufferPointer(rebasing: e[colon...])),
              let v4 = IPAddress.parseV4(e, 0..<colon)
        else { return nil }
        return IPAddress(v4: v4)
    }

    private static func hasColon(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> Bool { s.contains(0x3A) }

    /// `:` followed by 1-5 digits.
    private static func isPort(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        s.count >= 2 && s.count <= 6 && s[0] == 0x3A && s.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}
