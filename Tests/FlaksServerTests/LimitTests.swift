import FlaksTestSupport
import FlaksConfig
import FlaksHandlers
import FlaksServer
import Foundation
import Testing

/// A request head of exactly `size` bytes (request line + Host + padding header + final CRLF).
func head(ofSize size: Int, path: String = "/echo") -> String {
    let base = "GET \(path) HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n"
    return "GET \(path) HTTP/1.1\r\nHost: x\r\nX-Pad: " + String(repeating: "a", count: size - base.utf8.count) + "\r\n\r\n"
}

func echoConfig(_ limits: Limits) -> (ServerConfig, HandlerRegistry) {
    var reg = HandlerRegistry()
    reg.register("echo", EchoHandler())
    return (config([Route(path: "/echo", kind: .handler("echo"))], limits: limits), reg)
}

@Suite("Limits at their edges, over real sockets", .timeLimit(.minutes(1)))
struct LimitTests {
    @Test func headOfExactlyMaxBufferPassesOneMoreIs431() async throws {
        let (cfg, reg) = echoConfig(Limits(maxBuffer: 2048))
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let ok = try TestClient(port: port)
            try ok.send(head(ofSize: 2048))
            #expect(try ok.readResponse().status == 200)
            let over = try TestClient(port: port)
            try over.send(head(ofSize: 2049))
            let r = try over.readResponse()
            #expect(r.status == 431)
            #expect(over.isClosedByPeer())
        }
    }

    @Test func requestLineOverMaxBufferIs414() async throws {
        let (cfg, reg) = echoConfig(Limits(maxBuffer: 1024))
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /echo?" + String(repeating: "q", count: 1100) + " HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().status == 414)
        }
    }

    @Test func bodyOfExactlyMaxBodyPassesOneMoreIs413() async throws {
        let (cfg, reg) = echoConfig(Limits(maxBody: 1000))
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let ok = try TestClient(port: port)
            try ok.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "b", count: 1000))
            let r = try ok.readResponse()
            #expect(r.status == 200)
            #expect(r.body.count == 1000)
            let over = try TestClient(port: port)
            try over.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" + String(repeating: "b", count: 1001))
            #expect(try over.readResponse().status == 413)
        }
    }

    @Test func chunkedBodyOverMaxBodyIs413() async throws {
        let (cfg, reg) = echoConfig(Limits(maxBody: 10))
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let ok = try TestClient(port: port)
            try ok.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")
            let r = try ok.readResponse()
            #expect(r.status == 200)
            #expect(r.text == "helloworld")
            let over = try TestClient(port: port)
            try over.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n")
            #expect(try over.readResponse().status == 413)
        }
    }

    @Test func chunkedUploadIsDechunked() async throws {
        let (cfg, reg) = echoConfig(Limits())
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n")
            try await Task.sleep(for: .milliseconds(50))
            try c.send("A\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.text == "abc0123456789")
            #expect(r.header("X-Body-Length") == "13")
        }
    }

    @Test func expect100ContinueGetsInterimResponse() async throws {
        let (cfg, reg) = echoConfig(Limits())
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            let interim = try c.readResponse()
            #expect(interim.status == 100)
            try c.send("data")
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.text == "data")
        }
    }

    @Test func slowlorisHeadIsCutOffWith408() async throws {
        let (cfg, reg) = echoConfig(Limits(headerTimeout: .milliseconds(600)))
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            let start = ContinuousClock.now
            var answeredAfter: Duration?
            var sent = 0
            // One byte every 100 ms (a thread sleep, so a busy test pool cannot slow the trickle
            // down): the head would take 5 s, the limit is 0.6 s.
            let bytes = Array("GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaa\r\n\r\n".utf8)
            for b in bytes {
                try? c.send([b])
                sent += 1
                usleep(100_000)
                var p = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, 0) > 0 { answeredAfter = ContinuousClock.now - start; break }
            }
            let r = try c.readResponse()
            #expect(r.status == 408)
            let after = try #require(answeredAfter)
            #expect(after >= .milliseconds(500))
            // Cut off in the middle of the head, not after it completed.
            #expect(sent < bytes.count)
        }
    }

    @Test func stalledBodyGets408() async throws {
        let (cfg, reg) = echoConfig(Limits(bodyTimeout: .milliseconds(400)))
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
            let r = try c.readResponse()
            #expect(r.status == 408)
        }
    }

    @Test func idleKeepAliveConnectionIsClosedSilently() async throws {
        let (cfg, reg) = echoConfig(Limits(keepaliveTimeout: .milliseconds(300)))
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().status == 200)
            let start = ContinuousClock.now
            #expect(c.isClosedByPeer())
            #expect(c.leftover.isEmpty)
            #expect(ContinuousClock.now - start < .seconds(4))
        }
    }

    @Test func maxKeepaliveRequestsClosesAfterTheLast() async throws {
        let (cfg, reg) = echoConfig(Limits(maxKeepaliveRequests: 3))
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for i in 1...3 {
                try c.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
                let r = try c.readResponse()
                #expect(r.header("Connection") == (i == 3 ? "close" : nil))
            }
            #expect(c.isClosedByPeer())
        }
    }

    @Test func maxConnectionsRefusesTheExtraOnesAndKeepsServing() async throws {
        var (cfg, reg) = echoConfig(Limits())
        cfg.server.maxConnections = 4
        try await withTestServer(cfg, registry: reg) { (server: Server, port: Int) async throws in
            var held: [TestClient] = []
            for _ in 0..<4 {
                let c = try TestClient(port: port)
                try c.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().status == 200)
                held.append(c)
            }
            let extra = try TestClient(port: port)
            try? extra.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(extra.isClosedByPeer())
            #expect(server.stats.rejectedConnections.load(ordering: .relaxed) >= 1)
            held.removeAll()
            try await Task.sleep(for: .milliseconds(100))
            #expect(try TestClient.get(port: port, "/echo").status == 200)
        }
    }

    @Test(arguments: [
        ("unknown method", "BREW /echo HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        ("HTTP/2.0 request line", "GET /echo HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("missing Host on 1.1", "GET /echo HTTP/1.1\r\n\r\n", 400),
        ("CL and TE both present", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("differing Content-Lengths", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("obs-fold", "GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
        ("space before colon", "GET /echo HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("bad chunk size", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("TE not ending in chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
        ("dot-dot above the root", "GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ])
    func badInputGetsItsStatusAndAClose(name: String, raw: String, status: Int) async throws {
        let (cfg, reg) = echoConfig(Limits())
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send(raw)
            let r = try c.readResponse()
            #expect(r.status == status, "\(name)")
            #expect(c.isClosedByPeer(), "\(name)")
            #expect(try TestClient.get(port: port, "/echo").status == 200)
        }
    }

    @Test func halfClosedClientStillGetsItsResponse() async throws {
        let (cfg, reg) = echoConfig(Limits())
        try await withTestServer(cfg, registry: reg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            shutdown(c.fd, Int32(SHUT_WR))
            #expect(try c.readResponse().status == 200)
        }
    }

    @Test func drainLetsTheRequestInFlightFinish() async throws {
        var reg = HandlerRegistry()
        let gate = GateHandler(reply: "finished")
        reg.register("gate", gate)
        var cfg = config([Route(path: "/slow", kind: .handler("gate")), respond("/x", "x")])
        cfg.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        cfg.server.loops = 1
        cfg.log.access = .off
        let server = try Server(config: cfg, registry: reg)
        try server.start()
        let port = try #require(server.port)
        let c = try TestClient(port: port)
        try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(gate.waitEntered())
        // The drain is queued on the loop before the handler's completion: FIFO inbox.
        server.shutdown(drainTimeout: .seconds(5))
        gate.open()
        let r = try c.readResponse()
        #expect(r.status == 200)
        #expect(r.text == "finished")
        #expect(r.header("Connection") == "close")
        server.wait()
        #expect(throws: (any Error).self) { _ = try TestClient.get(port: port, "/x") }
    }
}
