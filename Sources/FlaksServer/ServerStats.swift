import FlaksHandlers
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
    /// TLS handshakes completed.
    public let tlsHandshakes = Atomic<Int>(0)
    /// Failed TLS handshakes by kind (`plain_http`, `protocol_version`, `no_shared_cipher`, ...).
    private let handshakeFailures = Locked<[String: Int]>([:])
    public init() {}

    func recordHandshakeFailure(_ kind: String) {
        handshakeFailures.withLock { $0[kind, default: 0] += 1 }
    }

    /// Failed TLS handshakes by kind.
    public var tlsHandshakeFailures: [String: Int] { handshakeFailures.withLock { $0 } }
}
