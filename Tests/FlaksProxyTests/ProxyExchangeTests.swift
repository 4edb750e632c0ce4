import FlaksHTTP
import Testing
@testable import FlaksProxy

/// The exchange state machine fed upstream bytes whole, split at every byte and one byte at a time,
/// with a fake clock for every deadline, and the retry and pooling rules.
@Suite struct ProxyExchangeTests {
    static let get = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
    static let head = "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n"
    static let ws = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    typealias End = ExchangeDriver.End

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let request: String
        let webSocket: Bool
        let response: String
        let eof: Bool
        let clientVersion: HTTPVersion
        let status: Int?
        let bodyLength: Int??
        let body: String
        let interims: [Int]
        let end: End
        /// Whether every split gives the same outcome (not when it depends on what is buffered together).
        let anySplit: Bool
        var testDescription: String { name }

        init(_ name: String, request: String = ProxyExchangeTests.get, webSocket: Bool = false, _ response: String,
             eof: Bool = false, clientVersion: HTTPVersion = .http1_1, status: Int? = 200, bodyLength: Int?? = nil,
             body: String = "", interims: [Int] = [], _ end: End, anySplit: Bool = true) {
            self.name = name; self.request = request; self.webSocket = webSocket; self.response = response
            self.eof = eof; self.clientVersion = clientVersion; self.status = status; self.bodyLength = bodyLength
            self.body = body; self.interims = interims; self.end = end; self.anySplit = anySplit
        }
    }

    static let cases: [Case] = [
        Case("Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", bodyLength: 5, body: "hello",
             .finish(reuse: true)),
        Case("empty Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", bodyLength: 0, .finish(reuse: true)),
        Case("chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
             bodyLength: .some(nil), body: "hello world", .finish(reuse: true)),
        Case("Connection: close is not reused", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
             bodyLength: 2, body: "ok", .finish(reuse: false)),
        Case("HTTP/1.0 answer is not reused", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", bodyLength: 2, body: "ok",
             .finish(reuse: false)),
        Case("HTTP/1.0 keep-alive answer is reused", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
             bodyLength: 2, body: "ok", .finish(reuse: true)),
        Case("close-delimited body ends at EOF", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", eof: true,
             bodyLength: .some(nil), body: "until close", .finish(reuse: false)),
        Case("close-delimited body without EOF runs on", "HTTP/1.1 200 OK\r\n\r\nsome", bodyLength: .some(nil), body: "some",
             .running),
        Case("byte after the response: not reused", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxJ", bodyLength: 1, body: "x",
             .finish(reuse: false), anySplit: false),
        Case("103 Early Hints relayed", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
             + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", bodyLength: 1, body: "x", interims: [103], .finish(reuse: true)),
        Case("100 and 102 relayed", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
             + "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", status: 201, bodyLength: 0, interims: [100, 102],
             .finish(reuse: true)),
        Case("no 1xx to an HTTP/1.0 client", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
             + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", clientVersion: .http1_0, bodyLength: 1, body: "x",
             .finish(reuse: true)),
        Case("HEAD answer keeps the announced length", request: ProxyExchangeTests.head,
             "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", bodyLength: 1234, .finish(reuse: true)),
        Case("HEAD answer without length", request: ProxyExchangeTests.head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
             bodyLength: .some(nil), .finish(reuse: true)),
        Case("204", "HTTP/1.1 204 No Content\r\n\r\n", status: 204, bodyLength: 0, .finish(reuse: true)),
        Case("304 with Content-Length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"a\"\r\n\r\n", status: 304,
             bodyLength: 0, .finish(reuse: true)),
        Case("6xx passed as received", "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n", status: 600, bodyLength: 0,
             .finish(reuse: true)),
        Case("smuggling: Content-Length with Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
             + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: nil, .fail(502, marksDown: false)),
        Case("smuggling: two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
             status: nil, .fail(502, marksDown: false)),
        Case("smuggling: chunked then gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", status: nil,
             .fail(502, marksDown: false)),
        Case("bad chunk size after the head: abort", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n",
             bodyLength: .some(nil), body: "ok", .abort(502, marksDown: false)),
        Case("bare LF in the head", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", status: nil, .fail(502, marksDown: false)),
        Case("EOF before any byte (a GET: the next upstream)", "", eof: true, status: nil, .tryNext(502)),
        Case("EOF inside the head", "HTTP/1.1 200 OK\r\nContent-Le", eof: true, status: nil, .fail(502, marksDown: false)),
        Case("EOF after only a 1xx", "HTTP/1.1 100 Continue\r\n\r\n", eof: true, status: nil, interims: [100],
             .fail(502, marksDown: false)),
        Case("EOF short of the Content-Length: abort", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", eof: true,
             bodyLength: 10, body: "short", .abort(502, marksDown: false)),
        Case("EOF inside a chunked body: abort", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", eof: true,
             bodyLength: .some(nil), body: "abc", .abort(502, marksDown: false)),
        Case("101 websocket starts a tunnel", request: ProxyExchangeTests.ws, webSocket: true,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\u{81}\u{05}hello", status: nil,
             .tunnel(fields: [["Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], ["Connection", "upgrade"],
                              ["Upgrade", "websocket"]], leftover: Array("\u{81}\u{05}hello".utf8))),
        Case("101 to another protocol", request: ProxyExchangeTests.ws, webSocket: true,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", status: nil,
             .fail(502, marksDown: false)),
        Case("101 nobody asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
             status: nil, .fail(502, marksDown: false)),
        Case("websocket refused with 403 is a plain answer", request: ProxyExchangeTests.ws, webSocket: true,
             "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", status: 403, bodyLength: 2, body: "no",
             .finish(reuse: true)),
        Case("hop-by-hop response fields dropped", "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=4\r\n"
             + "Set-Cookie: a=1\r\nContent-Length: 0\r\n\r\n", bodyLength: 0, .finish(reuse: true)),
    ]

    static func run(_ c: Case, step: Int?, splitAt: Int? = nil) throws -> ExchangeDriver.Outcome {
        let request = try upstreamRequest(c.request, webSocket: c.webSocket)
        var d = ExchangeDriver(request, clientVersion: c.clientVersion, now: 0)
        d.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        let bytes = Array(c.response.utf8)
        if let splitAt {
            d.feed(Array(bytes[..<splitAt]), now: 1 * ms)
            if !d.isOver {
                d.feed(Array(bytes[splitAt...]), now: 2 * ms)
            } else if case .tunnel(let f, let leftover) = d.outcome.end {
                // What arrives after the 101 is tunnel bytes, relayed as they come.
                d.outcome.end = .tunnel(fields: f, leftover: leftover + bytes[splitAt...])
            }
        } else {
            d.feed(bytes, step: step, now: 1 * ms)
        }
        if c.eof { d.close(now: 3 * ms) }
        return d.outcome
    }

    static func check(_ c: Case, _ o: ExchangeDriver.Outcome, _ how: String) {
        #expect(o.end == c.end, "\(how)")
        #expect(o.interims == c.interims, "\(how)")
        #expect(o.start?.status.code == c.status, "\(how)")
        if let expected = c.bodyLength { #expect(o.start?.bodyLength == expected, "\(how)") }
        #expect(String(decoding: o.body, as: UTF8.self) == c.body, "\(how)")
        if let start = o.start {
            for hop in ["Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "X-Hop"] {
                #expect(!start.fields.contains(hop), "\(hop) passed (\(how))")
            }
        }
    }

    @Test(arguments: cases)
    func whole(_ c: Case) throws {
        Self.check(c, try Self.run(c, step: nil), "whole")
    }

    @Test(arguments: cases.filter(\.anySplit))
    func splitAtEveryByte(_ c: Case) throws {
        let n = c.response.utf8.count
        guard n > 1 else { return }
        for k in 1..<n { Self.check(c, try Self.run(c, step: nil, splitAt: k), "split at \(k)") }
    }

    @Test(arguments: cases.filter(\.anySplit))
    func oneByteAtATime(_ c: Case) throws {
        Self.check(c, try Self.run(c, step: 1), "byte by byte")
    }

    @Test func interimFieldsAreFiltered() throws {
        let c = try #require(Self.cases.first { $0.name == "103 Early Hints relayed" })
        let o = try Self.run(c, step: 1)
        #expect(o.interimFields == [[["Link", "</s.css>; rel=preload"]]])
        let start = try #require(o.start)
        #expect(start.fields.isEmpty)
    }

    @Test func responseFieldsPassInOrder() throws {
        let o = try Self.run(try #require(Self.cases.first { $0.name == "hop-by-hop response fields dropped" }), step: nil)
        #expect(pairs(try #require(o.start).fields) == [["Set-Cookie", "a=1"]])
    }

    // MARK: the request side

    @Test func connectedReturnsTheHead() throws {
        let r = try upstreamRequest(Self.get)
        var ex = ProxyExchange(request: r, reused: false, now: 0)
        #expect(ex.connected(now: 1) == r.encoded)
        #expect(ex.phase == .awaitingHead && ex.connectedAt == 1)
    }

    @Test func chunkedUploadIsFramed() throws {
        let r = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        var d = ExchangeDriver(r, now: 0)
        #expect(d.exchange.wantsRequestBody)
        var out: [UInt8] = []
        let hello = Array("hello".utf8)
        #expect(hello.withUnsafeBytes { d.exchange.requestBodyBytes($0, now: 1, appendingTo: &out) } == 5)
        #expect([UInt8]().withUnsafeBytes { d.exchange.requestBodyBytes($0, now: 1, appendingTo: &out) } == 0)
        let big = [UInt8](repeating: 0x61, count: 300)
        big.withUnsafeBytes { _ = d.exchange.requestBodyBytes($0, now: 1, appendingTo: &out) }
        d.exchange.requestBodyEnded(now: 2, appendingTo: &out)
        #expect(out == Array("5\r\nhello\r\n12c\r\n".utf8) + big + Array("\r\n0\r\n\r\n".utf8))
        #expect(!d.exchange.wantsRequestBody && d.exchange.requestComplete)
        d.exchange.requestBytesWritten(now: 3, queueEmpty: true)
        d.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8), now: 4)
        #expect(d.outcome.end == .finish(reuse: true))
    }

    @Test func contentLengthUploadNeverSendsMoreThanAnnounced() throws {
        let r = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n")
        var d = ExchangeDriver(r, now: 0)
        var out: [UInt8] = []
        let data = Array("hello world".utf8)
        #expect(data.withUnsafeBytes { d.exchange.requestBodyBytes($0, now: 1, appendingTo: &out) } == 5)
        #expect(data.withUnsafeBytes { d.exchange.requestBodyBytes($0, now: 1, appendingTo: &out) } == 0)
        #expect(out == Array("hello".utf8))
        #expect(d.exchange.bodyBytesSent == 5)
        // Exactly the announced length completes the request once ended.
        d.exchange.requestBodyEnded(now: 2, appendingTo: &out)
        #expect(out == Array("hello".utf8))
        d.exchange.requestBytesWritten(now: 2, queueEmpty: true)
        d.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8), now: 3)
        #expect(d.outcome.end == .finish(reuse: true))
    }

    @Test func contentLengthUploadPassesThroughUpToTheAnnouncedLength() throws {
        let r = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
        var d = ExchangeDriver(r, now: 0)
        #expect(d.exchange.requestBodyPassThrough(4, now: 1) == 4)
        #expect(d.exchange.bodyBytesSent == 4 && d.exchange.wantsRequestBody)
        // Exactly the rest is taken, one more byte is not.
        #expect(d.exchange.requestBodyPassThrough(7, now: 1) == 6)
        #expect(d.exchange.requestBodyPassThrough(1, now: 1) == 0)
        #expect(d.exchange.bodyBytesSent == 10)
        var out: [UInt8] = []
        d.exchange.requestBodyEnded(now: 2, appendingTo: &out)
        #expect(out.isEmpty && d.exchange.requestComplete)
        d.exchange.requestBytesWritten(now: 2, queueEmpty: true)
        d.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8), now: 3)
        #expect(d.outcome.end == .finish(reuse: true))
    }

    @Test func passThroughIsOnlyForContentLength() throws {
        let chunked = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        var d = ExchangeDriver(chunked, now: 0)
        #expect(d.exchange.requestBodyPassThrough(5, now: 1) == nil)
        #expect(d.exchange.bodyBytesSent == 0)
        // After the end of the exchange nothing is taken.
        let r = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
        var e = ExchangeDriver(r, now: 0)
        e.feed(Array("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n".utf8), now: 1)
        #expect(e.exchange.requestBodyPassThrough(5, now: 2) == 0)
    }

    @Test func theHeadAppendedIsTheHeadReturned() throws {
        let r = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A: 1\r\n\r\n")
        var a = ProxyExchange(request: r, reused: false, now: 0)
        var b = ProxyExchange(request: r, reused: false, now: 0)
        var out: [UInt8] = Array("kept".utf8)
        b.connected(now: 1, appendingTo: &out)
        #expect(out == Array("kept".utf8) + a.connected(now: 1))
        #expect(b.phase == .awaitingHead && b.connectedAt == 1)
    }

    @Test func shortUploadIsNeverReused() throws {
        let r = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
        var d = ExchangeDriver(r, now: 0)
        var out: [UInt8] = []
        Array("hello".utf8).withUnsafeBytes { _ = d.exchange.requestBodyBytes($0, now: 1, appendingTo: &out) }
        d.exchange.requestBodyEnded(now: 2, appendingTo: &out)
        d.exchange.requestBytesWritten(now: 2, queueEmpty: true)
        d.feed(Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8), now: 3)
        #expect(d.outcome.end == .finish(reuse: false))
    }

    @Test func earlyAnswerDuringAnUploadIsNotReused() throws {
        let r = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n")
        var d = ExchangeDriver(r, now: 0)
        var out: [UInt8] = []
        Array("part".utf8).withUnsafeBytes { _ = d.exchange.requestBodyBytes($0, now: 1, appendingTo: &out) }
        d.exchange.requestBytesWritten(now: 1, queueEmpty: true)
        d.feed(Array("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n".utf8), now: 2)
        #expect(d.outcome.end == .finish(reuse: false))
        #expect(!d.exchange.wantsRequestBody, "nothing more is wanted once the exchange is over")
    }

    @Test func connectionCloseSentIsNeverReused() throws {
        let head = try #require(parseHead(Self.get))
        let r = try UpstreamRequest(client: head, rules: UpstreamRequest.Rules(),
                                    connection: UpstreamRequest.ClientConnection(peer: ip("127.0.0.1"), peerIsTrusted: false,
                                                                                 isTLS: false),
                                    framing: .none, keepAlive: false)
        var d = ExchangeDriver(r, now: 0)
        d.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        d.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8), now: 1)
        #expect(d.outcome.end == .finish(reuse: false))
    }

    @Test func unwrittenOutputIsNotReused() throws {
        var d = ExchangeDriver(try upstreamRequest(Self.get), now: 0)
        d.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8), now: 1)
        #expect(d.outcome.end == .finish(reuse: false), "the head was never reported written")
    }

    // MARK: deadlines

    static let config = ProxyExchange.Configuration(connectTimeout: 5 * s, timeout: 60 * s, tunnelTimeout: 0)

    @Test func connectTimeout() throws {
        var ex = ProxyExchange(request: try upstreamRequest(Self.get), configuration: Self.config, reused: false, now: 1 * s)
        #expect(ex.deadline == 6 * s)
        #expect(ex.timerFired(now: 6 * s - 1) == .none)
        guard case .tryNextUpstream(let f) = ex.timerFired(now: 6 * s) else { Issue.record("no tryNext"); return }
        #expect(f.status == .gatewayTimeout && f.marksUpstreamDown)
        #expect(ex.isFinished && ex.deadline == 0)
    }

    @Test func connectRefused() throws {
        var ex = ProxyExchange(request: try upstreamRequest(Self.get), configuration: Self.config, reused: false, now: 0)
        guard case .tryNextUpstream(let f) = ex.connectFailed(reason: "ECONNREFUSED", now: 1) else {
            Issue.record("no tryNext"); return
        }
        #expect(f.status == .badGateway && f.marksUpstreamDown && f.reason.contains("ECONNREFUSED"))
    }

    @Test func timeoutWaitingForTheHeadRestartsWithEveryByte() throws {
        var d = ExchangeDriver(try upstreamRequest(Self.get), configuration: Self.config, now: 1 * s)
        #expect(d.exchange.deadline == 61 * s, "from the connection while the head is being written")
        d.exchange.requestBytesWritten(now: 2 * s, queueEmpty: true)
        #expect(d.exchange.deadline == 62 * s)
        d.feed(Array("HTTP/1.1 200 OK\r\n".utf8), now: 30 * s)
        #expect(d.exchange.deadline == 90 * s)
        #expect(d.exchange.timerFired(now: 90 * s - 1) == .none)
        #expect(d.exchange.timerFired(now: 90 * s) == .fail(ProxyExchange.Failure(
            status: .gatewayTimeout, reason: "upstream timed out waiting for the response head", marksUpstreamDown: true)))
    }

    @Test func timeoutBetweenBodyBytesAborts() throws {
        var d = ExchangeDriver(try upstreamRequest(Self.get), configuration: Self.config, now: 0)
        d.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        d.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab".utf8), now: 10 * s)
        #expect(d.outcome.start != nil && d.exchange.deadline == 70 * s)
        d.feed(Array("c".utf8), now: 69 * s)
        #expect(d.exchange.deadline == 129 * s)
        guard case .abort(let f) = d.exchange.timerFired(now: 129 * s) else { Issue.record("no abort"); return }
        #expect(f.status == .gatewayTimeout && f.marksUpstreamDown)
    }

    /// A server-sent event stream stays open as long as each event comes within `timeout`.
    @Test func eventStreamLivesWhileBytesKeepComing() throws {
        var d = ExchangeDriver(try upstreamRequest(Self.get), configuration: Self.config, now: 0)
        d.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        d.feed(Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8), now: 1 * s)
        var now = 1 * s
        for _ in 0..<20 {
            now += 59 * s
            #expect(d.exchange.timerFired(now: now) == .none)
            d.feed(Array("7\r\ndata: x\r\n".utf8), now: now)
        }
        #expect(!d.isOver && String(decoding: d.outcome.body, as: UTF8.self).count == 140)
        #expect(d.exchange.timerFired(now: now + 60 * s - 1) == .none)
        guard case .abort = d.exchange.timerFired(now: now + 60 * s) else { Issue.record("no abort"); return }
    }

    @Test func slowClientStopsTheUpstreamClock() throws {
        var d = ExchangeDriver(try upstreamRequest(Self.get), configuration: Self.config, now: 0)
        d.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        d.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab".utf8), now: 1 * s)
        d.exchange.sinkBlocked(now: 2 * s)
        #expect(!d.exchange.wantsUpstreamInput && d.exchange.deadline == 0)
        #expect(d.exchange.timerFired(now: 500 * s) == .none)
        d.exchange.sinkDrained(now: 600 * s)
        #expect(d.exchange.wantsUpstreamInput && d.exchange.deadline == 660 * s)
    }

    @Test func uploadWaitingOnTheClientHasNoUpstreamDeadline() throws {
        let r = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        var d = ExchangeDriver(r, configuration: Self.config, now: 0)
        #expect(d.exchange.deadline == 60 * s, "the head is not written yet")
        d.exchange.requestBytesWritten(now: 1 * s, queueEmpty: true)
        #expect(d.exchange.deadline == 0, "the upstream has everything; the client's body timer is in charge")
        var out: [UInt8] = []
        Array("abc".utf8).withUnsafeBytes { _ = d.exchange.requestBodyBytes($0, now: 100 * s, appendingTo: &out) }
        #expect(d.exchange.deadline == 160 * s, "the upstream is not taking our bytes")
        d.exchange.requestBytesWritten(now: 101 * s, queueEmpty: true)
        #expect(d.exchange.deadline == 0)
        d.exchange.requestBodyEnded(now: 200 * s, appendingTo: &out)
        #expect(d.exchange.deadline == 260 * s)
        d.exchange.requestBytesWritten(now: 201 * s, queueEmpty: true)
        #expect(d.exchange.deadline == 261 * s, "now waiting for the answer")
    }

    @Test func upstreamNotReadingTheUploadTimesOut() throws {
        let r = try upstreamRequest("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n")
        var d = ExchangeDriver(r, configuration: Self.config, now: 0)
        d.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        var out: [UInt8] = []
        Array("abc".utf8).withUnsafeBytes { _ = d.exchange.requestBodyBytes($0, now: 10 * s, appendingTo: &out) }
        #expect(d.exchange.timerFired(now: 70 * s - 1) == .none)
        guard case .fail(let f) = d.exchange.timerFired(now: 70 * s) else { Issue.record("no fail"); return }
        #expect(f.status == .gatewayTimeout)
    }

    @Test func tunnelIdleTimeout() throws {
        let config = ProxyExchange.Configuration(connectTimeout: 5 * s, timeout: 60 * s, tunnelTimeout: 30 * s)
        var d = ExchangeDriver(try upstreamRequest(Self.ws, webSocket: true), configuration: config, now: 0)
        d.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        d.feed(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".utf8), now: 5 * s)
        #expect(d.exchange.deadline == 35 * s)
        d.exchange.tunnelTraffic(now: 20 * s)
        #expect(d.exchange.timerFired(now: 50 * s - 1) == .none)
        #expect(d.exchange.timerFired(now: 50 * s) == .closeTunnel(reason: "tunnel idle"))
    }

    @Test func tunnelWithoutTimeoutIgnoresTheAnswerTimeout() throws {
        var d = ExchangeDriver(try upstreamRequest(Self.ws, webSocket: true), configuration: Self.config, now: 0)
        d.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        d.feed(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".utf8), now: 5 * s)
        #expect(d.exchange.deadline == 0)
        #expect(d.exchange.timerFired(now: 100_000 * s) == .none)
    }

    @Test func tunnelHalfClosesBothWays() throws {
        for upstreamFirst in [true, false] {
            var d = ExchangeDriver(try upstreamRequest(Self.ws, webSocket: true), now: 0)
            d.feed(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".utf8), now: 1)
            if upstreamFirst {
                #expect(d.exchange.upstreamClosed(now: 2) == .shutdownClientWrite)
                #expect(d.exchange.clientHalfClosed(now: 3) == .closeTunnel(reason: "both sides finished"))
            } else {
                #expect(d.exchange.clientHalfClosed(now: 2) == .shutdownUpstreamWrite)
                #expect(d.exchange.upstreamClosed(now: 3) == .closeTunnel(reason: "both sides finished"))
            }
            #expect(d.exchange.isFinished)
        }
        var d = ExchangeDriver(try upstreamRequest(Self.ws, webSocket: true), now: 0)
        d.feed(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".utf8), now: 1)
        #expect(d.exchange.upstreamClosed(reset: true, now: 2) == .closeTunnel(reason: "upstream connection reset"))
        var e = ExchangeDriver(try upstreamRequest(Self.ws, webSocket: true), now: 0)
        e.feed(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".utf8), now: 1)
        #expect(e.exchange.clientGone(now: 2) == .closeTunnel(reason: "client gone"))
    }

    // MARK: retry

    static let postBody = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"
    static let putBody = "PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"

    /// One retry case: the request, where the connection came from, what was sent, what arrived.
    struct RetryCase: CustomTestStringConvertible, Sendable {
        let name: String
        let request: String
        let reused: Bool
        let headWritten: Bool
        let bodySent: Bool
        let canReplay: Bool
        let answer: String
        let reset: Bool
        let end: End
        var testDescription: String { name }
        init(_ name: String, _ request: String, reused: Bool = true, headWritten: Bool = true, bodySent: Bool = false,
             canReplay: Bool = false, answer: String = "", reset: Bool = false, _ end: End) {
            self.name = name; self.request = request; self.reused = reused; self.headWritten = headWritten
            self.bodySent = bodySent; self.canReplay = canReplay; self.answer = answer; self.reset = reset; self.end = end
        }
    }

    static let retries: [RetryCase] = [
        RetryCase("reused, no byte, GET: retry", get, .retry),
        RetryCase("reused, reset, GET: retry", get, reset: true, .retry),
        RetryCase("fresh connection, GET: the next upstream", get, reused: false, .tryNext(502)),
        RetryCase("fresh connection, reset, GET: the next upstream", get, reused: false, reset: true, .tryNext(502)),
        RetryCase("fresh connection, POST: no retry", postBody, reused: false, .fail(502, marksDown: false)),
        RetryCase("fresh connection, PUT with body consumed: no retry", putBody, reused: false, bodySent: true, .fail(502, marksDown: false)),
        RetryCase("fresh connection, a byte of the answer arrived: no retry", get, reused: false, answer: "H", .fail(502, marksDown: false)),
        RetryCase("a byte of the answer arrived: no retry", get, answer: "H", .fail(502, marksDown: false)),
        RetryCase("a 1xx arrived: no retry", get, answer: "HTTP/1.1 100 Continue\r\n\r\n", .fail(502, marksDown: false)),
        RetryCase("POST with body sent: no retry", postBody, bodySent: true, .fail(502, marksDown: false)),
        RetryCase("POST head written, no body byte: no retry (RFC 9110 §9.2.2)", postBody, .fail(502, marksDown: false)),
        RetryCase("POST nothing written: retry", postBody, headWritten: false, .retry),
        RetryCase("POST body kept but head written: no retry", postBody, bodySent: true, canReplay: true, .fail(502, marksDown: false)),
        RetryCase("PUT with body consumed: no retry", putBody, bodySent: true, .fail(502, marksDown: false)),
        RetryCase("PUT with body kept: retry", putBody, bodySent: true, canReplay: true, .retry),
        RetryCase("PUT before its body: retry", putBody, .retry),
        RetryCase("DELETE: retry", "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", .retry),
        RetryCase("PATCH without body, head written: no retry", "PATCH /x HTTP/1.1\r\nHost: h\r\n\r\n", .fail(502, marksDown: false)),
    ]

    @Test(arguments: retries)
    func retryRule(_ c: RetryCase) throws {
        var d = ExchangeDriver(try upstreamRequest(c.request), reused: c.reused, canReplayBody: c.canReplay, now: 0)
        if c.headWritten { d.exchange.requestBytesWritten(now: 1, queueEmpty: true) }
        if c.bodySent {
            var out: [UInt8] = []
            Array("abc".utf8).withUnsafeBytes { _ = d.exchange.requestBodyBytes($0, now: 2, appendingTo: &out) }
        }
        if !c.answer.isEmpty { d.feed(Array(c.answer.utf8), now: 3) }
        d.close(reset: c.reset, now: 4)
        #expect(d.outcome.end == c.end)
        #expect(d.exchange.isFinished)
    }

    @Test func timeoutOnAReusedConnectionIsNotRetried() throws {
        var d = ExchangeDriver(try upstreamRequest(Self.get), reused: true, configuration: Self.config, now: 0)
        d.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        guard case .fail(let f) = d.exchange.timerFired(now: 60 * s) else { Issue.record("no fail"); return }
        #expect(f.status == .gatewayTimeout)
    }

    // MARK: client gone and misuse

    @Test func clientGoneClosesTheUpstream() throws {
        var d = ExchangeDriver(try upstreamRequest(Self.get), now: 0)
        d.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc".utf8), now: 1)
        #expect(d.exchange.clientGone(now: 2) == .close)
        #expect(d.exchange.isFinished && d.exchange.deadline == 0)
        #expect(d.exchange.clientGone(now: 3) == .none)
        #expect(Array("def".utf8).withUnsafeBytes { d.exchange.upstreamBytesReceived($0, now: 4) }.action == .none)
        #expect(d.exchange.upstreamClosed(now: 5) == .none)
        var e = ExchangeDriver(try upstreamRequest(Self.get), connect: false)
        #expect(e.exchange.clientGone(now: 1) == .close, "while connecting")
    }

    @Test func closeBeforeConnectingIsAConnectFailure() throws {
        var ex = ProxyExchange(request: try upstreamRequest(Self.get), reused: false, now: 0)
        guard case .tryNextUpstream(let f) = ex.upstreamClosed(reset: true, now: 1) else { Issue.record("no tryNext"); return }
        #expect(f.marksUpstreamDown && f.status == .badGateway)
    }

    @Test func responseLimitsApply() throws {
        let limits = ResponseParseLimits(maxHead: 64)
        let config = ProxyExchange.Configuration(responseLimits: limits)
        let exactly = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: " + String(repeating: "a", count: 21) + "\r\n\r\n"
        #expect(exactly.utf8.count == 64)
        var ok = ExchangeDriver(try upstreamRequest(Self.get), configuration: config, now: 0)
        ok.exchange.requestBytesWritten(now: 0, queueEmpty: true)
        ok.feed(Array(exactly.utf8), step: 1, now: 1)
        #expect(ok.outcome.end == .finish(reuse: true))
        let over = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: " + String(repeating: "a", count: 22) + "\r\n\r\n"
        var bad = ExchangeDriver(try upstreamRequest(Self.get), configuration: config, now: 0)
        bad.feed(Array(over.utf8), step: 1, now: 1)
        #expect(bad.outcome.end == .fail(502, marksDown: false))
    }
}
