/// HTTP dates (RFC 9110 §5.6.7) without Foundation: formatting as IMF-fixdate and parsing the
/// three forms a recipient must accept. Times are whole seconds since 1970-01-01T00:00:00Z (UTC);
/// the proleptic Gregorian calendar is computed with Howard Hinnant's days-from-civil algorithms.
public enum HTTPDate {
    static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let longDayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. Years outside 0...9999 are written with as
    /// many digits as they need (and are not valid HTTP dates).
    public static func format(secondsSince1970 t: Int) -> String {
        let days = floorDiv(t, 86_400)
        let secs = t - days * 86_400
        let (y, m, d) = civil(fromDays: days)
        let weekday = (days % 7 + 11) % 7  // 1970-01-01 was a Thursday (4)
        var out: [UInt8] = []
        out.reserveCapacity(29)
        out.append(contentsOf: dayNames[weekday].utf8)
        out.append(contentsOf: ", ".utf8)
        append2(d, &out)
        out.append(ASCII.sp)
        out.append(contentsOf: monthNames[m - 1].utf8)
        out.append(ASCII.sp)
        if y < 0 { out.append(0x2D) }
        let year = abs(y)
        if year >= 10000 { out.append(contentsOf: String(year / 10000).utf8) }
        append2(year / 100 % 100, &out)
        append2(year % 100, &out)
        out.append(ASCII.sp)
        append2(secs / 3600, &out)
        out.append(ASCII.colon)
        append2(secs / 60 % 60, &out)
        out.append(ASCII.colon)
        append2(secs % 60, &out)
        out.append(contentsOf: " GMT".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// (year, month 1-12, day, second of the day) in UTC for seconds since 1970: the one calendar
    /// conversion Flaks has (HTTP dates, access-log times, directory listings).
    public static func components(secondsSince1970 t: Int) -> (year: Int, month: Int, day: Int, secondOfDay: Int) {
        let days = floorDiv(t, 86_400)
        let (y, m, d) = civil(fromDays: days)
        return (y, m, d, t - days * 86_400)
    }

    /// Parses an HTTP date in any of the forms of RFC 9110 §5.6.7; nil if malformed.
    /// - IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`
    /// - obsolete RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`: a two-digit year is taken as 1970–2069
    ///   (use `parse(_:now:)` for the RFC's "not more than 50 years in the future" rule)
    /// - obsolete asctime `Sun Nov  6 08:49:37 1994`
    /// The day name must be a valid one but is not checked against the date. Second 60 (leap second)
    /// is accepted and counts as the next minute's first second.
    public static func parse(_ string: String) -> Int? {
        parse(string, twoDigitYear: { $0 < 70 ? 2000 + $0 : 1900 + $0 })
    }

    /// Like `parse(_:)`, but an RFC 850 two-digit year that would be more than 50 years after `now`
    /// (seconds since 1970) is the most recent past year with those digits (RFC 9110 §5.6.7).
    public static func parse(_ string: String, now: Int) -> Int? {
        let currentYear = civil(fromDays: floorDiv(now, 86_400)).year
        return parse(string, twoDigitYear: { yy in
            var y = currentYear - floorMod(currentYear, 100) + yy
            if y > currentYear + 50 { y -= 100 }
            return y
        })
    }

    static func parse(_ string: String, twoDigitYear: (Int) -> Int) -> Int? {
        let b = Array(string.utf8)
        if b.count == 29 && b[3] == ASCII.comma { return parseIMF(b) }
        if b.count == 24 && b[3] == ASCII.sp { return parseAsctime(b) }
        return parseRFC850(b, twoDigitYear: twoDigitYear)
    }

    /// `day-name "," SP DD SP mon SP YYYY SP hh:mm:ss SP "GMT"`
    static func parseIMF(_ b: [UInt8]) -> Int? {
        guard dayIndex(b[0..<3], dayNames) != nil, b[4] == ASCII.sp, b[7] == ASCII.sp, b[11] == ASCII.sp,
              b[16] == ASCII.sp, match(b[25...], " GMT"),
              let d = number(b[5..<7]), let m = dayIndex(b[8..<11], monthNames), let y = number(b[12..<16]),
              let time = timeOfDay(b[17..<25])
        else { return nil }
        return seconds(year: y, month: m + 1, day: d, time: time)
    }

    /// `day-name-l "," SP DD "-" mon "-" YY SP hh:mm:ss SP "GMT"`
    static func parseRFC850(_ b: [UInt8], twoDigitYear: (Int) -> Int) -> Int? {
        guard let comma = b.firstIndex(of: ASCII.comma), dayIndex(b[..<comma], longDayNames) != nil,
              b.count == comma + 24, b[comma + 1] == ASCII.sp
        else { return nil }
        let s = comma + 2  // DD-mon-YY hh:mm:ss GMT
        guard b[s + 2] == 0x2D, b[s + 6] == 0x2D, b[s + 9] == ASCII.sp, match(b[(s + 18)...], " GMT"),
              let d = number(b[s..<(s + 2)]), let m = dayIndex(b[(s + 3)..<(s + 6)], monthNames),
              let yy = number(b[(s + 7)..<(s + 9)]), let time = timeOfDay(b[(s + 10)..<(s + 18)])
        else { return nil }
        return seconds(year: twoDigitYear(yy), month: m + 1, day: d, time: time)
    }

    /// `day-name SP mon SP ( 2DIGIT / ( SP DIGIT ) ) SP hh:mm:ss SP YYYY`
    static func parseAsctime(_ b: [UInt8]) -> Int? {
        guard dayIndex(b[0..<3], dayNames) != nil, b[7] == ASCII.sp, b[10] == ASCII.sp, b[19] == ASCII.sp,
              let m = dayIndex(b[4..<7], monthNames), let time = timeOfDay(b[11..<19]), let y = number(b[20..<24])
        else { return nil }
        let d: Int
        if b[8] == ASCII.sp, let units = number(b[9..<10]) { d = units } else if let dd = number(b[8..<10]) { d = dd } else { return nil }
        return seconds(year: y, month: m + 1, day: d, time: time)
    }

    static func seconds(year: Int, month: Int, day: Int, time: Int) -> Int? {
        guard day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        return days(fromCivil: year, month, day) * 86_400 + time
    }

    /// `hh:mm:ss` as seconds into the day (hour 0-23, minute 0-59, second 0-60).
    static func timeOfDay(_ b: ArraySlice<UInt8>) -> Int? {
        let s = b.startIndex
        guard b[s + 2] == ASCII.colon, b[s + 5] == ASCII.colon,
              let h = number(b[s..<(s + 2)]), let m = number(b[(s + 3)..<(s + 5)]), let sec = number(b[(s + 6)..<(s + 8)]),
              h < 24, m < 60, sec <= 60
        else { return nil }
        return h * 3600 + m * 60 + sec
    }

    /// All-digit decimal number, or nil.
    static func number(_ b: ArraySlice<UInt8>) -> Int? {
        guard !b.isEmpty else { return nil }
        var n = 0
        for c in b {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            n = n * 10 + Int(c - 0x30)
        }
        return n
    }

    /// Index of the name that equals `b` exactly (names are case-sensitive, RFC 9110 §5.6.7).
    static func dayIndex(_ b: ArraySlice<UInt8>, _ names: [String]) -> Int? {
        names.firstIndex { $0.utf8.elementsEqual(b) }
    }

    static func match(_ b: ArraySlice<UInt8>, _ s: String) -> Bool { b.elementsEqual(s.utf8) }

    static func isLeap(_ y: Int) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant, `days_from_civil`).
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day number since 1970-01-01 (Hinnant, `civil_from_days`).
    static func civil(fromDays z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
    static func floorMod(_ a: Int, _ b: Int) -> Int { a - floorDiv(a, b) * b }

    static func append2(_ n: Int, _ out: inout [UInt8]) {
        out.append(UInt8(0x30 + n / 10 % 10))
        out.append(UInt8(0x30 + n % 10))
    }
}
