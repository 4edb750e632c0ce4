#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import COpenSSL
import FlaksConfig
import FlaksHandlers
import FlaksServer
import Foundation
import Testing

/// Everything that works over plain HTTP, over HTTPS: a CGI script, a view on the worker pool, a
/// proxied app and a WebSocket tunnel through the proxy; and session resumption, across a reload.
@Suite("Hosting over HTTPS", .serialized)
struct TLSHostingTests {
    /// One TLS host a.test (certificate of the test CA) with `routes`, plain listener kept too.
    static func site(_ pki: ServerTestPKI, _ routes: [Route], cgi: CGISettings = CGISettings()) -> ServerConfig {
        var host = HostConfig(names: ["a.test"], routes: routes)
        host.tls = pki.tls("a")
        var cfg = ServerConfig(hosts: [host])
        cfg.server.tlsListen = [ListenAddress(host: "127.0.0.1", port: 0)]
        cfg.cgi = cgi
        return cfg
    }

    static func client(_ server: Server, _ pki: ServerTestPKI, session: TestClient.TLSClientSession? = nil) throws -> TestClient {
        try TestClient(port: try #require(server.tlsPort), tls: .init(caFile: pki.caFile, serverName: "a.test", session: session))
    }

    @Test func aCGIScriptAViewAndAProxiedAppAnswerOverTLS() async throws {
        let pki = try ServerTestPKI()
        let f = try CGIFixture()
        try f.script("env.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nscheme=%s https=%s port=%s\\n' \"$REQUEST_SCHEME\" \"$HTTPS\" \"$SERVER_PORT\"\n")
        let app = try UpstreamProcess.python("tlsapp")
        var registry = HandlerRegistry()
        registry.register("sleepy", SleepingHandler(seconds: 0.01))
        let routes = [Route(path: "/cgi-bin/", kind: .cgi(CGIRoute(root: f.root))),
                      Route(path: "/view", kind: .handler("sleepy")),
                      ProxyServerTests.proxy("/app/", [app]) { $0.stripPrefix = true }]
        try await withTestServer(Self.site(pki, routes), registry: registry) { (server: Server, _: Int) async throws in
            let c = try Self.client(server, pki)
            let port = try #require(server.tlsPort)
            // All on one keep-alive TLS connection.
            try c.send("GET /cgi-bin/env.sh HTTP/1.1\r\nHost: a.test\r\n\r\n")
            let cgi = try c.readResponse()
            #expect(cgi.status == 200 && cgi.text == "scheme=https https=on port=\(port)\n")
            try c.send("GET /view HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try c.readResponse().text == "slept\n")
            // Over the proxy's 256 KiB high-water mark while the upstream connection is still opening:
            // the early body and the rest must reach the upstream in order.
            let body = UpstreamPattern.bytes(300_000)
            try c.send("POST /app/upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: \(body.count)\r\n\r\n")
            try c.send(body)
            let up = try ProxyServerTests.json(try c.readResponse())
            #expect(up["length"] as? Int == body.count && up["sha256"] as? String == sha256Hex(body))
            let headers = ProxyServerTests.headers(up)
            #expect(headers.contains { $0.0.lowercased() == "x-forwarded-proto" && $0.1 == "https" })
            try c.send("GET /app/big?n=2000000 HTTP/1.1\r\nHost: a.test\r\n\r\n")
            let down = try c.readResponse()
            #expect(down.status == 200 && down.body == UpstreamPattern.bytes(2_000_000))
        }
    }

    @Test func aWebSocketTunnelsOverTLSAndSurvivesAReload() async throws {
        let pki = try ServerTestPKI()
        let ws = try UpstreamProcess.raw("ws")
        let cfg = Self.site(pki, [ProxyServerTests.proxy("/ws", [ws])])
        try await withTestServer(cfg) { (server: Server, _: Int) async throws in
            let c = try Self.client(server, pki)
            try c.send("GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 101 && r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            try c.send(WebSocketFrame.masked(text: "over tls"))
            #expect(try WebSocketFrame.read(c) == "over tls")
            var next = server.currentSite.config
            next.hosts[0].routes.append(respond("/new", "new\n"))
            guard case .reloaded = server.reload(next) else { Issue.record("reload failed"); return }
            try c.send(WebSocketFrame.masked(text: "after reload"))
            #expect(try WebSocketFrame.read(c) == "after reload")
        }
    }

    @Test func sessionsResumeAlsoAfterAReload() async throws {
        let pki = try ServerTestPKI()
        try await withTestServer(Self.site(pki, [respond("/", "resumed?\n")])) { (server: Server, _: Int) async throws in
            let first = try Self.client(server, pki)
            #expect(!first.sessionReused)
            try first.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            _ = try first.readResponse()  // TLS 1.3 tickets arrive after the handshake
            let session = try #require(first.session)
            let second = try Self.client(server, pki, session: session)
            try second.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try second.readResponse().text == "resumed?\n")
            #expect(second.sessionReused, "a ticket of this server resumes")
            var next = server.currentSite.config
            next.hosts[0].routes.append(respond("/new", "new\n"))
            guard case .reloaded = server.reload(next) else { Issue.record("reload failed"); return }
            let third = try Self.client(server, pki, session: session)
            try third.send("GET /new HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try third.readResponse().text == "new\n")
            #expect(third.sessionReused, "ticket keys are kept across reloads")
        }
    }
}
