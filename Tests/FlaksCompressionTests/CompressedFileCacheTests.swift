import FlaksTestSupport
import Testing
@testable import FlaksCompression

@Suite("Compressed-file cache: bound, LRU, invalidation, counting")
struct CompressedFileCacheTests {
    static func key(inode: UInt64 = 1, size: Int = 100, mtime: Int = 1, etag: String = "\"e\"",
                    coding: ContentCoding = .gzip) -> CompressedFileCache.Key {
        .init(file: .init(device: 8, inode: inode, size: size, mtimeNanos: mtime), etag: etag, coding: coding)
    }

    @Test func exactlyFitsThenOneByteOverEvictsTheLeastRecentlyUsed() {
        let cache = CompressedFileCache(capacity: 100)
        let a = Self.key(inode: 1), b = Self.key(inode: 2), c = Self.key(inode: 3)
        #expect(cache.insert([UInt8](repeating: 1, count: 60), for: a))
        #expect(cache.insert([UInt8](repeating: 2, count: 40), for: b))
        #expect(cache.statistics.bytes == 100)  // exactly the capacity: both kept
        #expect(cache.statistics.evictions == 0)
        #expect(cache.lookup(a) != nil)  // a is now the most recently used
        #expect(cache.insert([3], for: c))  // one byte over
        let s = cache.statistics
        #expect(s.evictions == 1)
        #expect(s.bytes == 61)
        #expect(cache.lookup(b) == nil)  // b was the least recently used
        #expect(cache.lookup(a) == [UInt8](repeating: 1, count: 60))
        #expect(cache.lookup(c) == [3])
    }

