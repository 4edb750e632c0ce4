import FlaksSync

/// The compressed bytes of static files, so a file is compressed once per version and coding, not
/// once per request.
///
/// - Key: the file's identity (device, inode, size, mtime in ns), its ETag and the coding. Any change
///   of the file changes the key, so a stale entry can never be served.
/// - Invalidation: entries are also grouped by (device, inode); the first lookup or insert with a
///   new version of a file (other size, mtime or ETag) drops the old version's entries at once. A
///   file replaced by rename gets a new inode: its old entries are unreachable and age out (LRU).
/// - Bound: `capacity` bytes of compressed data in total (keys and bookkeeping are not counted; they
///   are a few dozen bytes per entry). An insert that would go over evicts least-recently-used
///   entries first; an entry larger than `capacity` is not stored.
/// - Counting: `statistics` has hits, misses and compressions, so tests and metrics can see that a
///   second request for the same file did no compression work.
///
/// Thread-safe: state behind one `Locked`; compression runs outside the lock, and entries leaving
/// the cache are released after it is dropped. Two threads missing the same key at once both
/// compress (and the second insert replaces the first): no thread waits for another's compression.
public final class CompressedFileCache: Sendable {
    /// What identifies one version of a file on disk (from `fstat`).
    public struct FileIdentity: Sendable, Hashable {
        public var device: UInt64
        public var inode: UInt64
        public var size: Int
        public var mtimeNanos: Int
        public init(device: UInt64, inode: UInt64, size: Int, mtimeNanos: Int) {
            self.device = device; self.inode = inode; self.size = size; self.mtimeNanos = mtimeNanos
        }
    }

    /// One cached representation: a version of a file (`file` + `etag`) in one coding.
    public struct Key: Sendable, Hashable {
        public var file: FileIdentity
        /// The identity representation's ETag (as served, quotes included).
        public var etag: String
        public var coding: ContentCoding
        public init(file: FileIdentity, etag: String, coding: ContentCoding) {
            self.file = file; self.etag = etag; self.coding = coding
        }
    }

    /// Counters since the cache was made, and its current size.
    public struct Statistics: Sendable, Hashable {
        /// Lookups answered from the cache.
        public var hits = 0
        /// Lookups that found nothing.
        public var misses = 0
        /// Times `compressed(_:compress:)` ran its compression.
        public var compressions = 0
        /// Entries dropped to make room.
        public var evictions = 0
        /// Entries dropped because their file changed.
        public var invalidations = 0
        /// Entries held now.
        public var entries = 0
        /// Bytes of compressed data held now (at most `capacity`).
        public var bytes = 0
        public init() {}
    }

    /// The most bytes of compressed data held at once.
    public let capacity: Int
    private let state: Locked<State>

    /// A cache holding at most `capacity` bytes of compressed data (0 stores nothing).
    public init(capacity: Int) {
        self.capacity = max(0, capacity)
        state = Locked(State())
    }

    public var statistics: Statistics { state.withLock { $0.stats } }

    /// The cached bytes for `key` (counted as a hit or a miss), and marks them recently used.
    public func lookup(_ key: Key) -> [UInt8]? {
        let (found, dropped) = state.withLock { s -> ([UInt8]?, [[UInt8]]) in
            let dropped = s.invalidateOtherVersions(of: key)
            guard let i = s.index[key], let bytes = s.nodes[i]?.bytes else {
                s.stats.misses += 1
                return (nil, dropped)
            }
            s.stats.hits += 1
            s.moveToFront(i)
            return (bytes, dropped)
        }
        _ = dropped  // released here, outside the lock
        return found
    }

    /// Stores `bytes` for `key`, evicting least-recently-used entries to stay within `capacity`.
    /// Returns false (and stores nothing) when `bytes` alone is larger than `capacity`.
    @discardableResult
    public func insert(_ bytes: [UInt8], for key: Key) -> Bool {
        guard bytes.count <= capacity else { return false }
        let dropped = state.withLock { s -> [[UInt8]] in
            var dropped = s.invalidateOtherVersions(of: key)
            if let i = s.index[key] { dropped.append(s.remove(i)) }
            while s.stats.bytes + bytes.count > capacity, s.tail >= 0 {
                dropped.append(s.remove(s.tail))
                s.stats.evictions += 1
            }
            s.add(key, bytes)
            return dropped
        }
        _ = dropped
        return true
    }

