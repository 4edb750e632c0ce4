import Dispatch
import FlaksSync
import Testing
@testable import FlaksAccess

@Suite struct RateLimiterTests {
    static let ms: Int64 = 1_000_000
    static let second: Int64 = 1_000_000_000

    private func limit(_ requests: Int, per: Int64, burst: Int) -> RateLimit {
        RateLimit(requests: requests, per: per, burst: burst) ?? RateLimit(requests: 1, per: 1, burst: 1)!
    }

    private func key(_ text: String) -> RateKey { IPAddress(text)?.rateKey ?? RateKey(value: 0, isV4: true) }

    @Test func parametersAreValidated() {
        #expect(RateLimit(requests: 0, per: Self.second, burst: 1) == nil)
        #expect(RateLimit(requests: 1, per: 0, burst: 1) == nil)
        #expect(RateLimit(requests: 1, per: Self.second, burst: 0) == nil)
        #expect(RateLimit(requests: 1, per: Int64.max, burst: 2) == nil)  // the bucket does not fit in ns
        #expect(RateLimit(requests: 3, per: Self.second, burst: 1)?.interval == 333_333_333)
        #expect(RateLimit(requests: 10, per: 5, burst: 1)?.interval == 1)  // never below 1 ns
    }

    @Test func exactlyTheBurstThenLimited() {
        let rl = RateLimiter()
        let l = limit(10, per: Self.second, burst: 5)
        let k = key("198.51.100.7")
        for i in 0..<5 {
            #expect(rl.check(l, route: 1, key: k, now: 0) == .allowed, "request \(i + 1)")
        }
        #expect(rl.check(l, route: 1, key: k, now: 0) == .limited(retryAfterSeconds: 1))
        #expect(rl.check(l, route: 1, key: k, now: 0) == .limited(retryAfterSeconds: 1))  // refused ones cost nothing…
        #expect(rl.check(l, route: 1, key: k, now: 100 * Self.ms) == .allowed)            // …so one token is back at 100 ms
    }

    @Test func refillTimingAndRetryAfter() {
        let rl = RateLimiter()
        let k = key("198.51.100.7")
        // 10 per second: a token every 100 ms.
        let fast = limit(10, per: Self.second, burst: 2)
        let t0: Int64 = 1_000 * Self.second
        #expect(rl.check(fast, route: 1, key: k, now: t0) == .allowed)
        #expect(rl.check(fast, route: 1, key: k, now: t0) == .allowed)
        #expect(rl.check(fast, route: 1, key: k, now: t0 + 100 * Self.ms - 1) == .limited(retryAfterSeconds: 1))
        #expect(rl.check(fast, route: 1, key: k, now: t0 + 100 * Self.ms) == .allowed)      // exactly when due
        #expect(rl.check(fast, route: 1, key: k, now: t0 + 100 * Self.ms) == .limited(retryAfterSeconds: 1))
        // After a long quiet spell the bucket is full again, never fuller.
        #expect(rl.check(fast, route: 1, key: k, now: t0 + 60 * Self.second) == .allowed)
        #expect(rl.check(fast, route: 1, key: k, now: t0 + 60 * Self.second) == .allowed)
        #expect(rl.check(fast, route: 1, key: k, now: t0 + 60 * Self.second) == .limited(retryAfterSeconds: 1))

        // 1 per minute: Retry-After counts the seconds left, rounded up.
        let slow = limit(1, per: 60 * Self.second, burst: 1)
        #expect(rl.check(slow, route: 2, key: k, now: 0) == .allowed)
        #expect(rl.check(slow, route: 2, key: k, now: 0) == .limited(retryAfterSeconds: 60))
        #expect(rl.check(slow, route: 2, key: k, now: 30 * Self.second + 500 * Self.ms) == .limited(retryAfterSeconds: 30))
        #expect(rl.check(slow, route: 2, key: k, now: 59 * Self.second) == .limited(retryAfterSeconds: 1))
        #expect(rl.check(slow, route: 2, key: k, now: 60 * Self.second - 1) == .limited(retryAfterSeconds: 1))  // at least 1
        #expect(rl.check(slow, route: 2, key: k, now: 60 * Self.second) == .allowed)
    }

    @Test func theLongRunRateIsRequestsPerPer() {
        let rl = RateLimiter()
        let l = limit(3, per: Self.second, burst: 1)
        var allowed = 0
        for t in stride(from: Int64(0), to: 10 * Self.second, by: Int(Self.ms)) where rl.check(l, route: 1, key: key("192.0.2.1"), now: t) == .allowed {
            allowed += 1
        }
        // One token per 333,333,333 ns from a full bucket of 1: k * interval < 10 s for k = 0...29.
        #expect(allowed == 30)
    }

    @Test func keysAndRoutesAreIndependent() {
        let rl = RateLimiter()
        let l = limit(1, per: Self.second, burst: 1)
        #expect(rl.check(l, route: 1, key: key("10.0.0.1"), now: 0) == .allowed)
        #expect(rl.check(l, route: 1, key: key("10.0.0.1"), now: 0) != .allowed)
        #expect(rl.check(l, route: 1, key: key("10.0.0.2"), now: 0) == .allowed)  // each IPv4 address its own
        #expect(rl.check(l, route: 2, key: key("10.0.0.1"), now: 0) == .allowed)  // each route its own
        #expect(rl.check(l, route: 1, key: key("0:0:a00:1::"), now: 0) == .allowed)  // same bits, other family
        #expect(rl.check(l, route: 1, key: key("10.0.0.2"), now: 0) != .allowed)
    }

