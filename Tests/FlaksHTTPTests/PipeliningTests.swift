import Testing
@testable import FlaksHTTP

/// Several requests in one buffer: events in order, with exact `consumed` counts.
@Suite struct PipeliningTests {
    /// Calls `parse` like the server does and returns every (event, consumed) until `.needMoreBytes`.
    static func events(_ input: [UInt8]) throws -> [(ParseEvent, Int, [UInt8])] {
        var parser = RequestParser()
        var buffer = input
        var out: [(ParseEvent, Int, [UInt8])] = []
        while true {
            let r = try buffer.withUnsafeBytes { try parser.parse($0) }
            var body: [UInt8] = []
            if case .body(let range) = r.event { body = Array(buffer[range]) }
            out.append((r.event, r.consumed, body))
            buffer.removeFirst(r.consumed)
            if r.event == .needMoreBytes || out.count > 50 { return out }
        }
    }

    static func kind(_ e: ParseEvent) -> String {
        switch e {
        case .needMoreBytes: "needMoreBytes"
        case .head(let h): "head \(h.method) \(h.target)"
        case .body: "body"
        case .end: "end"
        }
    }

    @Test func threeRequestsInOneBuffer() throws {
        let r1 = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        let r2head = "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"
        let r3 = "GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        let got = try Self.events(bytes(r1 + r2head + "abc" + r3))
        let expected: [(String, Int)] = [
            ("head GET /1", r1.utf8.count), ("end", 0),
            ("head POST /2", r2head.utf8.count), ("body", 3), ("end", 0),
            ("head GET /3", r3.utf8.count), ("end", 0),
            ("needMoreBytes", 0),
        ]
        #expect(got.map { Self.kind($0.0) } == expected.map(\.0))
        #expect(got.map(\.1) == expected.map(\.1))
        #expect(got[3].2 == bytes("abc"))
        if case .head(let last) = got[5].0 { #expect(!last.keepAlive) } else { Issue.record("no third head") }
    }

    @Test func chunkedRequestsBackToBack() throws {
        let head = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        let body = "3\r\nabc\r\n0\r\n\r\n"
        let get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        let got = try Self.events(bytes(head + body + head + body + get))
        #expect(got.map { Self.kind($0.0) } == [
            "head POST /c", "body", "end", "head POST /c", "body", "end", "head GET /", "end", "needMoreBytes",
        ])
        // The first body event also eats the size line; .end eats the CRLF after the data and the last chunk.
        #expect(got.map(\.1) == [head.utf8.count, 3 + 3, 2 + 5, head.utf8.count, 6, 7, get.utf8.count, 0, 0])
        #expect(got[1].2 == bytes("abc") && got[4].2 == bytes("abc"))
    }

    @Test func allThreeWaysAgreeOnAPipeline() {
        let input = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
            + "PUT /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nhi\r\n0\r\nT: 1\r\n\r\n"
            + "\r\nDELETE /3 HTTP/1.0\r\n\r\n"
        let outcome = Harness.runAllWays(bytes(input), limits: ParseLimits())
        #expect(outcome.error == nil && outcome.leftover == 0)
        #expect(outcome.requests.map(\.target) == ["/1", "/2", "/3"])
        #expect(outcome.requests.map(\.body) == [[], bytes("hi"), []])
        #expect(outcome.requests.map(\.keepAlive) == [true, true, false])
    }

    @Test func failedParserKeepsFailing() {
        var parser = RequestParser()
        let bad = bytes("GET / HTTP/1.1\r\n\r\n")
        #expect(throws: HTTPParseError.badRequest("missing Host field")) { try bad.withUnsafeBytes { try parser.parse($0) } }
        let good = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(throws: HTTPParseError.badRequest("missing Host field")) { try good.withUnsafeBytes { try parser.parse($0) } }
    }
}
