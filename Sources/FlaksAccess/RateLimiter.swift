#if canImport(Glibc)
import Glibc
#endif
import FlaksSync

/// A route's `rate`: `requests` per `per`, in bursts of up to `burst`.
///
/// The bucket holds `burst` tokens and gains one every `per / requests`; a request takes one
/// (config-schema.md, "access": "burst is the bucket's size: up to burst requests at once,
/// refilled at requests per per").
public struct RateLimit: Sendable, Hashable {
    /// Requests allowed per `per` in the long run (at least 1).
    public let requests: Int
    /// The period, in nanoseconds (at least 1).
    public let per: Int64
    /// The bucket's size: requests allowed at once after a quiet spell (at least 1).
    public let burst: Int
    /// Nanoseconds per token: `per / requests`, rounded down, at least 1.
    public let interval: Int64
    /// `burst * interval`: how far ahead of `now` the bucket's debt may run.
    let tolerance: Int64

    /// Nil when a number is below 1 or `burst * per / requests` does not fit in 63 bits of nanoseconds.
    public init?(requests: Int, per: Int64, burst: Int) {
        guard requests >= 1, per >= 1, burst >= 1 else { return nil }
        let interval = max(1, per / Int64(requests))
        let (tolerance, overflow) = interval.multipliedReportingOverflow(by: Int64(burst))
        guard !overflow, tolerance < Int64.max / 2 else { return nil }
        self.requests = requests
        self.per = per
        self.burst = burst
        self.interval = interval
        self.tolerance = tolerance
    }
}

/// The answer of a rate check.
public enum RateDecision: Sendable, Equatable {
    /// Go ahead (a token was taken).
    case allowed
    /// Answer 429 with `Retry-After: retryAfterSeconds` (RFC 6585 §4, RFC 9110 §10.2.3): the time
    /// until a token is back, rounded up to whole seconds, at least 1. Nothing was taken.
    case limited(retryAfterSeconds: Int)
}

/// Token buckets per (route, client), in a table of fixed size shared by all event loops.
///
/// Algorithm: GCRA, the token bucket kept as one number per client, its "theoretical arrival
/// time" `tat`: the moment the bucket will be full again. A request at `now` would move it to
/// `max(tat, now) + interval`; it is allowed when that is at most `burst * interval` ahead of `now`
/// (then stored), else refused with the time until it would be allowed. A bucket whose `tat` has
/// passed is full, exactly as if it were absent: so an entry is only kept while it holds a debt.
///
/// The client key is `IPAddress.rateKey`: the IPv4 address, or the IPv6 /64.
///
/// Memory: `capacity` slots of 24 bytes (64k slots: 1.5 MiB) allocated once with calloc, untouched
/// pages costing nothing; no allocation per request. The slots form sets of 8 (set-associative, like
/// a CPU cache): a key hashes (SipHash with the process's random seed, so a client cannot aim keys
/// at one set) to one set of one shard and can only live there. A new key takes, in order, a free
/// slot, a slot whose bucket is full again, or else the slot with the smallest `tat`, the bucket
/// nearest to full: forgetting it forgives the least. An attacker spraying fresh addresses therefore
/// pushes out its own barely-indebted entries before a heavily limited client's.
///
/// Concurrency: the table is split into `shards` (16 by default) with a mutex each (`Locked`, a
/// pthread mutex). A check locks only its key's shard for a scan of 8 slots (tens of
/// nanoseconds), so two loops contend only when they check keys of the same shard at the same
/// instant; there is no global lock on the hot path. Under the shard lock a check is atomic: with
/// many threads, a bucket hands out exactly the tokens it has, no update is lost.
public final class RateLimiter: Sendable {
    /// Slots per set.
    static let ways = 8

    /// One bucket. All-zero is an empty slot.
    struct Slot {
        var route: UInt32
        var kind: UInt32  // 0: empty, 1: an IPv6 /64, 2: an IPv4 address
        var key: UInt64
        var tat: Int64
    }

    /// A shard's slots (allocated in `init`, freed in `deinit`) and its count of live buckets
    /// pushed out; both only touched under the shard's lock.
    struct Shard: @unchecked Sendable {
        let slots: UnsafeMutablePointer<Slot>
        var evictions: Int
    }

