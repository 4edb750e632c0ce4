import FlaksSync
import Synchronization

/// One upstream address as every route and loop shares it: its health and how many requests are
/// in flight to it (for `least_conn`). Thread-safe; get it from an `UpstreamRegistry` so that two
/// routes naming the same address share one object, and a reload keeps the marks and counts.
public final class Upstream: Sendable {
    /// The address as the manifest spells it after validation (`http://127.0.0.1:9000`,
    /// `unix:/run/app.sock`): the registry's key.
    public let address: String
    /// Shared by every route using the address.
    public let health: UpstreamHealth
    // any thread; atomic
    private let inFlightCount = Atomic<Int>(0)

    public init(address: String, health: UpstreamHealth = UpstreamHealth()) {
        self.address = address
        self.health = health
    }

    /// Requests to this upstream that have been assigned and not finished.
    public var inFlight: Int { inFlightCount.load(ordering: .relaxed) }

    /// A request was assigned to this upstream (call once per attempt, before connecting).
    public func requestStarted() {
        inFlightCount.wrappingAdd(1, ordering: .relaxed)
    }

    /// That request finished, failed or moved to another upstream (exactly once per `requestStarted`).
    public func requestFinished() {
        inFlightCount.wrappingSubtract(1, ordering: .relaxed)
    }
}

/// The server's upstreams by address, kept across reloads: routes built from a new manifest get
/// the same `Upstream` objects for the addresses they share with the old one, so a down mark, the
/// active-check state and the in-flight counts survive a reload.
public final class UpstreamRegistry: Sendable {
    // protected by its own lock; any thread
    private let upstreams = Locked<[String: Upstream]>([:])

    public init() {}

    /// The shared object for `address`, created on first use. `startsDown` applies only when it is
    /// created (see `UpstreamHealth.init(startsDown:)`).
    public func upstream(for address: String, startsDown: Bool = false) -> Upstream {
        upstreams.withLock { map in
            if let u = map[address] { return u }
            let u = Upstream(address: address, health: UpstreamHealth(startsDown: startsDown))
            map[address] = u
            return u
        }
    }

    /// Forgets every address not in `addresses` (after a reload, once the old routes are gone;
    /// routes still holding a forgotten object keep working with it).
    public func retain(only addresses: Set<String>) {
        upstreams.withLock { map in map = map.filter { addresses.contains($0.key) } }
    }

    /// The addresses known, sorted.
    public var addresses: [String] {
        upstreams.withLock { $0.keys.sorted() }
    }
}
