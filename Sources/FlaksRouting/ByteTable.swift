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
    /// One slot: a key (as a range of `keyBytes`), its owner, its value and its hash. Kept
    /// in the slot array itself so that a probe reads one slot, then the key's bytes.
    private struct Slot: Sendable {
        /// 0 marks an empty slot (stored hashes have their low bit set).
        var hash: UInt64 = 0
        var owner: Int32 = 0
        var value: Int32 = 0
        var start: Int32 = 0
        var count: Int32 = 0
    }

    /// The count is a power of two, at least twice `count`.
    private var slots = [Slot](repeating: Slot(), count: 8)
    private var keyBytes: [UInt8] = []
    private(set) var count = 0

    /// The value for `key` under `owner`, or nil.
    func find(owner: Int, _ key: UnsafeBufferPointer<UInt8>) -> Int? {
        let hash = Self.hash(key, owner: owner)
        return slots.withUnsafeBufferPointer { slots in
            keyBytes.withUnsafeBufferPointer { bytes in
                let mask = slots.count &- 1
                var i = Int(truncatingIfNeeded: hash) & mask
                while true {
                    let slot = slots[i]
                    if slot.hash == 0 { return nil }
                    if slot.hash == hash, Int(slot.owner) == owner, Int(slot.count) == key.count,
                       Self.equal(UnsafeBufferPointer(rebasing: bytes[Int(slot.start)..<Int(slot.start) + key.count]), key) {
                        return Int(slot.value)
                    }
                    i = (i &+ 1) & mask
                }
            }
        }
    }

    /// The value for `key` under `owner`, or nil (build time and tests).
    func find(owner: Int, _ key: String) -> Int? {
        Array(key.utf8).withUnsafeBufferPointer { find(owner: owner, $0) }
    }

    /// Sets the value for `key` under `owner`, adding the key if it is new. Owners, values and
    /// the total key length must fit in an `Int32`.
    mutating func set(owner: Int, _ key: String, to value: Int) {
        let bytes = Array(key.utf8)
        if let i = bytes.withUnsafeBufferPointer({ slotIndex(owner: owner, $0) }) {
            slots[i].value = Int32(value)
            return
        }
        precondition(keyBytes.count + bytes.count < Int(Int32.max), "ByteTable: keys too long")
        if (count + 1) * 2 > slots.count { grow() }
        let hash = bytes.withUnsafeBufferPointer { Self.hash($0, owner: owner) }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i].hash != 0 { i = (i + 1) & mask }
        slots[i] = Slot(hash: hash, owner: Int32(owner), value: Int32(value),
                        start: Int32(keyBytes.count), count: Int32(bytes.count))
        keyBytes.append(contentsOf: bytes)
        count += 1
    }

    /// The slot holding `key` under `owner`, or nil.
    private func slotIndex(owner: Int, _ key: UnsafeBufferPointer<UInt8>) -> Int? {
        let hash = Self.hash(key, owner: owner)
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i].hash != 0 {
            let s = slots[i]
            if s.hash == hash, Int(s.owner) == owner,
               keyBytes[Int(s.start)..<Int(s.start + s.count)].elementsEqual(key) { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        let mask = slots.count - 1
        for s in old where s.hash != 0 {
            var i = Int(truncatingIfNeeded: s.hash) & mask
            while slots[i].hash != 0 { i = (i + 1) & mask }
            slots[i] = s
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
        return (h ^ (h >> 32)) | 1   // never 0, the empty-slot mark
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
