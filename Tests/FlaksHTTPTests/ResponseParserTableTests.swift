import Testing
@testable import FlaksHTTP

/// Table-driven response cases, each run all at once, split at every byte boundary and byte by byte.
@Suite struct ResponseParserTableTests {
    static let te: (String, String) = ("Transfer-Encoding", "chunked")

    static let valid: [ResponseCase] = [
        ResponseCase("simple 200 with Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", .ok(.cl("hello"))),
        ResponseCase("Content-Length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", .ok(.cl(""))),
        ResponseCase("Content-Length with leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 003\r\n\r\nabc",
                     .ok(Resp(headers: [("Content-Length", "003")], framing: .length(3), body: "abc"))),
        ResponseCase("identical Content-Length list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
                     .ok(Resp(headers: [("Content-Length", "3, 3")], framing: .length(3), body: "abc"))),
        ResponseCase("identical repeated Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
                     .ok(Resp(headers: [("Content-Length", "3"), ("content-length", "3")], framing: .length(3), body: "abc"))),
        ResponseCase("empty reason phrase with its SP", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
                     .ok(Resp(status: 404, reason: "", headers: [("Content-Length", "0")], framing: .length(0)))),
        ResponseCase("no SP and no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
                     .ok(Resp(reason: "", headers: [("Content-Length", "0")], framing: .length(0)))),
        ResponseCase("reason phrase with spaces, tab and obs-text", "HTTP/1.1 418 I'm a\tteap\u{F4}t \r\nContent-Length: 0\r\n\r\n",
                     .ok(Resp(status: 418, reason: "I'm a\tteap\u{F4}t ", headers: [("Content-Length", "0")], framing: .length(0)))),
        ResponseCase("6xx status is accepted as received", "HTTP/1.1 600 Odd\r\nContent-Length: 1\r\n\r\nx",
                     .ok(.cl("x", status: 600, reason: "Odd"))),
        ResponseCase("999 status", "HTTP/1.1 999 Max\r\nContent-Length: 0\r\n\r\n", .ok(.cl("", status: 999, reason: "Max"))),
        ResponseCase("field name case, repeats and OWS", "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nSet-Cookie:b=2 \t\r\nX-E:\r\nContent-Length: 0\r\n\r\n",
                     .ok(Resp(headers: [("set-cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-E", ""), ("Content-Length", "0")],
                              framing: .length(0)))),
        ResponseCase("Host and Expect are ordinary fields in a response", "HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\nExpect: x\r\nContent-Length: 0\r\n\r\n",
                     .ok(Resp(headers: [("Host", "a b"), ("Host", "c"), ("Expect", "x"), ("Content-Length", "0")], framing: .length(0)))),
        ResponseCase("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                     .ok(Resp(headers: [te], framing: .chunked, body: "hello world"))),
        ResponseCase("chunked: upper-case hex, leading zeros, extensions", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
                     + "A;x=1\r\n0123456789\r\n00b ; q=\"a b\"\r\nabcdefghijk\r\n000;last\r\n\r\n",
                     .ok(Resp(headers: [("Transfer-Encoding", "Chunked")], framing: .chunked, body: "0123456789abcdefghijk"))),
        ResponseCase("trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 12 \r\nserver-timing:db;dur=5\r\nEmpty:\r\n\r\n",
                     .ok(Resp(headers: [te, ("Trailer", "X-Sum")], framing: .chunked, body: "hi",
                              trailers: [("X-Sum", "12"), ("server-timing", "db;dur=5"), ("Empty", "")]))),
        ResponseCase("empty chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                     .ok(Resp(headers: [te], framing: .chunked))),
        ResponseCase("close-delimited body ended by EOF", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of\r\nthis\n", eof: true,
                     .ok(Resp(headers: [("Content-Type", "text/plain")], framing: .untilClose, keepAlive: false, body: "all of\r\nthis\n"))),
        ResponseCase("close-delimited empty body ended by EOF", "HTTP/1.0 200 OK\r\n\r\n", eof: true,
                     .ok(Resp(version: .http1_0, framing: .untilClose, keepAlive: false))),
        ResponseCase("close-delimited body before EOF is incomplete", "HTTP/1.1 200 OK\r\n\r\nsome",
                     .ok(Resp(framing: .untilClose, keepAlive: false, body: "some", complete: false), leftover: 0)),
        ResponseCase("close-delimited body with keep-alive still closes", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nx", eof: true,
                     .ok(Resp(headers: [("Connection", "keep-alive")], framing: .untilClose, keepAlive: false, body: "x"))),
        ResponseCase("HEAD answer with Content-Length has no body", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", sent: [.head],
                     .ok(Resp(headers: [("Content-Length", "1234")]))),
        ResponseCase("HEAD answer with chunked has no body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", sent: [.head],
                     .ok(Resp(headers: [te]))),
        ResponseCase("HEAD answer without length keeps the connection", "HTTP/1.1 200 OK\r\n\r\n", sent: [.head], .ok(Resp())),
        ResponseCase("HEAD then GET pipelined", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                     sent: [.head, .get], .ok(Resp(headers: [("Content-Length", "5")]), .cl("hello"))),
        ResponseCase("304 with Content-Length has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\nETag: \"x\"\r\n\r\n",
                     .ok(Resp(status: 304, reason: "Not Modified", headers: [("Content-Length", "500"), ("ETag", "\"x\"")]))),
        ResponseCase("204", "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n",
                     .ok(Resp(status: 204, reason: "No Content", headers: [("Date", "x")]))),
        ResponseCase("204 with Content-Length has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                     sent: [.get, .get],
                     .ok(Resp(status: 204, reason: "No Content", headers: [("Content-Length", "3")]), .cl(""))),
        ResponseCase("100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                     .ok(Resp(kind: .interim, status: 100, reason: "Continue"), .cl("ok"))),
        ResponseCase("103 Early Hints then 200", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                     + "HTTP/1.1 200 OK\r\nLink: </s.css>; rel=preload\r\nContent-Length: 1\r\n\r\nx",
                     .ok(Resp(kind: .interim, status: 103, reason: "Early Hints", headers: [("Link", "</s.css>; rel=preload")]),
                         Resp(headers: [("Link", "</s.css>; rel=preload"), ("Content-Length", "1")], framing: .length(1), body: "x"))),
        ResponseCase("102 and 100 then 204", "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                     .ok(Resp(kind: .interim, status: 102, reason: "Processing"), Resp(kind: .interim, status: 100, reason: "Continue"),
                         Resp(status: 204, reason: "No Content"))),
        ResponseCase("1xx Content-Length and Transfer-Encoding chunked are ignored for the body",
                     "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nHTTP/1.1 103 Hints\r\nTransfer-Encoding: chunked\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
                     .ok(Resp(kind: .interim, status: 100, reason: "Continue", headers: [("Content-Length", "5")]),
                         Resp(kind: .interim, status: 103, reason: "Hints", headers: [te]), .cl("x"))),
        ResponseCase("101 switching protocols then tunnel bytes untouched",
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{1}\u{81}\u{5}hello\r\n\nHTTP/1.1 200 OK\r\n\r\n",
                     sent: [.upgrade],
                     .ok(Resp(kind: .switching, status: 101, reason: "Switching Protocols",
                              headers: [("Upgrade", "websocket"), ("Connection", "Upgrade")], keepAlive: false),
                         tunnel: "\u{1}\u{81}\u{5}hello\r\n\nHTTP/1.1 200 OK\r\n\r\n")),
        ResponseCase("100 then 101", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 \r\nUpgrade: websocket\r\nConnection: keep-alive, upgrade\r\n\r\n",
                     sent: [.upgrade],
                     .ok(Resp(kind: .interim, status: 100, reason: "Continue"),
                         Resp(kind: .switching, status: 101, reason: "", headers: [("Upgrade", "websocket"), ("Connection", "keep-alive, upgrade")],
                              keepAlive: false), tunnel: "")),
        ResponseCase("a request with Upgrade may get a normal answer", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", sent: [.upgrade],
                     .ok(.cl("x"))),
        ResponseCase("pipelined responses", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n"
                     + "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\nConnection: close\r\n\r\nc", sent: [.get, .get, .get],
                     .ok(.cl("a"), Resp(headers: [te], framing: .chunked, body: "b"),
                         .cl("c", status: 404, reason: "Not Found", extra: [("Connection", "close")], keepAlive: false))),
        ResponseCase("2xx to CONNECT is refused but 407 is parsed", "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 1\r\n\r\nx",
                     sent: [Sent(method: .CONNECT)], .ok(.cl("x", status: 407, reason: "Proxy Authentication Required"))),
        ResponseCase("incomplete head is kept in the buffer", "HTTP/1.1 200 OK\r\nContent-Len", .ok(leftover: 28)),
        ResponseCase("incomplete Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                     .ok(Resp(headers: [("Content-Length", "10")], framing: .length(10), body: "abc", complete: false))),
        ResponseCase("EOF with nothing outstanding after a response", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", eof: true, .ok(.cl(""))),
    ]

    /// `Connection` and version decide whether the upstream connection can be reused (RFC 9112 §9.3).
    static let keepAlive: [ResponseCase] = {
        func c(_ name: String, _ version: String, _ connection: String?, _ framing: String, keepAlive: Bool, eof: Bool = false) -> ResponseCase {
            let v: HTTPVersion = version == "1.0" ? .http1_0 : .http1_1
            var headers: [(String, String)] = connection.map { [("Connection", $0)] } ?? []
            var text = "HTTP/\(version) 200 OK\r\n" + (connection.map { "Connection: \($0)\r\n" } ?? "")
            let f: ResponseFraming
            switch framing {
            case "cl": text += "Content-Length: 1\r\n\r\nx"; headers.append(("Content-Length", "1")); f = .length(1)
            case "chunked": text += "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"; headers.append(te); f = .chunked
            default: text += "\r\nx"; f = .untilClose
            }
            return ResponseCase("keep-alive decisions: " + name, text, eof: eof,
                                .ok(Resp(version: v, headers: headers, framing: f, keepAlive: keepAlive, body: "x")))
        }
        return [
            c("1.1 persists by default", "1.1", nil, "cl", keepAlive: true),
            c("1.1 chunked persists", "1.1", nil, "chunked", keepAlive: true),
            c("1.1 close", "1.1", "close", "cl", keepAlive: false),
            c("1.1 close any case, in a list", "1.1", "Upgrade, CLOSE", "chunked", keepAlive: false),
            c("1.1 keep-alive and close: close wins", "1.1", "keep-alive, close", "cl", keepAlive: false),
            c("1.1 close-delimited never persists", "1.1", nil, "eof", keepAlive: false, eof: true),
            c("1.0 closes by default", "1.0", nil, "cl", keepAlive: false),
            c("1.0 keep-alive persists", "1.0", "Keep-Alive", "cl", keepAlive: true),
            c("1.0 keep-alive and close: close wins", "1.0", "close, keep-alive", "cl", keepAlive: false),
            c("1.0 keep-alive without length cannot persist", "1.0", "keep-alive", "eof", keepAlive: false, eof: true),
            c("token that merely contains close", "1.1", "closed, xclose", "cl", keepAlive: true),
        ]
    }()

    static let invalid: [ResponseCase] = [
        // Framing: smuggling shapes
        ResponseCase("CL and TE both", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                     .fails("both Content-Length and Transfer-Encoding")),
        ResponseCase("TE and CL both", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
                     .fails("both Content-Length and Transfer-Encoding")),
        ResponseCase("CL and TE both in a 304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                     .fails("both Content-Length and Transfer-Encoding")),
        ResponseCase("CL and TE both in a HEAD answer", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                     sent: [.head], .fails("both Content-Length and Transfer-Encoding")),
        ResponseCase("two different Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                     .fails("conflicting Content-Length")),
        ResponseCase("Content-Length list with different values", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
                     .fails("conflicting Content-Length")),
        ResponseCase("Content-Length with sign", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", .fails("Content-Length")),
        ResponseCase("Content-Length empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", .fails("empty Content-Length")),
        ResponseCase("Content-Length overflow", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", .fails("overflow")),
        ResponseCase("bad Content-Length in a 204 is still refused", "HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n",
                     .fails("invalid Content-Length")),
        ResponseCase("TE gzip: would be close-delimited, refused", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
                     .fails("does not end in chunked")),
        ResponseCase("TE chunked then gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc",
                     .fails("does not end in chunked")),
        ResponseCase("TE identity", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nabc", .fails("does not end in chunked")),
        ResponseCase("TE gzip then chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                     .fails("transfer coding other than chunked")),
        ResponseCase("TE chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                     .fails("more than once")),
        ResponseCase("TE chunked with parameters", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n",
                     .fails("parameters on chunked")),
        ResponseCase("TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .fails("HTTP/1.0 response")),
        ResponseCase("bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", .fails("invalid chunk size")),
        ResponseCase("chunk size with junk after it", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5g\r\nhello\r\n0\r\n\r\n",
                     .fails("chunk size line")),
        ResponseCase("chunk size 0x", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", .fails("chunk size line")),
        ResponseCase("empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", .fails("invalid chunk size")),
        ResponseCase("chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\n", .fails("chunk size overflow")),
        ResponseCase("chunk size of 17 digits", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n0\r\n\r\n",
                     .fails("chunk size too long")),
        ResponseCase("bad chunk extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;=x\r\nhello\r\n0\r\n\r\n",
                     .fails("chunk extension")),
        ResponseCase("chunk data longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
                     .fails("after chunk data")),
        ResponseCase("space before CRLF of a chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
                     .fails("chunk size line")),
        ResponseCase("trailer with obs-fold", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", .fails("folding")),
        ResponseCase("trailer with NUL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\u{0}\r\n\r\n", .fails("control")),
        ResponseCase("trailer with space before colon", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : a\r\n\r\n", .fails("colon")),
        ResponseCase("bare LF in the chunk framing", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", .fails("chunk size line")),
        // Line endings and field lines
        ResponseCase("bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", .fails("bare LF")),
        ResponseCase("bare LF after a field", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", .fails("bare LF")),
        ResponseCase("bare LF as the empty line", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", .fails("bare LF")),
        ResponseCase("bare CR in a value", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", .fails("bare CR")),
        ResponseCase("bare CR in the reason", "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n", .fails("bare CR")),
        ResponseCase("obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", .fails("obsolete line folding")),
        ResponseCase("obs-fold of Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n0\r\n\r\n", .fails("obsolete line folding")),
        ResponseCase("NUL in value", "HTTP/1.1 200 OK\r\nX: a\u{0}b\r\nContent-Length: 0\r\n\r\n", .fails("control character in field value")),
        ResponseCase("DEL in value", "HTTP/1.1 200 OK\r\nX: a\u{7F}\r\nContent-Length: 0\r\n\r\n", .fails("control character in field value")),
        ResponseCase("NUL in field name", "HTTP/1.1 200 OK\r\nContent\u{0}-Length: 0\r\n\r\n", .fails("field name")),
        ResponseCase("whitespace before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", .fails("whitespace between field name and colon")),
        ResponseCase("empty field name", "HTTP/1.1 200 OK\r\n: v\r\n\r\n", .fails("empty field name")),
        ResponseCase("field line without colon", "HTTP/1.1 200 OK\r\nX-No-Colon\r\n\r\n", .fails("without colon")),
        ResponseCase("non-token field name", "HTTP/1.1 200 OK\r\nX(y): v\r\n\r\n", .fails("field name")),
        // Status line
        ResponseCase("leading empty line before the status line", "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", .fails("malformed status line")),
        ResponseCase("HTTP/2.0", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", .fails("version HTTP/2.0")),
        ResponseCase("HTTP/1.2", "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", .fails("version HTTP/1.2")),
        ResponseCase("HTTP/0.9", "HTTP/0.9 200 OK\r\nContent-Length: 0\r\n\r\n", .fails("version HTTP/0.9")),
        ResponseCase("lowercase http", "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", .fails("malformed status line")),
        ResponseCase("ICY protocol", "ICY 200 OK\r\n\r\n", .fails("malformed status line")),
        ResponseCase("two spaces after the version", "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", .fails("invalid status code")),
        ResponseCase("tab after the version", "HTTP/1.1\t200 OK\r\nContent-Length: 0\r\n\r\n", .fails("malformed status line")),
        ResponseCase("two-digit status", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", .fails("invalid status code")),
        ResponseCase("four-digit status", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", .fails("invalid status code")),
        ResponseCase("status 099", "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n", .fails("invalid status code")),
        ResponseCase("status 000", "HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n", .fails("invalid status code")),
        ResponseCase("status with a letter", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", .fails("invalid status code")),
        ResponseCase("tab instead of SP before the reason", "HTTP/1.1 200\tOK\r\nContent-Length: 0\r\n\r\n", .fails("invalid status code")),
        ResponseCase("status line too short", "HTTP/1.1 20\r\n\r\n", .fails("malformed status line")),
        ResponseCase("control character in the reason", "HTTP/1.1 200 O\u{1}K\r\nContent-Length: 0\r\n\r\n", .fails("reason phrase")),
        ResponseCase("NUL in the reason", "HTTP/1.1 200 O\u{0}K\r\nContent-Length: 0\r\n\r\n", .fails("reason phrase")),
        // Protocol
        ResponseCase("101 without an Upgrade request", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                     .fails("101 Switching Protocols to a request without Upgrade")),
        ResponseCase("101 without an Upgrade field", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\nxyz", sent: [.upgrade],
                     .fails("101 Switching Protocols without Upgrade")),
        ResponseCase("101 with an empty Upgrade field", "HTTP/1.1 101 Switching Protocols\r\nUpgrade:\r\nConnection: Upgrade\r\n\r\n", sent: [.upgrade],
                     .fails("101 Switching Protocols without Upgrade")),
        ResponseCase("101 without Connection: upgrade", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n",
                     sent: [.upgrade], .fails("without Connection: upgrade")),
        ResponseCase("101 in HTTP/1.0", "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", sent: [.upgrade],
                     .fails("101 Switching Protocols in HTTP/1.0")),
        ResponseCase("2xx to CONNECT", "HTTP/1.1 200 Connection Established\r\n\r\n", sent: [Sent(method: .CONNECT)], .fails("CONNECT")),
        ResponseCase("bytes after the response with no request outstanding", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy",
                     .fails("no request outstanding", after: [.cl("x")])),
        ResponseCase("a second response nobody asked for", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                     .fails("no request outstanding", after: [Resp(status: 204, reason: "No Content")])),
        ResponseCase("error in a pipelined second response", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nX : y\r\n\r\n",
                     sent: [.get, .get], .fails("colon", after: [.cl("")])),
        // End of input
        ResponseCase("EOF mid chunk is an error", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", eof: true,
                     .fails("inside a chunked body")),
        ResponseCase("EOF before the last chunk is an error", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", eof: true,
                     .fails("inside a chunked body")),
        ResponseCase("EOF inside the trailers is an error", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n", eof: true,
                     .fails("inside a chunked body")),
        ResponseCase("EOF short of Content-Length is an error", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", eof: true,
                     .fails("7 bytes short of the Content-Length")),
        ResponseCase("EOF mid head is an error", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n", eof: true, .fails("inside a response head")),
        ResponseCase("EOF before any response is an error", "", eof: true, .fails("before sending a response")),
        ResponseCase("EOF after only a 100 Continue is an error", "HTTP/1.1 100 Continue\r\n\r\n", eof: true,
                     .fails("before sending a response", after: [Resp(kind: .interim, status: 100, reason: "Continue")])),
        ResponseCase("EOF after a pipelined response, before the next", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", sent: [.get, .get],
                     eof: true, .fails("before sending a response", after: [.cl("")])),
    ]

    @Test(arguments: valid)
    func validResponse(_ c: ResponseCase) { c.verify() }

    @Test(arguments: keepAlive)
    func keepAliveDecision(_ c: ResponseCase) { c.verify() }

    @Test(arguments: invalid)
    func invalidResponse(_ c: ResponseCase) { c.verify() }

    @Test func errorsAreSticky() throws {
        var parser = ResponseParser()
        parser.startResponse(to: .GET)
        let bad = bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        #expect(throws: ResponseParseError.malformed("conflicting Content-Length values")) { try bad.withUnsafeBytes { try parser.parse($0) } }
        let good = bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(throws: ResponseParseError.malformed("conflicting Content-Length values")) { try good.withUnsafeBytes { try parser.parse($0) } }
        parser.startResponse(to: .GET)  // does nothing after an error
        #expect(throws: ResponseParseError.malformed("conflicting Content-Length values")) { try parser.inputEnded() }
        #expect(!parser.isIdle)
    }

    @Test func idleParserWaitsOnEmptyInputAndEndsCleanly() throws {
        var parser = ResponseParser()
        #expect(parser.isIdle)
        let r = try [UInt8]().withUnsafeBytes { try parser.parse($0) }
        #expect(r == ResponseParseResult(event: .needMoreBytes, consumed: 0))
        #expect(try parser.inputEnded() == nil)
    }

    @Test func everyErrorIsA502WithItsReason() {
        let errors: [ResponseParseError] = [.malformed("x"), .headTooLarge, .bodyTooLarge, .unsupported("y"), .truncated("inside z")]
        for e in errors { #expect(e.status == .badGateway) }
        #expect(ResponseParseError.truncated("inside z").description == "upstream closed the connection inside z")
        #expect(ResponseParseError.malformed("x").description == "malformed upstream response: x")
    }
}
