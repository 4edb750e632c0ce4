import Testing
@testable import FlaksHTTP

/// The exact edges of `ResponseParseLimits`: exactly at the limit passes, one over fails.
@Suite struct ResponseParserLimitTests {
    /// A 200 head of exactly `length` bytes (including the final CRLFCRLF), padded in one field.
    static func head(length: Int, status: String = "200 OK", contentLength: Bool = true) -> String {
        let start = "HTTP/1.1 \(status)\r\n" + (contentLength ? "Content-Length: 0\r\n" : "") + "X: "
        let pad = length - start.utf8.count - 4
        precondition(pad >= 0)
        return start + String(repeating: "p", count: pad) + "\r\n\r\n"
    }

    @Test(arguments: [64, 100, 16 * 1024])
    func headOfExactlyMaxHeadPasses(maxHead: Int) {
        let input = bytes(Self.head(length: maxHead))
        #expect(input.count == maxHead)
        let limits = ResponseParseLimits(maxHead: maxHead)
        let outcome = maxHead <= 100 ? ResponseHarness.runAllWays(input, limits: limits)
                                     : ResponseHarness.run(input, cuts: Array(0..<input.count), limits: limits)
        #expect(outcome.error == nil)
        #expect(outcome.responses.count == 1 && outcome.responses.first?.complete == true)
    }

    @Test(arguments: [64, 100, 16 * 1024])
    func headOfMaxHeadPlusOneFails(maxHead: Int) {
        let input = bytes(Self.head(length: maxHead + 1))
        let limits = ResponseParseLimits(maxHead: maxHead)
        let outcome = maxHead <= 100 ? ResponseHarness.runAllWays(input, limits: limits)
                                     : ResponseHarness.run(input, cuts: [], limits: limits)
        #expect(outcome.error == .headTooLarge)
        #expect(outcome.responses.isEmpty)
    }

    @Test func incompleteHeadIsCutOffAtMaxHeadPlusOne() throws {
        var parser = ResponseParser(limits: ResponseParseLimits(maxHead: 64))
        parser.startResponse(to: .GET)
        let partial = bytes("HTTP/1.1 200 OK\r\nX: ") + [UInt8](repeating: 0x70, count: 64 - 20)
        #expect(partial.count == 64)
        let r = try partial.withUnsafeBytes { try parser.parse($0) }
        #expect(r == ResponseParseResult(event: .needMoreBytes, consumed: 0))
        let over = partial + [0x70]
        #expect(throws: ResponseParseError.headTooLarge) { try over.withUnsafeBytes { try parser.parse($0) } }
    }

    @Test func eachInterimHeadHasItsOwnLimit() {
        let limits = ResponseParseLimits(maxHead: 80)
        let interim = Self.head(length: 80, status: "100 Continue", contentLength: false)
        let final = Self.head(length: 80)
        let ok = ResponseHarness.runAllWays(bytes(interim + interim + final), limits: limits)
        #expect(ok.error == nil && ok.responses.map(\.code) == [100, 100, 200])
        let over = ResponseHarness.runAllWays(bytes(interim + Self.head(length: 81)), limits: limits)
        #expect(over.error == .headTooLarge && over.responses.map(\.code) == [100])
    }

    @Test func headerCountLimit() {
        let limits = ResponseParseLimits(maxHeaderCount: 3)
        let three = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n"
        #expect(ResponseHarness.runAllWays(bytes(three), limits: limits).responses.count == 1)
        let four = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n"
        #expect(ResponseHarness.runAllWays(bytes(four), limits: limits).error == .headTooLarge)
    }

    static let chunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