    @Test func anIPv6Slash64SharesOneBucket() {
        let rl = RateLimiter()
        let l = limit(1, per: Self.second, burst: 2)
        let c = IPAddress("2001:db8:1:2::1")!
        #expect(rl.check(l, route: 1, client: c, now: 0) == .allowed)
        #expect(rl.check(l, route: 1, client: IPAddress("2001:db8:1:2:ffff:ffff:ffff:ffff")!, now: 0) == .allowed)
        #expect(rl.check(l, route: 1, client: IPAddress("2001:db8:1:2:dead:beef::9")!, now: 0) == .limited(retryAfterSeconds: 1))
        #expect(rl.check(l, route: 1, client: IPAddress("2001:db8:1:3::1")!, now: 0) == .allowed)  // next /64
        #expect(rl.check(l, route: 1, client: IPAddress("2001:db8:1:1:ffff:ffff:ffff:ffff")!, now: 0) == .allowed)
    }

    @Test func aFullSetEvictsTheBucketNearestToFull() {
        // One shard of one set: 8 slots.
        let rl = RateLimiter(capacity: 8, shards: 1)
        #expect(rl.capacity == 8)
        let l = limit(1, per: Self.second, burst: 1)
        for i in 0..<8 {  // eight clients in debt, client i until (i ms + 1 s)
            #expect(rl.check(l, route: 1, key: RateKey(value: UInt64(i), isV4: true), now: Int64(i) * Self.ms) == .allowed)
        }
        #expect(rl.activeBuckets(now: 10 * Self.ms) == 8)
        #expect(rl.evictions == 0)
        // A ninth client: the table is full, client 0 (the smallest debt) is pushed out.
        #expect(rl.check(l, route: 1, key: RateKey(value: 8, isV4: true), now: 10 * Self.ms) == .allowed)
        #expect(rl.evictions == 1)
        #expect(rl.activeBuckets(now: 10 * Self.ms) == 8)
        for i in 1...8 {
            #expect(rl.check(l, route: 1, key: RateKey(value: UInt64(i), isV4: true), now: 10 * Self.ms) != .allowed, "client \(i)")
        }
        // Forgotten: client 0 starts with a full bucket again.
        #expect(rl.check(l, route: 1, key: RateKey(value: 0, isV4: true), now: 10 * Self.ms) == .allowed)
        #expect(rl.evictions == 2)
    }

    @Test func fullBucketsAreReusedWithoutEvicting() {
        let rl = RateLimiter(capacity: 8, shards: 1)
        let l = limit(1, per: Self.second, burst: 1)
        for i in 0..<8 { _ = rl.check(l, route: 1, key: RateKey(value: UInt64(i), isV4: true), now: 0) }
        // A second later every bucket is full again: new clients take their slots for free.
        for i in 8..<16 {
            #expect(rl.check(l, route: 1, key: RateKey(value: UInt64(i), isV4: true), now: Self.second) == .allowed)
        }
        #expect(rl.evictions == 0)
        #expect(rl.activeBuckets(now: Self.second) == 8)
    }

    @Test func aSprayOfFreshAddressesDoesNotFreeALimitedClient() {
        let rl = RateLimiter(capacity: 8, shards: 1)
        let l = limit(1, per: Self.second, burst: 10)
        let abuser = RateKey(value: 1, isV4: true)
        for _ in 0..<10 { _ = rl.check(l, route: 1, key: abuser, now: 0) }
        #expect(rl.check(l, route: 1, key: abuser, now: 0) == .limited(retryAfterSeconds: 1))
        for i in 0..<1000 {  // its friends, one request each from a new address
            _ = rl.check(l, route: 1, key: RateKey(value: 1_000 + UInt64(i), isV4: false), now: 0)
        }
        #expect(rl.evictions > 900)
        #expect(rl.check(l, route: 1, key: abuser, now: 0) == .limited(retryAfterSeconds: 1))
    }

    /// Several threads, one bucket: exactly `burst` requests get through, none lost or doubled.
    @Test func concurrentChecksOnOneBucketHandOutExactlyTheTokens() {
        let rl = RateLimiter()
        let l = limit(1, per: 3600 * Self.second, burst: 1000)
        let allowed = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            var mine = 0
            for _ in 0..<2000 where rl.check(l, route: 7, key: RateKey(value: 42, isV4: true), now: 5 * Self.second) == .allowed {
                mine += 1
            }
            allowed.withLock { $0 += mine }
        }
        #expect(allowed.withLock { $0 } == 1000)
    }

    /// Several threads, many buckets across all shards: each bucket hands out exactly its burst.
    @Test func concurrentChecksOnManyBuckets() {
        let rl = RateLimiter()
        let l = limit(1, per: 3600 * Self.second, burst: 3)
        let perKey = Locked([Int](repeating: 0, count: 500))
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            var mine = [Int](repeating: 0, count: 500)
            for round in 0..<5 {
                for i in 0..<500 {
                    let k = (i * 7 + thread * 131 + round) % 500  // the threads visit the keys in different orders
                    if rl.check(l, route: UInt32(k % 3), key: RateKey(value: UInt64(k), isV4: k % 2 == 0), now: Self.second) == .allowed {
                        mine[k] += 1
                    }
                }
            }
            perKey.withLock { total in for k in 0..<500 { total[k] += mine[k] } }
        }
        #expect(perKey.withLock { $0 } == [Int](repeating: 3, count: 500))
        #expect(rl.evictions == 0)
        #expect(rl.activeBuckets(now: Self.second) == 500)
    }
}
