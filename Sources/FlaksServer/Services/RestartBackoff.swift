/// The delay before an instance that exited is started again: 100 ms, doubling up to 30 s, back to
/// 100 ms once an instance has stayed up (ready) 10 s. Pure: time is passed in as nanoseconds.
struct RestartBackoff: Equatable {
    static let initial: UInt64 = 100_000_000
    static let maximum: UInt64 = 30_000_000_000
    /// Up this long (counted from when it became ready): the next failure starts over at `initial`.
    static let resetAfter: UInt64 = 10_000_000_000

    /// The delay the next failure gets (unless the instance was up long enough to reset it).
    private(set) var next: UInt64 = Self.initial

    /// The delay before restarting an instance that was up (ready) for `uptime` nanoseconds
    /// (0 when it never became ready), and the delay after that is doubled.
    mutating func delay(afterUptime uptime: UInt64) -> UInt64 {
        if uptime >= Self.resetAfter { next = Self.initial }
        let d = next
        next = next >= Self.maximum / 2 ? Self.maximum : next * 2
        return d
    }
}
