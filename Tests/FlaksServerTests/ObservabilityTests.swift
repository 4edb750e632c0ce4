import FlaksTestSupport
import FlaksConfig
import FlaksHandlers
import FlaksServer
import Foundation
import Testing

func tempPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("flaks-\(UUID().uuidString)-\(name)").path
}

func readLines(_ path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

@Suite("Access log, metrics and status", .timeLimit(.minutes(1)))
struct ObservabilityTests {
    @Test func combinedLogLinesAreWrittenAndNoneLostAtShutdown() async throws {
        let path = tempPath("access.log")
        var cfg = config([respond("/a", "hello")])
        cfg.log.access = .file(path)
        cfg.log.format = .combined
        try await withTestServer(cfg, keepAccessLog: true) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for i in 0..<200 {
                try c.send("GET /a?i=\(i) HTTP/1.1\r\nHost: x\r\nUser-Agent: test \"agent\"\r\nReferer: http://r/\r\n\r\n")
                _ = try c.readResponse()
            }
        }
        // withTestServer has shut down: every line must be on disk now.
        let lines = readLines(path)
        #expect(lines.count == 200)
        let first = try #require(lines.first)
        #expect(first.hasPrefix("127.0.0.1 - - ["))
        #expect(first.contains("] \"GET /a?i=0 HTTP/1.1\" 200 5 \"http://r/\" \"test \\\"agent\\\"\""))
        #expect(lines.last?.contains("/a?i=199") == true)
    }

    @Test func jsonLogLinesParse() async throws {
        let path = tempPath("access.json")
        var cfg = config([respond("/a", "hello")])
        cfg.log.access = .file(path)
        cfg.log.format = .json
        try await withTestServer(cfg, keepAccessLog: true) { (_: Server, port: Int) async throws in
            _ = try TestClient.get(port: port, "/a", host: "Example.Test")
            _ = try TestClient.get(port: port, "/missing")
        }
        let lines = readLines(path)
        #expect(lines.count == 2)
        // Two connections may land on two loops: find each line by its URI, not its position.
        let objects = try lines.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let a = try #require(objects.first { $0["uri"] as? String == "/a" })
        #expect(a["status"] as? Int == 200)
        #expect(a["bytes"] as? Int == 5)
        #expect(a["host"] as? String == "Example.Test")
        let missing = try #require(objects.first { $0["uri"] as? String == "/missing" })
        #expect(missing["status"] as? Int == 404)
    }

    @Test func reopenWritesToTheNewFileAfterARename() async throws {
        let path = tempPath("rotate.log")
        var cfg = config([respond("/a", "x")])
        cfg.log.access = .file(path)
        try await withTestServer(cfg, keepAccessLog: true) { (server: Server, port: Int) async throws in
            _ = try TestClient.get(port: port, "/a?before")
            try await Task.sleep(for: .milliseconds(300))
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
            server.reopenLogs()
            try await Task.sleep(for: .milliseconds(300))
            _ = try TestClient.get(port: port, "/a?after")
        }
        #expect(readLines(path + ".1").count == 1)
        #expect(readLines(path + ".1").first?.contains("before") == true)
        #expect(readLines(path).count == 1)
        #expect(readLines(path).first?.contains("after") == true)
    }

    @Test func metricsAfterAKnownSequence() async throws {
        let routes = [respond("/a", "hello"), Route(path: "/metrics", kind: .handler("metrics"))]
        let cfg = ServerConfig(hosts: [HostConfig(names: ["a.test"], routes: routes),
                                       HostConfig(names: ["*"], routes: [respond("/b", "b")])])
        try await withTestServer(cfg) { (server: Server, port: Int) async throws in
            for _ in 0..<3 { _ = try TestClient.get(port: port, "/a", host: "a.test") }
            _ = try TestClient.get(port: port, "/nope", host: "a.test")
            _ = try TestClient.get(port: port, "/b", host: "other.test")
            try await waitForCountedRequests(server, 5)
            let m = try TestClient.get(port: port, "/metrics", host: "a.test")
            #expect(m.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = m.text
            #expect(text.contains("flaks_requests_total{host=\"a.test\",class=\"2xx\"} 3\n"))
            #expect(text.contains("flaks_requests_total{host=\"*\",class=\"2xx\"} 1\n"))
            #expect(text.contains("flaks_request_duration_seconds_count 5\n"))
            #expect(text.contains("flaks_request_duration_seconds_bucket{le=\"+Inf\"} 5\n"))
            #expect(text.contains("flaks_reloads_total{result=\"success\"} 0\n"))
            #expect(text.contains("# TYPE flaks_request_duration_seconds histogram"))
            // The 404 had no route: it is counted under host "-".
            #expect(text.contains("flaks_requests_total{host=\"-\",class=\"4xx\"} 1\n"))
        }
    }

    @Test func statusReportsRequestsByHost() async throws {
        let cfg = config([respond("/a", "hello"), Route(path: "/status", kind: .handler("status"))])
        try await withTestServer(cfg) { (server: Server, port: Int) async throws in
            for _ in 0..<2 { _ = try TestClient.get(port: port, "/a") }
            try await waitForCountedRequests(server, 2)
            let s = try TestClient.get(port: port, "/status")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(s.body)) as? [String: Any])
            #expect(json["requests"] as? Int == 2)
            let hosts = try #require(json["hosts"] as? [String: [String: Int]])
            #expect(hosts["*"]?["2xx"] == 2)
            #expect((json["open_connections"] as? Int ?? 0) >= 1)
        }
    }

    @Test func healthTurns503WhenDraining() async throws {
        var reg = HandlerRegistry()
        let slowHandler = GateHandler(reply: "slow")
        reg.register("slow", slowHandler)
        var cfg = config([Route(path: "/healthz", kind: .handler("health")), Route(path: "/slow", kind: .handler("slow"))])
        cfg.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        cfg.server.loops = 1
        cfg.log.access = .off
        let server = try Server(config: cfg, registry: reg)
        try server.start()
        let port = try #require(server.port)
        let c = try TestClient(port: port)
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try c.readResponse().status == 200)
        let slow = try TestClient(port: port)
        try slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(slowHandler.waitEntered())
        // A request already started when the drain begins is still answered (idle ones are closed).
        try c.send("GET /healthz HTTP/1.1\r\n")
        // One loop serves events in the order they became ready: once a later connection has its
        // answer, the loop has read the half-sent head above.
        #expect(try TestClient.get(port: port, "/healthz").status == 200)
        server.shutdown(drainTimeout: .seconds(10))
        try c.send("Host: x\r\n\r\n")
        let h = try c.readResponse()
        #expect(h.status == 503)
        slowHandler.open()
        #expect(try slow.readResponse().status == 200)
        server.wait()
        #expect(server.isDraining)
    }
}
