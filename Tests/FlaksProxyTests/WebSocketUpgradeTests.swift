import FlaksHTTP
import Testing
@testable import FlaksProxy

/// Which Upgrade requests become tunnels, and which 101 answers may start one.
@Suite struct WebSocketUpgradeTests {
    static let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let raw: String
        let enabled: Bool
        let expected: WebSocketUpgrade.Decision
        var testDescription: String { name }
        init(_ name: String, _ raw: String, enabled: Bool = true, _ expected: WebSocketUpgrade.Decision) {
            self.name = name; self.raw = raw; self.enabled = enabled; self.expected = expected
        }
    }

    static let cases: [Case] = [
        Case("no Upgrade", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", .none),
        Case("Connection: upgrade without Upgrade", "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n", .none),
        Case("websocket", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\(key)\r\n", .tunnel),
        Case("token case-insensitive", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: UPGRADE\r\n\r\n", .tunnel),
        Case("websocket among several tokens", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: h2c, websocket, foo/2\r\n"
             + "Connection: keep-alive, Upgrade, HTTP2-Settings\r\n\r\n", .tunnel),
        Case("websocket on a second Upgrade line", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nUpgrade: websocket\r\n"
             + "Connection: upgrade\r\n\r\n", .tunnel),
        Case("upgrade on a second Connection line", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
             + "Connection: keep-alive\r\nConnection: upgrade\r\n\r\n", .tunnel),
        Case("h2c is never tunnelled", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
             + "HTTP2-Settings: AAMAAABk\r\n\r\n", .ignoreUpgrade),
        Case("another protocol", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: TLS/1.2\r\nConnection: upgrade\r\n\r\n", .ignoreUpgrade),
        Case("websocket with a version is not websocket", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket/13\r\n"
             + "Connection: upgrade\r\n\r\n", .ignoreUpgrade),
        Case("websocketx", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocketx\r\nConnection: upgrade\r\n\r\n", .ignoreUpgrade),
        Case("websocket: false", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\(key)\r\n",
             enabled: false, .ignoreUpgrade),
        Case("without Connection: upgrade", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\r\n",
             .ignoreUpgrade),
        Case("Connection names something else", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgraded\r\n\r\n",
             .ignoreUpgrade),
        Case("POST", "POST /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n",
             .ignoreUpgrade),
        Case("HTTP/1.0", "GET /ws HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", .ignoreUpgrade),
        Case("GET with a body", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 2\r\n\r\n",
             .ignoreUpgrade),
        Case("GET with Content-Length 0", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
             + "Content-Length: 0\r\n\r\n", .tunnel),
    ]

    @Test(arguments: cases)
    func decide(_ c: Case) throws {
        let head = try #require(parseHead(c.raw))
        #expect(WebSocketUpgrade.decide(head, enabled: c.enabled) == c.expected)
        #expect(WebSocketUpgrade.isWebSocketRequest(head) == (c.expected == .tunnel || (c.name == "websocket: false")))
    }

    static func switchHead(_ upgrade: [String], status: Int = 101) -> ResponseHead {
        var headers = fields([("Connection", "Upgrade")])
        for u in upgrade { headers.add("Upgrade", u) }
        return ResponseHead(version: .http1_1, status: HTTPStatus(status), reason: "Switching Protocols", headers: headers,
                            framing: .none, keepAlive: false)
    }

    @Test func switchAccepted() {
        #expect(WebSocketUpgrade.acceptsSwitch(Self.switchHead(["websocket"]), sentWebSocketUpgrade: true))
        #expect(WebSocketUpgrade.acceptsSwitch(Self.switchHead(["WebSocket"]), sentWebSocketUpgrade: true))
    }

    @Test func switchRefused() {
        #expect(!WebSocketUpgrade.acceptsSwitch(Self.switchHead(["websocket"]), sentWebSocketUpgrade: false), "not asked for")
        #expect(!WebSocketUpgrade.acceptsSwitch(Self.switchHead(["h2c"]), sentWebSocketUpgrade: true), "another protocol")
        #expect(!WebSocketUpgrade.acceptsSwitch(Self.switchHead(["websocket, h2c"]), sentWebSocketUpgrade: true), "two protocols")
        #expect(!WebSocketUpgrade.acceptsSwitch(Self.switchHead(["websocket", "h2c"]), sentWebSocketUpgrade: true), "two lines")
        #expect(!WebSocketUpgrade.acceptsSwitch(Self.switchHead([]), sentWebSocketUpgrade: true), "no Upgrade")
        #expect(!WebSocketUpgrade.acceptsSwitch(Self.switchHead(["websocket"], status: 200), sentWebSocketUpgrade: true), "not 101")
    }
}
