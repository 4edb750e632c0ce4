/// A read-mostly hash table from `(owner, bytes)` to an `Int`, looked up with a borrowed
/// `UnsafeBufferPointer<UInt8>` so a lookup never builds a `String`, a `Substring` or a
/// `Hasher`. `owner` namespaces the keys: the path trie keys its static edges by parent node and
/// its exact paths by host, all in one table each.
///
/// Open addressing with linear probing at most half full; keys live back to back in one byte
/// array. The hash is a fixed multiply-xor over 8-byte words: keys come from the manifest
/// (trusted) and a request can only probe, never insert, so there is no flooding to defend
/// against, and a probe of a key that is absent stops at the first empty slot.
struct ByteTable: Sendable {
    /// One key and its value.
    private struct Entry: Sendable {
        var hash: UInt64
        var owner: Int
        var start: Int
        var count: Int
        var value: Int
    }

    /// Entry index + 1 per slot; 0 is empty. The count is a power of two.
    private var slots: [Int32] = Array(repeating: 0, count: 8)
    private var entries: [Entry] = []
    private var keyBytes: [UInt8] = []

    var count: Int { entries.count }

    /// The value for `key` under `owner`, or nil.
    func find(owner: Int, _ key: UnsafeBufferPointer<UInt8>) -> Int? {
        let hash = Self.hash(key, owner: owner)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        return keyBytes.withUnsafeBufferPointer { bytes in
            while true {
                let e = Int(slots[slot])
                if e == 0 { return nil }
                let entry = entries[e - 1]
                if entry.hash == hash, entry.owner == owner, entry.count == key.count,
                   Self.equal(UnsafeBufferPointer(rebasing: bytes[entry.start..<entry.start + entry.count]), key) {
                    return entry.value
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// The value for `key` under `owner`, or nil (build time and tests).
    func find(owner: Int, _ key: String) -> Int? {
        Array(key.utf8).withUnsafeBufferPointer { find(owner: owner, $0) }
    }

    /// Sets the value for `key` under `owner`, adding the key if it is new.
    mutating func set(owner: Int, _ key: String, to value: Int) {
        let bytes = Array(key.utf8)
        let hash = bytes.withUnsafeBufferPointer { Self.hash($0, owner: owner) }
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] != 0 {
            let e = Int(slots[slot]) - 1
            if entries[e].hash == hash, entries[e].owner == owner,
               keyBytes[entries[e].start..<entries[e].start + entries[e].count].elementsEqual(bytes) {
                entries[e].value = value
                return
            }
            slot = (slot + 1) & mask
        }
        precondition(entries.count < Int(Int32.max), "ByteTable: too many keys")
        entries.append(Entry(hash: hash, owner: owner, start: keyBytes.count, count: bytes.count, value: value))
        keyBytes.append(contentsOf: bytes)
        slots[slot] = Int32(entries.count)
        if entries.count * 2 > slots.count { grow() }
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        let mask = slots.count - 1
        for (i, e) in entries.enumerated() {
            var slot = Int(truncatingIfNeeded: e.hash) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(i + 1)
        }
    }

    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>, owner: Int) -> UInt64 {
        let m: UInt64 = 0x9E37_79B9_7F4A_7C15
        var h = (UInt64(truncatingIfNeeded: owner) &+ 1) &* m ^ UInt64(key.count)
        let raw = UnsafeRawBufferPointer(key)
        var i = 0
        while i + 8 <= key.count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* m
            h ^= h >> 29
            i += 8
        }
        h = (h ^ tail(raw, from: i)) &* m
        return h ^ (h >> 32)
    }

    /// The last `raw.count - i` bytes (fewer than 8) packed in a word, with at most three loads.
    /// Two byte strings of one length are equal iff their full words and tails are.
    @inline(__always)
    private static func tail(_ raw: UnsafeRawBufferPointer, from i: Int) -> UInt64 {
        let r = raw.count - i
        if r >= 4 {   // two overlapping 4-byte loads cover 4...7 bytes
            return UInt64(raw.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                | UInt64(raw.loadUnaligned(fromByteOffset: i + r - 4, as: UInt32.self)) << 32
        }
        guard r > 0 else { return 0 }   // first, middle and last byte cover 1...3 bytes
        return UInt64(raw[i]) << 16 | UInt64(raw[i + r / 2]) << 8 | UInt64(raw[i + r - 1])
    }

    @inline(__always)
    static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        let ra = UnsafeRawBufferPointer(a), rb = UnsafeRawBufferPointer(b)
        var i = 0
        while i + 8 <= a.count {
            if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        return tail(ra, from: i) == tail(rb, from: i)
    }
}