    @Test func trailerSectionLimits() {
        let limits = ResponseParseLimits(maxHead: 64, maxHeaderCount: 2)
        // Trailer section of exactly 64 bytes (fields + final CRLF) passes; 65 is too large.
        let trailer = { (n: Int) in "X: " + String(repeating: "t", count: n - 7) + "\r\n\r\n" }
        #expect(trailer(64).utf8.count == 64)
        let ok = ResponseHarness.runAllWays(bytes(Self.chunkedHead + "0\r\n" + trailer(64)), limits: limits)
        #expect(ok.error == nil && ok.responses.first?.complete == true)
        #expect(ok.responses.first?.trailers == [HeaderField(name: "X", value: String(repeating: "t", count: 57))])
        let big = ResponseHarness.runAllWays(bytes(Self.chunkedHead + "0\r\n" + trailer(65)), limits: limits)
        #expect(big.error == .headTooLarge)
        let two = ResponseHarness.runAllWays(bytes(Self.chunkedHead + "0\r\nA: 1\r\nB: 2\r\n\r\n"), limits: limits)
        #expect(two.error == nil && two.responses.first?.trailers.count == 2)
        let many = ResponseHarness.runAllWays(bytes(Self.chunkedHead + "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), limits: limits)
        #expect(many.error == .headTooLarge)
    }

    @Test func chunkExtensionsAreBounded() {
        let limits = ResponseParseLimits(maxHead: 64)
        let ext = ";" + String(repeating: "e", count: 63)  // exactly 64 bytes of extension: fine
        let ok = ResponseHarness.run(bytes(Self.chunkedHead + "1" + ext + "\r\nx\r\n0\r\n\r\n"), cuts: [], limits: limits)
        #expect(ok.error == nil && ok.responses.first?.complete == true)
        let over = ResponseHarness.run(bytes(Self.chunkedHead + "1" + ext + "\r\nx\r\n0;\r\n\r\n"), cuts: [], limits: limits)
        #expect(over.error == .malformed("chunk extensions too long"))
    }

    @Test func contentLengthBodyAtMaxBody() {
        let limits = ResponseParseLimits(maxBody: 10)
        let exact = ResponseHarness.runAllWays(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"), limits: limits)
        #expect(exact.error == nil && exact.responses.first?.body == bytes("0123456789"))
        let over = ResponseHarness.runAllWays(bytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a"), limits: limits)
        #expect(over.error == .bodyTooLarge && over.responses.isEmpty)
        // A length that is never sent does not count: HEAD and 304 answers have no body.
        let head = ResponseHarness.runAllWays(bytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"), limits: limits, sent: [.head])
        #expect(head.error == nil && head.responses.first?.complete == true)
        let notModified = ResponseHarness.runAllWays(bytes("HTTP/1.1 304 Not Modified\r\nContent-Length: 11\r\n\r\n"), limits: limits)
        #expect(notModified.error == nil && notModified.responses.first?.complete == true)
    }

    @Test func chunkedBodyAtMaxBody() {
        let limits = ResponseParseLimits(maxBody: 10)
        let exact = ResponseHarness.runAllWays(bytes(Self.chunkedHead + "4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n"), limits: limits)
        #expect(exact.error == nil && exact.responses.first?.body == bytes("0123456789"))
        let over = ResponseHarness.runAllWays(bytes(Self.chunkedHead + "4\r\n0123\r\n7\r\n"), limits: limits)
        #expect(over.error == .bodyTooLarge)
    }

    @Test func closeDelimitedBodyAtMaxBody() {
        let limits = ResponseParseLimits(maxBody: 10)
        let exact = ResponseHarness.runAllWays(bytes("HTTP/1.1 200 OK\r\n\r\n0123456789"), limits: limits, endInput: true)
        #expect(exact.error == nil && exact.responses.first?.body == bytes("0123456789"))
        #expect(exact.responses.first?.complete == true)
        // One more byte: the first ten are passed on whatever the split, then the error.
        let over = ResponseHarness.runAllWays(bytes("HTTP/1.1 200 OK\r\n\r\n0123456789a"), limits: limits, endInput: true)
        #expect(over.error == .bodyTooLarge)
        #expect(over.responses.first?.body == bytes("0123456789") && over.responses.first?.complete == false)
    }

    @Test func defaultLimitsDoNotBoundTheBody() {
        #expect(ResponseParseLimits().maxBody == .max)
        #expect(ResponseParseLimits().maxHead == 16 * 1024)
        let outcome = ResponseHarness.run(bytes("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nabc"), cuts: [])
        #expect(outcome.error == nil && outcome.responses.first?.framing == .length(.max))
        #expect(outcome.responses.first?.body == bytes("abc"))
    }
}