    @Test func evictsAsManyAsNeeded() {
        let cache = CompressedFileCache(capacity: 100)
        for i in 0..<10 { cache.insert([UInt8](repeating: UInt8(i), count: 10), for: Self.key(inode: UInt64(i))) }
        #expect(cache.statistics.entries == 10)
        cache.insert([UInt8](repeating: 9, count: 35), for: Self.key(inode: 99))
        let s = cache.statistics
        #expect(s.evictions == 4)  // the four oldest
        #expect(s.bytes == 95)
        for i in 0..<4 { #expect(cache.lookup(Self.key(inode: UInt64(i))) == nil) }
        for i in 4..<10 { #expect(cache.lookup(Self.key(inode: UInt64(i))) != nil) }
    }

    @Test func entryOfExactlyTheCapacityFitsOneMoreDoesNot() {
        let cache = CompressedFileCache(capacity: 50)
        #expect(cache.insert([UInt8](repeating: 0, count: 10), for: Self.key(inode: 1)))
        #expect(!cache.insert([UInt8](repeating: 0, count: 51), for: Self.key(inode: 2)))
        #expect(cache.statistics.entries == 1)  // a too-large entry evicts nothing
        #expect(cache.insert([UInt8](repeating: 0, count: 50), for: Self.key(inode: 3)))
        #expect(cache.statistics.entries == 1)
        #expect(cache.statistics.bytes == 50)
        #expect(cache.lookup(Self.key(inode: 3)) != nil)
    }

    @Test func zeroCapacityStoresNothingButEmptyBodies() {
        let cache = CompressedFileCache(capacity: 0)
        #expect(!cache.insert([1], for: Self.key()))
        #expect(cache.statistics.entries == 0)
    }

    @Test func replacingAKeyKeepsTheCountsRight() {
        let cache = CompressedFileCache(capacity: 100)
        cache.insert([UInt8](repeating: 0, count: 30), for: Self.key())
        cache.insert([UInt8](repeating: 1, count: 20), for: Self.key())
        #expect(cache.statistics.entries == 1)
        #expect(cache.statistics.bytes == 20)
        #expect(cache.lookup(Self.key()) == [UInt8](repeating: 1, count: 20))
    }

    @Test func aChangedFileIsADifferentKeyAndDropsTheOldVersion() {
        let cache = CompressedFileCache(capacity: 1000)
        let v1gz = Self.key(mtime: 1, coding: .gzip), v1br = Self.key(mtime: 1, coding: .br)
        cache.insert([1, 1], for: v1gz)
        cache.insert([2, 2], for: v1br)
        cache.insert([9], for: Self.key(inode: 2))  // another file
        // The file is rewritten in place: same inode, new mtime (and so a new ETag).
        let v2gz = Self.key(mtime: 2, etag: "\"f\"", coding: .gzip)
        #expect(cache.lookup(v2gz) == nil)
        let s = cache.statistics
        #expect(s.invalidations == 2)  // both codings of the old version, at once
        #expect(s.entries == 1)
        #expect(cache.lookup(v1gz) == nil)
        #expect(cache.lookup(Self.key(inode: 2)) == [9])  // other files are untouched
    }

    @Test(arguments: [
        ("size", CompressedFileCacheTests.key(size: 101)), ("mtime", CompressedFileCacheTests.key(mtime: 2)),
        ("etag", CompressedFileCacheTests.key(etag: "\"other\"")), ("inode", CompressedFileCacheTests.key(inode: 7)),
    ] as [(String, CompressedFileCache.Key)])
    func everyPartOfTheIdentityMatters(part: String, changed: CompressedFileCache.Key) {
        let cache = CompressedFileCache(capacity: 1000)
        cache.insert([1], for: Self.key())
        #expect(cache.lookup(changed) == nil, "\(part)")
        var sameButDevice = Self.key()
        sameButDevice.file.device = 9
        #expect(cache.lookup(sameButDevice) == nil)
    }

    @Test func secondRequestDoesNoCompressionWork() throws {
        let cache = CompressedFileCache(capacity: 1 << 20)
        let source = Fixture.html100KiB.bytes
        let key = Self.key(size: source.count, coding: .br)
        let first = try cache.compressed(key, source: source)
        #expect(cache.statistics.compressions == 1)
        #expect(cache.statistics.misses == 1)
        let second = try cache.compressed(key, source: source)
        let s = cache.statistics
        #expect(s.compressions == 1)  // no work the second time
        #expect(s.hits == 1)
        #expect(second == first)
        #expect(try decodeAll(.br, second) == source)
        // Another coding of the same file is its own entry.
        _ = try cache.compressed(Self.key(size: source.count, coding: .gzip), source: source)
        #expect(cache.statistics.compressions == 2)
        #expect(cache.statistics.entries == 2)
    }

    @Test func closureVariantCountsAndStores() {
        let cache = CompressedFileCache(capacity: 100)
        var calls = 0
        let a = cache.compressed(Self.key()) { calls += 1; return [1, 2, 3] }
        let b = cache.compressed(Self.key()) { calls += 1; return [9] }
        #expect(a == [1, 2, 3])
        #expect(b == [1, 2, 3])
        #expect(calls == 1)
        #expect(cache.statistics.compressions == 1)
    }

    @Test func removeAll() {
        let cache = CompressedFileCache(capacity: 100)
        cache.insert([1], for: Self.key())
        _ = cache.lookup(Self.key())
        cache.removeAll()
        let s = cache.statistics
        #expect(s.entries == 0 && s.bytes == 0)
        #expect(s.hits == 1)
        #expect(cache.lookup(Self.key()) == nil)
        #expect(cache.insert([1], for: Self.key()))
    }

    /// Several threads at once: the bound holds and every hit is the bytes stored for that key.
    @Test func concurrentUseKeepsTheBound() async {
        let cache = CompressedFileCache(capacity: 4096)
        await withTaskGroup(of: Bool.self) { group in
            for t in 0..<8 {
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(t))
                    var ok = true
                    for _ in 0..<2000 {
                        let inode = UInt64(rng.int(0...63))
                        let k = Self.key(inode: inode)
                        if let hit = cache.lookup(k) {
                            ok = ok && hit.count == Int(inode) * 8 + 1 && hit.allSatisfy { $0 == UInt8(inode) }
                        } else {
                            cache.insert([UInt8](repeating: UInt8(inode), count: Int(inode) * 8 + 1), for: k)
                        }
                        ok = ok && cache.statistics.bytes <= 4096
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
        let s = cache.statistics
        #expect(s.bytes <= 4096)
        #expect(s.hits + s.misses == 16_000)
    }
}
