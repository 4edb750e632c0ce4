import Testing
@testable import FlaksHTTP

/// The exact edges of `ParseLimits`: exactly at the limit passes, one byte over fails.
@Suite struct LimitTests {
    /// A GET head of exactly `length` bytes (including the final CRLFCRLF), padded in one field.
    static func head(length: Int) -> [UInt8] {
        let base = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n"
        let pad = length - base.utf8.count
        precondition(pad >= 0)
        return bytes("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "p", count: pad) + "\r\n\r\n")
    }

    @Test(arguments: [64, 100, 16 * 1024])
    func headOfExactlyMaxBufferPasses(maxBuffer: Int) {
        let input = Self.head(length: maxBuffer)
        #expect(input.count == maxBuffer)
        let limits = ParseLimits(maxBuffer: maxBuffer)
        // All three ways for small limits; the 16 KiB head only all at once and byte by byte.
        let outcome = maxBuffer <= 100 ? Harness.runAllWays(input, limits: limits)
                                       : Harness.run(input, cuts: Array(0..<input.count), limits: limits)
        #expect(outcome.error == nil)
        #expect(outcome.requests.count == 1 && outcome.requests.first?.complete == true)
    }

    @Test(arguments: [64, 100, 16 * 1024])
    func headOfMaxBufferPlusOneIs431(maxBuffer: Int) {
        let input = Self.head(length: maxBuffer + 1)
        let limits = ParseLimits(maxBuffer: maxBuffer)
        let outcome = maxBuffer <= 100 ? Harness.runAllWays(input, limits: limits)
                                       : Harness.run(input, cuts: [], limits: limits)
        #expect(outcome.error == .headersTooLarge)
    }

    @Test func incompleteHeadIsCutOffAtMaxBufferPlusOne() {
        let limits = ParseLimits(maxBuffer: 64)
        var parser = RequestParser(limits: limits)
        let partial = bytes("GET / HTTP/1.1\r\nHost: a\r\nX: ") + [UInt8](repeating: 0x70, count: 64 - 28)
        #expect(partial.count == 64)
        let r = partial.withUnsafeBytes { try? parser.parse($0) }
        #expect(r == ParseResult(event: .needMoreBytes, consumed: 0))
        let over = partial + [0x70]
        #expect(throws: HTTPParseError.headersTooLarge) { try over.withUnsafeBytes { try parser.parse($0) } }
    }

    @Test func requestLineOverMaxBufferIs414() {
        let limits = ParseLimits(maxBuffer: 64)
        // Complete request line of 65 bytes including CRLF.
        let line = "GET /" + String(repeating: "a", count: 65 - 16) + " HTTP/1.1\r\n"
        #expect(line.utf8.count == 65)
        let outcome = Harness.runAllWays(bytes(line + "Host: a\r\n\r\n"), limits: limits)
        #expect(outcome.error == .uriTooLong)
        // Still incomplete: no CRLF at all, 65 bytes buffered.
        let endless = Harness.runAllWays(bytes("GET /" + String(repeating: "a", count: 60)), limits: limits)
        #expect(endless.error == .uriTooLong)
        // 64 bytes without a line end is still waiting.
        let waiting = Harness.runAllWays(bytes("GET /" + String(repeating: "a", count: 59)), limits: limits)
        #expect(waiting.error == nil && waiting.leftover == 64)
    }

    @Test func requestLineJustFittingButHeadOverIs431() {
        let limits = ParseLimits(maxBuffer: 64)
        // Request line of exactly 64 bytes including CRLF: the line fits, the head cannot.
        let line = "GET /" + String(repeating: "a", count: 64 - 16) + " HTTP/1.1\r\n"
        #expect(line.utf8.count == 64)
        let outcome = Harness.runAllWays(bytes(line + "Host: a\r\n\r\n"), limits: limits)
        #expect(outcome.error == .headersTooLarge)
    }

    @Test func headerCountLimit() {
        let limits = ParseLimits(maxHeaderCount: 3)
        let three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n"
        #expect(Harness.runAllWays(bytes(three), limits: limits).requests.count == 1)
        let four = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        #expect(Harness.runAllWays(bytes(four), limits: limits).error == .headersTooLarge)
    }

    static func post(_ framing: String, _ body: String) -> [UInt8] {
        bytes("POST / HTTP/1.1\r\nHost: a\r\n" + framing + "\r\n\r\n" + body)
    }

    @Test func contentLengthBodyOfExactlyMaxBodyPasses() {
        let limits = ParseLimits(maxBody: 10)
        let outcome = Harness.runAllWays(Self.post("Content-Length: 10", "0123456789"), limits: limits)
        #expect(outcome.error == nil && outcome.requests.first?.body == bytes("0123456789"))
        #expect(outcome.requests.first?.complete == true)
        let over = Harness.runAllWays(Self.post("Content-Length: 11", "0123456789a"), limits: limits)
        #expect(over.error == .bodyTooLarge && over.requests.isEmpty)
    }

    @Test func chunkedBodyOfExactlyMaxBodyPasses() {
        let limits = ParseLimits(maxBody: 10)
        let exact = Harness.runAllWays(Self.post("Transfer-Encoding: chunked", "4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n"), limits: limits)
        #expect(exact.error == nil && exact.requests.first?.body == bytes("0123456789"))
        #expect(exact.requests.first?.complete == true)
        // The 11th byte is refused as soon as the second chunk's size is known, before its data.
        let over = Harness.runAllWays(Self.post("Transfer-Encoding: chunked", "4\r\n0123\r\n7\r\n"), limits: limits)
        #expect(over.error == .bodyTooLarge)
        #expect(over.requests.first?.body == bytes("0123"))
        let single = Harness.runAllWays(Self.post("Transfer-Encoding: chunked", "b;x=1\r\n"), limits: limits)
        #expect(single.error == .bodyTooLarge)
    }

    @Test func trailerSectionLimits() {
        let limits = ParseLimits(maxBuffer: 64, maxHeaderCount: 2)
        // Trailer section of exactly 64 bytes (fields + final CRLF) passes; 65 is a 431.
        let trailer = { (n: Int) in "X: " + String(repeating: "t", count: n - 7) + "\r\n\r\n" }
        #expect(trailer(64).utf8.count == 64)
        let ok = Harness.runAllWays(Self.post("Transfer-Encoding: chunked", "0\r\n" + trailer(64)), limits: limits)
        #expect(ok.error == nil && ok.requests.first?.complete == true)
        let big = Harness.runAllWays(Self.post("Transfer-Encoding: chunked", "0\r\n" + trailer(65)), limits: limits)
        #expect(big.error == .headersTooLarge)
        let many = Harness.runAllWays(Self.post("Transfer-Encoding: chunked", "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), limits: limits)
        #expect(many.error == .headersTooLarge)
    }

    @Test func chunkExtensionsAreBounded() {
        let limits = ParseLimits(maxBuffer: 64)
        let ext = ";" + String(repeating: "e", count: 63)  // exactly 64 bytes of extension: fine
        let ok = Harness.run(Self.post("Transfer-Encoding: chunked", "1" + ext + "\r\nx\r\n0\r\n\r\n"), cuts: [], limits: limits)
        #expect(ok.error == nil && ok.requests.first?.complete == true)
        let over = Harness.run(Self.post("Transfer-Encoding: chunked", "1" + ext + "\r\nx\r\n0;\r\n\r\n"), cuts: [], limits: limits)
        #expect(over.error == .badRequest("chunk extensions too long"))
    }

    @Test func leadingEmptyLinesDoNotCountTowardTheHead() {
        let limits = ParseLimits(maxBuffer: 64)
        let input = bytes(String(repeating: "\r\n", count: 100)) + Self.head(length: 64)
        let outcome = Harness.runAllWays(input, limits: limits)
        #expect(outcome.error == nil && outcome.requests.count == 1)
    }
}
