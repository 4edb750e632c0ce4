import FlaksTLS

/// Wall-clock time in Unix seconds, as certificates count it (notBefore, notAfter, Retry-After).
/// The ACME executor reads time only through this, so a test can move it (a renewal due in
/// 60 days, a back-off of an hour) without waiting.
public protocol WallClock: Sendable {
    func now() -> Int64
}

/// CLOCK_REALTIME.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Int64 { UnixTime.now() }
}
