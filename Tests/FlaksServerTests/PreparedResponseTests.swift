#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import CFlaksLinux
import FlaksAccess
import FlaksConfig
@testable import FlaksHandlers
import FlaksHTTP
import FlaksServer
import Foundation
import Testing

/// Prepared responses over real sockets: a plain GET answered a moment ago is answered again with
/// the same bytes (Date aside), and everything that makes an answer depend on more than the host
/// and the target still goes the general way.
@Suite("Prepared responses over real sockets")
struct PreparedResponseTests {
    /// A 1 KiB file that has settled (a file changed in the last 250 ms, or 2 s where time stamps are
    /// whole seconds or the file system is not known to be local, is checked on every request and
    /// never prepared: see StaticFileCache), a respond: route and the metrics handler.
    final class Site {
        let fixture: StaticFixture
        let file: [UInt8]
        /// Compressible and long enough to be compressed.
        let page = "<p>hello</p>\n" + String(repeating: "<p>some text to compress</p>\n", count: 80)
        init() throws {
            fixture = try StaticFixture()
            file = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 7) }
            try Data(file).write(to: URL(fileURLWithPath: fixture.root + "/1k.bin"))
            try page.write(toFile: fixture.root + "/page.html", atomically: false, encoding: .utf8)
        }
        func config(limits: Limits = Limits(), fixed: String = "fixed\n") -> ServerConfig {
            var c = FlaksServerTests.config([Route(path: "/", kind: .staticFiles(StaticRoute(root: fixture.root))),
                                             respond("/fixed", fixed),
                                             Route(path: "/metrics", kind: .handler("metrics"))], limits: limits)
            c.server.loops = 1
            return c
        }
        /// Waits out the settle window of the files just written: 250 ms on a local file system with
        /// sub-second time stamps, else 2 s (`StaticFileCache.settleWindow`).
        func settle() async throws {
            let fd = open(fixture.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            defer { close(fd) }
            var st = stat()
            let fine = StaticFileCache.fineGrainedDevice(of: fd) != nil && stat(fixture.root + "/1k.bin", &st) == 0
                && st.st_ctim.tv_nsec != 0
            try await Task.sleep(for: .milliseconds(fine ? 300 : 2_100))
        }
    }

    static func prepared(_ port: Int) throws -> Int {
        let text = try TestClient.get(port: port, "/metrics").text
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flaks_prepared_responses_total ") }),
              let n = Int(line.split(separator: " ")[1]) else { return -1 }
        return n
    }

    static func get(_ path: String, _ extra: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: example.org\r\nUser-Agent: test\r\nAccept: */*\r\n\(extra)\r\n"
    }

    /// The fields without Date (the only thing a prepared copy changes).
    static func fields(_ r: TestClient.Response) -> [String] {
        r.headers.filter { $0.0.lowercased() != "date" }.map { "\($0.0): \($0.1)" }
    }

    @Test func theSecondPlainGetIsPreparedAndTheSameBytes() async throws {
        let site = try Site()
        try await site.settle()
        try await withTestServer(site.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            var answers: [TestClient.Response] = []
            // A static file is kept from its second answer (the first opened it: the cache's fresh
            // entries are what may be reused), a respond: route from its first.
            for path in ["/1k.bin", "/1k.bin", "/1k.bin", "/fixed", "/fixed", "/page.html", "/page.html", "/page.html"] {
                try c.send(Self.get(path))
                answers.append(try c.readResponse())
            }
            #expect(answers.allSatisfy { $0.status == 200 })
            #expect(answers[0...2].allSatisfy { $0.body == site.file })
            #expect(answers[3].text == "fixed\n" && answers[4].text == "fixed\n")
            #expect(answers[5...7].allSatisfy { $0.text == site.page })
            for (a, b) in [(0, 1), (0, 2), (3, 4), (5, 6), (5, 7)] {
                #expect(Self.fields(answers[a]) == Self.fields(answers[b]), "\(a) and \(b)")
            }
            #expect(answers[1].header("Date") != nil && answers[1].header("ETag") == answers[0].header("ETag"))
            let n = try Self.prepared(port)
            #expect(n == 3, "the third static answers and the second respond: answer: \(n)")
        }
    }

    @Test func requestsThatDependOnMoreThanHostAndTargetAreAnsweredTheGeneralWay() async throws {
        let site = try Site()
        try await site.settle()
        try await withTestServer(site.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send(Self.get("/page.html"))
            let first = try c.readResponse()
            for _ in 0..<2 {
                try c.send(Self.get("/page.html"))
                _ = try c.readResponse()
            }
            #expect(try Self.prepared(port) == 1)
            let etag = try #require(first.header("ETag"))
            try c.send(Self.get("/page.html", "If-None-Match: \(etag)\r\n"))
            #expect(try c.readResponse(head: true).status == 304)
            try c.send(Self.get("/page.html", "Range: bytes=0-2\r\n"))
            let partial = try c.readResponse()
            #expect(partial.status == 206 && partial.text == "<p>")
            try c.send(Self.get("/page.html", "Accept-Encoding: gzip\r\n"))
            let gz = try c.readResponse()
            #expect(gz.status == 200 && gz.header("Content-Encoding") == "gzip")
            try c.send("HEAD /page.html HTTP/1.1\r\nHost: example.org\r\n\r\n")
            let head = try c.readResponse(head: true)
            #expect(head.status == 200 && head.header("Content-Length") == String(site.page.utf8.count))
            try c.send("GET /page.html HTTP/1.0\r\nHost: example.org\r\nConnection: keep-alive\r\n\r\n")
            let old = try c.readResponse()
            #expect(old.status == 200 && old.header("Connection")?.lowercased() == "keep-alive")
            try c.send(Self.get("/page.html", "Cookie: a=b\r\n"))
            #expect(try c.readResponse().text == site.page)
            #expect(try Self.prepared(port) == 1, "none of these was prepared")
            try c.send(Self.get("/page.html", "Connection: close\r\n"))
            let last = try c.readResponse()
            #expect(last.status == 200 && last.header("Connection") == "close")
            #expect(c.isClosedByPeer())
        }
    }

    @Test func aNewGenerationAnswersAtOnceAndAFileBeingEditedIsNeverPrepared() async throws {
        let site = try Site()
        try await withTestServer(site.config()) { (server: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for _ in 0..<2 {
                try c.send(Self.get("/fixed"))
                #expect(try c.readResponse().text == "fixed\n")
            }
            // Being edited (changed just before each request, well within the settle window): checked
            // on every request, never prepared, so every edit shows at once.
            for i in 0..<4 {
                let text = "<p>edit \(String(repeating: "x", count: i))</p>\n"
                try text.write(toFile: site.fixture.root + "/page.html", atomically: false, encoding: .utf8)
                try c.send(Self.get("/page.html"))
                #expect(try c.readResponse().text == text)
            }
            #expect(try Self.prepared(port) == 1, "only the second /fixed")
            guard case .reloaded = server.reload(site.config(fixed: "changed\n")) else {
                Issue.record("reload failed"); return
            }
            try c.send(Self.get("/fixed"))
            #expect(try c.readResponse().text == "changed\n", "the old generation's bytes are gone")
            try c.send(Self.get("/fixed"))
            #expect(try c.readResponse().text == "changed\n")
        }
    }

    @Test func theLastRequestAllowedOnAConnectionSaysCloseAndCloses() async throws {
        let site = try Site()
        try await withTestServer(site.config(limits: Limits(maxKeepaliveRequests: 3))) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for i in 1...3 {
                try c.send(Self.get("/fixed"))
                let r = try c.readResponse()
                #expect(r.text == "fixed\n")
                #expect((r.header("Connection") == "close") == (i == 3), "request \(i)")
            }
            #expect(c.isClosedByPeer())
            #expect(try Self.prepared(port) == 1, "request 2")
        }
    }

    /// 400 pipelined requests for 16 KiB of prepared answers, written before any is read: the
    /// socket fills, the rest of an answer waits in the output queue, and every answer arrives
    /// whole and in order.
    @Test func pipelinedAnswersLargerThanTheSocketArriveWholeAndInOrder() async throws {
        let site = try Site()
        let big = (0..<PreparedResponses16K.size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 3) }
        try Data(big).write(to: URL(fileURLWithPath: site.fixture.root + "/16k.bin"))
        try await site.settle()
        try await withTestServer(site.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port, timeout: 30)
            let paths = (0..<400).map { $0 % 3 == 2 ? "/fixed" : "/16k.bin" }
            let writer = Thread {
                for p in paths { try? c.send(Self.get(p)) }
            }
            writer.start()
            for (i, p) in paths.enumerated() {
                let r = try c.readResponse()
                if p == "/fixed" { #expect(r.text == "fixed\n", "\(i)") } else { #expect(r.body == big, "\(i)") }
            }
            #expect(try Self.prepared(port) >= 390)
        }
    }

    /// Prepared answers to pipelined requests leave together: the five answers to one read's
    /// requests arrive as one data segment, and the last is not held back by the unfinished
    /// request after it (without the push the kernel would keep them for its ~200 ms probe).
    @Test func pipelinedPreparedAnswersLeaveTogetherAndAreNotHeldBack() async throws {
        let site = try Site()
        try await withTestServer(site.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for _ in 0..<2 {  // prepared from the second
                try c.send(Self.get("/fixed"))
                _ = try c.readResponse()
            }
            let clock = ContinuousClock()
            var fastest = Duration.seconds(3600)
            for round in 0..<5 {
                let before = cflaks_tcp_data_segs_in(c.fd)
                let start = clock.now
                try c.send(String(repeating: Self.get("/fixed"), count: 5) + "GET /fixed HTTP/1.1\r\nHo")
                for i in 0..<5 { #expect(try c.readResponse().text == "fixed\n", "round \(round), answer \(i)") }
                fastest = min(fastest, clock.now - start)
                #expect(cflaks_tcp_data_segs_in(c.fd) - before == 1, "round \(round): five answers, one segment")
                try c.send("st: example.org\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n")
                #expect(try c.readResponse().text == "fixed\n")
            }
            #expect(fastest < .milliseconds(150), "the fastest of five rounds: \(fastest)")
            #expect(try Self.prepared(port) >= 26)
        }
    }

    @Test func routesWithAccessRulesAndAnAccessLogAreNotPrepared() async throws {
        let site = try Site()
        var cfg = site.config()
        cfg.hosts[0].routes[1].access = AccessRules(rate: RateLimit(requests: 3, per: 60_000_000_000, burst: 3))
        let log = NSTemporaryDirectory() + "flaks-prepared-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            let statuses = try (0..<5).map { _ in try c.send(Self.get("/fixed")); return try c.readResponse().status }
            #expect(statuses == [200, 200, 200, 429, 429], "the rate rule sees every request")
            #expect(try Self.prepared(port) == 0)
        }
        var logged = site.config()
        logged.log = LogSettings(access: .file(log), format: .combined)
        try await withTestServer(logged, keepAccessLog: true) { (server: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for _ in 0..<4 {
                try c.send(Self.get("/fixed"))
                _ = try c.readResponse()
            }
            #expect(try Self.prepared(port) == 0)
            server.shutdown(drainTimeout: .seconds(1))
            server.wait()
        }
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.filter { $0.contains("GET /fixed") }.count == 4, "a line for every request")
    }
}

/// Counts its calls and answers the count (a view is never prepared: each request reaches it).
final class CountingHandler: Handler, @unchecked Sendable {  // the counter is atomic
    private let n = Locked(0)
    func handle(_ request: Request) -> HandlerOutcome {
        let k = n.withLock { v -> Int in v += 1; return v }
        return .response(.text("call \(k)\n"))
    }
}

extension PreparedResponseTests {
    @Test func aViewIsAskedEveryTimeUntilAReloadMakesItsPathARespondRoute() async throws {
        var registry = HandlerRegistry()
        registry.register("count", CountingHandler())
        var cfg = FlaksServerTests.config([Route(path: "/v", kind: .handler("count")),
                                           Route(path: "/metrics", kind: .handler("metrics"))])
        cfg.server.loops = 1
        try await withTestServer(cfg, registry: registry) { (server: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for i in 1...5 {
                try c.send(Self.get("/v"))
                #expect(try c.readResponse().text == "call \(i)\n")
            }
            #expect(try Self.prepared(port) == 0)
            var next = server.currentSite.config  // the same listen address (port 0 as bound)
            next.hosts[0].routes[0] = respond("/v", "now fixed\n")
            guard case .reloaded = server.reload(next) else { Issue.record("reload failed"); return }
            for _ in 0..<3 {
                try c.send(Self.get("/v"))
                #expect(try c.readResponse().text == "now fixed\n")
            }
            #expect(try Self.prepared(port) == 2, "the view's negative entry went with its generation")
        }
    }
}

/// The size of the largest answer a loop prepares.
enum PreparedResponses16K { static let size = 16 * 1024 }

extension PreparedResponseTests {
    /// A connection that repeats a head which went to a view skips the quick scan for it
    /// (`Connection.repeatsNegativeHead`): the view still answers every time, and heads that differ
    /// from the remembered one in a byte, in a field more, in the method, arrive in pieces or come
    /// pipelined behind it are each taken for what they are; a preparable request in between is
    /// still prepared.
    @Test func aRepeatedHeadToAViewIsAnsweredByTheViewEveryTime() async throws {
        var registry = HandlerRegistry()
        registry.register("count", CountingHandler())
        var cfg = FlaksServerTests.config([Route(path: "/v", kind: .handler("count")), respond("/fixed", "fixed\n"),
                                           Route(path: "/metrics", kind: .handler("metrics"))])
        cfg.server.loops = 1
        try await withTestServer(cfg, registry: registry) { (server: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            var calls = 0
            func expectView(_ r: TestClient.Response, _ note: Comment) {
                calls += 1
                #expect(r.status == 200 && r.text == "call \(calls)\n", "\(note): \(r.status) \(r.text)")
            }
            for _ in 0..<3 {
                try c.send(Self.get("/v"))
                expectView(try c.readResponse(), "the same head again")
            }
            try c.send(Self.get("/v").replacingOccurrences(of: "test", with: "tesT"))
            expectView(try c.readResponse(), "a byte changed")
            try c.send(Self.get("/v", "Cookie: a=b\r\n"))
            expectView(try c.readResponse(), "the remembered head's bytes, then a field more")
            try c.send(Self.get("/v"))
            expectView(try c.readResponse(), "the same head after others")
            // In pieces: a prefix of the remembered head first, the rest after a pause.
            let head = Array(Self.get("/v").utf8)
            try c.send(Array(head[..<12]))
            usleep(20_000)   // not Task.sleep: a busy test run's pool may resume it past the head timeout
            try c.send(Array(head[12...]))
            expectView(try c.readResponse(), "a head that arrived in two pieces")
            // HEAD with the same target and fields: the view's answer without its body.
            try c.send(Self.get("/v").replacingOccurrences(of: "GET ", with: "HEAD "))
            calls += 1
            let h = try c.readResponse(head: true)
            #expect(h.status == 200 && h.body.isEmpty && h.header("Content-Length") == "\("call \(calls)\n".utf8.count)")
            // Pipelined behind the remembered head: the view twice, then a respond: route, in order.
            try c.send(Self.get("/v") + Self.get("/v") + Self.get("/fixed") + Self.get("/v"))
            expectView(try c.readResponse(), "pipelined 1")
            expectView(try c.readResponse(), "pipelined 2")
            #expect(try c.readResponse().text == "fixed\n")
            expectView(try c.readResponse(), "pipelined 4")
            let before = try Self.prepared(port)
            for _ in 0..<2 {
                try c.send(Self.get("/fixed"))
                #expect(try c.readResponse().text == "fixed\n")
            }
            #expect(try Self.prepared(port) == before + 2, "the respond: route is prepared between the view's heads")
            try c.send(Self.get("/v", "Connection: close\r\n"))
            expectView(try c.readResponse(), "with Connection: close")
            #expect(c.isClosedByPeer())
        }
    }
}

/// Files over the in-memory limit: kept as the static cache's open descriptor (plain connections).
extension PreparedResponseTests {
    static func writeBig(_ site: Site, _ name: String, seed: UInt8) throws -> [UInt8] {
        let big = (0..<(64 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ Int(seed)) }
        try Data(big).write(to: URL(fileURLWithPath: site.fixture.root + "/" + name))
        return big
    }

    /// The third answer on is prepared, every answer is the whole file with the same fields, answers
    /// to pipelined requests come whole and in order, and a file renamed over the old one is served
    /// once the revalidation window (1 s) has passed: an entry lives no longer than the cache's.
    @Test func aFileOverTheInMemoryLimitIsPreparedAsItsDescriptor() async throws {
        let site = try Site()
        let big = try Self.writeBig(site, "64k.bin", seed: 11)
        try await site.settle()
        try await withTestServer(site.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            var answers: [TestClient.Response] = []
            for _ in 0..<4 {
                try c.send(Self.get("/64k.bin"))
                answers.append(try c.readResponse())
            }
            // (Bodies are compared into Bools first: a failed expectation would print 64 KiB arrays.)
            let whole = answers.map { $0.status == 200 && $0.body == big }
            #expect(whole == [true, true, true, true])
            for i in 1..<4 { #expect(Self.fields(answers[0]) == Self.fields(answers[i]), "answer \(i)") }
            #expect(try Self.prepared(port) == 2, "the third and the fourth")
            try c.send(Self.get("/64k.bin") + Self.get("/fixed") + Self.get("/64k.bin") + Self.get("/1k.bin"))
            let pipelined = try (0..<4).map { _ in try c.readResponse().body }
            #expect([pipelined[0] == big, pipelined[1] == Array("fixed\n".utf8), pipelined[2] == big,
                     pipelined[3] == site.file] == [true, true, true, true])
            #expect(try Self.prepared(port) >= 4)

            let next = try Self.writeBig(site, "64k.new", seed: 99)
            #expect(rename(site.fixture.root + "/64k.new", site.fixture.root + "/64k.bin") == 0)
            // Within about a second (the cache's window) the new file. Bounded by tries, not by a
            // deadline: under the sanitizers, with every suite running at once, a sleeping test may
            // resume seconds late (one did, and a 5 s deadline ran out after its first try).
            var servedNew = false
            for _ in 0..<300 where !servedNew {
                try c.send(Self.get("/64k.bin"))
                let body = try c.readResponse().body
                servedNew = body == next
                let wholeFile = servedNew || body == big
                #expect(wholeFile, "the old file or the new one, whole")
                if !servedNew { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(servedNew, "the new file is served after the revalidation window")
        }
    }

    /// Over TLS the body must pass through the session: a large file's answer is never kept (the
    /// prepared count stays where the small files put it) and every answer is whole.
    @Test func aFileOverTheInMemoryLimitIsNotPreparedOverTLS() async throws {
        let pki = try ServerTestPKI()
        let site = try Site()
        let big = try Self.writeBig(site, "64k.bin", seed: 5)
        try await site.settle()
        var cfg = try TLSServerTests.site(pki)
        cfg.hosts[0].routes = [Route(path: "/metrics", kind: .handler("metrics")),
                               Route(path: "/", kind: .staticFiles(StaticRoute(root: site.fixture.root)))]
        cfg.server.loops = 1
        try await withTestServer(cfg) { (server: Server, _: Int) async throws in
            let c = try TLSServerTests.tlsClient(server, pki, sni: "a.test")
            for path in ["/64k.bin", "/64k.bin", "/64k.bin", "/1k.bin", "/1k.bin", "/1k.bin", "/64k.bin"] {
                try c.send("GET \(path) HTTP/1.1\r\nHost: a.test\r\n\r\n")
                let r = try c.readResponse()
                let whole = r.status == 200 && r.body == (path == "/1k.bin" ? site.file : big)
                #expect(whole, "\(path)")
            }
            try c.send("GET /metrics HTTP/1.1\r\nHost: a.test\r\n\r\n")
            let text = try c.readResponse().text
            let line = text.split(separator: "\n").first { $0.hasPrefix("flaks_prepared_responses_total ") }
            #expect(line == "flaks_prepared_responses_total 1", "only the third 1 KiB answer: \(line ?? "none")")
        }
    }
}

/// The two size limits a prepared answer meets, each one byte under and one byte over: 16 KiB
/// (`PreparedResponses.maxBody`: the body copied after the head, or kept by reference) and 32 KiB
/// (the static cache's in-memory limit: its bytes, or its open file). Every size is prepared from
/// its third answer and every answer is whole.
extension PreparedResponseTests {
    @Test func filesAtTheBodyAndMemoryLimitsArePreparedAndWhole() async throws {
        let site = try Site()
        let sizes = [16 << 10, (16 << 10) + 1, 32 << 10, (32 << 10) + 1]
        var files: [Int: [UInt8]] = [:]
        for n in sizes {
            let b = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ n) }
            try Data(b).write(to: URL(fileURLWithPath: site.fixture.root + "/f\(n).bin"))
            files[n] = b
        }
        try await site.settle()
        try await withTestServer(site.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            var expected = 0
            for n in sizes {
                for i in 0..<4 {
                    try c.send(Self.get("/f\(n).bin"))
                    let r = try c.readResponse()
                    let whole = r.status == 200 && r.body == files[n]
                    #expect(whole, "\(n) bytes, answer \(i)")
                }
                expected += 2
                #expect(try Self.prepared(port) == expected, "\(n) bytes: the third and fourth answers")
            }
        }
    }
}