    /// The total number of slots.
    public let capacity: Int
    private let shards: [Locked<Shard>]
    private let setsPerShard: Int
    private let shardMask: Int

    /// A table of `capacity` slots (rounded up to whole sets) in `shards` shards (rounded up to a
    /// power of two).
    public init(capacity: Int = 65536, shards: Int = 16) {
        var shardCount = 1
        while shardCount < max(1, shards) { shardCount <<= 1 }
        let sets = max(1, (max(capacity, 1) + shardCount * Self.ways - 1) / (shardCount * Self.ways))
        setsPerShard = sets
        shardMask = shardCount - 1
        self.capacity = sets * Self.ways * shardCount
        var list: [Locked<Shard>] = []
        for _ in 0..<shardCount {
            let count = sets * Self.ways
            // calloc: zero is "empty", and pages no key ever reaches stay unbacked.
            guard let raw = calloc(count, MemoryLayout<Slot>.stride) else {
                fatalError("RateLimiter: cannot allocate \(count) slots")  // out of memory at start: not an input error
            }
            list.append(Locked(Shard(slots: raw.bindMemory(to: Slot.self, capacity: count), evictions: 0)))
        }
        self.shards = list
    }

    deinit {
        for s in shards { s.withLock { free($0.slots) } }
    }

    /// Checks (and on success takes) a token for `client` on `route` at `now` (ns, monotonic).
    /// `route` is any number the caller gives each rate-limited route (its index in the route table).
    @inline(__always)
    public func check(_ limit: RateLimit, route: UInt32, client: IPAddress, now: Int64) -> RateDecision {
        check(limit, route: route, key: client.rateKey, now: now)
    }

    /// The same with a precomputed client key (`IPAddress.rateKey`).
    public func check(_ limit: RateLimit, route: UInt32, key rateKey: RateKey, now: Int64) -> RateDecision {
        let key = rateKey.value
        let kind: UInt32 = rateKey.isV4 ? 2 : 1
        var hasher = Hasher()
        hasher.combine(route)
        hasher.combine(kind)
        hasher.combine(key)
        let h = UInt64(bitPattern: Int64(hasher.finalize()))
        let shard = Int(truncatingIfNeeded: h) & shardMask
        let set = Int((h >> 32) % UInt64(setsPerShard))
        return shards[shard].withLock { s in
            let base = s.slots + set * Self.ways
            var found = -1
            var victim = -1
            var victimTat = Int64.max
            for w in 0..<Self.ways {
                let slot = base[w]
                if slot.kind == kind && slot.key == key && slot.route == route {
                    found = w
                    break
                }
                // A free slot or a full bucket ranks below any indebted one (its tat counts as "now").
                let rank = slot.kind == 0 ? Int64.min : (slot.tat <= now ? Int64.min + 1 : slot.tat)
                if rank < victimTat { victim = w; victimTat = rank }
            }
            let tat = found >= 0 ? base[found].tat : now
            let (sum, overflow) = max(tat, now).addingReportingOverflow(limit.interval)
            let next = overflow ? Int64.max : sum
            let ahead = next &- now
            if ahead <= limit.tolerance {
                if found >= 0 {
                    base[found].tat = next
                } else {
                    if victimTat > Int64.min + 1 { s.evictions += 1 }  // pushed out a bucket still in debt
                    base[victim] = Slot(route: route, kind: kind, key: key, tat: next)
                }
                return .allowed
            }
            let wait = ahead - limit.tolerance  // > 0 ns
            let seconds = (wait + 999_999_999) / 1_000_000_000
            return .limited(retryAfterSeconds: Int(max(1, seconds)))
        }
    }

    /// Buckets still in debt that were pushed out to make room (for metrics; many means the table
    /// is too small for the traffic, or someone is spraying addresses).
    public var evictions: Int {
        shards.reduce(0) { sum, s in sum + s.withLock { $0.evictions } }
    }

    /// Buckets currently in debt at `now` (a scan of the whole table: for metrics and tests, not
    /// the request path).
    public func activeBuckets(now: Int64) -> Int {
        var n = 0
        for s in shards {
            n += s.withLock { sh in
                var c = 0
                for i in 0..<(setsPerShard * Self.ways) where sh.slots[i].kind != 0 && sh.slots[i].tat > now { c += 1 }
                return c
            }
        }
        return n
    }
}
