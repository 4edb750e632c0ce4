import FlaksHandlers
import FlaksHTTP

/// One complete answer kept by a loop to send again, byte for byte, to the next plain request for
/// the same host and target (a `QuickHead`), until `validUntil` or the next site generation.
/// Only its Date value changes (patched in place once a second). A body of at most
/// `PreparedResponses.maxBody` bytes follows the head in `bytes` (one send); a larger one is `body`
/// (on plain connections): the static cache's own bytes (shared, not copied) or its open file,
/// queued after the head as on the general path (writev, or MSG_MORE and sendfile).
final class PreparedResponse {
    let hash: UInt64
    /// 0 for plain connections; for TLS, 1 + the host whose certificate the connection chose (its
    /// answers carry HSTS, and a Host of another TLS host gets 421 there).
    let variant: Int
    /// The Host value's bytes, then the target's.
    let key: [UInt8]
    let hostLength: Int
    /// The head (keep-alive, HTTP/1.1) and the body, or the head alone when `body` is set.
    var bytes: [UInt8]
    /// A body over `maxBody`, sent through the output queue (plain connections only).
    let body: OutputQueue.Chunk?
    /// Where the 29 bytes of the Date value are in `bytes`, and the second they say.
    let dateAt: Int
    var dateSecond: Int
    let plan: ResponsePlan
    /// The route's host label (metrics).
    let hostLabel: String
    let generation: Int
    /// Loop clock time after which the handler must be asked again (a static file's revalidation).
    let validUntil: UInt64
    /// A request known not to be preparable (its route is a view, a script, a proxy...): the general
    /// path without the cost of remembering its key.
    var isNegative: Bool { bytes.isEmpty }
    /// Bytes the answer puts on the wire (metrics).
    var length: Int {
        switch body {
        case nil, .head?: bytes.count
        case .bytes(let b)?: bytes.count + b.count
        case .file(let f)?: bytes.count + f.length
        }
    }

    init(hash: UInt64, variant: Int, key: [UInt8], hostLength: Int, bytes: [UInt8], body: OutputQueue.Chunk? = nil, dateAt: Int,
         dateSecond: Int, plan: ResponsePlan, hostLabel: String, generation: Int, validUntil: UInt64) {
        self.hash = hash; self.variant = variant; self.key = key; self.hostLength = hostLength; self.bytes = bytes; self.body = body
        self.dateAt = dateAt
        self.dateSecond = dateSecond; self.plan = plan; self.hostLabel = hostLabel
        self.generation = generation; self.validUntil = validUntil
    }

    /// The negative entry for a quick request whose route never prepares (valid for the generation).
    static func negative(_ k: PreparedKey, generation: Int) -> PreparedResponse {
        PreparedResponse(hash: k.hash, variant: k.variant, key: k.key, hostLength: k.hostLength, bytes: [], dateAt: 0, dateSecond: 0,
                         plan: ResponsePlan(delimiter: .none, sendsBody: false, keepAlive: false, version: .http1_1),
                         hostLabel: "", generation: generation, validUntil: UInt64.max)
    }
}

/// A loop's prepared responses: a direct-mapped table of `slots` entries keyed by a hash of the
/// Host value and the target, so a request for a static file or a `respond:` route that was
/// answered a moment ago is answered again without parsing its fields into strings, routing,
/// calling the handler or encoding a head (docs/performance.md: this is most of the gap to the C
/// servers). Loop thread only: no lock. Bounded: `slots` entries of at most `maxBody` body bytes
/// each of their own (a larger body is the static cache's bytes or open file, shared with it);
/// a new entry replaces whatever held its slot. A new site generation empties it.
///
/// What may be kept is decided where a response is sent (`Connection.keepPrepared`): a 200 to a
/// quick GET, kept alive, from a route without access rules, whose handler
/// said how long it stays the same (`Response.reusableFor`); the access log off (a prepared
/// answer writes no log line).
final class PreparedResponses {
    static let slots = 256
    static let maxBody = 16 * 1024

    private var table: [PreparedResponse?] = Array(repeating: nil, count: PreparedResponses.slots)
    private var generation = 0
    /// Entries in the table now (tests).
    private(set) var count = 0

    /// The entry for the request `q` in `b`, if one is valid at `now` for `generation`.
    @inline(__always)
    func find(_ b: UnsafeRawBufferPointer, _ q: QuickHead, hash: UInt64, variant: Int, generation: Int, now: UInt64) -> PreparedResponse? {
        if generation != self.generation { clear(generation); return nil }
        guard let e = table[Int(truncatingIfNeeded: hash) & (Self.slots - 1)], e.hash == hash, e.variant == variant,
              e.hostLength == q.host.count, e.key.count == q.host.count + q.target.count, now < e.validUntil else { return nil }
        let same = e.key.withUnsafeBytes { k in
            memcmp(k.baseAddress!, b.baseAddress! + q.host.lowerBound, q.host.count) == 0
                && memcmp(k.baseAddress! + q.host.count, b.baseAddress! + q.target.lowerBound, q.target.count) == 0
        }
        return same ? e : nil
    }

    func store(_ e: PreparedResponse) {
        if e.generation != generation { clear(e.generation) }
        let i = Int(truncatingIfNeeded: e.hash) & (Self.slots - 1)
        if table[i] == nil { count += 1 }
        table[i] = e
    }

    /// Forgets every entry (an idle server gives their memory back: `server.idle_release`).
    func removeAll() { clear(generation) }

    private func clear(_ generation: Int) {
        if count > 0 {
            for i in table.indices { table[i] = nil }
            count = 0
        }
        self.generation = generation
    }

    /// A hash of the Host value and the target: eight bytes at a time, then the tail (a collision
    /// only costs a miss: the key bytes are compared).
    @inline(__always)
    static func hash(_ b: UnsafeRawBufferPointer, _ q: QuickHead, variant: Int) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: q.host.count &* 131 &+ q.target.count &+ variant &* 0x1_0001)
        mix(&h, b, q.host)
        mix(&h, b, q.target)
        return h ^ (h >> 29)
    }

    @inline(__always)
    private static func mix(_ h: inout UInt64, _ b: UnsafeRawBufferPointer, _ r: Range<Int>) {
        guard let base = b.baseAddress else { return }
        var i = r.lowerBound
        while i &+ 8 <= r.upperBound {
            h = (h ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x100_0000_01B3_0001
            h ^= h >> 32
            i &+= 8
        }
        while i < r.upperBound {
            h = (h ^ UInt64(base.load(fromByteOffset: i, as: UInt8.self))) &* 0x100_0000_01B3
            i &+= 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
