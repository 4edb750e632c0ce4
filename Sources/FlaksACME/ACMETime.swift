/// The timestamps the ACME client reads: RFC 3339 in JSON (order `expires`, ARI
/// `suggestedWindow`: RFC 8555 §7.1, RFC 9773 §4.2) and Retry-After headers (RFC 9110 §10.2.3:
/// delta-seconds or an HTTP-date). All results are Unix seconds; nothing here reads a clock.
public enum ACMETime {
    /// Retry-After is clamped to this many seconds ahead (a hostile or broken CA cannot push
    /// the next attempt years away, nor overflow the arithmetic).
    public static let maxRetryAfter: Int64 = 7 * 86400

    /// The absolute time a Retry-After value names, given the response's `now`: delta-seconds
    /// (`120`) or an IMF-fixdate (`Wed, 21 Oct 2015 07:28:00 GMT`). A date in the past gives
    /// `now`; nil for anything else (the obsolete RFC 850 and asctime forms are not accepted).
    public static func retryAfter(_ value: String, now: Int64) -> Int64? {
        let v = value.trimmingASCIIWhitespace()
        if !v.isEmpty, v.utf8.count <= 18, v.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            let delta = Int64(v) ?? maxRetryAfter
            return now + min(delta, maxRetryAfter)
        }
        guard let date = imfFixdate(v) else { return nil }
        return min(max(date, now), now + maxRetryAfter)
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7) → Unix seconds.
    public static func imfFixdate(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count == 29, b[3] == UInt8(ascii: ","), b[4] == 0x20, b[7] == 0x20, b[11] == 0x20, b[16] == 0x20,
              b[19] == UInt8(ascii: ":"), b[22] == UInt8(ascii: ":"), b[25] == 0x20,
              String(decoding: b[26..<29], as: UTF8.self) == "GMT" else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let m = months.firstIndex(of: String(decoding: b[8..<11], as: UTF8.self)),
              let day = digits(b, 5, 2), let year = digits(b, 12, 4),
              let hour = digits(b, 17, 2), let minute = digits(b, 20, 2), let second = digits(b, 23, 2) else { return nil }
        return unixTime(year: year, month: m + 1, day: day, hour: hour, minute: minute, second: second)
    }

    /// RFC 3339 §5.6 `date-time` (`2026-01-02T03:04:05Z`, `...05.123+02:00`; `t`/`z` and a space
    /// for `T` accepted) → Unix seconds, the fraction dropped. nil for anything else.
    public static func rfc3339(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count >= 20, b.count <= 64, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == 0x20,
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let year = digits(b, 0, 4), let month = digits(b, 5, 2), let day = digits(b, 8, 2),
              let hour = digits(b, 11, 2), let minute = digits(b, 14, 2), let second = digits(b, 17, 2)
        else { return nil }
        var i = 19
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > start, i < b.count else { return nil }
        }
        var offset = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard i + 1 == b.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard i + 6 == b.count, b[i + 3] == UInt8(ascii: ":"),
                  let oh = digits(b, i + 1, 2), let om = digits(b, i + 4, 2), oh < 24, om < 60 else { return nil }
            offset = (oh * 60 + om) * 60 * (b[i] == UInt8(ascii: "+") ? 1 : -1)
        default: return nil
        }
        guard let t = unixTime(year: year, month: month, day: day, hour: hour, minute: minute,
                               second: min(second, 59))   // a leap second reads as :59
        else { return nil }
        return t - Int64(offset)
    }

    /// Days-from-civil (proleptic Gregorian), checked ranges; nil for an impossible date.
    static func unixTime(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1, hour < 24, minute < 60, second < 61 else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= lengths[month - 1] else { return nil }
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return days * 86400 + Int64(hour * 3600 + minute * 60 + second)
    }

    private static func digits(_ b: [UInt8], _ at: Int, _ count: Int) -> Int? {
        guard at + count <= b.count else { return nil }
        var v = 0
        for c in b[at..<at + count] {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            v = v * 10 + Int(c - UInt8(ascii: "0"))
        }
        return v
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        let b = Array(utf8)
        var s = 0, e = b.count
        while s < e, b[s] == 0x20 || b[s] == 0x09 { s += 1 }
        while e > s, b[e - 1] == 0x20 || b[e - 1] == 0x09 { e -= 1 }
        return String(decoding: b[s..<e], as: UTF8.self)
    }
}
