import FlaksTestSupport
import FlaksConfig
import FlaksHandlers
import FlaksServer
import Foundation
import Testing

@Suite("HTTP engine over real sockets", .timeLimit(.minutes(1)))
struct EngineTests {
    @Test func keepAliveServesSeveralRequestsOnOneConnection() async throws {
        try await withTestServer(config([respond("/hello", "hello\n")])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for _ in 0..<3 {
                try c.send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
                let r = try c.readResponse()
                #expect(r.status == 200)
                #expect(r.text == "hello\n")
                #expect(r.header("Content-Length") == "6")
                #expect(r.header("Date") != nil)
                #expect(r.header("Connection") == nil)
            }
        }
    }

    @Test func threePipelinedRequestsInOneWriteAnswerInOrder() async throws {
        try await withTestServer(config([respond("/a", "A"), respond("/b", "BB"), respond("/c", "CCC")])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().text == "A")
            #expect(try c.readResponse().text == "BB")
            #expect(try c.readResponse().text == "CCC")
        }
    }

    @Test func connectionCloseIsHonoured() async throws {
        try await withTestServer(config([respond("/", "x")])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.header("Connection") == "close")
            #expect(c.isClosedByPeer())
        }
    }

    @Test func http10ClosesUnlessKeepAliveAsked() async throws {
        try await withTestServer(config([respond("/", "x")])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET / HTTP/1.0\r\n\r\n")
            _ = try c.readResponse()
            #expect(c.isClosedByPeer())
            let k = try TestClient(port: port)
            try k.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try k.readResponse().header("Connection") == "keep-alive")
            try k.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try k.readResponse().status == 200)
        }
    }

    @Test func headGetsHeadersWithoutBody() async throws {
        try await withTestServer(config([respond("/", "hello")])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let h = try c.readResponse(head: true)
            #expect(h.header("Content-Length") == "5")
            #expect(try c.readResponse().text == "hello")
        }
    }

    @Test func unknownPathIs404AndServerStaysUp() async throws {
        try await withTestServer(config([respond("/x", "x")])) { (_: Server, port: Int) async throws in
            #expect(try TestClient.get(port: port, "/nope").status == 404)
            #expect(try TestClient.get(port: port, "/x").status == 200)
        }
    }

    @Test func unknownHostWithoutDefaultIs421() async throws {
        let cfg = ServerConfig(hosts: [HostConfig(names: ["a.test"], routes: [respond("/", "a")])])
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            #expect(try TestClient.get(port: port, "/", host: "a.test").text == "a")
            #expect(try TestClient.get(port: port, "/", host: "b.test").status == 421)
        }
    }

    @Test func twentyBlockedHandlersDoNotDelayAFastRoute() async throws {
        // 20 requests sit in handlers that hold their worker (the "sleep 10 s"; here a gate
        // held shut until the fast request was answered, so the test cannot pass by timing luck).
        var reg = HandlerRegistry()
        let gate = GateHandler(reply: "slept\n")
        reg.register("sleep", gate)
        var cfg = config([respond("/fast", "fast"), Route(path: "/slow", kind: .handler("sleep"))])
        cfg.server.threads = 20
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            var slow: [TestClient] = []
            for _ in 0..<20 {
                let c = try TestClient(port: port)
                try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
                slow.append(c)
            }
            for _ in 0..<20 { #expect(gate.waitEntered()) }
            let start = ContinuousClock.now
            let r = try TestClient.get(port: port, "/fast")
            #expect(r.text == "fast")
            #expect(ContinuousClock.now - start < .seconds(4))
            for _ in 0..<20 { gate.open() }
            for c in slow { #expect(try c.readResponse().text == "slept\n") }
        }
    }

    @Test func fiveHundredConcurrentConnectionsAllAnswered() async throws {
        try await withTestServer(config([respond("/", "ok")])) { (_: Server, port: Int) async throws in
            var clients: [TestClient] = []
            for _ in 0..<500 { clients.append(try TestClient(port: port)) }
            for c in clients { try c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }
            var ok = 0
            for c in clients where try c.readResponse().text == "ok" { ok += 1 }
            #expect(ok == 500)
        }
    }

    @Test func blockingHandlerResponseComesBack() async throws {
        var reg = HandlerRegistry()
        reg.register("sleep", SleepingHandler(seconds: 0.05))
        try await withTestServer(config([Route(path: "/s", kind: .handler("sleep"))]), registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for _ in 0..<3 {
                try c.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().text == "slept\n")
            }
        }
    }

    @Test func routeHeadersAreAdded() async throws {
        var r = respond("/", "x")
        r.headers = ["Cache-Control": "no-store"]
        try await withTestServer(config([r])) { (_: Server, port: Int) async throws in
            #expect(try TestClient.get(port: port, "/").header("Cache-Control") == "no-store")
        }
    }

    @Test func redirectRoutes() async throws {
        let routes = [
            Route(path: "/old", kind: .redirect(RedirectRoute(target: "/new"))),
            Route(path: "/docs/", kind: .redirect(RedirectRoute(target: "https://docs.example/", status: 308, keepPath: true))),
            Route(path: "/go/", kind: .redirect(RedirectRoute(target: "/", status: 302, keepPath: true))),
        ]
        try await withTestServer(config(routes)) { (_: Server, port: Int) async throws in
            let a = try TestClient.get(port: port, "/old")
            #expect(a.status == 301)
            #expect(a.header("Location") == "/new")
            let b = try TestClient.get(port: port, "/docs/a/b?x=1")
            #expect(b.status == 308)
            #expect(b.header("Location") == "https://docs.example/a/b?x=1")
            // keep_path re-encodes the decoded rest: "/\evil.example" and "/<TAB>/evil.example"
            // would send a browser to evil.example; "%3F" stays in the path.
            #expect(try TestClient.get(port: port, "/go/\\evil.example").header("Location") == "/%5Cevil.example")
            #expect(try TestClient.get(port: port, "/go/%09/evil.example").header("Location") == "/%09/evil.example")
            #expect(try TestClient.get(port: port, "/go/a%3Fb?c=%3F").header("Location") == "/a%3Fb?c=%3F")
            #expect(try TestClient.get(port: port, "/go//evil.example").header("Location") == "/evil.example")
        }
    }

    @Test func healthAndStatusBuiltins() async throws {
        let routes = [Route(path: "/healthz", kind: .handler("health")), Route(path: "/status", kind: .handler("status"))]
        try await withTestServer(config(routes)) { (server: Server, port: Int) async throws in
            #expect(try TestClient.get(port: port, "/healthz").text == "ok\n")
            try await waitForCountedRequests(server, 1)
            let s = try TestClient.get(port: port, "/status")
            #expect(s.header("Content-Type") == "application/json")
            let json = try JSONSerialization.jsonObject(with: Data(s.body)) as? [String: Any]
            #expect(json?["generation"] as? Int == 1)
            #expect((json?["requests"] as? Int ?? 0) >= 1)
        }
    }

    @Test func aSecondServerOnTheSamePortFailsInsteadOfSharingIt() async throws {
        try await withTestServer(config([respond("/a", "first")])) { (_: Server, port: Int) async throws in
            var cfg = config([respond("/a", "second")])
            cfg.server.listen = [ListenAddress(host: "127.0.0.1", port: port)]
            cfg.log.access = .off
            let other = try Server(config: cfg)
            #expect(throws: SystemError.self) { try other.start() }
            other.wait()
            for _ in 0..<20 { #expect(try TestClient.get(port: port, "/a").text == "first") }
        }
    }
}
