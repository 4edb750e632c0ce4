import FlaksTestSupport
import Flaks
import Foundation
import Synchronization
import Testing

@Suite("App served by a real server", .timeLimit(.minutes(1)))
struct AppServerTests {
    @Test func aSlowViewDoesNotDelayOthers() async throws {
        // The slow views hold their worker / task until the test opens their gates, which it does
        // only after the fast requests were answered: a fast request queued behind a slow one
        // would never be answered (the client times out), so this cannot pass by luck.
        let blockingGate = DispatchSemaphore(value: 0)
        let asyncGate = Gate()
        let app = App()
        app.get("/sleep") { _ in _ = blockingGate.wait(timeout: .now() + 20); return .text("slept") }
        app.get("/async-sleep") { _ async throws in try await asyncGate.wait(); return .text("async slept") }
        app.get("/fast") { _ in .text("fast") }
        app.get("/fast-async") { _ async in .text("fast async") }
        try await withAppServer(app, routes: [mount("/", "app")]) { (_: Server, port: Int) async throws in
            let slow = try TestClient(port: port)
            try slow.send("GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n")
            let slowAsync = try TestClient(port: port)
            try slowAsync.send("GET /async-sleep HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await io { try TestClient.get(port: port, "/fast") }.text == "fast")
            #expect(try await io { try TestClient.get(port: port, "/fast-async") }.text == "fast async")
            blockingGate.signal()
            asyncGate.release()
            #expect(try await io { try slow.readResponse() }.text == "slept")
            #expect(try await io { try slowAsync.readResponse() }.text == "async slept")
        }
    }

    /// The name of the thread this runs on.
    static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    actor Counter {
        var n = 0
        func next() -> Int { n += 1; return n }
        var value: Int { n }
    }

    @Test func viewsWhoseClientLeftFinishAndTheirAnswersAreDropped() async throws {
        // The response of a view whose client hung up while it ran comes back to a closed
        // connection (the call holds the connection itself, not its id): it is dropped, the views
        // both end, and the server goes on serving.
        let blockingGate = DispatchSemaphore(value: 0)
        let asyncGate = Gate()
        let ended = Counter()
        let app = App()
        app.get("/sleep") { _ in _ = blockingGate.wait(timeout: .now() + 20); return .text("slept") }
        app.get("/async-sleep") { _ async throws in
            try await asyncGate.wait()
            _ = await ended.next()
            return .text("async slept")
        }
        app.get("/fast") { _ in .text("fast") }
        try await withAppServer(app, routes: [mount("/", "app")]) { (server: Server, port: Int) async throws in
            let a = try TestClient(port: port), b = try TestClient(port: port)
            try a.send("GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n")
            try b.send("GET /async-sleep HTTP/1.1\r\nHost: x\r\n\r\n")
            try await Task.sleep(for: .milliseconds(50))   // both views are running
            a.hangUp()
            b.hangUp()
            try await Task.sleep(for: .milliseconds(50))
            blockingGate.signal()
            asyncGate.release()
            let deadline = Date().addingTimeInterval(20)
            while await ended.value < 1 && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
            #expect(await ended.value == 1)
            // Their answers found the clients gone: both connections close.
            while server.stats.openConnections.load(ordering: .relaxed) > 0 && Date() < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(server.stats.openConnections.load(ordering: .relaxed) == 0, "both connections closed")
            #expect(try await io { try TestClient.get(port: port, "/fast") }.text == "fast")
        }
    }

    @Test func asyncViewsRunOnTheWorkersAndSuspendWithoutHoldingThem() async throws {
        // Async views start on a worker (Task.immediate in BlockingCall.run) and prefer the worker
        // pool's executor (ViewTaskExecutor); a view that awaits gives its worker back. 20 views on 2 workers each count themselves
        // in (through an actor) and wait at a gate the test opens only once all 20 have come in:
        // views that held their workers while they wait would stop at 2, and the test would fail
        // (no timing involved: under load it is only slower).
        let arrived = Counter()
        let gate = Gate()
        let app = App()
        app.get("/where") { _ async in .text(Self.threadName()) }
        app.get("/wait") { _ async throws in
            let n = await arrived.next()
            try await gate.wait()
            return .text("waited \(n)")
        }
        try await withAppServer(app, routes: [mount("/", "app")], threads: 2) { (_: Server, port: Int) async throws in
            let where_ = try await io { try TestClient.get(port: port, "/where") }
            #expect(where_.text.hasPrefix("flaks-worker"), "ran on \(where_.text)")
            let clients = try (0..<20).map { _ in try TestClient(port: port) }
            for c in clients { try c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n") }
            let deadline = Date().addingTimeInterval(30)
            while await arrived.value < 20 && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(await arrived.value == 20, "all 20 views waiting at once on 2 workers")
            gate.release()
            var answers: Set<String> = []
            for c in clients { answers.insert(try await io { try c.readResponse() }.text) }
            #expect(answers == Set((1...20).map { "waited \($0)" }))
        }
    }

    @Test func viewsServeNextToManifestRoutes() async throws {
        let app = App()
        let api = Blueprint("api")
        api.get("/todos/<int:id>", endpoint: "todo") { req in
            .text("todo \(try req.parameter("id", as: Int.self)) -> \(try req.url(for: "api.todo", ["id": 1]))")
        }
        app.register(api)
        app.get("/ping", endpoint: "ping") { _ in .text("pong") }
        app.get("/people/<int:id>", endpoint: "person") { req in .text("person \(req.parameter("id") ?? "")") }
        let routes = [respondRoute("/hello", "hi from the manifest"), mount("/app/", "app"), mount("/bp/", "api"),
                      mount("/who/<int:id>", "person")]
        try await withAppServer(app, routes: routes) { (_: Server, port: Int) async throws in
            #expect(try await io { try TestClient.get(port: port, "/hello") }.text == "hi from the manifest")
            #expect(try await io { try TestClient.get(port: port, "/app/ping") }.text == "pong")
            #expect(try await io { try TestClient.get(port: port, "/app/todos/3") }.text == "todo 3 -> /app/todos/1")
            #expect(try await io { try TestClient.get(port: port, "/bp/todos/4") }.text == "todo 4 -> /bp/todos/1")
            #expect(try await io { try TestClient.get(port: port, "/who/5") }.text == "person 5")
            #expect(try await io { try TestClient.get(port: port, "/app/nothing") }.status == 404)
            #expect(try await io { try TestClient.get(port: port, "/ping") }.status == 404)
            #expect(try app.url(for: "ping") == "/app/ping")
        }
    }

    @Test func methodsOverTheWire() async throws {
        let app = App()
        app.get("/thing") { _ in .text("thing body") }
        app.put("/thing") { req in .text("put \(req.body.count)") }
        try await withAppServer(app, routes: [mount("/", "app")]) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("HEAD /thing HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try await io { try c.readResponse(head: true) }
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "10")
            try c.send("POST /thing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            let wrong = try await io { try c.readResponse() }
            #expect(wrong.status == 405)
            #expect(wrong.header("Allow") == "GET, HEAD, PUT, OPTIONS")
            try c.send("OPTIONS /thing HTTP/1.1\r\nHost: x\r\n\r\n")
            let options = try await io { try c.readResponse() }
            #expect(options.status == 200)
            #expect(options.header("Allow") == "GET, HEAD, PUT, OPTIONS")
            try c.send("PUT /thing HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
            #expect(try await io { try c.readResponse() }.text == "put 3")
        }
    }

    @Test func cookiesBothWaysAndAMultipartUpload() async throws {
        let app = App()
        app.get("/login") { req in
            var r = Response.text("hello \(req.cookies["user"] ?? "stranger")")
            r.setCookie(Cookie("session", "s3cr3t", httpOnly: true, sameSite: .strict))
            r.setCookie(Cookie("theme", "dark", maxAge: 60))
            return r
        }
        app.post("/upload") { req in
            let form = try req.form()
            guard let f = form.file("doc") else { throw HTTPError(.badRequest, "no file") }
            return .text("\(form["note"] ?? "")|\(f.filename)|\(f.contentType)|\(String(decoding: f.bytes, as: UTF8.self))")
        }
        try await withAppServer(app, routes: [mount("/", "app")]) { (_: Server, port: Int) async throws in
            let r = try await io { try TestClient.get(port: port, "/login", headers: ["Cookie": "user=ann; other=1"]) }
            #expect(r.text == "hello ann")
            #expect(r.headers.filter { $0.0 == "Set-Cookie" }.map(\.1) == ["session=s3cr3t; Path=/; HttpOnly; SameSite=Strict",
                                                                            "theme=dark; Path=/; Max-Age=60"])
            let body = "--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nmy note\r\n"
                + "--B\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"r.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\ncontent\r\n--B--\r\n"
            let c = try TestClient(port: port)
            try c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            #expect(try await io { try c.readResponse() }.text == "my note|r.txt|text/plain|file\r\ncontent")
        }
    }

    @Test func reloadMovesTheAppsMount() async throws {
        let app = App()
        app.get("/where", endpoint: "where") { req in .text("at \(req.path), url \(try req.url(for: "where"))") }
        try await withAppServer(app, routes: [mount("/one/", "app")]) { (server: Server, port: Int) async throws in
            #expect(try await io { try TestClient.get(port: port, "/one/where") }.text == "at /one/where, url /one/where")
            #expect(try app.url(for: "where") == "/one/where")
            var next = server.currentSite.config
            next.hosts = [HostConfig(names: ["*"], routes: [mount("/two/", "app"), respondRoute("/one/where", "moved")])]
            guard case .reloaded = server.reload(next) else { Issue.record("reload failed"); return }
            #expect(try await io { try TestClient.get(port: port, "/two/where") }.text == "at /two/where, url /two/where")
            #expect(try await io { try TestClient.get(port: port, "/one/where") }.text == "moved")
            #expect(try app.url(for: "where") == "/two/where")
        }
    }

    @Test func streamingSendsTheFirstChunkBeforeTheEnd() async throws {
        let app = App()
        let gate = Gate()
        app.get("/stream") { _ in
            .stream(contentType: "text/plain") { w in
                try await w.write("first\n")
                try await gate.wait()
                try await w.write("second\n")
            }
        }
        try await withAppServer(app, routes: [mount("/", "app")]) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            while !String(decoding: c.leftover, as: UTF8.self).contains("first\n") { _ = try await io { try c.fill() } }
            let soFar = String(decoding: c.leftover, as: UTF8.self)
            #expect(soFar.contains("Transfer-Encoding: chunked"))
            #expect(!soFar.contains("second"))
            gate.release()
            let r = try await io { try c.readResponse() }
            #expect(r.text == "first\nsecond\n")
            #expect(r.header("Content-Type") == "text/plain")
            // The connection carries on with the next request.
            try c.send("HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await io { try c.readResponse(head: true) }.status == 200)
        }
    }

    @Test func streamingWaitsForASlowClientAndStopsWhenItLeaves() async throws {
        let app = App()
        let events = Recorder()
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        app.get("/big") { _ in
            .stream { w in
                for i in 0..<32 { try await w.write(chunk); if i == 31 { events.append("done") } }
            }
        }
        app.get("/endless") { _ in
            .stream { w in
                do { while true { try await w.write(chunk) } } catch { events.append("writer threw"); throw error }
            }
        }
        try await withAppServer(app, routes: [mount("/", "app")]) { (_: Server, port: Int) async throws in
            // A client that offers a 64 KiB window and does not read: in flight and in its buffer
            // ~128 KiB, unsent in the server's socket at most 128 KiB (TCP_NOTSENT_LOWAT), queued
            // by the connection under 256 KiB (`Connection.highWater`) plus one write. 2 MiB cannot
            // all be queued: the writer waits. (It was 16 MiB against the default window; beside
            // the suite's other tests that took 49 s, near the suite's minute under TSan.)
            let c = try TestClient(port: port, receiveBuffer: 64 * 1024)
            try c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            try await Task.sleep(for: .milliseconds(200))
            #expect(!events.all.contains("done"))
            let r = try await io { try c.readResponse() }
            #expect(r.body.count == 32 * 64 * 1024)
            #expect(events.all.contains("done"))

            do {
                let gone = try TestClient(port: port)
                try gone.send("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try await io { try gone.fill() }
                // Gone at once: the close at the end of this scope is an RST (SO_LINGER 0). After a
                // plain FIN the server learns it from the RST its next bytes draw, and with the
                // client's window shut those are zero-window probes, whose interval doubles from
                // 200 ms: seconds on a loaded machine (more than the 3 s once allowed, under ASan).
                gone.reset()
            }
            let deadline = Date().addingTimeInterval(30)
            while !events.all.contains("writer threw") && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(events.all.contains("writer threw"))
        }
    }
}
