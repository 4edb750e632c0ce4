#if canImport(Glibc)
import Glibc
#endif
import FlaksHTTP

/// Monotonic time in nanoseconds, for deadlines.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Wall-clock seconds since 1970 (coarse: only used for the Date header and logs).
@inline(__always)
func wallSeconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME_COARSE, &ts)
    return Int(ts.tv_sec)
}

extension Duration {
    /// Whole nanoseconds (saturating).
    var nanoseconds: UInt64 {
        let (s, a) = components
        if s < 0 { return 0 }
        return UInt64(s) &* 1_000_000_000 &+ UInt64(a / 1_000_000_000)
    }
}

/// The Date header value, formatted at most once per second (loop thread only).
struct DateCache {
    /// The wall-clock second `fields` are for.
    private(set) var second = -1
    /// `Date: <IMF-fixdate>\r\nServer: flaks\r\n`, the two fields every response carries.
    private(set) var fields: [UInt8] = []

    /// Refreshes the cached value if the wall-clock second changed.
    mutating func refresh() {
        let now = wallSeconds()
        if now != second {
            second = now
            fields = Array(("Date: " + HTTPDate.format(secondsSince1970: now) + "\r\nServer: flaks\r\n").utf8)
        }
    }
}
