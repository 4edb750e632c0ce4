import FlaksHTTP

/// Small helpers over header field names and list-valued fields (RFC 9110 §5.6.1), shared by the
/// request and response rewriting. ASCII only: field names and the tokens compared here are tokens.
enum FieldLists {
    /// The elements of every `name` field line, in order, as one comma-separated list
    /// (RFC 9110 §5.3), each with surrounding OWS trimmed; empty elements are skipped (§5.6.1).
    static func elements(_ headers: HeaderFields, _ name: String) -> [Substring] {
        var out: [Substring] = []
        for field in headers where HeaderFields.equalsIgnoringCase(field.name, name) {
            appendElements(of: field.value, to: &out)
        }
        return out
    }

    /// Appends the non-empty, OWS-trimmed elements of the list `value` to `out`. Split on the UTF-8
    /// bytes: `String.split` walks Characters (grapheme breaking), ~500 instructions a byte.
    static func appendElements(of value: String, to out: inout [Substring]) {
        let u = value.utf8
        var start = u.startIndex, i = u.startIndex
        while i < u.endIndex {
            if u[i] == 0x2C {
                let t = trimOWS(value[start..<i])
                if !t.isEmpty { out.append(t) }
                start = u.index(after: i)
            }
            i = u.index(after: i)
        }
        let t = trimOWS(value[start..<u.endIndex])
        if !t.isEmpty { out.append(t) }
    }

    /// Whether some element of the `name` list equals `token`, ASCII case-insensitively.
    static func contains(_ headers: HeaderFields, _ name: String, token: String) -> Bool {
        elements(headers, name).contains { equalsIgnoringCase($0, token) }
    }

    /// `s` without leading and trailing SP / HTAB.
    static func trimOWS(_ s: Substring) -> Substring {
        let u = s.utf8
        var lo = u.startIndex, hi = u.endIndex
        while lo < hi, u[lo] == 0x20 || u[lo] == 0x09 { lo = u.index(after: lo) }
        while lo < hi {
            let last = u.index(before: hi)
            guard u[last] == 0x20 || u[last] == 0x09 else { break }
            hi = last
        }
        return s[lo..<hi]
    }

    /// ASCII case-insensitive equality of any two strings.
    static func equalsIgnoringCase(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        let au = a.utf8, bu = b.utf8
        guard au.count == bu.count else { return false }
        for (x, y) in zip(au, bu) where lower(x) != lower(y) { return false }
        return true
    }

    @inline(__always)
    static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }

    /// The field names a message's Connection fields name (RFC 9110 §7.6.1: each is hop-by-hop and
    /// goes no further than the next hop), as written: compare them with `names(_:contain:)`.
    /// Empty, without an allocation, when there is no Connection field (the usual request). A Set
    /// of lowercased Strings cost ~4,700 instructions on each head (bench/proxy-instructions.sh).
    static func connectionNames(_ headers: HeaderFields) -> [Substring] {
        var out: [Substring] = []
        for field in headers where field.name.utf8.count == 10 && equalsLowercased(field.name, "connection") {
            appendElements(of: field.value, to: &out)
        }
        return out
    }

    /// Whether `names` (from `connectionNames`) holds `name`, ASCII case-insensitively.
    @inline(__always)
    static func names(_ names: [Substring], contain name: String) -> Bool {
        !names.isEmpty && names.contains { equalsIgnoringCase($0, name) }
    }

    /// Whether `name` equals `lowercase` (an all-lowercase ASCII literal) ignoring ASCII case,
    /// compared in place: no lowercased String is made (that cost ~600 instructions a field).
    static func equalsLowercased(_ name: String, _ lowercase: StaticString) -> Bool {
        let count = lowercase.utf8CodeUnitCount
        let p = lowercase.utf8Start
        guard name.utf8.count == count else { return false }
        if let r = name.utf8.withContiguousStorageIfAvailable({ b -> Bool in
            for i in 0..<count where lower(b[i]) != p[i] { return false }
            return true
        }) { return r }
        var i = 0
        for c in name.utf8 {
            if lower(c) != p[i] { return false }
            i += 1
        }
        return true
    }

    /// What the request rewriting does with a client field, by name (`UpstreamRequest.init`).
    enum RequestFieldRole: Equatable {
        /// Copied as is.
        case pass
        /// Never copied (`UpstreamRequest.droppedFromRequests`).
        case drop
        case forwardedFor, forwardedProto, forwardedHost
        /// Forwarded, X-Real-IP, X-Forwarded-Port, X-Forwarded-Prefix: only from a trusted peer.
        case trustedOnly
    }

    /// The role of a client field named `name`: the names of `UpstreamRequest.droppedFromRequests`
    /// and the forwarding fields, found by length then compared in place (no String, no hashing).
    static func requestRole(_ name: String) -> RequestFieldRole {
        switch name.utf8.count {
        case 2: return equalsLowercased(name, "te") ? .drop : .pass
        case 4: return equalsLowercased(name, "host") ? .drop : .pass
        case 6: return equalsLowercased(name, "expect") ? .drop : .pass
        case 7: return equalsLowercased(name, "trailer") || equalsLowercased(name, "upgrade") ? .drop : .pass
        case 9: return equalsLowercased(name, "forwarded") || equalsLowercased(name, "x-real-ip") ? .trustedOnly : .pass
        case 10: return equalsLowercased(name, "connection") || equalsLowercased(name, "keep-alive") ? .drop : .pass
        case 14: return equalsLowercased(name, "content-length") || equalsLowercased(name, "http2-settings") ? .drop : .pass
        case 15: return equalsLowercased(name, "x-forwarded-for") ? .forwardedFor : .pass
        case 16:
            if equalsLowercased(name, "proxy-connection") { return .drop }
            if equalsLowercased(name, "x-forwarded-host") { return .forwardedHost }
            return equalsLowercased(name, "x-forwarded-port") ? .trustedOnly : .pass
        case 17:
            if equalsLowercased(name, "transfer-encoding") { return .drop }
            return equalsLowercased(name, "x-forwarded-proto") ? .forwardedProto : .pass
        case 18: return equalsLowercased(name, "x-forwarded-prefix") ? .trustedOnly : .pass
        case 19: return equalsLowercased(name, "proxy-authorization") ? .drop : .pass
        default: return .pass
        }
    }

    /// Whether an upstream response field named `name` is one of
    /// `UpstreamResponse.droppedFromResponses`, compared in place.
    static func isDroppedFromResponses(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2: return equalsLowercased(name, "te")
        case 7: return equalsLowercased(name, "trailer") || equalsLowercased(name, "upgrade")
        case 10: return equalsLowercased(name, "connection") || equalsLowercased(name, "keep-alive")
        case 14: return equalsLowercased(name, "content-length")
        case 16: return equalsLowercased(name, "proxy-connection")
        case 17: return equalsLowercased(name, "transfer-encoding")
        case 18: return equalsLowercased(name, "proxy-authenticate")
        default: return false
        }
    }
}
