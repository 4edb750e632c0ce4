/// A request head plain enough that its answer can depend only on its host and target: what the
/// server's prepared responses are keyed by (see docs/performance.md).
///
/// `QuickHead.scan` accepts a strict subset of what `RequestParser` accepts, and for that subset
/// means the same thing: `GET`, an origin-form target, exactly `HTTP/1.1`, one Host, and otherwise
/// only fields that no handler of a reusable response looks at (User-Agent, Accept, Referer, the
/// browser's Sec-Fetch-* ...) plus `Connection: keep-alive`. Anything else — another method or
/// version, leading empty lines, a body, a conditional, Range, Accept-Encoding, credentials,
/// cookies, forwarding fields, any field it does not know, a byte the parser would reject, a head
/// over the limits or not complete yet — is `nil`, and the request takes the general path, whose
/// parser decides (and reports any error). A differential test holds the two to that promise.
public struct QuickHead: Sendable, Equatable {
    /// Bytes of the head, its final CRLF included.
    public var length: Int
    /// The request-target (origin-form, as sent).
    public var target: Range<Int>
    /// The Host field's value, OWS trimmed.
    public var host: Range<Int>

    /// Scans the front of `b` (a head from its first byte). Never throws and never allocates.
    /// Measured: ~250 instructions for a 40-byte head, against ~2,700 for the full parse into a
    /// `RequestHead` (strings for the target and every field).
    public static func scan(_ b: UnsafeRawBufferPointer, limits: ParseLimits) -> QuickHead? {
        let n = Swift.min(b.count, limits.maxBuffer)
        // "GET /" ... " HTTP/1.1\r\n" and at least "\r\n" after it.
        guard n >= 18, b[0] == 0x47, b[1] == 0x45, b[2] == 0x54, b[3] == 0x20, b[4] == 0x2F else { return nil }
        var i = 5
        while i < n && b[i] >= 0x21 && b[i] <= 0x7E { i &+= 1 }
        let target = 4..<i
        guard i &+ 11 <= n, b[i] == 0x20, b[i &+ 1] == 0x48, b[i &+ 2] == 0x54, b[i &+ 3] == 0x54, b[i &+ 4] == 0x50,
              b[i &+ 5] == 0x2F, b[i &+ 6] == 0x31, b[i &+ 7] == 0x2E, b[i &+ 8] == 0x31,
              b[i &+ 9] == 0x0D, b[i &+ 10] == 0x0A else { return nil }
        i &+= 11
        var host: Range<Int>?
        var count = 0
        while true {
            guard i &+ 1 < n else { return nil }
            if b[i] == 0x0D {
                guard b[i &+ 1] == 0x0A else { return nil }
                i &+= 2
                break
            }
            count &+= 1
            guard count <= limits.maxHeaderCount else { return nil }
            let nameStart = i
            while i < n && isTChar(b[i]) { i &+= 1 }
            guard i < n, b[i] == 0x3A, i > nameStart else { return nil }
            let kind = fieldKind(b, nameStart..<i)
            if kind == .other { return nil }
            i &+= 1
            while i < n && (b[i] == 0x20 || b[i] == 0x09) { i &+= 1 }
            let valueStart = i
            // A field value: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5), as the parser checks.
            while i < n && (b[i] >= 0x20 ? b[i] != 0x7F : b[i] == 0x09) { i &+= 1 }
            guard i &+ 1 < n, b[i] == 0x0D, b[i &+ 1] == 0x0A else { return nil }
            var valueEnd = i
            while valueEnd > valueStart && (b[valueEnd &- 1] == 0x20 || b[valueEnd &- 1] == 0x09) { valueEnd &-= 1 }
            i &+= 2
            switch kind {
            case .host:
                guard host == nil, isHostValue(b, valueStart..<valueEnd) else { return nil }
                host = valueStart..<valueEnd
            case .connection:
                guard ASCII.equalsIgnoringCase(b, valueStart..<valueEnd, "keep-alive") else { return nil }
            case .ignored, .other:
                break
            }
        }
        guard let host else { return nil }
        return QuickHead(length: i, target: target, host: host)
    }

    enum FieldKind { case host, connection, ignored, other }

    /// Host, Connection, a field the answer does not depend on, or any other (which disqualifies).
    static func fieldKind(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> FieldKind {
        switch r.count {
        case 3: return ASCII.equalsIgnoringCase(b, r, "dnt") ? .ignored : .other
        case 4: return ASCII.equalsIgnoringCase(b, r, "host") ? .host : .other
        case 6:
            return ASCII.equalsIgnoringCase(b, r, "accept") || ASCII.equalsIgnoringCase(b, r, "pragma") ? .ignored : .other
        case 7:
            return ASCII.equalsIgnoringCase(b, r, "referer") || ASCII.equalsIgnoringCase(b, r, "sec-gpc") ? .ignored : .other
        case 8: return ASCII.equalsIgnoringCase(b, r, "priority") ? .ignored : .other
        case 9: return ASCII.equalsIgnoringCase(b, r, "sec-ch-ua") ? .ignored : .other
        case 10:
            if ASCII.equalsIgnoringCase(b, r, "connection") { return .connection }
            return ASCII.equalsIgnoringCase(b, r, "user-agent") ? .ignored : .other
        case 13: return ASCII.equalsIgnoringCase(b, r, "cache-control") ? .ignored : .other
        case 14:
            return ASCII.equalsIgnoringCase(b, r, "sec-fetch-site") || ASCII.equalsIgnoringCase(b, r, "sec-fetch-mode")
                || ASCII.equalsIgnoringCase(b, r, "sec-fetch-user") || ASCII.equalsIgnoringCase(b, r, "sec-fetch-dest")
                ? .ignored : .other
        case 15: return ASCII.equalsIgnoringCase(b, r, "accept-language") ? .ignored : .other
        case 16: return ASCII.equalsIgnoringCase(b, r, "sec-ch-ua-mobile") ? .ignored : .other
        case 18: return ASCII.equalsIgnoringCase(b, r, "sec-ch-ua-platform") ? .ignored : .other
        case 25: return ASCII.equalsIgnoringCase(b, r, "upgrade-insecure-requests") ? .ignored : .other
        default: return .other
        }
    }

    /// `tchar` (RFC 9110 §5.6.2), as `ASCII.isTChar`: one bit per byte (two 64-bit masks).
    @inline(__always)
    static func isTChar(_ c: UInt8) -> Bool {
        c < 64 ? (0x03FF_6CFA_0000_0000 as UInt64) >> c & 1 != 0
            : c < 128 ? (0x57FF_FFFF_C7FF_FFFE as UInt64) >> (c & 63) & 1 != 0 : false
    }

    /// The characters `FieldAccumulator.checkHostValue` accepts, as bits.
    static func isHostValue(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> Bool {
        for i in r {
            let c = b[i]
            let ok = c < 64 ? (0x2FFF_7FF2_0000_0000 as UInt64) >> c & 1 != 0
                : c < 128 ? (0x47FF_FFFE_AFFF_FFFE as UInt64) >> (c & 63) & 1 != 0 : false
            if !ok { return false }
        }
        return true
    }
}
