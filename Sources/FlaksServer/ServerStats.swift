import Synchronization

/// Server-wide counters that are not per request (those live in each loop's `LoopMetrics`),
/// updated with relaxed atomics.
public final class ServerStats: Sendable {
    public let openConnections = Atomic<Int>(0)
    public let rejectedConnections = Atomic<Int>(0)
    public let reloadsSucceeded = Atomic<Int>(0)
    public let reloadsFailed = Atomic<Int>(0)
    /// CGI scripts running now.
    public let cgiProcesses = Atomic<Int>(0)
    public init() {}
}
