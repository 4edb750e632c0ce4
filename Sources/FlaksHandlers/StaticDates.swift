import FlaksHTTP

/// HTTP-date parsing for the static handler's conditionals (RFC 9110 §5.6.7), and the short UTC
/// timestamps of directory listings.
///
/// Named so it does not clash with `HTTPDate.parse`, which the parser branch adds; switch to that
/// once it lands. Accepts all three forms a recipient must accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and
/// asctime (`Sun Nov  6 08:49:37 1994`). The weekday is not checked against the date.
public enum StaticDates {
    /// Seconds since 1970 for an HTTP-date, or nil when `text` is not one.
    public static func parse(_ text: Substring) -> Int? {
        var s = Scanner(bytes: Array(text.utf8))
        s.skipSpaces()
        guard let weekday = s.letters(), weekday.count >= 3 else { return nil }
        if s.take(UInt8(ascii: ",")) {
            s.skipSpaces()
            guard let day = s.number(maxDigits: 2) else { return nil }
            if s.take(UInt8(ascii: "-")) {
                // RFC 850: 06-Nov-94 08:49:37 GMT
                guard let mon = s.month(), s.take(UInt8(ascii: "-")), let yy = s.number(exactDigits: 2),
                      s.take(UInt8(ascii: " ")), let t = s.time(), s.take(UInt8(ascii: " ")), s.literal("GMT"), s.atEnd
                else { return nil }
                // RFC 9110 §5.6.7: a two-digit year that looks more than 50 years ahead is in the past century
                // (approximated with a fixed pivot: 70-99 -> 19xx, 00-69 -> 20xx).
                let year = yy < 70 ? 2000 + yy : 1900 + yy
                return seconds(year: year, month: mon, day: day, time: t)
            }
            // IMF-fixdate: 06 Nov 1994 08:49:37 GMT
            guard s.take(UInt8(ascii: " ")), let mon = s.month(), s.take(UInt8(ascii: " ")),
                  let year = s.number(exactDigits: 4), s.take(UInt8(ascii: " ")), let t = s.time(),
                  s.take(UInt8(ascii: " ")), s.literal("GMT"), s.atEnd
            else { return nil }
            return seconds(year: year, month: mon, day: day, time: t)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        guard s.take(UInt8(ascii: " ")), let mon = s.month(), s.take(UInt8(ascii: " ")) else { return nil }
        _ = s.take(UInt8(ascii: " "))
        guard let day = s.number(maxDigits: 2), s.take(UInt8(ascii: " ")), let t = s.time(), s.take(UInt8(ascii: " ")),
              let year = s.number(exactDigits: 4), s.atEnd
        else { return nil }
        return seconds(year: year, month: mon, day: day, time: t)
    }

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) for Last-Modified, built as
    /// 29 bytes: the same output as `HTTPDate.format`, without its string interpolation (it was the
    /// largest user-space cost of a static response in a profile).
    public static func format(_ t: Int) -> String {
        let (y, m, d, secs) = civil(t)
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
        let (y, m, d, secs) = civil(t)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d)) \(two(secs / 3600)):\(two(secs % 3600 / 60))"
    }

    private static func seconds(year: Int, month: Int, day: Int, time: (Int, Int, Int)) -> Int? {
        guard (1...31).contains(day), time.0 < 24, time.1 < 60, time.2 < 61 else { return nil }
        // Days from civil (Howard Hinnant's algorithm), the inverse of `HTTPDate.format`.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return days * 86400 + time.0 * 3600 + time.1 * 60 + min(time.2, 59)
    }

    /// (year, month, day, seconds of day) for seconds since 1970.
    static func civil(_ t: Int) -> (Int, Int, Int, Int) {
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let secs = t - days * 86400
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d, secs)
    }

    /// A tiny cursor over ASCII bytes.
    private struct Scanner {
        let bytes: [UInt8]
        var i = 0
        init(bytes: [UInt8]) {
            var b = bytes
            while let last = b.last, last == 32 || last == 9 { b.removeLast() }
            self.bytes = b
        }
        var atEnd: Bool { i == bytes.count }
        mutating func skipSpaces() { while i < bytes.count && bytes[i] == 32 { i += 1 } }
        mutating func take(_ b: UInt8) -> Bool {
            guard i < bytes.count, bytes[i] == b else { return false }
            i += 1; return true
        }
        mutating func letters() -> [UInt8]? {
            let start = i
            while i < bytes.count, (bytes[i] | 0x20) >= 97, (bytes[i] | 0x20) <= 122 { i += 1 }
            return i > start ? Array(bytes[start..<i]) : nil
        }
        mutating func literal(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard i + n <= bytes.count else { return false }
            let ok = s.withUTF8Buffer { zip($0, bytes[i..<(i + n)]).allSatisfy { $0 == $1 } }
            if ok { i += n }
            return ok
        }
        mutating func number(maxDigits: Int) -> Int? {
            var v = 0, n = 0
            while i < bytes.count, n < maxDigits, bytes[i] >= 48, bytes[i] <= 57 { v = v * 10 + Int(bytes[i] - 48); i += 1; n += 1 }
            return n > 0 ? v : nil
        }
        mutating func number(exactDigits: Int) -> Int? {
            let start = i
            guard let v = number(maxDigits: exactDigits), i - start == exactDigits else { return nil }
            return v
        }
        mutating func time() -> (Int, Int, Int)? {
            guard let h = number(exactDigits: 2), take(58), let m = number(exactDigits: 2), take(58),
                  let s = number(exactDigits: 2) else { return nil }
            return (h, m, s)
        }
        /// Month names are case-sensitive in the grammar; accepted case-insensitively here (robustness).
        mutating func month() -> Int? {
            guard i + 3 <= bytes.count else { return nil }
            let m = bytes[i..<(i + 3)].map { $0 | 0x20 }
            let names = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            for (k, n) in names.enumerated() where Array(n.utf8) == m { i += 3; return k + 1 }
            return nil
        }
    }
}
