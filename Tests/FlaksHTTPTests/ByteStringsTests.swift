import Testing
@testable import FlaksHTTP

/// `String(utf8Bytes:)` makes the String `String(decoding:as:)` makes, on its fast path (up to 15
/// ASCII bytes) and off it (longer, non-ASCII, invalid UTF-8).
@Suite struct ByteStringsTests {
    private static func same(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { b in
            let fast = String(utf8Bytes: b), slow = String(decoding: b, as: UTF8.self)
            return fast == slow && Array(fast.utf8) == Array(slow.utf8)
        }
    }

    @Test(arguments: [
        "", "/", "/json-async", "127.0.0.1:18080", "/0123456789abcd", "/0123456789abcde", "/a/much/longer/path?x=1",
        "caf\u{e9}", "/\u{1F600}", "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}", "x\u{0}y",
    ])
    func sameAsDecoding(text: String) {
        #expect(Self.same(Array(text.utf8)))
        #expect(Array(text.utf8).withUnsafeBytes { String(utf8Bytes: $0) } == text)
    }

    /// Invalid UTF-8 is repaired the same way (U+FFFD), short and long.
    @Test(arguments: [[0xFF], [0x2F, 0xC3], [0x2F, 0xE2, 0x82], [0xC0, 0x80], [0xED, 0xA0, 0x80], Array(repeating: 0x80, count: 15),
                      Array(repeating: 0x80, count: 16), [0x2F] + Array(repeating: 0x41, count: 13) + [0xF0]] as [[UInt8]])
    func repairsLikeDecoding(bytes: [UInt8]) {
        #expect(Self.same(bytes))
        #expect(bytes.withUnsafeBytes { String(utf8Bytes: $0) }.unicodeScalars.contains("\u{FFFD}"))
    }

    /// Every length from 0 to 20 with bytes from every class (ASCII, continuation, lead, invalid),
    /// from a fixed-seed generator: 20,000 inputs.
    @Test func randomBytes() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
        let classes: [ClosedRange<UInt8>] = [0x00...0x7F, 0x80...0xBF, 0xC2...0xDF, 0xE0...0xEF, 0xF0...0xF4, 0xF5...0xFF]
        var failures: [[UInt8]] = []
        for i in 0..<20_000 {
            let length = i % 21
            var bytes: [UInt8] = []
            for _ in 0..<length {
                let r = next()
                // Mostly ASCII, as requests are; the rest spread over the other classes.
                let c = r % 4 == 0 ? classes[Int((r >> 8) % UInt64(classes.count))] : classes[0]
                bytes.append(c.lowerBound &+ UInt8(truncatingIfNeeded: (r >> 16) % UInt64(c.count)))
            }
            if !Self.same(bytes) { failures.append(bytes) }
        }
        #expect(failures.isEmpty, "differs for \(failures.prefix(5))")
    }
}
