import FlaksAccess
import FlaksHTTP
import Testing
@testable import FlaksProxy

/// The head sent upstream: hop-by-hop fields, forwarding fields from trusted and untrusted peers,
/// Host, framing, request_headers, WebSocket and Expect, and the exact bytes.
@Suite struct UpstreamRequestTests {
    static let untrusted = UpstreamRequest.ClientConnection(peer: IPAddress(v4: 0xC000_0201), peerIsTrusted: false, isTLS: false)  // 192.0.2.1
    static let trusted = UpstreamRequest.ClientConnection(peer: IPAddress(v4: 0x0A00_0001), peerIsTrusted: true, isTLS: false)    // 10.0.0.1

    static func build(_ raw: String, rules: UpstreamRequest.Rules = UpstreamRequest.Rules(),
                      connection: UpstreamRequest.ClientConnection = untrusted, framing: BodyFraming = .none,
                      webSocket: Bool = false, passExpect: Bool = false) throws -> UpstreamRequest {
        let head = try #require(parseHead(raw), "request did not parse")
        return try UpstreamRequest(client: head, rules: rules, connection: connection, framing: framing,
                                   webSocket: webSocket, passExpectContinue: passExpect)
    }

    // MARK: hop-by-hop

    @Test func everyHopByHopFieldIsRemoved() throws {
        let r = try Self.build("""
            GET /x HTTP/1.1\r
            Host: example.test\r
            Connection: keep-alive, X-Custom\r
            Keep-Alive: timeout=5\r
            X-Custom: gone\r
            TE: trailers\r
            Trailer: X-T\r
            Upgrade: h2c\r
            HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r
            Proxy-Connection: keep-alive\r
            Proxy-Authorization: Basic eDp5\r
            Accept: */*\r
            Cookie: a=1\r
            Cookie: b=2\r
            Authorization: Bearer t\r
            \r

            """)
        #expect(pairs(r.headers) == [
            ["Host", "example.test"], ["Accept", "*/*"], ["Cookie", "a=1"], ["Cookie", "b=2"],
            ["Authorization", "Bearer t"],
            ["X-Forwarded-For", "192.0.2.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "example.test"],
            ["Via", "1.1 flaks"],
        ])
    }

    /// One table row per hop-by-hop field: present alone with an end-to-end field, it is dropped and
    /// the other is kept.
    @Test(arguments: ["Connection: close", "Keep-Alive: timeout=5", "TE: trailers", "Trailer: X-T", "Upgrade: websocket",
                      "Upgrade: h2c", "Proxy-Connection: keep-alive", "Proxy-Authorization: Basic eDp5",
                      "HTTP2-Settings: AAMAAABk", "Expect: 100-continue"])
    func hopByHopField(_ line: String) throws {
        let r = try Self.build("POST /x HTTP/1.1\r\nHost: h\r\n\(line)\r\nX-Keep: 1\r\nContent-Length: 0\r\n\r\n",
                               framing: .length(0))
        let name = String(line.split(separator: ":")[0])
        #expect(!r.headers.contains(name), "\(name) passed")
        #expect(r.headers["X-Keep"] == "1")
    }

    @Test func connectionNamesCustomFieldsOnEveryLine() throws {
        let r = try Self.build("""
            GET / HTTP/1.1\r
            Host: h\r
            Connection: X-A , x-b\r
            connection: X-D\r
            X-A: 1\r
            x-B: 2\r
            X-C: 3\r
            X-D: 4\r
            x-a: 5\r
            \r

            """)
        #expect(!r.headers.contains("X-A") && !r.headers.contains("X-B") && !r.headers.contains("X-D"))
        #expect(r.headers.values("X-C") == ["3"])
        #expect(!r.headers.contains("Connection"))
    }

    @Test func clientFramingIsReplacedByTheExecutors() throws {
        let chunked = "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        let asLength = try Self.build(chunked, framing: .length(5))
        #expect(asLength.headers.values("Content-Length") == ["5"])
        #expect(!asLength.headers.contains("Transfer-Encoding"))
        let asChunked = try Self.build(chunked, framing: .chunked)
        #expect(asChunked.headers.values("Transfer-Encoding") == ["chunked"])
        #expect(!asChunked.headers.contains("Content-Length"))

        let length = "PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n"
        let rechunked = try Self.build(length, framing: .chunked)
        #expect(!rechunked.headers.contains("Content-Length"))
        #expect(rechunked.headers.values("Transfer-Encoding") == ["chunked"])
        let zero = try Self.build("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", framing: .length(0))
        #expect(zero.headers.values("Content-Length") == ["0"])
        #expect(!zero.hasBody)
        let none = try Self.build("GET /u HTTP/1.1\r\nHost: h\r\n\r\n", framing: .none)
        #expect(!none.headers.contains("Content-Length") && !none.headers.contains("Transfer-Encoding"))
    }

    // MARK: forwarding fields

    static let spoofing = """
        GET / HTTP/1.1\r
        Host: example.test\r
        X-Forwarded-For: 1.2.3.4\r
        X-Forwarded-For: 5.6.7.8\r
        X-Forwarded-Proto: https\r
        X-Forwarded-Host: evil.test\r
        Forwarded: for=1.2.3.4;proto=https\r
        X-Real-IP: 1.2.3.4\r
        X-Forwarded-Port: 443\r
        X-Forwarded-Prefix: /admin\r
        Accept: */*\r
        \r

        """

    @Test func spoofedForwardingFromAnUntrustedPeerIsReplaced() throws {
        let r = try Self.build(Self.spoofing)
        #expect(pairs(r.headers) == [
            ["Host", "example.test"], ["Accept", "*/*"],
            ["X-Forwarded-For", "192.0.2.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "example.test"],
            ["Via", "1.1 flaks"],
        ])
    }

    @Test func trustedPeerChainIsAppendedAndItsFieldsKept() throws {
        let r = try Self.build(Self.spoofing, connection: Self.trusted)
        #expect(pairs(r.headers) == [
            ["Host", "example.test"],
            ["X-Forwarded-Proto", "https"], ["X-Forwarded-Host", "evil.test"], ["Forwarded", "for=1.2.3.4;proto=https"],
            ["X-Real-IP", "1.2.3.4"], ["X-Forwarded-Port", "443"], ["X-Forwarded-Prefix", "/admin"], ["Accept", "*/*"],
            ["X-Forwarded-For", "1.2.3.4, 5.6.7.8, 10.0.0.1"], ["Via", "1.1 flaks"],
        ])
    }

    @Test func trustedChainWithEmptyElementsAndSpaces() throws {
        let r = try Self.build("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For:  , 1.1.1.1 ,,\r\nX-Forwarded-For: 2001:db8::7\r\n\r\n",
                               connection: Self.trusted)
        #expect(r.headers.values("X-Forwarded-For") == ["1.1.1.1, 2001:db8::7, 10.0.0.1"])
    }

    @Test func trustedPeerWithoutForwardingFieldsGetsThemFromTheConnection() throws {
        let tls = UpstreamRequest.ClientConnection(peer: ip("2001:db8::1"), peerIsTrusted: true, isTLS: true)
        let r = try Self.build("GET / HTTP/1.1\r\nHost: example.test:8443\r\n\r\n", connection: tls)
        #expect(r.headers.values("X-Forwarded-For") == ["2001:db8::1"])
        #expect(r.headers.values("X-Forwarded-Proto") == ["https"])
        #expect(r.headers.values("X-Forwarded-Host") == ["example.test:8443"])
    }

    @Test func trustedPeerNamingXForwardedForInConnectionDropsTheChain() throws {
        let r = try Self.build("GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Forwarded-For\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n",
                               connection: Self.trusted)
        #expect(r.headers.values("X-Forwarded-For") == ["10.0.0.1"])
    }

    @Test func viaIsAppendedWithTheClientsVersion() throws {
        let r = try Self.build("GET / HTTP/1.0\r\nHost: h\r\nVia: 1.1 cdn-edge\r\nVia: 1.1 lb\r\n\r\n")
        #expect(r.headers.values("Via") == ["1.1 cdn-edge", "1.1 lb", "1.0 flaks"])
    }

    @Test func connectionCloseWhenNotKeptAlive() throws {
        let head = try #require(parseHead("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"))
        let closing = try UpstreamRequest(client: head, rules: UpstreamRequest.Rules(), connection: Self.untrusted,
                                          framing: .none, keepAlive: false)
        #expect(closing.headers.values("Connection") == ["close"] && !closing.keepAlive)
        let kept = try UpstreamRequest(client: head, rules: UpstreamRequest.Rules(), connection: Self.untrusted, framing: .none)
        #expect(!kept.headers.contains("Connection") && kept.keepAlive)
        let ws = try #require(parseHead("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"))
        let tunnel = try UpstreamRequest(client: ws, rules: UpstreamRequest.Rules(), connection: Self.untrusted,
                                         framing: .none, webSocket: true, keepAlive: false)
        #expect(tunnel.headers.values("Connection") == ["upgrade"] && !tunnel.keepAlive)
    }

    // MARK: Host and target

    @Test func hostOverrideAndForwardedHost() throws {
        let r = try Self.build("GET /app/x HTTP/1.1\r\nHost: example.test\r\n\r\n",
                               rules: UpstreamRequest.Rules(mountPath: "/app/", stripPrefix: true, host: "api.internal"))
        #expect(r.target == "/x")
        #expect(r.headers.fields.first == HeaderField(name: "Host", value: "api.internal"))
        #expect(r.headers.values("Host") == ["api.internal"])
        #expect(r.headers.values("X-Forwarded-Host") == ["example.test"])
    }

    @Test func absoluteFormAuthorityWinsOverHost() throws {
        let r = try Self.build("GET http://abs.test:8080/p?q HTTP/1.1\r\nHost: other.test\r\n\r\n")
        #expect(r.target == "/p?q")
        #expect(r.headers.values("Host") == ["abs.test:8080"])
        #expect(r.headers.values("X-Forwarded-Host") == ["abs.test:8080"])
    }

    @Test func http10WithoutHostSendsAnEmptyHost() throws {
        let r = try Self.build("GET / HTTP/1.0\r\n\r\n")
        #expect(r.headers.values("Host") == [""])
        #expect(!r.headers.contains("X-Forwarded-Host"))
        #expect(r.encoded.starts(with: "GET / HTTP/1.1\r\nHost: \r\n".bytes))
    }

    @Test func dotSegmentAndConnectAreRefused() throws {
        #expect(throws: UpstreamRequestError.dotSegment) { try Self.build("GET /a/%2e%2E/b HTTP/1.1\r\nHost: h\r\n\r\n") }
        #expect(UpstreamRequestError.dotSegment.status == .badRequest)
        // The request parser refuses authority-form; a CONNECT head that reached the proxy anyway is refused here too.
        let connect = RequestHead(method: .CONNECT, target: "example.test:443", version: .http1_1,
                                  headers: fields([("Host", "example.test:443")]))
        #expect(throws: UpstreamRequestError.connectMethod) {
            try UpstreamRequest(client: connect, rules: UpstreamRequest.Rules(), connection: Self.untrusted, framing: .none)
        }
        #expect(UpstreamRequestError.connectMethod.status == .methodNotAllowed)
    }

    // MARK: request_headers

    @Test func requestHeadersAreSetLast() throws {
        let rules = UpstreamRequest.Rules(requestHeaders: fields([
            ("X-App", "flaks"), ("Cookie", ""), ("accept", "text/html"), ("X-Forwarded-Proto", "https"),
            ("Content-Length", "99"), ("Host", "x"), ("Connection", "close"), ("Transfer-Encoding", "gzip"),
        ]))
        let r = try Self.build("GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nCookie: a=1\r\nCookie: b=2\r\nX-Other: 1\r\n\r\n",
                               rules: rules)
        #expect(pairs(r.headers) == [
            ["Host", "h"], ["X-Other", "1"], ["X-Forwarded-For", "192.0.2.1"], ["X-Forwarded-Host", "h"],
            ["Via", "1.1 flaks"], ["X-App", "flaks"], ["accept", "text/html"], ["X-Forwarded-Proto", "https"],
        ])
    }

    @Test(arguments: ["Host", "content-length", "Transfer-Encoding", "Connection", "Upgrade", "Keep-Alive", "TE",
                      "Trailer", "Proxy-Connection", "Proxy-Authorization", "HTTP2-Settings", "Expect"])
    func reservedRequestFields(_ name: String) {
        #expect(UpstreamRequest.isReservedRequestField(name))
    }

    @Test(arguments: ["X-Forwarded-Proto", "Authorization", "Cookie", "X-App", "Accept-Encoding"])
    func settableRequestFields(_ name: String) {
        #expect(!UpstreamRequest.isReservedRequestField(name))
    }

    // MARK: WebSocket and Expect

    @Test func webSocketTunnelSendsUpgradeAndConnection() throws {
        let raw = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c, WebSocket\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let r = try Self.build(raw, webSocket: true)
        #expect(r.upgradesToWebSocket)
        #expect(r.headers.values("Connection") == ["upgrade"])
        #expect(r.headers.values("Upgrade") == ["websocket"])
        #expect(r.headers["Sec-WebSocket-Key"] == "dGhlIHNhbXBsZSBub25jZQ==")
        let plain = try Self.build(raw, webSocket: false)
        #expect(!plain.upgradesToWebSocket)
        #expect(!plain.headers.contains("Connection") && !plain.headers.contains("Upgrade"))
        #expect(plain.headers["Sec-WebSocket-Version"] == "13")
    }

    @Test func expectContinueOnlyWhenPassedAndABodyFollows() throws {
        let raw = "POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
        let passed = try Self.build(raw, framing: .length(3), passExpect: true)
        #expect(passed.expectsContinue && passed.headers.values("Expect") == ["100-continue"])
        let kept = try Self.build(raw, framing: .length(3), passExpect: false)
        #expect(!kept.expectsContinue && !kept.headers.contains("Expect"))
        let noBody = try Self.build("POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
                                    framing: .length(0), passExpect: true)
        #expect(!noBody.expectsContinue && !noBody.headers.contains("Expect"))
        let notAsked = try Self.build("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n", framing: .length(3), passExpect: true)
        #expect(!notAsked.expectsContinue && !notAsked.headers.contains("Expect"))
    }

    // MARK: bytes

    @Test func encodedBytes() throws {
        let r = try Self.build("DELETE /app/items/7?force=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
                               rules: UpstreamRequest.Rules(mountPath: "/app/", stripPrefix: true))
        #expect(r.encoded == """
            DELETE /items/7?force=1 HTTP/1.1\r
            Host: h\r
            Accept: */*\r
            X-Forwarded-For: 192.0.2.1\r
            X-Forwarded-Proto: http\r
            X-Forwarded-Host: h\r
            Via: 1.1 flaks\r
            \r

            """.bytes)
        #expect(r.isIdempotent)
    }

    @Test func manifestValuesCannotSplitTheHead() throws {
        let rules = UpstreamRequest.Rules(host: "a\r\nX-Injected: 1", requestHeaders: fields([("X-V", "1\r\n\r\nGET /evil HTTP/1.1"), ("Bad Name", "x")]))
        let r = try Self.build("GET / HTTP/1.1\r\nHost: h\r\n\r\n", rules: rules)
        let text = String(decoding: r.encoded, as: UTF8.self)
        #expect(text.contains("Host: a  X-Injected: 1\r\n"))
        #expect(text.contains("X-V: 1    GET /evil HTTP/1.1\r\n"))
        #expect(!text.contains("Bad Name"))
        #expect(text.hasSuffix("\r\n\r\n") && text.ranges(of: "\r\n\r\n").count == 1)
    }

    /// The encoded head parses back (with the request parser) to the same method, target, fields and framing.
    @Test(arguments: [BodyFraming.none, .length(0), .length(17), .chunked])
    func roundTrip(_ framing: BodyFraming) throws {
        let r = try Self.build(Self.spoofing, connection: Self.trusted, framing: framing)
        let back = try #require(parseHead(String(decoding: r.encoded, as: UTF8.self)))
        #expect(back.method == r.method && back.target == r.target && back.version == .http1_1)
        #expect(pairs(back.headers) == pairs(r.headers))
        #expect(back.framing == framing)
    }

    @Test func idempotentMethods() throws {
        for (m, idempotent) in [("GET", true), ("HEAD", true), ("OPTIONS", true), ("TRACE", true), ("PUT", true),
                                ("DELETE", true), ("POST", false), ("PATCH", false)] {
            let r = try Self.build("\(m) /x HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(r.isIdempotent == idempotent, "\(m)")
        }
    }

    // MARK: response side

    @Test func responseHopByHopFieldsAreRemoved() {
        let upstream = fields([
            ("Connection", "close, X-Hop"), ("X-Hop", "1"), ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "close"),
            ("TE", "trailers"), ("Trailer", "X-Sum"), ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"),
            ("Proxy-Authenticate", "Basic realm=x"), ("Content-Length", "10"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
            ("Content-Type", "text/plain"), ("Date", "x"), ("connection", "x-other"), ("X-Other", "2"), ("X-End", "3"),
        ])
        #expect(pairs(UpstreamResponse.clientFields(upstream)) == [
            ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["Content-Type", "text/plain"], ["Date", "x"], ["X-End", "3"],
        ])
    }

    @Test func tunnelResponseKeepsExactlyUpgradeAndConnection() {
        let upstream = fields([
            ("Upgrade", "WebSocket"), ("Connection", "Upgrade, X-Hop"), ("X-Hop", "1"),
            ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), ("Sec-WebSocket-Protocol", "chat"),
        ])
        #expect(pairs(UpstreamResponse.clientFields(upstream, tunnel: true)) == [
            ["Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], ["Sec-WebSocket-Protocol", "chat"],
            ["Connection", "upgrade"], ["Upgrade", "websocket"],
        ])
    }
}
