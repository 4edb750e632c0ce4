#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksHTTP

/// What says that a path still names the same bytes: compared when a cache entry is revalidated.
///
/// Device and inode catch a rename-over or a symlink pointed elsewhere; size, mtime and ctime (ns)
/// catch an edit in place; ctime and mode also catch chmod/chown (so revoking read access is noticed).
/// An edit that keeps size and lands in the same file-system timestamp tick is not seen: the ETag
/// (inode, size, mtime) has the same limit.
struct FileIdentity: Sendable, Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int
    var mtimeNanos: Int
    var ctimeNanos: Int
    /// The ctime has a sub-second part: the file system keeps fine time stamps.
    var ctimeHasFraction: Bool
    var mode: UInt32

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int(st.st_size)
        mtimeNanos = Int(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int(st.st_mtim.tv_nsec)
        ctimeNanos = Int(st.st_ctim.tv_sec) &* 1_000_000_000 &+ Int(st.st_ctim.tv_nsec)
        ctimeHasFraction = st.st_ctim.tv_nsec != 0
        mode = UInt32(st.st_mode)
    }
}

/// One regular file ready to be served: its bytes (small files) or its open descriptor, and every
/// header value that depends only on the file, computed once. Immutable, so shared freely between
/// loop threads and kept alive by in-flight responses after it leaves the cache.
final class StaticRepresentation: Sendable {
    /// Where the body comes from.
    enum Content: Sendable {
        /// An open descriptor: the body goes out with sendfile.
        case file(OpenFile)
        /// The whole file in memory (small files): the body goes out in the same writev as the head.
        case bytes([UInt8])
    }

    let identity: FileIdentity
    let content: Content
    let type: MediaType
    let coding: PrecompressedCoding?
    let validators: Validators
    /// ETag, Last-Modified, and `Vary: Accept-Encoding` for compressible types: what 200, 206 and 304 carry.
    let baseHeaders: HeaderFields
    /// The complete handler headers of a 200: `baseHeaders`, Accept-Ranges, Content-Encoding, Content-Type.
    let okHeaders: HeaderFields
    /// `okHeaders` serialized once (see `Response.encodedHeaders`).
    let okHeadersEncoded: [UInt8]

    var size: Int { identity.size }

    /// Bytes of memory the content holds (what counts against the cache's byte budget).
    var cost: Int {
        if case .bytes(let b) = content { return b.count }
        return 0
    }

    init(identity: FileIdentity, content: Content, type: MediaType, coding: PrecompressedCoding?) {
        self.identity = identity
        self.content = content
        self.type = type
        self.coding = coding
        let v = Validators(etag: Validators.etag(inode: identity.inode, size: identity.size, mtimeNanos: identity.mtimeNanos),
                           lastModified: identity.mtimeNanos >= 0 ? identity.mtimeNanos / 1_000_000_000
                                                                  : (identity.mtimeNanos - 999_999_999) / 1_000_000_000)
        validators = v
        var fields: [HeaderField] = []
        fields.reserveCapacity(8)
        fields.append(HeaderField(name: "ETag", value: v.etag))
        fields.append(HeaderField(name: "Last-Modified", value: StaticDates.format(v.lastModified)))
        // Every compressible type may have a sibling, so responses for them vary on Accept-Encoding
        // even when none was chosen (RFC 9110 §12.5.5), like nginx `gzip_vary on`.
        if type.compressible { fields.append(HeaderField(name: "Vary", value: "Accept-Encoding")) }
        baseHeaders = HeaderFields(fields)
        fields.append(HeaderField(name: "Accept-Ranges", value: "bytes"))
        if let coding { fields.append(HeaderField(name: "Content-Encoding", value: coding.rawValue)) }
        fields.append(HeaderField(name: "Content-Type", value: type.contentType))
        okHeaders = HeaderFields(fields)
        var encoded: [UInt8] = []
        for f in fields { ResponseSerializer.writeField(name: f.name, value: f.value, into: &encoded) }
        okHeadersEncoded = encoded
    }

    /// The body for `length` bytes from `offset` (already checked against `size`).
    func region(offset: Int, length: Int) -> BodyPart {
        switch content {
        case .file(let f): return .file(FileRegion(file: f, offset: offset, length: length))
        case .bytes(let b):
            if offset == 0 && length == b.count { return .bytes(b) }
            return .bytes(Array(b[offset..<(offset + length)]))
        }
    }
}

