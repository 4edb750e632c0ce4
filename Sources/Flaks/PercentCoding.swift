import FlaksHTTP

/// Percent-decoding (and encoding, through FlaksHTTP's `PercentEncoding`) for query strings, form bodies and built URLs (RFC 3986 §2.1,
/// and the application/x-www-form-urlencoded rules of the WHATWG URL standard: `+` is a space).
enum PercentCoding {
    /// Decodes `%XX` escapes (and `+` as a space when `plusIsSpace`). A `%` not followed by two hex
    /// digits is kept as it is, as browsers and Flask do; invalid UTF-8 becomes U+FFFD.
    static func decode(_ s: some StringProtocol, plusIsSpace: Bool = true) -> String {
        let u = s.utf8
        guard u.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(s)
        }
        var out: [UInt8] = []
        out.reserveCapacity(u.count)
        var i = u.startIndex
        while i != u.endIndex {
            let b = u[i]
            if b == UInt8(ascii: "%") {
                let h1 = u.index(after: i)
                if h1 != u.endIndex, let hi = hexDigitValue(u[h1]) {
                    let h2 = u.index(after: h1)
                    if h2 != u.endIndex, let lo = hexDigitValue(u[h2]) {
                        out.append(hi << 4 | lo)
                        i = u.index(after: h2)
                        continue
                    }
                }
                out.append(b)
            } else if plusIsSpace && b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(b)
            }
            i = u.index(after: i)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes everything but RFC 3986 unreserved characters (and "/" when `keepSlash`), with
    /// the one encoder the server uses (`PercentEncoding`).
    static func encode(_ s: String, keepSlash: Bool = false) -> String {
        keepSlash ? PercentEncoding.encode(s) { PercentEncoding.isUnreserved($0) || $0 == UInt8(ascii: "/") }
            : PercentEncoding.encode(s, keeping: PercentEncoding.isUnreserved)
    }
}
