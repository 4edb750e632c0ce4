import FlaksAccess
import Testing
@testable import FlaksProxy
import FlaksTestSupport

/// Balancing policies, down upstreams, the all-down rule and the 503 flag.
@Suite struct BalancerTests {
    static func balancer(_ n: Int, _ policy: Balancer.Policy) -> Balancer {
        Balancer(upstreams: (0..<n).map { Upstream(address: "http://127.0.0.1:\(9000 + $0)") }, policy: policy)
    }

    static let client = IPAddress(v4: 0xC000_0201)

    /// How many picks each upstream got.
    static func counts(_ b: Balancer, picks: Int, client: IPAddress = client, now: UInt64 = 0) -> [Int] {
        var c = [Int](repeating: 0, count: b.upstreams.count)
        for _ in 0..<picks {
            guard let p = b.pick(client: client, now: now) else { Issue.record("no pick"); break }
            #expect(!p.triedWhileDown)
            c[p.index] += 1
        }
        return c
    }

    @Test func roundRobinSpreadsEvenlyInTurn() {
        let b = Self.balancer(3, .roundRobin)
        let first = (0..<6).compactMap { _ in b.pick(client: Self.client, now: 0)?.index }
        #expect(first == [0, 1, 2, 0, 1, 2])
        #expect(Self.counts(b, picks: 300) == [100, 100, 100])
    }

    @Test func roundRobinGivesADownUpstreamsShareToAllOthers() {
        let b = Self.balancer(3, .roundRobin)
        b.upstreams[1].health.markFailed(now: 0, failTimeout: 10 * s)
        #expect(Self.counts(b, picks: 300, now: 1 * s) == [150, 0, 150])
        #expect(Self.counts(b, picks: 300, now: 10 * s) == [100, 100, 100], "back after fail_timeout")
    }

    @Test func roundRobinNeverPicksATriedUpstream() {
        let b = Self.balancer(4, .roundRobin)
        for _ in 0..<20 {
            let p = b.pick(client: Self.client, now: 0, excluding: [0, 2])
            #expect(p?.index == 1 || p?.index == 3)
        }
        #expect(b.pick(client: Self.client, now: 0, excluding: [0, 1, 2, 3]) == nil)
    }

