import COpenSSL
import FlaksSync

/// Recently verified passwords, so that a busy page behind `auth` costs one bcrypt per user and
/// password per `ttl`, not one per request.
///
/// An entry is the HMAC-SHA256, under a random per-process key, of the user, the password and the
/// stored hash: the cache holds no password (nor anything that can be brute-forced offline without
/// the key, which never leaves the process), and an entry stops matching as soon as the user's hash
/// changes in the file (a reload with a new password, or a removed user). Only successes are cached;
/// a wrong password always costs a full check.
///
/// Time is `now` in nanoseconds from the caller's monotonic clock. Thread-safe: one `Locked`
/// dictionary (the work under the lock is a hash lookup; the HMAC is computed before locking).
/// Bounded: at most `capacity` entries; inserting into a full cache first drops expired entries,
/// then the one that expires soonest.
public final class AuthCache: Sendable {
    /// 60 s: short enough that a password removed from the file without a reload stops working
    /// within a minute, long enough that a page with a few dozen assets is one check.
    public static let defaultTTL: Int64 = 60_000_000_000
    /// The default bound: plenty for the users of a small site, 64 KiB of memory at most.
    public static let defaultCapacity = 1024

    /// The key of an entry: an HMAC-SHA256 value.
    public struct Key: Sendable, Hashable {
        let a: UInt64, b: UInt64, c: UInt64, d: UInt64
    }

    /// How long (ns) a verified password stays trusted.
    public let ttl: Int64
    /// The most entries kept.
    public let capacity: Int
    private let secret: [UInt8]
    private let entries: Locked<[Key: Int64]>  // key -> expiry (ns); protected by its lock

    /// An empty cache with a fresh random HMAC key (OpenSSL's RAND_bytes; the system generator if
    /// that fails).
    public init(ttl: Int64 = AuthCache.defaultTTL, capacity: Int = AuthCache.defaultCapacity) {
        self.ttl = max(0, ttl)
        self.capacity = max(1, capacity)
        var key = [UInt8](repeating: 0, count: 32)
        if key.withUnsafeMutableBufferPointer({ RAND_bytes($0.baseAddress, Int32($0.count)) }) != 1 {
            var rng = SystemRandomNumberGenerator()
            for i in key.indices { key[i] = UInt8.random(in: .min ... .max, using: &rng) }
        }
        secret = key
        entries = Locked([:])
    }

    /// The entry key for a user, a password and the hash the password is checked against.
    /// Each field is length-prefixed so that no two different triples feed the same bytes to the MAC.
    public func key(user: String, password: String, storedHash: String) -> Key {
        var message: [UInt8] = []  // not wiped after: the password is in `password`'s String anyway
        message.reserveCapacity(user.utf8.count + password.utf8.count + storedHash.utf8.count + 12)
        for field in [user, password, storedHash] {
            let n = UInt32(truncatingIfNeeded: field.utf8.count)
            message.append(contentsOf: [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)])
            message.append(contentsOf: field.utf8)
        }
        var mac = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        secret.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                mac.withUnsafeMutableBufferPointer { out in
                    _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, out.baseAddress, &length)
                }
            }
        }
        func word(_ i: Int) -> UInt64 { mac[i..<i + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return Key(a: word(0), b: word(8), c: word(16), d: word(24))
    }

    /// Whether `key` was inserted less than `ttl` before `now`. An expired entry is removed.
    public func contains(_ key: Key, now: Int64) -> Bool {
        entries.withLock { e in
            guard let expiry = e[key] else { return false }
            if now < expiry { return true }
            e[key] = nil
            return false
        }
    }

    /// Records a successful check at `now`.
    public func insert(_ key: Key, now: Int64) {
        let expiry = now &+ ttl
        entries.withLock { e in
            if e[key] == nil && e.count >= capacity {
                e = e.filter { $0.value > now }
                if e.count >= capacity, let soonest = e.min(by: { $0.value < $1.value }) {
                    e[soonest.key] = nil
                }
            }
            e[key] = expiry
        }
    }

    /// Drops every entry (for tests, or when the operator wants every session checked again).
    public func removeAll() {
        entries.withLock { $0.removeAll() }
    }

    /// The number of entries, expired ones included until they are found or pushed out.
    public var count: Int { entries.withLock { $0.count } }
}