/// A small cache of open files and their stat data for one `StaticFileHandler` (one manifest
/// generation), shared by every loop thread that calls it.
///
/// - Key: the path relative to the route's root plus the representation (identity, br, gzip).
/// - Value: a `StaticRepresentation` (descriptor or, up to `Limits.smallFileBytes`, the bytes), or
///   for precompressed siblings only, the fact that there is none (a negative entry: those keys come
///   only from files that exist, so a client cannot fill the cache with them).
/// - Freshness: an entry is used without any system call for `Limits.revalidateAfter` (1 s) after it
///   was last checked; after that the handler compares `fstatat` of the path with the entry's
///   `FileIdentity`, and on any difference or error drops it and opens the path again through the safe
///   path (openat2 RESOLVE_BENEATH). So a change on disk is visible within 1 s (lighttpd's stat
///   cache and nginx `open_file_cache_valid` default to the same). Within that second a replaced file
///   is served from its old descriptor or bytes; a file truncated in place can make a sendfile of the
///   old length come up short, which closes the connection (as with nginx's open_file_cache).
///   A file changed less than `Limits.settleAfter` (2 s; 250 ms where a local file system keeps
///   sub-second time stamps) before a check is not trusted at all: it is checked on every request until it settles
///   (see `settled`), so a file being edited is served fresh.
/// - Bounds: at most `Limits.maxEntries` entries and `Limits.maxBytes` of cached file content; the
///   CLOCK algorithm picks what to evict.
///
/// The lock covers only dictionary and ring updates: no system call runs under it, and entries that
/// leave the cache are released after it is dropped (their descriptor closes in `OpenFile.deinit`).
final class StaticFileCache: Sendable {
    /// The cache's bounds and timing.
    struct Limits: Sendable {
        /// Most entries (each may hold one descriptor).
        var maxEntries = 1024
        /// Most bytes of file content held in memory.
        var maxBytes = 16 << 20
        /// Files up to this size are kept in memory and sent with the head in one writev.
        var smallFileBytes = 32 << 10
        /// How long (ns) an entry is trusted before the path is checked again.
        var revalidateAfter: UInt64 = 1_000_000_000
        /// A file whose last change (ctime) is more recent than this (ns) when it is checked is not
        /// trusted for the window (it is checked on every request) and not copied into memory.
        /// This is for file systems that keep whole seconds, and for any file system not known to
        /// be local (a network file system's time stamps come from another machine's clock).
        var settleAfter = 2_000_000_000
        /// The same for a ctime with a sub-second part on a local file system with fine time stamps
        /// (`fineDevice`: ext4, xfs, btrfs, tmpfs, overlayfs, f2fs, zfs): such a file system stamps a
        /// change with the kernel's coarse clock, which moves at every tick (1-10 ms; a few ticks
        /// late at worst on an overloaded VM), so a change made 250 ms after the last one always
        /// shows in the stat data. (2 s here made a file written just before a benchmark cost
        /// 16,760 instructions per request instead of 2,700 for its first 2 s: a stat and a
        /// descriptor per request, never a prepared answer.)
        var fineSettleAfter = 250_000_000
        init() {}
    }

    /// The representation a key names.
    struct Key: Hashable, Sendable {
        var path: String
        /// nil: the file itself; else the precompressed sibling `path + coding.suffix`.
        var coding: PrecompressedCoding?
    }

    /// A cached answer: the file, or (siblings only) its absence.
    enum Value: Sendable {
        case present(StaticRepresentation)
        case absent

        func same(as other: Value) -> Bool {
            switch (self, other) {
            case (.present(let a), .present(let b)): a === b
            case (.absent, .absent): true
            default: false
            }
        }
    }

    /// What a lookup found.
    enum Lookup: Sendable {
        /// Checked within the window: use it (`left`: nanoseconds of the window remaining).
        case fresh(Value, left: UInt64)
        /// Older than the window: revalidate before use.
        case stale(Value)
        case miss
    }

    private struct Slot {
        var value: Value
        var checkedAt: UInt64
        var referenced: Bool
        var ring: Int
        var cost: Int
    }

    private struct State {
        var map: [Key: Slot] = [:]
        /// CLOCK positions; nil = free.
        var ring: [Key?] = []
        var free: [Int] = []
        var hand = 0
        var bytes = 0

        /// Removes `key`, returning its value so the caller releases it outside the lock.
        mutating func remove(_ key: Key) -> Value? {
            guard let slot = map.removeValue(forKey: key) else { return nil }
            ring[slot.ring] = nil
            free.append(slot.ring)
            bytes -= slot.cost
            return slot.value
        }

        /// Evicts one entry (CLOCK: skip and clear recently used ones), or nil when empty.
        mutating func evictOne() -> Value? {
            guard !map.isEmpty, !ring.isEmpty else { return nil }
            // Two sweeps clear every reference bit, so this ends.
            for _ in 0..<(2 * ring.count + 1) {
                let i = hand
                hand = hand + 1 == ring.count ? 0 : hand + 1
                guard let key = ring[i], let index = map.index(forKey: key) else { continue }
                if map.values[index].referenced {
                    map.values[index].referenced = false
                    continue
                }
                return remove(key)
            }
            return nil
        }
    }

    let limits: Limits
    /// Monotonic nanoseconds; injected by tests to step over the revalidation window.
    let now: @Sendable () -> UInt64
    /// Wall-clock nanoseconds since 1970 (compared with ctime); injected by tests.
    let wallNow: @Sendable () -> Int
    private let state = Locked(State())

    /// The device of the route's root when it is a local file system with fine time stamps
    /// (`fineGrainedDevice`): files on it settle after `Limits.fineSettleAfter`.
    let fineDevice: UInt64?

