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
}
