import FlaksHTTP

/// Small helpers over header field names and list-valued fields (RFC 9110 §5.6.1), shared by the
/// request and response rewriting. ASCII only: field names and the tokens compared here are tokens.
enum FieldLists {
    /// The elements of every `name` field line, in order, as one comma-separated list
    /// (RFC 9110 §5.3), each with surrounding OWS trimmed; empty elements are skipped (§5.6.1).
    static func elements(_ headers: HeaderFields, _ name: String) -> [Substring] {
        var out: [Substring] = []
        for field in headers where HeaderFields.equalsIgnoringCase(field.name, name) {
            for part in field.value.split(separator: ",", omittingEmptySubsequences: false) {
                let trimmed = trimOWS(part)
                if !trimmed.isEmpty { out.append(trimmed) }
            }
        }
        return out
    }

    /// Whether some element of the `name` list equals `token`, ASCII case-insensitively.
    static func contains(_ headers: HeaderFields, _ name: String, token: String) -> Bool {
        elements(headers, name).contains { equalsIgnoringCase($0, token) }
    }

    /// `s` without leading and trailing SP / HTAB.
    static func trimOWS(_ s: Substring) -> Substring {
        var t = s
        while let f = t.utf8.first, f == 0x20 || f == 0x09 { t = t.dropFirst() }
        while let l = t.utf8.last, l == 0x20 || l == 0x09 { t = t.dropLast() }
        return t
    }

    /// ASCII case-insensitive equality of any two strings.
    static func equalsIgnoringCase(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        let au = a.utf8, bu = b.utf8
        guard au.count == bu.count else { return false }
        for (x, y) in zip(au, bu) where lower(x) != lower(y) { return false }
        return true
    }

    /// The name with ASCII letters lowercased (the key of the name sets below).
    static func lowercased(_ s: some StringProtocol) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        for b in s.utf8 { bytes.append(lower(b)) }
        return String(decoding: bytes, as: UTF8.self)
    }

    @inline(__always)
    static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }

    /// The lowercased field names a message's Connection fields name (RFC 9110 §7.6.1: each is
    /// hop-by-hop and goes no further than the next hop).
    static func connectionOptions(_ headers: HeaderFields) -> Set<String> {
        Set(elements(headers, "Connection").map { lowercased($0) })
    }
}
