import Testing
@testable import FlaksHTTP

/// One named test per request-smuggling vector (RFC 9112 §11.2). Each input runs all at once,
/// split at every byte boundary and byte by byte, and must fail with the stated status.
@Suite struct SmugglingTests {
    static let post = "POST / HTTP/1.1\r\nHost: a\r\n"

    func rejects(_ input: String, _ status: Int, _ message: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let outcome = Harness.runAllWays(bytes(input), limits: ParseLimits(), sourceLocation: sourceLocation)
        Expected.fails(status, message).check(outcome, sourceLocation: sourceLocation)
    }

    func rejects(raw: [UInt8], _ status: Int, _ message: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let outcome = Harness.runAllWays(raw, limits: ParseLimits(), sourceLocation: sourceLocation)
        Expected.fails(status, message).check(outcome, sourceLocation: sourceLocation)
    }

    @Test func contentLengthAndTransferEncodingBoth() {
        rejects(Self.post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "both")
        rejects(Self.post + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400, "both")
    }

    @Test func differingContentLengths() {
        rejects(Self.post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, "conflicting")
    }

    @Test func contentLengthListWithDifferentValues() {
        rejects(Self.post + "Content-Length: 5, 6\r\n\r\nhello!", 400, "conflicting")
    }

    @Test func contentLengthWithSign() {
        rejects(Self.post + "Content-Length: +5\r\n\r\nhello", 400, "Content-Length")
        rejects(Self.post + "Content-Length: -5\r\n\r\nhello", 400, "Content-Length")
    }

    @Test func contentLengthWithJunk() {
        rejects(Self.post + "Content-Length: 5a\r\n\r\nhello", 400, "Content-Length")
        rejects(Self.post + "Content-Length: 5;x\r\n\r\nhello", 400, "Content-Length")
    }

    @Test func contentLengthOverflow() {
        rejects(Self.post + "Content-Length: 99999999999999999999\r\n\r\n", 400, "overflow")
        rejects(Self.post + "Content-Length: 9223372036854775808\r\n\r\n", 400, "overflow")
    }

    @Test func transferEncodingNotEndingInChunked() {
        rejects(Self.post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, "does not end in chunked")
        rejects(Self.post + "Transfer-Encoding: identity\r\n\r\n", 400, "does not end in chunked")
    }

    @Test func transferEncodingChunkedTwice() {
        rejects(Self.post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, "more than once")
    }

    @Test func unknownTransferCoding() {
        rejects(Self.post + "Transfer-Encoding: xchunked\r\n\r\n", 400, "does not end in chunked")
        rejects(Self.post + "Transfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n", 501)
    }

    @Test func obsFoldInHeader() {
        rejects(Self.post + "X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", 400, "folding")
        rejects(Self.post + "Transfer-Encoding:\r\n\tchunked\r\n\r\n", 400, "folding")
    }

    @Test func whitespaceBeforeColon() {
        rejects(Self.post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, "whitespace between field name and colon")
        rejects(Self.post + "Content-Length\t: 5\r\n\r\nhello", 400, "whitespace between field name and colon")
    }

    @Test func bareCR() {
        rejects("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, "bare CR")
        rejects("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare CR")
    }

    @Test func bareLF() {
        // Decision: a bare LF is never a line terminator (see RequestParser's doc); always 400.
        rejects("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare LF")
        rejects("GET / HTTP/1.1\r\nHost: a\r\nX: b\nContent-Length: 5\r\n\r\nhello", 400, "bare LF")
    }

    @Test func nulInFieldName() {
        rejects(Self.post + "Content\u{0}-Length: 5\r\n\r\nhello", 400, "field name")
    }

    @Test func nulInFieldValue() {
        rejects(Self.post + "X: a\u{0}b\r\n\r\n", 400, "control character")
    }

    @Test func controlCharacters() {
        for c: UInt8 in [0x01, 0x08, 0x0B, 0x0C, 0x1F, 0x7F] {
            rejects(raw: bytes(Self.post + "X: a") + [c] + bytes("b\r\n\r\n"), 400, "control character")
            rejects(raw: bytes(Self.post + "X") + [c] + bytes(": v\r\n\r\n"), 400, "field name")
        }
        // HTAB is allowed inside a value.
        let ok = Harness.runAllWays(bytes("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n"), limits: ParseLimits())
        #expect(ok.error == nil && ok.requests.first?.headers.last?.value == "a\tb")
    }

    @Test func chunkSizeOverflow() {
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\n8000000000000000\r\n", 400, "overflow")
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\n10000000000000001\r\n", 400, "too long")
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\n00000000000000000001\r\nx\r\n0\r\n\r\n", 400, "too long")
    }

    @Test func chunkSizeWithSign() {
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400, "chunk size")
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400, "chunk size")
    }

    @Test func chunkSizeJunk() {
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\n5g\r\nhello\r\n0\r\n\r\n", 400, "chunk size line")
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk size")
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400, "chunk size line")
    }

    @Test func missingCRLFAfterChunkData() {
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400, "after chunk data")
        rejects(Self.post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n", 400, "after chunk data")
    }

    @Test func missingHostInHTTP11() {
        rejects("GET / HTTP/1.1\r\n\r\n", 400, "missing Host")
        rejects("GET http://a/ HTTP/1.1\r\n\r\n", 400, "missing Host")
    }

    @Test func doubleHost() {
        rejects("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host")
        rejects("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, "more than one Host")
    }

    @Test func transferEncodingInHTTP10() {
        rejects("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "HTTP/1.0")
        rejects("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", 400, "HTTP/1.0")
    }
}
