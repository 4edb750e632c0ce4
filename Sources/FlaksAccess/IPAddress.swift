import FlaksHTTP  // hexDigitValue

/// An IPv4 or IPv6 address as a value: parsed from text without Foundation or libc, compared and
/// masked as a 128-bit number.
///
/// Representation: `high` and `low` hold the 128 bits of an IPv6 address; an IPv4 address keeps its
/// 32 bits in the low word (`high == 0`) and `isV4` says which family it is. Families never compare
/// equal, and a CIDR of one family never contains an address of the other.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) are what a dual-stack socket
/// reports for an IPv4 peer; they are the IPv4 address `a.b.c.d` here, both when parsed from text and
/// when built from 16 bytes. So `10.0.0.0/8` covers a client that reached a `[::]` listener over
/// IPv4, and the access log prints `10.1.2.3`, not `::ffff:10.1.2.3`. (The deprecated IPv4-compatible
/// form `::a.b.c.d` stays an IPv6 address.)
public struct IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Bits 0-63 of the IPv6 address (network order: the first group is the top 16 bits); 0 for IPv4.
    public let high: UInt64
    /// Bits 64-127 of the IPv6 address, or the IPv4 address in the low 32 bits.
    public let low: UInt64
    /// Whether this is an IPv4 address (including one that arrived IPv4-mapped).
    public let isV4: Bool

    /// An IPv4 address from its 32-bit value in host order (`0x7F000001` is 127.0.0.1).
    public init(v4 value: UInt32) {
        high = 0
        low = UInt64(value)
        isV4 = true
    }

    /// An IPv6 address from its two 64-bit halves in host order; an IPv4-mapped one becomes IPv4.
    public init(v6High high: UInt64, low: UInt64) {
        if high == 0 && (low >> 32) == 0xFFFF {
            self.init(v4: UInt32(truncatingIfNeeded: low))
        } else {
            self.init(rawV6High: high, low: low)
        }
    }

    /// An address from its network-order bytes: 4 bytes (IPv4, `sin_addr`) or 16 (IPv6,
    /// `sin6_addr`; IPv4-mapped becomes IPv4). Any other count: nil.
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        switch bytes.count {
        case 4:
            var v: UInt32 = 0
            for b in bytes { v = v << 8 | UInt32(b) }
            self.init(v4: v)
        case 16:
            var h: UInt64 = 0, l: UInt64 = 0, i = 0
            for b in bytes {
                if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
                i += 1
            }
            self.init(v6High: h, low: l)
        default:
            return nil
        }
    }

    /// Parses the textual forms of RFC 4291 §2.2 (IPv6, with `::` and a trailing dotted quad) and the
    /// dotted-quad IPv4 form (exactly four decimal parts 0-255).
    ///
    /// Refused: leading zeros in an IPv4 part (`010.0.0.1` is octal to `inet_aton` and decimal to
    /// others: ambiguous, so neither), brackets, ports, zone ids (`fe80::1%eth0`), surrounding
    /// whitespace, more than four hex digits in a group, and more than one `::`.
    public init?(_ text: String) {
        var text = text
        let parsed = text.withUTF8 { IPAddress.parse($0) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Parses an address from UTF-8 bytes (see `init?(_:)`).
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        guard let parsed = IPAddress.parse(bytes) else { return nil }
        self = parsed
    }

    /// The same address, with the bits after the first `prefix` set to zero (`prefix` counted in the
    /// address's own family: 0-32 for IPv4, 0-128 for IPv6).
    public func masked(toPrefix prefix: Int) -> IPAddress {
        let (mh, ml) = IPAddress.mask(prefix: prefix, isV4: isV4)
        if isV4 { return IPAddress(v4: UInt32(truncatingIfNeeded: low & ml)) }
        return IPAddress(rawV6High: high & mh, low: low & ml)
    }

    /// The key of the rate limiter: the IPv4 address, or the IPv6 /64 the address is in (a host
    /// usually gets a whole /64, so per-address buckets for IPv6 would be free to multiply).
    public var rateKey: RateKey {
        RateKey(value: isV4 ? low : high, isV4: isV4)
    }

    /// An IPv6 value without the IPv4-mapped check: for masks and networks, where `::ffff:0:0/96`
    /// written as IPv6 is meant literally.
    init(rawV6High high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
        isV4 = false
    }

    /// The two 64-bit mask words of a prefix in the given family.
    @inline(__always)
    static func mask(prefix: Int, isV4: Bool) -> (high: UInt64, low: UInt64) {
        if isV4 {
            let p = max(0, min(32, prefix))
            return (0, p == 0 ? 0 : (UInt64(UInt32.max) << (32 - p)) & UInt64(UInt32.max))
        }
        let p = max(0, min(128, prefix))
        let h: UInt64 = p == 0 ? 0 : (p >= 64 ? .max : .max << (64 - p))
        let l: UInt64 = p <= 64 ? 0 : (p == 128 ? .max : .max << (128 - p))
        return (h, l)
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.isV4 != b.isV4 { return a.isV4 }  // IPv4 sorts first
        return (a.high, a.low) < (b.high, b.low)
    }

    /// Dotted quad for IPv4; RFC 5952 §4 for IPv6 (lowercase, no leading zeros, the longest run of two
    /// or more zero groups, the first if tied, as `::`).
    public var description: String {
        if isV4 {
            // Digits into a stack buffer: the interpolation of four integers cost ~1,660 instructions,
            // 330 now; once per proxied request (X-Forwarded-For).
            let v = UInt32(truncatingIfNeeded: low)
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 15) { buf in
                var n = 0
                for i in 0..<4 {
                    let octet = UInt8(truncatingIfNeeded: v >> UInt32(24 - 8 * i))
                    if i > 0 { buf[n] = 0x2E; n += 1 }
                    if octet >= 100 { buf[n] = 0x30 + octet / 100; n += 1 }
                    if octet >= 10 { buf[n] = 0x30 + octet / 10 % 10; n += 1 }
                    buf[n] = 0x30 + octet % 10; n += 1
                }
                return String(decoding: UnsafeBufferPointer(rebasing: buf[..<n]), as: UTF8.self)
            }
        }
        var groups = [UInt16](repeating: 0, count: 8)
        for i in 0..<4 {
            groups[i] = UInt16(truncatingIfNeeded: high >> (48 - 16 * i))
            groups[i + 4] = UInt16(truncatingIfNeeded: low >> (48 - 16 * i))
        }
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLength { bestStart = i; bestLength = j - i }
                i = j
            } else {
                i += 1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var out = ""
        i = 0
        while i < 8 {
            if i == bestStart {
                out += "::"
                i += bestLength
                continue
            }
            if !out.isEmpty && !out.hasSuffix(":") { out += ":" }
            out += String(groups[i], radix: 16)
            i += 1
        }
        return out
    }

    // MARK: Parsing

    static func parse(_ s: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        guard !s.isEmpty, s.count <= 45 else { return nil }  // 45: the longest IPv6 text form
        if s.contains(0x3A) {  // ':'
            guard let (h, l) = parseV6(s) else { return nil }
            return IPAddress(v6High: h, low: l)
        }
        guard let v = parseV4(s, s.startIndex..<s.endIndex) else { return nil }
        return IPAddress(v4: v)
    }

    /// Exactly four decimal parts 0-255, no leading zeros, no signs, nothing else.
    static func parseV4(_ s: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt32? {
        var value: UInt32 = 0
        var parts = 0
        var i = range.lowerBound
        while true {
            var part: UInt32 = 0
            var digits = 0
            let start = i
            while i < range.upperBound, s[i] >= 0x30, s[i] <= 0x39 {
                part = part * 10 + UInt32(s[i] - 0x30)
                digits += 1
                i += 1
                if digits > 3 { return nil }
            }
            if digits == 0 || part > 255 || (digits > 1 && s[start] == 0x30) { return nil }
            value = value << 8 | part
            parts += 1
            if i == range.upperBound { break }
            guard s[i] == 0x2E, parts < 4 else { return nil }  // '.'
            i += 1
        }
        return parts == 4 ? value : nil
    }

    /// RFC 4291 §2.2: eight groups of 1-4 hex digits; one `::` for a run of zero groups; the last two
    /// groups may be written as a dotted quad.
    static func parseV6(_ s: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        var groups = [UInt16](repeating: 0, count: 8)
        var count = 0
        var gapAt = -1  // index in `groups` where `::` stands
        var i = s.startIndex
        let end = s.endIndex
        if s[i] == 0x3A {
            guard i + 1 < end, s[i + 1] == 0x3A else { return nil }  // a lone leading ':'
            gapAt = 0
            i += 2
            if i == end { return (0, 0) }  // "::"
        }
        while i < end {
            // One group, or a trailing dotted quad.
            let start = i
            var v: UInt32 = 0
            var digits = 0
            while i < end, let d = hexDigitValue(s[i]) {
                v = v << 4 | UInt32(d)
                digits += 1
                i += 1
                if digits > 4 { return nil }
            }
            if i < end && s[i] == 0x2E {  // '.': the rest is an IPv4 address
                guard count <= 6, let v4 = parseV4(s, start..<end) else { return nil }
                groups[count] = UInt16(v4 >> 16)
                groups[count + 1] = UInt16(v4 & 0xFFFF)
                count += 2
                i = end
                break
            }
            guard digits > 0, count < 8 else { return nil }
            groups[count] = UInt16(v)
            count += 1
            if i == end { break }
            guard s[i] == 0x3A else { return nil }
            i += 1
            if i < end && s[i] == 0x3A {
                guard gapAt < 0 else { return nil }  // a second "::"
                gapAt = count
                i += 1
                if i == end { break }
            } else if i == end {
                return nil  // a trailing single ':'
            }
        }
        if gapAt >= 0 {
            guard count < 8 else { return nil }  // "::" must stand for at least one group (RFC 4291 §2.2 item 2)
            let tail = count - gapAt
            var expanded = [UInt16](repeating: 0, count: 8)
            for k in 0..<gapAt { expanded[k] = groups[k] }
            for k in 0..<tail { expanded[8 - tail + k] = groups[gapAt + k] }
            groups = expanded
        } else if count != 8 {
            return nil
        }
        var h: UInt64 = 0, l: UInt64 = 0
        for k in 0..<4 {
            h = h << 16 | UInt64(groups[k])
            l = l << 16 | UInt64(groups[k + 4])
        }
        return (h, l)
    }
}

/// A rate-limiter client key: an IPv4 address or an IPv6 /64 prefix (the family is part of the key,
/// so 1.2.3.4 and the /64 `0:0:102:304::` stay apart).
public struct RateKey: Sendable, Hashable {
    /// The IPv4 address (low 32 bits), or the first 64 bits of the IPv6 address.
    public let value: UInt64
    /// Which of the two.
    public let isV4: Bool

    public init(value: UInt64, isV4: Bool) {
        self.value = value
        self.isV4 = isV4
    }
}