    init(limits: Limits = Limits(), now: @escaping @Sendable () -> UInt64 = StaticFileCache.monotonicCoarse,
         wallNow: @escaping @Sendable () -> Int = StaticFileCache.realtime, fineDevice: UInt64? = nil) {
        self.limits = limits
        self.now = now
        self.wallNow = wallNow
        self.fineDevice = fineDevice
    }

    /// Local file systems whose time stamps have nanoseconds (statfs f_type): ext2/3/4, xfs, btrfs,
    /// tmpfs, overlayfs, f2fs, zfs.
    static let fineGrainedFileSystems: Set<Int> = [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994, 0x794C_7630,
                                                    0xF2F5_2010, 0x2FC1_2FC1]

    /// The device of the directory `fd` when its file system is one of `fineGrainedFileSystems`.
    static func fineGrainedDevice(of fd: Int32) -> UInt64? {
        var st = stat()
        guard fineGrainedFileSystems.contains(Int(cflaks_fs_type(fd))), fstat(fd, &st) == 0 else {
            return nil
        }
        return UInt64(st.st_dev)
    }

    /// CLOCK_REALTIME in nanoseconds.
    @Sendable static func realtime() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int(ts.tv_sec) &* 1_000_000_000 &+ Int(ts.tv_nsec)
    }

    /// True when the file's last change (ctime, which no one can set back) is older than
    /// `settleWindow` (2 s, or 250 ms for fine time stamps on a local file system). A file changed
    /// more recently may still be being written, in a way its stat data might not reveal later (the same timestamp tick, the same size), so until it settles it is
    /// checked on every request (one fstatat: still cheaper than open + fstat + close) and served from
    /// its descriptor; its bytes are loaded at the first check after it settled. This also means a file
    /// that is being edited is served fresh at once; only a change after a quiet period waits out the window.
    func settled(_ identity: FileIdentity) -> Bool {
        identity.ctimeNanos < wallNow() &- settleWindow(identity)
    }

    /// `Limits.fineSettleAfter` for a file with a sub-second ctime on `fineDevice`, else
    /// `Limits.settleAfter`.
    func settleWindow(_ identity: FileIdentity) -> Int {
        identity.ctimeHasFraction && identity.device == fineDevice ? limits.fineSettleAfter : limits.settleAfter
    }

    /// The check time to record for an entry checked at `t`: `t` when it can be trusted for the
    /// window, else a time already outside the window (so the next lookup checks it again).
    func checkTime(_ value: Value, at t: UInt64) -> UInt64 {
        if case .present(let rep) = value, !settled(rep.identity) { return t &- limits.revalidateAfter }
        return t
    }

    /// CLOCK_MONOTONIC_COARSE (vDSO, a few ns; a tick of resolution is plenty for a 1 s window).
    @Sendable static func monotonicCoarse() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Looks `key` up at time `t` (marks it recently used).
    func lookup(_ key: Key, at t: UInt64) -> Lookup {
        let window = limits.revalidateAfter
        return state.withLock { s in
            guard let i = s.map.index(forKey: key) else { return .miss }
            let slot = s.map.values[i]
            if !slot.referenced { s.map.values[i].referenced = true }
            let age = t &- slot.checkedAt
            return age < window ? .fresh(slot.value, left: window &- age) : .stale(slot.value)
        }
    }

    /// The entry was found unchanged at time `t`: trusted for another window (if it is still there).
    func confirm(_ key: Key, _ value: Value, at t: UInt64) {
        state.withLock { s in
            guard let i = s.map.index(forKey: key), s.map.values[i].value.same(as: value) else { return }
            s.map.values[i].checkedAt = t
        }
    }

    /// Drops `key` if it still holds `value` (another thread may have stored a newer one meanwhile).
    func drop(_ key: Key, ifStill value: Value) {
        let released: Value? = state.withLock { s in
            guard let slot = s.map[key], slot.value.same(as: value) else { return nil }
            return s.remove(key)
        }
        _ = released  // released here, after the lock
    }

    /// Stores `value` for `key`, checked at time `t`, evicting others to stay within the bounds.
    /// Content larger than the whole byte budget is not stored (the caller serves it anyway).
    func store(_ key: Key, _ value: Value, at t: UInt64) {
        let cost: Int
        if case .present(let r) = value { cost = r.cost } else { cost = 0 }
        guard limits.maxEntries > 0, cost <= limits.maxBytes else { return }
        let released: [Value] = state.withLock { s in
            var out: [Value] = []
            if let old = s.remove(key) { out.append(old) }
            while s.map.count >= limits.maxEntries || s.bytes + cost > limits.maxBytes {
                guard let v = s.evictOne() else { break }
                out.append(v)
            }
            let index: Int
            if let f = s.free.popLast() {
                index = f
                s.ring[f] = key
            } else {
                index = s.ring.count
                s.ring.append(key)
            }
            s.map[key] = Slot(value: value, checkedAt: t, referenced: false, ring: index, cost: cost)
            s.bytes += cost
            return out
        }
        _ = released  // descriptors of evicted entries close here, after the lock
    }

    /// Entries and bytes of content held (for tests and metrics).
    var usage: (entries: Int, bytes: Int) {
        state.withLock { ($0.map.count, $0.bytes) }
    }
}
