import Testing
@testable import FlaksHTTP

@Suite struct HTTPDateTests {
    static let known: [(Int, String)] = [
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),   // leap day in a year divisible by 400
        (4_107_456_000, "Sun, 28 Feb 2100 00:00:00 GMT"), // 2100 is not a leap year...
        (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"), // ...so March follows February 28
        (1_709_208_000, "Thu, 29 Feb 2024 12:00:00 GMT"),
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
        (-2_208_988_800, "Mon, 01 Jan 1900 00:00:00 GMT"),
        (2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT"),
        (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT"),
        (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
    ]

    @Test(arguments: known)
    func formatsKnownDates(seconds: Int, text: String) {
        #expect(HTTPDate.format(secondsSince1970: seconds) == text)
        #expect(HTTPDate.parse(text) == seconds)
    }

    @Test func parsesTheObsoleteForms() {
        // RFC 9110 §5.6.7's three examples of the same instant.
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == 784_111_777)
        #expect(HTTPDate.parse("Sun Nov 16 08:49:37 1994") == 784_111_777 + 10 * 86_400)
        #expect(HTTPDate.parse("Wednesday, 09-Nov-94 08:49:37 GMT") == 784_111_777 + 3 * 86_400)
        // Two-digit years without `now`: 70...99 -> 19xx, 00...69 -> 20xx.
        #expect(HTTPDate.parse("Thursday, 01-Jan-70 00:00:00 GMT") == 0)
        #expect(HTTPDate.parse("Tuesday, 29-Feb-00 00:00:00 GMT") == 951_782_400)
    }

    @Test func rfc850YearsMoreThanFiftyYearsAheadAreInThePast() {
        let now2025 = 1_735_689_600  // Wed, 01 Jan 2025
        #expect(HTTPDate.parse("Monday, 01-Jan-74 00:00:00 GMT", now: now2025)
                    == HTTPDate.parse("Mon, 01 Jan 2074 00:00:00 GMT"))  // 49 years ahead: future
        #expect(HTTPDate.parse("Saturday, 01-Jan-76 00:00:00 GMT", now: now2025)
                    == HTTPDate.parse("Thu, 01 Jan 1976 00:00:00 GMT"))  // 51 years ahead: past century
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: now2025) == 784_111_777)
    }

    @Test(arguments: [
        "", "Sun, 06 Nov 1994 08:49:37 UTC", "sun, 06 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT", "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 19a4 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT ", " Sun, 06 Nov 1994 08:49:37 GMT", "Sun,  06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT", "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94", "Sun Nov  6 08.49.37 1994", "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:3", "Sun, -6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 +8:49:37 GMT",
    ])
    func rejectsMalformedDates(_ text: String) {
        #expect(HTTPDate.parse(text) == nil)
    }

    @Test func leapSecondCountsAsTheNextMinute() {
        #expect(HTTPDate.parse("Sat, 31 Dec 2016 23:59:60 GMT") == HTTPDate.parse("Sun, 01 Jan 2017 00:00:00 GMT"))
    }

    @Test func roundTripsEveryDayForFiveCenturies() {
        // One sample time per day from 1800 to 2300 (covers 1900 and 2100, not leap, and 2000, leap).
        var t = -5_364_662_400 + 12_345  // 1800-01-01 plus a few hours
        var previousDay = -1
        while t < 10_413_792_000 {  // 2300-01-01
            let text = HTTPDate.format(secondsSince1970: t)
            #expect(HTTPDate.parse(text) == t, "\(t) \(text)")
            let day = Int(text.utf8.dropFirst(5).prefix(2).reduce(0) { $0 * 10 + Int($1 - 48) })
            #expect(day != previousDay, "\(text)")
            previousDay = day
            t += 86_400
        }
    }

    @Test func weekdayMatchesCalendarCycle() {
        // 400 Gregorian years are exactly 20,871 weeks: the same date has the same weekday.
        let a = HTTPDate.format(secondsSince1970: 784_111_777)
        let b = HTTPDate.format(secondsSince1970: 784_111_777 + 146_097 * 86_400)
        #expect(a.prefix(4) == b.prefix(4))
        #expect(b == "Sun, 06 Nov 2394 08:49:37 GMT")
    }
}
