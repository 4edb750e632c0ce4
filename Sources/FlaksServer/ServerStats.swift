import Synchronization

/// Server-wide counters, updated with relaxed atomics from every loop.
public final class ServerStats: Sendable {
    public let openConnections = Atomic<Int>(0)
    public let rejectedConnections = Atomic<Int>(0)
    public let requests = Atomic<Int>(0)
    /// Responses by status class.
    public let status1xx = Atomic<Int>(0)
    public let status2xx = Atomic<Int>(0)
    public let status3xx = Atomic<Int>(0)
    public let status4xx = Atomic<Int>(0)
    public let status5xx = Atomic<Int>(0)

    /// Counts one response of `status`.
    func count(status: Int) {
        switch status / 100 {
        case 1: status1xx.add(1, ordering: .relaxed)
        case 2: status2xx.add(1, ordering: .relaxed)
        case 3: status3xx.add(1, ordering: .relaxed)
        case 4: status4xx.add(1, ordering: .relaxed)
        default: status5xx.add(1, ordering: .relaxed)
        }
    }

    /// Responses of class `c` (1...5).
    public func responses(ofClass c: Int) -> Int {
        switch c {
        case 1: status1xx.load(ordering: .relaxed)
        case 2: status2xx.load(ordering: .relaxed)
        case 3: status3xx.load(ordering: .relaxed)
        case 4: status4xx.load(ordering: .relaxed)
        default: status5xx.load(ordering: .relaxed)
        }
    }
    public let reloadsSucceeded = Atomic<Int>(0)
    public let reloadsFailed = Atomic<Int>(0)
    public let bytesSent = Atomic<Int>(0)
    public init() {}
}
