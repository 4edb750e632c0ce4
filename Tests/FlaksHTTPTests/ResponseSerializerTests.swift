import Testing
@testable import FlaksHTTP

@Suite struct ResponseSerializerTests {
    func head(_ status: HTTPStatus, _ headers: HeaderFields, version: HTTPVersion = .http1_1) -> String {
        var buffer: [UInt8] = []
        ResponseSerializer.writeHead(status: status, version: version, headers: headers, into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test func writesStatusLineFieldsAndEmptyLine() {
        let h: HeaderFields = ["Content-Type": "text/plain", "Content-Length": "5"]
        #expect(head(.ok, h) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n")
        #expect(head(.notFound, HeaderFields(), version: .http1_0) == "HTTP/1.0 404 Not Found\r\n\r\n")
        #expect(head(HTTPStatus(599), HeaderFields()) == "HTTP/1.1 599 Server Error\r\n\r\n")
        #expect(head(.continue, HeaderFields()) == "HTTP/1.1 100 Continue\r\n\r\n")
    }

    @Test func keepsRepeatedFieldsInOrder() {
        var h = HeaderFields()
        h.add("Set-Cookie", "a=1")
        h.add("Set-Cookie", "b=2")
        #expect(head(.ok, h) == "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n")
    }

    @Test func appendsToExistingBytes() {
        var buffer: [UInt8] = Array("prefix".utf8)
        ResponseSerializer.writeHead(status: .noContent, version: .http1_1, headers: HeaderFields(), into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "prefixHTTP/1.1 204 No Content\r\n\r\n")
    }

    @Test func crLfAndNulInValuesBecomeSpaces() {
        let h: HeaderFields = ["Location": "/x\r\nSet-Cookie: evil=1", "X": "a\nb\rc\0d"]
        #expect(head(.found, h) == "HTTP/1.1 302 Found\r\nLocation: /x  Set-Cookie: evil=1\r\nX: a b c d\r\n\r\n")
    }

    @Test func fieldsWithInvalidNamesAreDropped() {
        let h = HeaderFields([
            HeaderField(name: "Good", value: "1"), HeaderField(name: "Bad\r\nInjected", value: "x"),
            HeaderField(name: "", value: "empty"), HeaderField(name: "Sp ace", value: "x"),
            HeaderField(name: "Co:lon", value: "x"), HeaderField(name: "Also-Good", value: "2"),
        ])
        #expect(head(.ok, h) == "HTTP/1.1 200 OK\r\nGood: 1\r\nAlso-Good: 2\r\n\r\n")
    }

    @Test func nonASCIIValuesAreWrittenAsUTF8() {
        #expect(head(.ok, ["X": "café"]) == "HTTP/1.1 200 OK\r\nX: café\r\n\r\n")
    }

    @Test(arguments: [(1, "1"), (9, "9"), (10, "a"), (26, "1a"), (255, "ff"), (256, "100"), (4096, "1000"),
                      (0x7FFF_FFFF_FFFF_FFFF, "7fffffffffffffff")])
    func chunkHeaderIsLowercaseHex(length: Int, hex: String) {
        var buffer: [UInt8] = []
        ResponseSerializer.writeChunkHeader(length: length, into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == hex + "\r\n")
    }

    @Test func chunkedBodyRoundTripsThroughTheParser() throws {
        var buffer: [UInt8] = []
        // Frame a body as a response would, then feed it to the request parser as a chunked request body.
        buffer += Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for piece in ["hello", " ", String(repeating: "w", count: 300)] {
            ResponseSerializer.writeChunkHeader(length: piece.utf8.count, into: &buffer)
            buffer += Array(piece.utf8)
            ResponseSerializer.writeChunkTrailer(into: &buffer)
        }
        ResponseSerializer.writeLastChunk(into: &buffer)
        #expect(buffer.suffix(5) == Array("0\r\n\r\n".utf8))
        let outcome = Harness.run(buffer, cuts: [], limits: ParseLimits())
        #expect(outcome.error == nil)
        #expect(outcome.requests.first?.body == Array(("hello " + String(repeating: "w", count: 300)).utf8))
        #expect(outcome.requests.first?.complete == true)
    }
}
