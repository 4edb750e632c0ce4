#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksConfig
import FlaksHandlers
import FlaksHTTP
import FlaksServer
import Foundation
import Testing

/// Answers with a fixed status and fields (errors whose fields must survive an error page).
struct StatusHandler: Handler {
    let status: HTTPStatus
    let fields: HeaderFields
    func handle(_ request: Request) -> HandlerOutcome {
        var r = ErrorPage.response(status)
        for f in fields { r.headers.set(f.name, f.value) }
        return .response(r)
    }
}

/// One real-socket test per defect of the old core (the state-machine issue).
@Suite("Core regressions over real sockets")
struct CoreRegressionTests {
    @Test func headWithACGILocalRedirectHasNoBodyAndTheConnectionStaysInStep() async throws {
        let f = try CGIFixture()
        try f.script("redir.sh", "#!/bin/sh\nprintf 'Location: /hello\\n\\n'\n")
        try await withTestServer(f.config(extra: [respond("/hello", "hello\n")])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("HEAD /cgi-bin/redir.sh HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try c.readResponse(head: true)
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "6", "the GET's head")
            let next = try c.readResponse()
            #expect(next.status == 200 && next.text == "hello\n", "the HEAD sent no body: the next response is read right")
            #expect(c.leftover.isEmpty)
        }
    }

    @Test func aHalfClosedClientGetsASlowCGIAnswerInFull() async throws {
        let f = try CGIFixture()
        try f.script("slow.sh", "#!/bin/sh\nsleep 0.5\nprintf 'Content-Type: text/plain\\n\\nslow answer\\n'\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /cgi-bin/slow.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            c.halfClose()  // nc -N: the request is complete, the answer is still wanted
            let r = try c.readResponse()
            #expect(r.status == 200 && r.text == "slow answer\n")
            #expect(r.header("Connection") == "close" || c.isClosedByPeer())
        }
    }

