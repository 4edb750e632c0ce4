import FlaksHTTP

/// Dates of the static handler: HTTP-date parsing for conditionals (RFC 9110 §5.6.7, through
/// `HTTPDate.parse`), a fast Last-Modified formatter, and the short UTC timestamps of listings.
public enum StaticDates {
    /// Seconds since 1970 for an HTTP-date in any of its three forms, or nil when `text` is not one.
    /// Surrounding spaces and tabs (optional whitespace of a field value) are ignored.
    public static func parse(_ text: Substring) -> Int? {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) })
        else { return nil }
        return HTTPDate.parse(String(text[first...last]))
    }

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) for Last-Modified, built as
    /// 29 bytes: the same output as `HTTPDate.format`, without its string interpolation (it was the
    /// largest user-space cost of a static response in a profile).
    public static func format(_ t: Int) -> String {
        let (y, m, d, secs) = HTTPDate.components(secondsSince1970: t)
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let wd: StaticString = "ThuFriSatSunMonTueWed"
        let mn: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"
        guard (0...9999).contains(y) else { return HTTPDate.format(secondsSince1970: t) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 29) { b in
            let w = ((days % 7) + 7) % 7
            for k in 0..<3 { b[k] = wd.utf8Start[w * 3 + k] }
            b[3] = UInt8(ascii: ","); b[4] = 32
            b[5] = UInt8(48 + d / 10); b[6] = UInt8(48 + d % 10); b[7] = 32
            for k in 0..<3 { b[8 + k] = mn.utf8Start[(m - 1) * 3 + k] }
            b[11] = 32
            b[12] = UInt8(48 + y / 1000); b[13] = UInt8(48 + y / 100 % 10); b[14] = UInt8(48 + y / 10 % 10); b[15] = UInt8(48 + y % 10)
            b[16] = 32
            let h = secs / 3600, mi = secs % 3600 / 60, s = secs % 60
            b[17] = UInt8(48 + h / 10); b[18] = UInt8(48 + h % 10); b[19] = UInt8(ascii: ":")
            b[20] = UInt8(48 + mi / 10); b[21] = UInt8(48 + mi % 10); b[22] = UInt8(ascii: ":")
            b[23] = UInt8(48 + s / 10); b[24] = UInt8(48 + s % 10)
            b[25] = 32; b[26] = UInt8(ascii: "G"); b[27] = UInt8(ascii: "M"); b[28] = UInt8(ascii: "T")
            return String(decoding: UnsafeBufferPointer(b), as: UTF8.self)
        }
    }

    /// `2024-05-01 12:34` (UTC), for directory listings.
    public static func listingTimestamp(_ t: Int) -> String {
        let (y, m, d, secs) = HTTPDate.components(secondsSince1970: t)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d)) \(two(secs / 3600)):\(two(secs % 3600 / 60))"
    }
}
