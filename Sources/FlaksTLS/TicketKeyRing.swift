import COpenSSL
import FlaksSync

/// The keys that encrypt session tickets (RFC 5077 §4 for TLS 1.2; RFC 8446 §4.6.1 tickets in
/// TLS 1.3 are sealed the same way by OpenSSL), shared by every loop and kept across reloads so
/// that a client resumes on any loop and after a `SIGHUP`.
///
/// A key encrypts new tickets for `rotationInterval` after it was made and still decrypts for
/// one more interval; then it is gone and its tickets fall back to a full handshake. Rotation
/// is lazy (checked whenever a ticket is sealed or opened) against the injected clock, so no
/// timer is needed and tests drive it with a fake clock. Keys live only in memory: a restart
/// (not a reload) starts a new ring, as nginx does without `ssl_session_ticket_key` files.
///
/// Each key: a 16-byte name (sent in the ticket, picks the key), AES-256-CBC key and
/// HMAC-SHA256 key, all from RAND_bytes (OpenSSL's own ticket format).
public final class TicketKeyRing: Sendable {
    /// One key generation.
    struct Key: Sendable {
        var name: [UInt8]
        var aes: [UInt8]
        var hmac: [UInt8]
        var created: Int64
    }

    struct State: Sendable {
        var current: Key
        var previous: Key?
        var rotations = 0
    }

    /// Seconds a key encrypts; it decrypts for twice this long. Default 12 hours.
    public let rotationInterval: Int64
    private let clock: @Sendable () -> Int64
    private let state: Locked<State>   // any thread: loops seal and open tickets concurrently

    /// 12 hours, as Mozilla's server-side TLS guidance suggests for ticket keys.
    public static let defaultRotationInterval: Int64 = 12 * 3600

    /// `clock` returns seconds (monotonic by default).
    public init(rotationInterval: Int64 = TicketKeyRing.defaultRotationInterval,
                clock: @escaping @Sendable () -> Int64 = UnixTime.monotonic) throws(CertificateError) {
        precondition(rotationInterval > 0, "rotation interval must be positive")
        self.rotationInterval = rotationInterval
        self.clock = clock
        let first = try Self.makeKey(created: clock())
        state = Locked(State(current: first))
    }

    /// Makes a new current key now; the old current key becomes the decrypt-only previous one
    /// and the old previous one is dropped. Two rotations invalidate every ticket issued before.
    public func rotate() throws(CertificateError) {
        let fresh = try Self.makeKey(created: clock())
        state.withLock { s in
            s.previous = s.current
            s.current = fresh
            s.rotations += 1
        }
    }

    /// How many times the ring rotated (explicitly or because a key aged).
    public var rotations: Int { state.withLock { $0.rotations } }

    /// The key to seal a new ticket with, rotating first if the current one is due.
    func encryptionKey() -> Key? {
        let now = clock()
        rotateIfDue(now: now)
        return state.withLock { $0.current }
    }

    /// The key named `name`, and whether the ticket should be renewed (sealed with an older key).
    func decryptionKey(name: UnsafeRawBufferPointer) -> (key: Key, renew: Bool)? {
        let now = clock()
        rotateIfDue(now: now)
        return state.withLock { s in
            if s.current.name.elementsEqual(name) { return (s.current, false) }
            if let p = s.previous, p.name.elementsEqual(name) { return (p, true) }
            return nil
        }
    }

    /// Rotates when the current key is `rotationInterval` old (exactly that age rotates), and
    /// drops a previous key `2 * rotationInterval` old. A key is only made outside the lock;
    /// if two threads race, one result is kept.
    func rotateIfDue(now: Int64) {
        let (due, stalePrevious) = state.withLock { s in
            (now - s.current.created >= rotationInterval,
             s.previous.map { now - $0.created >= 2 * rotationInterval } ?? false)
        }
        if stalePrevious { state.withLock { s in if let p = s.previous, now - p.created >= 2 * rotationInterval { s.previous = nil } } }
        guard due, let fresh = try? Self.makeKey(created: now) else { return }
        state.withLock { s in
            guard now - s.current.created >= rotationInterval else { return }   // another thread rotated
            let old = s.current
            s.previous = now - old.created < 2 * rotationInterval ? old : nil
            s.current = fresh
            s.rotations += 1
        }
    }

    private static func makeKey(created: Int64) throws(CertificateError) -> Key {
        var bytes = [UInt8](repeating: 0, count: 16 + 32 + 32)
        let ok = bytes.withUnsafeMutableBytes { RAND_bytes($0.baseAddress, Int32($0.count)) }
        guard ok == 1 else { throw .openSSL("RAND_bytes failed") }
        return Key(name: Array(bytes[0..<16]), aes: Array(bytes[16..<48]), hmac: Array(bytes[48..<80]), created: created)
    }
}