    @Test func leastConnPicksTheLeastBusy() {
        let b = Self.balancer(3, .leastConn)
        for _ in 0..<3 { b.upstreams[0].requestStarted() }
        b.upstreams[1].requestStarted()
        for _ in 0..<2 { b.upstreams[2].requestStarted() }
        for _ in 0..<5 { #expect(b.pick(client: Self.client, now: 0)?.index == 1) }
        #expect(b.pick(client: Self.client, now: 0, excluding: [1])?.index == 2)
        b.upstreams[1].health.markFailed(now: 0, failTimeout: 1 * s)
        #expect(b.pick(client: Self.client, now: 0)?.index == 2, "the least busy is down")
    }

    @Test func leastConnSharesTiesAndFollowsLoad() {
        let b = Self.balancer(3, .leastConn)
        var seen = Set<Int>()
        for _ in 0..<3 { if let p = b.pick(client: Self.client, now: 0) { seen.insert(p.index) } }
        #expect(seen == [0, 1, 2], "equal loads are taken in turn")
        // Requests that never finish: each pick goes to the emptiest, so the loads stay level.
        for _ in 0..<30 {
            guard let p = b.pick(client: Self.client, now: 0) else { break }
            b.upstreams[p.index].requestStarted()
        }
        #expect(b.upstreams.map(\.inFlight) == [10, 10, 10])
        b.upstreams[2].requestFinished()
        b.upstreams[2].requestFinished()
        #expect(b.pick(client: Self.client, now: 0)?.index == 2)
    }

    @Test func ipHashIsStableAcrossReloads() {
        let old = Self.balancer(5, .ipHash)
        let reloaded = Self.balancer(5, .ipHash)  // a new manifest with the same list: new objects
        for i in 0..<200 {
            let client = IPAddress(v4: 0x0A00_0000 + UInt32(i) * 7919)
            let a = old.pick(client: client, now: 0)?.index
            #expect(a == old.pick(client: client, now: 0)?.index, "same client, same upstream")
            #expect(a == reloaded.pick(client: client, now: 0)?.index, "same after a reload")
        }
    }

    @Test func ipHashSpreadsClients() {
        let b = Self.balancer(4, .ipHash)
        var c = [Int](repeating: 0, count: 4)
        for i in 0..<4000 {
            if let p = b.pick(client: IPAddress(v4: 0xC0A8_0000 + UInt32(i)), now: 0) { c[p.index] += 1 }
        }
        for n in c { #expect(n > 800 && n < 1200, "\(c)") }
    }

    @Test func ipHashKeysIPv6ByItsSlash64() {
        let b = Self.balancer(7, .ipHash)
        let a = b.pick(client: ip("2001:db8:1:2::1"), now: 0)?.index
        #expect(a == b.pick(client: ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), now: 0)?.index, "same /64")
        #expect(Balancer.hash(ip("2001:db8:1:2::1")) == Balancer.hash(ip("2001:db8:1:2:abcd::9")))
        #expect(Balancer.hash(ip("2001:db8:1:2::1")) != Balancer.hash(ip("2001:db8:1:3::1")), "next /64")
        var seen = Set<Int>()
        for i in 0..<200 {
            if let p = b.pick(client: IPAddress(v6High: 0x2001_0db8_0000_0000 + UInt64(i), low: 1), now: 0) { seen.insert(p.index) }
        }
        #expect(seen.count == 7, "different /64s spread")
        #expect(Balancer.hash(ip("1.2.3.4")) != Balancer.hash(ip("1.2.3.5")), "IPv4 keyed by the whole address")
        #expect(Balancer.hash(ip("1.2.3.4")) == Balancer.hash(ip("::ffff:1.2.3.4")), "IPv4-mapped is IPv4")
    }

    /// The hash is fixed (not Swift's per-process seeded Hasher): this value must never change, or
    /// every client would move to another upstream when Flaks is upgraded.
    @Test func ipHashValueIsFixed() {
        #expect(Balancer.hash(ip("192.0.2.1")) == Self.pinnedHash)
    }

    static let pinnedHash: UInt64 = 0xac22_d23f_ad5d_af99  // computed independently (FNV-1a + SplitMix64 finalizer in Python)

    @Test func ipHashMovesClientsOfADownUpstreamToTheNext() throws {
        let b = Self.balancer(3, .ipHash)
        let home = try #require(b.pick(client: Self.client, now: 0)?.index)
        b.upstreams[home].health.markFailed(now: 0, failTimeout: 10 * s)
        #expect(b.pick(client: Self.client, now: 1 * s)?.index == (home + 1) % 3)
        #expect(b.pick(client: Self.client, now: 1 * s, excluding: [(home + 1) % 3])?.index == (home + 2) % 3)
        #expect(b.pick(client: Self.client, now: 10 * s)?.index == home, "back home when it is up")
    }

    @Test func firstTakesTheFirstUp() {
        let b = Self.balancer(3, .first)
        #expect(Self.counts(b, picks: 10) == [10, 0, 0])
        b.upstreams[0].health.checkResult(ok: false, now: 0, fails: 1, passes: 1)
        #expect(b.pick(client: Self.client, now: 0)?.index == 1)
        #expect(b.pick(client: Self.client, now: 0, excluding: [1])?.index == 2)
    }

    @Test(arguments: Balancer.Policy.allCases)
    func allDownTriesEachOnceInOrder(_ policy: Balancer.Policy) {
        let b = Self.balancer(3, policy)
        for u in b.upstreams { u.health.markFailed(now: 0, failTimeout: 10 * s) }
        var tried = Set<Int>()
        var order: [Int] = []
        while let p = b.pick(client: Self.client, now: 1 * s, excluding: tried) {
            #expect(p.triedWhileDown && !p.allActivelyDown)
            order.append(p.index)
            tried.insert(p.index)
            if order.count > 3 { break }
        }
        #expect(order == [0, 1, 2])
    }

    @Test func downUpstreamsAreTriedOnlyAfterTheUpOnes() {
        let b = Self.balancer(3, .roundRobin)
        b.upstreams[0].health.markFailed(now: 0, failTimeout: 10 * s)
        let p1 = b.pick(client: Self.client, now: 0, excluding: [1])
        #expect(p1 == Balancer.Pick(index: 2, triedWhileDown: false, allActivelyDown: false))
        let p2 = b.pick(client: Self.client, now: 0, excluding: [1, 2])
        #expect(p2 == Balancer.Pick(index: 0, triedWhileDown: true, allActivelyDown: false))
    }

    @Test func allActivelyDownAsksFor503() {
        let b = Self.balancer(2, .roundRobin)
        b.upstreams[0].health.checkResult(ok: false, now: 0, fails: 1, passes: 1)
        b.upstreams[1].health.markFailed(now: 0, failTimeout: 10 * s)
        #expect(b.pick(client: Self.client, now: 0)?.allActivelyDown == false, "one is only passively down")
        b.upstreams[1].health.checkResult(ok: false, now: 0, fails: 1, passes: 1)
        let p = b.pick(client: Self.client, now: 0)
        #expect(p == Balancer.Pick(index: 0, triedWhileDown: true, allActivelyDown: true))
        #expect(b.allActivelyDown)
        #expect(b.pick(client: Self.client, now: 0, excluding: [0])?.allActivelyDown == true)
        b.upstreams[1].health.checkResult(ok: true, now: 1, fails: 1, passes: 1)
        #expect(!b.allActivelyDown)
    }

    @Test func emptyListPicksNothing() {
        let b = Balancer(upstreams: [], policy: .roundRobin)
        #expect(b.pick(client: Self.client, now: 0) == nil)
        #expect(!b.allActivelyDown)
    }

    @Test func policyNamesMatchTheManifest() {
        #expect(Balancer.Policy.allCases.map(\.rawValue) == ["round_robin", "least_conn", "ip_hash", "first"])
    }
}
