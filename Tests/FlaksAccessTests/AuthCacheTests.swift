import Testing
@testable import FlaksAccess

@Suite struct AuthCacheTests {
    static let second: Int64 = 1_000_000_000

    @Test func keysDependOnEveryFieldAndOnTheProcessKey() {
        let cache = AuthCache()
        let k = cache.key(user: "alice", password: "pw", storedHash: "$2y$05$h")
        #expect(cache.key(user: "alice", password: "pw", storedHash: "$2y$05$h") == k)  // deterministic
        #expect(cache.key(user: "alice", password: "pW", storedHash: "$2y$05$h") != k)
        #expect(cache.key(user: "alicf", password: "pw", storedHash: "$2y$05$h") != k)
        #expect(cache.key(user: "alice", password: "pw", storedHash: "$2y$05$i") != k)
        // Length prefixes: moving bytes from one field to the next changes the key.
        #expect(cache.key(user: "ab", password: "c", storedHash: "") != cache.key(user: "a", password: "bc", storedHash: ""))
        #expect(cache.key(user: "", password: "", storedHash: "x") != cache.key(user: "", password: "x", storedHash: ""))
        // Another cache has another random HMAC key.
        #expect(AuthCache().key(user: "alice", password: "pw", storedHash: "$2y$05$h") != k)
    }

    @Test func aHitUntilTheTTLEnds() {
        let cache = AuthCache(ttl: 60 * Self.second)
        let k = cache.key(user: "alice", password: "pw", storedHash: "h")
        let t0: Int64 = 5 * Self.second
        #expect(!cache.contains(k, now: t0))
        cache.insert(k, now: t0)
        #expect(cache.contains(k, now: t0))
        #expect(cache.contains(k, now: t0 + 60 * Self.second - 1))  // one nanosecond before the end
        #expect(!cache.contains(k, now: t0 + 60 * Self.second))     // at the end: gone
        #expect(cache.count == 0)                                    // and dropped
        #expect(!cache.contains(cache.key(user: "alice", password: "other", storedHash: "h"), now: t0))
    }

    @Test func theSizeIsBounded() {
        let cache = AuthCache(ttl: 100, capacity: 3)
        let keys = (0..<5).map { cache.key(user: "u\($0)", password: "p", storedHash: "h") }
        cache.insert(keys[0], now: 10)   // expires 110
        cache.insert(keys[1], now: 0)    // expires 100: the soonest
        cache.insert(keys[2], now: 20)   // expires 120
        #expect(cache.count == 3)        // exactly the capacity
        cache.insert(keys[3], now: 30)   // one more: the soonest to expire goes
        #expect(cache.count == 3)
        #expect(!cache.contains(keys[1], now: 30))
        #expect(cache.contains(keys[0], now: 30) && cache.contains(keys[2], now: 30) && cache.contains(keys[3], now: 30))
        // Re-inserting a present key does not evict anything.
        cache.insert(keys[0], now: 40)
        #expect(cache.count == 3 && cache.contains(keys[2], now: 40))
        // Expired entries go first, all of them.
        cache.insert(keys[4], now: 125)  // keys[2] (120) expired; keys[0] (140) and keys[3] (130) live
        #expect(cache.count == 3)
        #expect(cache.contains(keys[0], now: 125) && cache.contains(keys[3], now: 125) && cache.contains(keys[4], now: 125))
    }

    @Test func basicAuthUsesTheCacheAndCachesOnlySuccesses() throws {
        let users = try Htpasswd(parsing: try bcryptLine("alice", "wonderland"), file: "t")
        let auth = BasicAuth(realm: "Staff", users: users)
        #expect(auth.challenge == "Basic realm=\"Staff\", charset=\"UTF-8\"")
        let cache = AuthCache(ttl: 60 * Self.second)
        let hasher = CountingHasher()
        let good = "Basic YWxpY2U6d29uZGVybGFuZA=="  // alice:wonderland
        let bad = "Basic YWxpY2U6d29uZGVy"          // alice:wonder

        #expect(auth.evaluate(authorization: nil, cache: cache, now: 0) == .challenge)
        #expect(auth.evaluate(authorization: "Basic !!!!", cache: cache, now: 0) == .challenge)
        #expect(auth.evaluate(authorization: "", cache: cache, now: 0) == .challenge)

        // A wrong password: checked, not cached.
        guard case .needsCheck(let wrong) = auth.evaluate(authorization: bad, cache: cache, now: 0) else {
            Issue.record("expected a check"); return
        }
        #expect(auth.verify(wrong, cache: cache, now: 0, hasher: hasher) == .wrongPassword)
        #expect(cache.count == 0)
        #expect(auth.evaluate(authorization: bad, cache: cache, now: 0) == .needsCheck(wrong))

        // The right one: checked once, then answered from the cache until the TTL ends.
        guard case .needsCheck(let right) = auth.evaluate(authorization: good, cache: cache, now: 0) else {
            Issue.record("expected a check"); return
        }
        #expect(auth.verify(right, cache: cache, now: 0, hasher: hasher) == .valid)
        #expect(hasher.calls.count == 2)
        #expect(auth.evaluate(authorization: good, cache: cache, now: 59 * Self.second) == .allowed(user: "alice"))
        #expect(auth.evaluate(authorization: bad, cache: cache, now: 59 * Self.second) == .needsCheck(wrong))
        #expect(auth.evaluate(authorization: good, cache: cache, now: 60 * Self.second) == .needsCheck(right))
        #expect(hasher.calls.count == 2)  // evaluate never hashes

        // An unknown user goes to the worker too, where it costs a dummy check.
        guard case .needsCheck(let nobody) = auth.evaluate(authorization: "Basic bm9ib2R5Ong=", cache: cache, now: 0) else {
            Issue.record("expected a check"); return
        }
        #expect(auth.verify(nobody, cache: cache, now: 0, hasher: hasher) == .unknownUser)
        #expect(hasher.calls.last == users.dummySetting)
    }

    @Test func aChangedHashInvalidatesTheCachedPassword() throws {
        let cache = AuthCache()
        let before = BasicAuth(realm: "r", users: try Htpasswd(parsing: try bcryptLine("alice", "pw"), file: "t"))
        let credentials = BasicCredentials(user: "alice", password: "pw")
        #expect(before.verify(credentials, cache: cache, now: 0) == .valid)
        #expect(before.evaluate(authorization: "Basic YWxpY2U6cHc=", cache: cache, now: 1) == .allowed(user: "alice"))
        // Reloaded with a new hash for the same password (new salt): the old entry does not match.
        let after = BasicAuth(realm: "r", users: try Htpasswd(parsing: try bcryptLine("alice", "pw"), file: "t"))
        #expect(after.evaluate(authorization: "Basic YWxpY2U6cHc=", cache: cache, now: 1) == .needsCheck(credentials))
    }
}
