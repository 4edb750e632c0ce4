import Synchronization

/// One ready instance of a service as the proxy sees it: where to connect, and its count of
/// requests in flight. Thread-safe; one object per process started (a restarted or rolled
/// instance is a new endpoint, on a new port).
///
/// The in-flight count is how a roll knows when an old instance may be stopped: the proxy calls
/// `tryAcquire()` before it sends a request (or opens a tunnel) to the instance and `release()`
/// exactly once when that request or tunnel is over, whatever happened. Once the supervisor has
/// retired the endpoint (the instance is going away), `tryAcquire()` fails, so no new request
/// reaches it and the count only goes down.
public final class ServiceEndpoint: Sendable, CustomStringConvertible {
    /// The service's name.
    public let service: String
    /// The instance's index (FLAKS_INSTANCE: 0..<instances).
    public let instance: Int
    /// Unique in this process (never reused): tells a restarted or rolled instance from the old one.
    public let id: UInt64
    /// The main process.
    public let pid: Int32
    /// The loopback port it listens on (its PORT).
    public let port: Int
    /// Requests in flight, plus `retiredBit` once retired. Any thread; atomic.
    private let state = Atomic<Int>(0)
    private static let retiredBit = 1 << 62

    init(service: String, instance: Int, id: UInt64, pid: Int32, port: Int) {
        self.service = service; self.instance = instance; self.id = id; self.pid = pid; self.port = port
    }

    /// Always `127.0.0.1` (HOST in the instance's environment).
    public var host: String { "127.0.0.1" }
    /// `http://127.0.0.1:PORT`, the spelling of a proxy upstream address.
    public var url: String { "http://127.0.0.1:\(port)" }
    public var description: String { "\(service)#\(instance) (pid \(pid), 127.0.0.1:\(port))" }

    /// Counts one request (or tunnel) in flight to this instance; false once the instance is
    /// retired (pick another, or wait). Every `true` must be matched by one `release()`.
    public func tryAcquire() -> Bool {
        var current = state.load(ordering: .relaxed)
        while current & Self.retiredBit == 0 {
            let (exchanged, original) = state.compareExchange(expected: current, desired: current + 1,
                                                              ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// The request (or tunnel) counted by a successful `tryAcquire()` is over.
    public func release() {
        state.wrappingSubtract(1, ordering: .acquiringAndReleasing)
    }

    /// Requests and tunnels in flight now.
    public var inFlight: Int { state.load(ordering: .acquiring) & ~Self.retiredBit }

    /// True once the instance takes no new requests.
    public var isRetired: Bool { state.load(ordering: .acquiring) & Self.retiredBit != 0 }

    /// No new requests from now on (called by the supervisor when the instance goes away).
    func retire() {
        var current = state.load(ordering: .relaxed)
        while current & Self.retiredBit == 0 {
            let (exchanged, original) = state.compareExchange(expected: current, desired: current | Self.retiredBit,
                                                              ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }
}
