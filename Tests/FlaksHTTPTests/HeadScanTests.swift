import Testing
@testable import FlaksHTTP

/// The head search remembers its progress, so trickled bytes are looked at once.
@Suite struct HeadScanTests {
    @Test func trickledBytesAreScannedOnce() throws {
        let input = bytes("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 200) + "\r\n\r\n")
        var parser = RequestParser()
        for n in 1..<input.count {
            let r = try Array(input[0..<n]).withUnsafeBytes { try parser.parse($0) }
            #expect(r == ParseResult(event: .needMoreBytes, consumed: 0))
            // Every byte given so far has been checked once; a trailing CR is judged with the byte
            // after it, so the scan waits on it (it alone is looked at again).
            let waitsOnCR = input[n - 1] == UInt8(ascii: "\r")
            #expect(parser.scan.scanned == (waitsOnCR ? n - 1 : n), "after \(n) bytes")
        }
        let last = try input.withUnsafeBytes { try parser.parse($0) }
        #expect(last.consumed == input.count)
        #expect(parser.scan.scanned == 0)  // reset for the next request
    }

    @Test func slowlorisEndlessFieldIsCutOffAtTheLimit() {
        let limits = ParseLimits(maxBuffer: 256)
        var input = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        input += [UInt8](repeating: UInt8(ascii: "z"), count: 256 - input.count)
        let waiting = Harness.run(input, cuts: Array(0..<input.count), limits: limits)
        #expect(waiting.error == nil && waiting.leftover == 256)
        let cut = Harness.run(input + [UInt8(ascii: "z")], cuts: Array(0...input.count), limits: limits)
        #expect(cut.error == .headersTooLarge)
    }

    @Test func slowlorisEndlessEmptyLinesAreConsumed() {
        // Empty lines before a request are eaten as they come; nothing accumulates.
        let outcome = Harness.run(bytes(String(repeating: "\r\n", count: 10_000)), cuts: [1, 3, 100, 101, 5000], limits: ParseLimits(maxBuffer: 64))
        #expect(outcome.error == nil && outcome.leftover == 0 && outcome.requests.isEmpty)
    }

    /// The byte-at-a-time scan the word scan replaced, as it was: the reference.
    private static func reference(_ head: [UInt8], limit: Int) -> Result<Int?, HeadScan.LineEndError> {
        let end = min(head.count, limit)
        var i = 0, lineStart = 0
        while i < end {
            let b = head[i]
            if b > 0x0D { i += 1; continue }
            if b == 0x0D {
                guard i + 1 < end else { break }
                guard head[i + 1] == 0x0A else { return .failure(.bareCR) }
                if i == lineStart { return .success(i + 2) }
                i += 2
                lineStart = i
                continue
            }
            if b == 0x0A { return .failure(.bareLF) }
            i += 1
        }
        return .success(nil)
    }

    private static func scanned(_ head: [UInt8], limit: Int, cuts: [Int]) -> Result<Int?, HeadScan.LineEndError> {
        var scan = HeadScan()
        for cut in cuts + [head.count] where cut <= head.count {
            let r = Array(head[0..<cut]).withUnsafeBytes { b in
                Result { () throws(HeadScan.LineEndError) -> Int? in try scan.findEnd(b, limit: limit) }
            }
            guard case .success(let end) = r else { return r }
            if end != nil || cut == head.count { return r }
        }
        return .success(nil)
    }

    /// Eight bytes at a time: the same outcome as byte by byte for every line end, bare CR, bare LF
    /// and control byte at every offset within a word (TAB, NUL, 0x0B, 0x0E just above the CR,
    /// obs-text), whole and trickled in at odd cuts, and with limits that end inside a word.
    @Test func wordScanMatchesByteScan() {
        let fillers: [UInt8] = [0x41, 0x09, 0x00, 0x0B, 0x0C, 0x0E, 0x20, 0x7F, 0x80, 0xFF]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> Int { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return Int(state % 1_000_000) }
        var checked = 0
        for prefix in 0..<17 {
            for filler in fillers {
                for tail: [UInt8] in [[0x0D, 0x0A, 0x0D, 0x0A], [0x0D, 0x0A, 0x41, 0x0D, 0x0A, 0x0D, 0x0A], [0x0D, 0x41], [0x0A],
                                      [0x0D], [0x0D, 0x0A, 0x0D], [0x41, 0x41, 0x0D, 0x0A, 0x0D, 0x0A]] {
                    var head = [UInt8](repeating: 0x47, count: prefix)
                    if prefix > 2 { head[prefix / 2] = filler }
                    head += tail + [UInt8](repeating: 0x42, count: next() % 9)
                    for limit in [head.count, max(1, head.count - 3), prefix + 1, 4096] {
                        let want = Self.reference(head, limit: limit)
                        #expect(Self.scanned(head, limit: limit, cuts: []) == want, "\(head) limit \(limit)")
                        let cuts = [next() % (head.count + 1), next() % (head.count + 1), next() % (head.count + 1)].sorted()
                        #expect(Self.scanned(head, limit: limit, cuts: cuts) == want, "\(head) limit \(limit) cuts \(cuts)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == 17 * 10 * 7 * 4)
    }
}