    /// The cached bytes for `key`, or `compress()`'s result, stored for the next request.
    /// `compress` runs without the lock held and is counted in `statistics.compressions`.
    public func compressed(_ key: Key, compress: () throws -> [UInt8]) rethrows -> [UInt8] {
        if let hit = lookup(key) { return hit }
        state.withLock { $0.stats.compressions += 1 }
        let bytes = try compress()
        insert(bytes, for: key)
        return bytes
    }

    /// The cached bytes for `key`, or `source` compressed in `key.coding` with `parameters`.
    public func compressed(_ key: Key, source: [UInt8],
                           parameters: CompressionParameters = .staticFile) throws(CompressionError) -> [UInt8] {
        if let hit = lookup(key) { return hit }
        state.withLock { $0.stats.compressions += 1 }
        let bytes = try StreamingCompressor.compress(source, coding: key.coding, parameters: parameters)
        insert(bytes, for: key)
        return bytes
    }

    /// Drops every entry (counters other than entries and bytes are kept).
    public func removeAll() {
        let old = state.withLock { s -> State in
            var fresh = State()
            fresh.stats = s.stats
            fresh.stats.entries = 0
            fresh.stats.bytes = 0
            swap(&s, &fresh)
            return fresh
        }
        _ = old
    }

    // MARK: - LRU list in an array (indices, no per-node allocation)

    /// (device, inode): where versions of one file meet.
    private struct Slot: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    private struct Node {
        var key: Key
        var bytes: [UInt8]
        var prev: Int  // towards the most recently used; -1 at the head
        var next: Int  // towards the least recently used; -1 at the tail
    }

    // Only touched inside `state.withLock`.
    private struct State {
        var index: [Key: Int] = [:]
        var nodes: [Node?] = []
        var free: [Int] = []
        var head = -1
        var tail = -1
        var bySlot: [Slot: [Key]] = [:]
        var stats = Statistics()

        mutating func add(_ key: Key, _ bytes: [UInt8]) {
            let node = Node(key: key, bytes: bytes, prev: -1, next: head)
            let i: Int
            if let f = free.popLast() { i = f; nodes[i] = node } else { i = nodes.count; nodes.append(node) }
            if head >= 0 { nodes[head]?.prev = i }
            head = i
            if tail < 0 { tail = i }
            index[key] = i
            bySlot[Slot(device: key.file.device, inode: key.file.inode), default: []].append(key)
            stats.entries += 1
            stats.bytes += bytes.count
        }

        /// Unlinks node `i` and returns its bytes (for the caller to release outside the lock).
        mutating func remove(_ i: Int) -> [UInt8] {
            guard let node = nodes[i] else { return [] }
            unlink(i, node)
            nodes[i] = nil
            free.append(i)
            index[node.key] = nil
            let slot = Slot(device: node.key.file.device, inode: node.key.file.inode)
            if var keys = bySlot[slot] {
                keys.removeAll { $0 == node.key }
                bySlot[slot] = keys.isEmpty ? nil : keys
            }
            stats.entries -= 1
            stats.bytes -= node.bytes.count
            return node.bytes
        }

        mutating func moveToFront(_ i: Int) {
            guard i != head, let node = nodes[i] else { return }
            unlink(i, node)
            nodes[i]?.prev = -1
            nodes[i]?.next = head
            if head >= 0 { nodes[head]?.prev = i }
            head = i
            if tail < 0 { tail = i }
        }

        private mutating func unlink(_ i: Int, _ node: Node) {
            if node.prev >= 0 { nodes[node.prev]?.next = node.next } else { head = node.next }
            if node.next >= 0 { nodes[node.next]?.prev = node.prev } else { tail = node.prev }
        }

        /// Drops the entries of the same (device, inode) whose size, mtime or ETag differ from `key`'s.
        mutating func invalidateOtherVersions(of key: Key) -> [[UInt8]] {
            let slot = Slot(device: key.file.device, inode: key.file.inode)
            guard let keys = bySlot[slot] else { return [] }
            var dropped: [[UInt8]] = []
            for k in keys where k.file != key.file || k.etag != key.etag {
                if let i = index[k] {
                    dropped.append(remove(i))
                    stats.invalidations += 1
                }
            }
            return dropped
        }
    }
}
