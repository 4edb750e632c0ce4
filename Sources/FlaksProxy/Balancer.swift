import FlaksAccess
import Synchronization

/// Chooses the upstream for each attempt of a proxy route (`proxy.to` / `service:` instances and
/// `balance:`). One per route, shared by every loop (thread-safe); the `Upstream` objects inside are
/// shared with other routes using the same addresses. Time is passed in.
///
/// `pick(client:now:excluding:)` returns the index of the next upstream to try, never one in
/// `tried` (the executor adds each index it attempted, so one request tries each upstream at most
/// once and a retry on a fresh connection to the same upstream is the executor's, not a new pick).
/// Upstreams that are down (`UpstreamHealth.isDown`) are skipped while an untried one is up. When
/// none of the untried ones is up, the first untried one in list order is returned anyway
/// (`Pick.triedWhileDown`): config-schema, "when every upstream of a route is marked down, the
/// route still tries them (in order) rather than failing at once". nil when every upstream was tried.
///
/// Policies, among the untried upstreams that are up:
/// - `round_robin`: the next in turn of a shared counter, counted over those upstreams, so each
///   gets the same share (a down one's share is spread over the others, not given to its neighbour).
/// - `least_conn`: the fewest requests in flight (`Upstream.inFlight`, counted by the executor);
///   ties broken in turn by the same counter, so equal upstreams share the load.
/// - `ip_hash`: by client address, the IPv4 address whole and an IPv6 address by its /64 (one host's
///   addresses stay together, as for the rate limiter). A fixed hash (FNV-1a then a mix), not
///   Swift's per-process seeded `Hasher`, chooses a starting index in the whole list; the walk goes
///   forward from it to the first usable upstream. The same list gives the same choice for the same
///   client in every process and after every reload; while the chosen upstream is down its clients
///   go to the next one in the list.
/// - `first`: the first in list order (a primary with fallbacks).
public final class Balancer: Sendable {
    /// `balance:` (default `round_robin`).
    public enum Policy: String, Sendable, Hashable, CaseIterable {
        case roundRobin = "round_robin"
        case leastConn = "least_conn"
        case ipHash = "ip_hash"
        case first
    }

    /// One choice.
    public struct Pick: Sendable, Hashable {
        /// The index in `upstreams` to try.
        public var index: Int
        /// No untried upstream was up: this one is tried although marked down ("all down, trying anyway").
        public var triedWhileDown: Bool
        /// Every upstream of the route is held down by active checks. If the attempts fail the
        /// executor answers 503 (Service Unavailable: known down) instead of 502.
        public var allActivelyDown: Bool

        public init(index: Int, triedWhileDown: Bool, allActivelyDown: Bool) {
            self.index = index; self.triedWhileDown = triedWhileDown; self.allActivelyDown = allActivelyDown
        }
    }

    /// The route's upstreams in manifest order (indices in `Pick` and `excluding` refer to it).
    public let upstreams: [Upstream]
    public let policy: Policy
    // any thread; atomic. Turns for round_robin and least_conn ties.
    private let turn = Atomic<UInt>(0)

    public init(upstreams: [Upstream], policy: Policy = .roundRobin) {
        self.upstreams = upstreams
        self.policy = policy
    }

    /// The next upstream to try for a request from `client` (the resolved client address), or nil
    /// when every upstream is in `tried`.
    public func pick(client: IPAddress, now: UInt64, excluding tried: Set<Int> = []) -> Pick? {
        let count = upstreams.count
        if count == 1 {
            // One upstream (the usual route): the same answer without the two arrays below (~500
            // instructions a request).
            guard !tried.contains(0) else { return nil }
            let allActive = allActivelyDown
            if upstreams[0].health.isDown(now: now) { return Pick(index: 0, triedWhileDown: true, allActivelyDown: allActive) }
            if policy == .roundRobin || policy == .leastConn { _ = turn.wrappingAdd(1, ordering: .relaxed) }
            return Pick(index: 0, triedWhileDown: false, allActivelyDown: allActive)
        }
        var up: [Int] = []
        up.reserveCapacity(count)
        var usable = [Bool](repeating: false, count: count)
        var firstUntried: Int?
        for i in 0..<count where !tried.contains(i) {
            if firstUntried == nil { firstUntried = i }
            if !upstreams[i].health.isDown(now: now) { up.append(i); usable[i] = true }
        }
        guard let firstUntried else { return nil }
        let allActive = allActivelyDown
        guard !up.isEmpty else {
            return Pick(index: firstUntried, triedWhileDown: true, allActivelyDown: allActive)
        }
        let index: Int
        switch policy {
        case .first:
            index = up[0]
        case .roundRobin:
            let n = turn.wrappingAdd(1, ordering: .relaxed).oldValue
            index = up[Int(n % UInt(up.count))]
        case .leastConn:
            let n = turn.wrappingAdd(1, ordering: .relaxed).oldValue
            let start = Int(n % UInt(up.count))
            var best = up[start]
            var bestLoad = upstreams[best].inFlight
            for k in 1..<up.count {
                let i = up[(start + k) % up.count]
                let load = upstreams[i].inFlight
                if load < bestLoad { best = i; bestLoad = load }
            }
            index = best
        case .ipHash:
            let start = Int(Self.hash(client) % UInt64(count))
            var i = start
            // `up` is not empty, so the walk finds one within `count` steps.
            while !usable[i] { i = (i + 1) % count }
            index = i
        }
        return Pick(index: index, triedWhileDown: false, allActivelyDown: allActive)
    }

    /// Whether every upstream is held down by active checks (false for an empty list).
    public var allActivelyDown: Bool {
        !upstreams.isEmpty && upstreams.allSatisfy { $0.health.isActivelyDown }
    }

    /// The `ip_hash` key's hash: FNV-1a 64 over the family and the IPv4 address or the IPv6 /64
    /// (`IPAddress.rateKey`), then the SplitMix64 finalizer so that the low bits (taken modulo a
    /// short list) depend on every input bit. Fixed: the same in every process.
    public static func hash(_ client: IPAddress) -> UInt64 {
        let key = client.rateKey
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        mix(key.isV4 ? 4 : 6)
        for shift in stride(from: 56, through: 0, by: -8) { mix(UInt8(truncatingIfNeeded: key.value >> UInt64(shift))) }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }
}
