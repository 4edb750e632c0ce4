/// The user and password of an `Authorization: Basic …` field (RFC 7617), or nothing.
///
/// Everything malformed is `nil`, which the server answers with 401 and a fresh challenge, never
/// a 400 or a 500: a client that sends garbage is simply not authenticated.
public struct BasicCredentials: Sendable, Hashable {
    /// The user-id: valid UTF-8, no control characters, no colon.
    public let user: String
    /// The password: valid UTF-8, no control characters (it may contain colons).
    public let password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }

    /// Parses an Authorization field value.
    ///
    /// - The scheme is `Basic`, compared case-insensitively (RFC 9110 §11.1), followed by one or more
    ///   SP and a token68 (RFC 9110 §11.4); whitespace around the whole value is ignored.
    /// - The token is strict base64 (RFC 4648 §4): the standard alphabet, length a multiple of 4,
    ///   `=` padding only at the end and only as much as needed, and the unused bits of the last
    ///   character zero (RFC 4648 §3.5), so every credential has exactly one spelling.
    /// - The decoded octets are split at the first `:` (RFC 7617 §2: the user-id cannot contain one);
    ///   no colon is malformed. Both parts must be valid UTF-8 (the challenge says charset="UTF-8",
    ///   RFC 7617 §2.1) and contain no control characters (RFC 7617 §2: C0, DEL, and C1 too).
    public static func parse(_ value: String) -> BasicCredentials? {
        var value = value
        return value.withUTF8 { parse(utf8: $0) }
    }

    /// Parses an Authorization field value given as bytes (see `parse(_:)`).
    public static func parse(utf8 v: UnsafeBufferPointer<UInt8>) -> BasicCredentials? {
        var lo = 0, hi = v.count
        while lo < hi && (v[lo] == 0x20 || v[lo] == 0x09) { lo += 1 }
        while hi > lo && (v[hi - 1] == 0x20 || v[hi - 1] == 0x09) { hi -= 1 }
        let scheme: [UInt8] = [0x62, 0x61, 0x73, 0x69, 0x63]  // "basic"
        guard hi - lo > 6 else { return nil }
        for k in 0..<5 where v[lo + k] | 0x20 != scheme[k] { return nil }
        guard v[lo + 5] == 0x20 else { return nil }
        var t = lo + 6
        while t < hi && v[t] == 0x20 { t += 1 }
        guard t < hi, let decoded = Base64.decodeStrict(UnsafeBufferPointer(rebasing: v[t..<hi])),
              let colon = decoded.firstIndex(of: 0x3A)
        else { return nil }
        let userBytes = decoded[..<colon], passwordBytes = decoded[(colon + 1)...]
        guard let user = String(validating: userBytes, as: UTF8.self),
              let password = String(validating: passwordBytes, as: UTF8.self),
              !hasControl(user), !hasControl(password)
        else { return nil }
        return BasicCredentials(user: user, password: password)
    }

    /// The WWW-Authenticate value of a 401: `Basic realm="…", charset="UTF-8"` (RFC 7617 §2, §2.1).
    ///
    /// The realm is a quoted-string (RFC 9110 §5.6.4): `"` and `\` are escaped with `\`; control
    /// characters (which the manifest loader should refuse anyway) are dropped, so no realm can break
    /// the header line.
    public static func challenge(realm: String) -> String {
        var quoted = ""
        quoted.reserveCapacity(realm.utf8.count + 2)
        for ch in realm.unicodeScalars {
            switch ch.value {
            case 0x22, 0x5C: quoted.append("\\"); quoted.unicodeScalars.append(ch)
            case 0x00...0x1F, 0x7F...0x9F: continue
            default: quoted.unicodeScalars.append(ch)
            }
        }
        return "Basic realm=\"\(quoted)\", charset=\"UTF-8\""
    }

    private static func hasControl(_ s: String) -> Bool {
        s.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F) }
    }
}

/// Strict base64 (RFC 4648 §4), the decoding half only: what Basic credentials need.
enum Base64 {
    /// The octets of `s`, or nil unless `s` is canonical padded base64 (see `BasicCredentials.parse`).
    static func decodeStrict(_ s: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard !s.isEmpty, s.count % 4 == 0 else { return nil }
        var padding = 0
        if s[s.count - 1] == 0x3D { padding = s[s.count - 2] == 0x3D ? 2 : 1 }
        var out: [UInt8] = []
        out.reserveCapacity(s.count / 4 * 3)
        var i = 0
        while i < s.count {
            let last = i + 4 == s.count
            var v: UInt32 = 0
            for k in 0..<4 {
                let c = s[i + k]
                if last && k >= 4 - padding {
                    v <<= 6  // the '=' of the padding (checked to be '=' above only for the final two)
                    guard c == 0x3D else { return nil }
                    continue
                }
                guard let d = value(c) else { return nil }  // '=' anywhere else is refused here
                v = v << 6 | UInt32(d)
            }
            out.append(UInt8(truncatingIfNeeded: v >> 16))
            if !last || padding < 2 { out.append(UInt8(truncatingIfNeeded: v >> 8)) }
            if !last || padding < 1 { out.append(UInt8(truncatingIfNeeded: v)) }
            if last {
                // The bits of the last character that no output octet uses must be zero (RFC 4648 §3.5).
                if padding == 2 && v & 0xFFFF != 0 { return nil }
                if padding == 1 && v & 0xFF != 0 { return nil }
            }
            i += 4
        }
        return out
    }

    @inline(__always)
    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x41...0x5A: c - 0x41          // A-Z
        case 0x61...0x7A: c - 0x61 + 26     // a-z
        case 0x30...0x39: c - 0x30 + 52     // 0-9
        case 0x2B: 62                       // +
        case 0x2F: 63                       // /
        default: nil
        }
    }
}
