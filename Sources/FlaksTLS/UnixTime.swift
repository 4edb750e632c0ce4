#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock seconds for certificate validity. Callers pass `now` in; only the CLI and the
/// server ask the clock (`UnixTime.now()`), so tests use fixed times.
public enum UnixTime {
    /// Seconds since 1970 from CLOCK_REALTIME.
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }

    /// Seconds from CLOCK_MONOTONIC: the ticket key ring's default clock (rotation is an interval,
    /// not a date, so a wall-clock step must not rotate or expire keys).
    public static func monotonic() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec)
    }

    /// `2026-04-03T12:29:32Z`.
    public static func iso8601(_ t: Int64) -> String {
        var time = time_t(t)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
