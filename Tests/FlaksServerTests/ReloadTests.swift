import FlaksTestSupport
import FlaksConfig
import FlaksHandlers
import FlaksServer
import Foundation
import Testing

/// A handler that sleeps, then answers with its own tag (so a test can tell generations apart).
struct TaggedSleeper: Handler {
    let tag: String
    let seconds: Double
    func handle(_ request: Request) -> HandlerOutcome {
        let tag = self.tag, seconds = self.seconds
        return .blocking {
            usleep(UInt32(seconds * 1_000_000))
            return .text(tag)
        }
    }
}

@Suite("Reload in process (the same reload() SIGHUP calls)", .timeLimit(.minutes(1)))
struct ReloadTests {
    @Test func aRequestInFlightFinishesOnTheTreeItStartedWith() async throws {
        var reg = HandlerRegistry()
        let old = GateHandler(reply: "old")
        reg.register("old", old)
        reg.register("new", TaggedSleeper(tag: "new", seconds: 0))
        let v1 = config([Route(path: "/slow", kind: .handler("old"))])
        try await withTestServer(v1, registry: reg) { (server: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(old.waitEntered())
            var v2 = server.currentSite.config
            v2.hosts = [HostConfig(names: ["*"], routes: [Route(path: "/slow", kind: .handler("new"))])]
            guard case .reloaded(let generation, let changes) = server.reload(v2) else {
                Issue.record("reload failed"); return
            }
            #expect(generation == 2)
            #expect(!changes.isEmpty)
            old.open()
            #expect(try c.readResponse().text == "old")
            try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().text == "new")
        }
    }

    @Test func aFailedReloadChangesNothing() async throws {
        try await withTestServer(config([respond("/a", "A")])) { (server: Server, port: Int) async throws in
            var bad = server.currentSite.config
            bad.hosts = [HostConfig(names: ["*"], routes: [Route(path: "/a", kind: .handler("no-such-handler"))])]
            guard case .failed(let errors) = server.reload(bad) else { Issue.record("reload should fail"); return }
            #expect(errors.joined().contains("no-such-handler"))
            #expect(server.currentSite.generation == 1)
            #expect(try TestClient.get(port: port, "/a").text == "A")
        }
    }

    @Test func reloadWithNoChangeSaysSo() async throws {
        try await withTestServer(config([respond("/a", "A")])) { (server: Server, _: Int) async throws in
            guard case .reloaded(let g, let changes) = server.reload(server.currentSite.config) else { Issue.record("failed"); return }
            #expect(g == 2)
            #expect(changes.isEmpty)
        }
    }

    @Test func aNewListenAddressIsBoundAndARemovedOneClosed() async throws {
        // The old address is on 127.0.0.2, where no other test listens: once it is closed, no
        // other test's server can be given its port by bind(0) and answer there (one was, in a
        // parallel ASan run, and the connection that had to fail was served).
        var cfg = config([respond("/a", "A")])
        cfg.server.listen = [ListenAddress(host: "127.0.0.2", port: 0)]
        cfg.server.loops = 2
        cfg.log.access = .off
        try await withStarted(try Server(config: cfg, logger: testLogger(.warning))) { (server: Server, port: Int) async throws in
            let old = { () throws -> TestClient.Response in
                let c = try TestClient(port: port, host: "127.0.0.2")
                try c.send("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return try c.readResponse()
            }
            #expect(try old().text == "A")
            var v2 = server.currentSite.config
            // Replace 127.0.0.2:0 by the IPv6 loopback: the new one is bound, the old one closed.
            v2.server.listen = [ListenAddress(host: "::1", port: 0)]
            guard case .reloaded = server.reload(v2) else { Issue.record("reload failed"); return }
            let bound = server.boundAddresses
            #expect(bound.count == 1)
            let newPort = try #require(bound.first?.port)
            try await Task.sleep(for: .milliseconds(100))
            let c = try TestClient(port: newPort, host: "::1")
            try c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().text == "A")
            #expect(throws: (any Error).self) { _ = try old() }
        }
    }

    @Test func newLimitsApplyToNewConnections() async throws {
        let (cfg, reg) = echoConfig(Limits(maxBody: 100))
        try await withTestServer(cfg, registry: reg) { (server: Server, port: Int) async throws in
            let old = try TestClient(port: port)
            try old.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try old.readResponse()
            var v2 = server.currentSite.config
            v2.limits.maxBody = 10
            guard case .reloaded = server.reload(v2) else { Issue.record("reload failed"); return }
            let body = String(repeating: "z", count: 50)
            try old.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n" + body)
            #expect(try old.readResponse().status == 200)
            let fresh = try TestClient(port: port)
            try fresh.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n" + body)
            #expect(try fresh.readResponse().status == 413)
        }
    }
}