    @Test func aHalfClosedClientGetsALargeFileInFull() async throws {
        let fx = try StaticFixture()
        let big = try fx.patternFile("big.bin", size: 8 << 20, salt: 31)
        try await withStaticClient(fx, get: "/big.bin") { c in
            c.halfClose()
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.body.count == big.count && r.body == big)
        }
    }

    @Test func aCGIWritingLongerThanTheKeepaliveTimeoutIsNotCutOff() async throws {
        let f = try CGIFixture()
        try f.script("drip.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\ni=0\nwhile [ $i -lt 12 ]; do echo \"line $i\"; sleep 0.1; i=$((i+1)); done\n")
        var cfg = f.config()
        cfg.limits.keepaliveTimeout = .milliseconds(300)
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/cgi-bin/drip.sh")
            #expect(r.status == 200)
            #expect(r.text.split(separator: "\n").count == 12, "got: \(r.text)")
        }
    }

    @Test func errorPagesKeepTheFieldsThatSayHowToRetryAndDropThePagesValidators() async throws {
        let fx = try StaticFixture()
        try fx.write("root/docs/oops.html", "<p>custom error</p>\n")
        try fx.write("root/docs/range.html", "<p>custom 416</p>\n")
        try fx.write("root/data.txt", "0123456789")
        let routes = [
            Route(path: "/", kind: .staticFiles(StaticRoute(root: fx.root))),
            Route(path: "/busy", kind: .handler("busy")),
            Route(path: "/private", kind: .handler("private")),
        ]
        let host = HostConfig(names: ["*"], routes: routes,
                              errorPages: [405: "/docs/oops.html", 503: "/docs/oops.html", 401: "/docs/oops.html",
                                           416: "/docs/range.html"])
        var registry = HandlerRegistry()
        registry.register("busy", StatusHandler(status: .serviceUnavailable, fields: ["Retry-After": "7"]))
        registry.register("private", StatusHandler(status: HTTPStatus(401), fields: ["WWW-Authenticate": "Basic realm=\"x\""]))
        try await withTestServer(ServerConfig(hosts: [host]), registry: registry) { (_: Server, port: Int) async throws in
            // Make the page a cached file first (its fields then come pre-encoded).
            _ = try TestClient.get(port: port, "/docs/oops.html")
            _ = try TestClient.get(port: port, "/docs/oops.html")
            let c = try TestClient(port: port)
            try c.send("DELETE /data.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            let r405 = try c.readResponse()
            #expect(r405.status == 405 && r405.text.contains("custom error"))
            #expect(r405.header("Allow") != nil)
            for f in ["ETag", "Last-Modified", "Accept-Ranges"] { #expect(r405.header(f) == nil, "\(f) describes the page file") }
            let r503 = try TestClient.get(port: port, "/busy")
            #expect(r503.status == 503 && r503.header("Retry-After") == "7" && r503.text.contains("custom error"))
            let r401 = try TestClient.get(port: port, "/private")
            #expect(r401.status == 401 && r401.header("WWW-Authenticate") == "Basic realm=\"x\"")
            // The client's Range does not reach the page's lookup: the custom 416 page applies.
            let r416 = try TestClient.get(port: port, "/data.txt", headers: ["Range": "bytes=50-60"])
            #expect(r416.status == 416)
            #expect(r416.header("Content-Range") == "bytes */10")
            #expect(r416.text.contains("custom 416"))
            // A conditional field does not turn the page into a 304 either.
            let cond = try TestClient.get(port: port, "/busy", headers: ["If-None-Match": "*"])
            #expect(cond.status == 503 && cond.text.contains("custom error"))
        }
    }

    @Test func routeHeadersGoOnSuccessOnlyAndHeadersAlwaysOnEveryAnswer() async throws {
        let fx = try StaticFixture()
        try fx.write("root/a.txt", "a")
        let route = Route(path: "/", kind: .staticFiles(StaticRoute(root: fx.root)),
                          headers: ["Cache-Control": "public, max-age=31536000, immutable"],
                          headersAlways: ["X-Frame-Options": "DENY"])
        let fixed = Route(path: "/fixed", kind: .respond(RespondRoute(body: "ok", status: 200)),
                          headers: ["Cache-Control": "no-store"], headersAlways: ["X-Frame-Options": "SAMEORIGIN"])
        try await withTestServer(config([route, fixed])) { (_: Server, port: Int) async throws in
            let ok = try TestClient.get(port: port, "/a.txt")
            #expect(ok.status == 200 && ok.header("Cache-Control")?.contains("immutable") == true)
            #expect(ok.header("X-Frame-Options") == "DENY")
            let missing = try TestClient.get(port: port, "/nope.txt")
            #expect(missing.status == 404)
            #expect(missing.header("Cache-Control") == nil, "a 404 must not become cacheable for a year")
            #expect(missing.header("X-Frame-Options") == "DENY")
            let f = try TestClient.get(port: port, "/fixed")
            #expect(f.header("Cache-Control") == "no-store" && f.header("X-Frame-Options") == "SAMEORIGIN")
        }
    }

    @Test func timersSeeTheTimeAfterTheWaitNotBefore() async throws {
        // The loop waits up to a second with nothing to do; the head timer of a connection accepted
        // then must count from the accept, not from the time the loop went to sleep.
        var limits = Limits()
        limits.headerTimeout = .milliseconds(400)
        try await withTestServer(config([respond("/", "x")], limits: limits)) { (_: Server, port: Int) async throws in
            try await Task.sleep(for: .milliseconds(900))
            let c = try TestClient(port: port)
            let start = Date()
            try c.send("GET / HTTP/1.1\r\n")
            let r = try c.readResponse()
            let elapsed = Date().timeIntervalSince(start)
            #expect(r.status == 408)
            #expect(elapsed >= 0.35, "408 after \(elapsed) s: the deadline was computed from a stale time")
        }
    }

    @Test func optionsStarIsAnswered() async throws {
        try await withTestServer(config([respond("/", "x")])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.header("Allow")?.contains("GET") == true)
            #expect(try c.readResponse().text == "x", "the connection stays usable")
        }
    }

    @Test func anEarlyErrorIsReadByTheClientNotReset() async throws {
        // 413 at the head of a large upload: the server answers, shuts its write side and drains the
        // upload for a while (lingering close), so the client reads the 413 instead of a reset.
        var limits = Limits()
        limits.maxBody = 1024
        try await withTestServer(config([respond("/", "x")], limits: limits)) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n")
            try c.send([UInt8](repeating: 65, count: 256 * 1024))
            let r = try c.readResponse()
            #expect(r.status == 413)
            #expect(r.header("Connection") == "close")
        }
    }
}
