#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksConfig
import FlaksServer
import Foundation
import Logging
import Testing

/// Keeps every log message (the error log of a server under test).
final class CapturedLog: @unchecked Sendable {  // lines behind `lock`
    private let lock = NSLock()
    private var _lines: [String] = []
    var lines: [String] { lock.withLock { _lines } }
    func add(_ line: String) { lock.withLock { _lines.append(line) } }

    struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            log.add("\(event.level) \(event.message)")
        }
    }
}

/// The FastCGI executor over real sockets against a responder that does what each test needs
/// (`FakeFastCGIResponder`): connection reuse, the retry, timeouts with FCGI_ABORT_REQUEST, bad
/// answers, the `max_connections` queue, clients that leave. php-fpm itself: FastCGIPHPTests.
@Suite("FastCGI executor against a scripted responder", .serialized)
final class FastCGIExecutorTests {
    let root: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "flaks-fcgi-root-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        root = String(cString: p)
        for name in ["a.php", "b.php", "slow.php"] {
            try "<?php // answered by the fake responder".write(toFile: root + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func config(_ fake: FakeFastCGIResponder, timeout: Duration = .seconds(10), maxConnections: Int = 16,
                loops: Int = 1) -> ServerConfig {
        var c = FlaksServerTests.config([
            Route(path: "/", kind: .fastcgi(FastCGIRoute(responder: .address(.unix(path: fake.path)), root: root,
                                                         timeout: timeout, maxConnections: maxConnections))),
        ])
        c.server.loops = loops
        return c
    }

    static func get(_ c: TestClient, _ path: String, close: Bool = false) throws -> TestClient.Response {
        try c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\(close ? "Connection: close\r\n" : "")\r\n")
        return try c.readResponse()
    }

    @Test(.timeLimit(.minutes(1)))
    func keptConnectionsAreReusedAndAClosedOneIsRetriedOnce() async throws {
        // Request 1 answered on connection 0; request 2 arrives on the kept connection 0, which
        // the responder closes without a byte (php-fpm at pm.max_requests): retried on connection 1.
        let fake = try FakeFastCGIResponder { index, r in
            if index == 1 && r.connection == 0 { return .closeWithoutAnswer }
            return .answer(FakeFastCGIResponder.page("answer \(index) on \(r.connection)"))
        }
        defer { fake.stop() }
        try await withTestServer(config(fake)) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            let first = try Self.get(c, "/a.php")
            #expect(first.status == 200 && first.text == "answer 0 on 0")
            let second = try Self.get(c, "/b.php")
            #expect(second.status == 200 && second.text == "answer 2 on 1", "retried on a fresh connection")
            let third = try Self.get(c, "/a.php")
            #expect(third.text == "answer 3 on 1", "the fresh connection is kept in turn")
            #expect(fake.connections == 2)
            #expect(fake.received.map(\.params["SCRIPT_FILENAME"]) == [root + "/a.php", root + "/b.php", root + "/b.php", root + "/a.php"])
        }
    }

    /// A page of `n` bytes that says which request it answers.
    static func body(_ index: Int, _ n: Int) -> String {
        let head = "answer \(index):"
        return head + String(repeating: Character(UnicodeScalar(UInt8(97 + index % 26))), count: max(0, n - head.utf8.count))
    }

    @Test(.timeLimit(.minutes(1)))
    func answersLeftInTheSocketAreTakenOutInBulkAndNothingIsLost() async throws {
        // Answers on a unix socket are read by peeking and taken out of the socket in bulk (after
        // 16 KiB or 32 reads; UpstreamConnection.peekReads). 150 answers of 1 B to 4 KiB on one
        // kept connection cross both limits many times; every one arrives whole and in order.
        let fake = try FakeFastCGIResponder { index, _ in
            .answer(FakeFastCGIResponder.page(Self.body(index, 1 + (index * 131) % 4000)))
        }
        defer { fake.stop() }
        try await withTestServer(config(fake, maxConnections: 1)) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for i in 0..<150 {
                let r = try Self.get(c, "/a.php")
                #expect(r.status == 200 && r.text == Self.body(i, 1 + (i * 131) % 4000), "answer \(i)")
            }
            #expect(fake.connections == 1, "one kept connection throughout")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aResponderWithASmallSendBufferDoesNotStall() async throws {
        // A responder whose send buffer (~9 KiB here) cannot hold the answers left in the socket
        // waits for room before it answers again, and nothing comes to read: the stall guard takes
        // them out after 10 ms (and the connection stops peeking). Without it: a 504 after 10 s.
        let fake = try FakeFastCGIResponder(sendBuffer: 4096) { index, _ in
            .answer(FakeFastCGIResponder.page(Self.body(index, 3000)))
        }
        defer { fake.stop() }
        try await withTestServer(config(fake, maxConnections: 1)) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            let started = Date()
            for i in 0..<30 {
                let r = try Self.get(c, "/a.php")
                #expect(r.status == 200 && r.text == Self.body(i, 3000), "answer \(i)")
            }
            #expect(Date().timeIntervalSince(started) < 5)
            #expect(fake.connections == 1)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aConnectionTheResponderClosesWhileIdleIsNotUsedAgain() async throws {
        let fake = try FakeFastCGIResponder { index, _ in .answer(FakeFastCGIResponder.page("n\(index)"), thenClose: true) }
        defer { fake.stop() }
        try await withTestServer(config(fake)) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for i in 0..<3 {
                let r = try Self.get(c, "/a.php")
                #expect(r.status == 200 && r.text == "n\(i)")
                // The pool sees the close and drops the connection before it is taken again.
                #expect(fake.wait { fake.closedByPeer + i + 1 >= fake.connections })
            }
            #expect(fake.connections == 3)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func silenceIs504AndTheConnectionIsAbortedAndClosed() async throws {
        let fake = try FakeFastCGIResponder { index, _ in index == 0 ? .silence : .answer(FakeFastCGIResponder.page("ok")) }
        defer { fake.stop() }
        try await withTestServer(config(fake, timeout: .milliseconds(300))) { (_: Server, port: Int) async throws in
            let started = Date()
            let r = try TestClient.get(port: port, "/slow.php")
            #expect(r.status == 504)
            #expect(Date().timeIntervalSince(started) >= 0.29)
            #expect(fake.wait { fake.aborts == 1 && fake.closedByPeer == 1 }, "FCGI_ABORT_REQUEST, then the close")
            let next = try TestClient.get(port: port, "/a.php")
            #expect(next.status == 200 && fake.connections == 2, "never pooled")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aStreamThatGoesSilentIsCutShort() async throws {
        let fake = try FakeFastCGIResponder { _, _ in
            .slow(first: FakeFastCGIResponder.stdout("Content-Type: text/plain\r\n\r\nfirst part "), delay: 1.5,
                  rest: FakeFastCGIResponder.page("late"))
        }
        defer { fake.stop() }
        try await withTestServer(config(fake, timeout: .milliseconds(300))) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            let started = Date()
            try c.send("GET /a.php HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(throws: (any Error).self, "the chunked body never completes") { try c.readResponse() }
            #expect(Date().timeIntervalSince(started) < 1.4, "cut at the timeout, not at the responder's pace")
            #expect(fake.wait { fake.aborts == 1 })
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aSlowClientHoldsTheResponderBackInsteadOfBufferingTheBody() async throws {
        // 32 MiB in 64 KiB STDOUT records (what php-fpm sends), to a client that reads nothing for a while.
        let records = 512
        var answer = FakeFastCGIResponder.stdout("Content-Type: application/octet-stream\r\n\r\n")
        let block = [UInt8](repeating: 0x61, count: 65528)
        for _ in 0..<records { answer += FakeFastCGIResponder.rec(6, block) }
        answer += FakeFastCGIResponder.end()
        let whole = answer, total = answer.count
        let fake = try FakeFastCGIResponder { _, _ in .answer(whole) }
        defer { fake.stop() }
        try await withTestServer(config(fake)) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /a.php HTTP/1.1\r\nHost: x\r\n\r\n")
            // The responder gets ahead by the socket buffers (loopback TCP grows them to a few MiB),
            // the read buffer and the sink's high-water mark, then it is held: it stops, far short
            // of the whole body, instead of the body piling up in the server.
            _ = fake.wait(1) { false }
            let early = fake.written
            _ = fake.wait(0.5) { false }
            #expect(fake.written == early, "held back: nothing more is taken while the client reads nothing")
            #expect(early < total / 2, "\(early) of \(total) bytes taken while the client read nothing")
            let r = try c.readResponse()
            #expect(r.status == 200 && r.body.count == records * 65528)
            // (The responder counts a write when it returns, which may be just after the client read the end.)
            #expect(fake.wait { fake.written == total })
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func badAnswersAre502AndNeverPassedOn() async throws {
        let answers: [[UInt8]] = [
            Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nnot fastcgi".utf8),
            FakeFastCGIResponder.stdout("Content-Type: text/plain\r\nX-Split: a\rInjected: yes\r\n\r\nleaked body") + FakeFastCGIResponder.end(),
            FakeFastCGIResponder.rec(6, Array("Content-Type: text/plain\r\n\r\nother id".utf8), id: 7),
            FakeFastCGIResponder.stdout("Content-Type: text/plain\r\n") + FakeFastCGIResponder.end(),
            FakeFastCGIResponder.end(status: 2),
        ]
        let fake = try FakeFastCGIResponder { index, _ in .answer(answers[index % answers.count]) }
        defer { fake.stop() }
        try await withTestServer(config(fake)) { (_: Server, port: Int) async throws in
            for (i, expected) in [502, 502, 502, 502, 503].enumerated() {
                let r = try TestClient.get(port: port, "/a.php")
                #expect(r.status == expected, "answer \(i)")
                #expect(!r.text.contains("not fastcgi") && !r.text.contains("leaked") && !r.text.contains("other id")
                        && r.header("Injected") == nil
                        && r.header("X-Split") == nil, "answer \(i)")
                if expected == 503 { #expect(r.header("Retry-After") == "1") }
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func maxConnectionsQueuesAcrossLoopsAndTheQueueTimesOut() async throws {
        let fake = try FakeFastCGIResponder { index, r in
            r.params["SCRIPT_NAME"] == "/slow.php"
                ? .slow(first: [], delay: 0.8, rest: FakeFastCGIResponder.page("slow \(index)"))
                : .answer(FakeFastCGIResponder.page("quick \(index)"))
        }
        defer { fake.stop() }
        // Two loops, one connection: the requests wait their turn, whatever loop they are on.
        try await withTestServer(config(fake, timeout: .seconds(5), maxConnections: 1, loops: 2)) { (_: Server, port: Int) async throws in
            let statuses = await withTaskGroup(of: Int.self) { group in
                for i in 0..<6 {
                    group.addTask { (try? TestClient.get(port: port, i == 0 ? "/slow.php" : "/a.php"))?.status ?? -1 }
                }
                var all: [Int] = []
                for await s in group { all.append(s) }
                return all
            }
            #expect(statuses == Array(repeating: 200, count: 6))
            #expect(fake.maxBusy == 1, "never more than max_connections requests at the responder at once")
            #expect(fake.connections <= 6)
        }
        // A queued request gives up after `timeout`: 503.
        let fake2 = try FakeFastCGIResponder { _, r in
            r.params["SCRIPT_NAME"] == "/slow.php"
                ? .slow(first: [], delay: 1.5, rest: FakeFastCGIResponder.page("slow"))
                : .answer(FakeFastCGIResponder.page("quick"))
        }
        defer { fake2.stop() }
        // Two routes on one responder share its slots: /slow.php may take 5 s, the rest 400 ms.
        var two = FlaksServerTests.config([
            Route(path: "/slow.php", kind: .fastcgi(FastCGIRoute(responder: .address(.unix(path: fake2.path)), root: root,
                                                                 timeout: .seconds(5), maxConnections: 1))),
            Route(path: "/", kind: .fastcgi(FastCGIRoute(responder: .address(.unix(path: fake2.path)), root: root,
                                                         timeout: .milliseconds(400), maxConnections: 1))),
        ])
        two.server.loops = 1
        try await withTestServer(two) { (_: Server, port: Int) async throws in
            let slow = try TestClient(port: port)
            try slow.send("GET /slow.php HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(fake2.wait { fake2.received.count == 1 })
            let started = Date()
            let queued = try TestClient.get(port: port, "/a.php")
            #expect(queued.status == 503 && queued.header("Retry-After") == "1")
            #expect(Date().timeIntervalSince(started) >= 0.39)
            let done = try slow.readResponse()
            #expect(done.status == 200 && done.text == "slow")
            #expect(fake2.received.count == 1, "the queued request never reached the responder")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aClientThatLeavesGetsItsConnectionClosedNotPooled() async throws {
        let fake = try FakeFastCGIResponder { index, _ in
            index == 0 ? .silence : .answer(FakeFastCGIResponder.page("fresh"))
        }
        defer { fake.stop() }
        try await withTestServer(config(fake)) { (_: Server, port: Int) async throws in
            do {
                let c = try TestClient(port: port)
                try c.send("GET /a.php HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(fake.wait { fake.received.count == 1 })
                c.reset()                            // and closed here: a reset, not a half-close
            }
            #expect(fake.wait { fake.closedByPeer == 1 && fake.aborts == 1 }, "the responder connection is aborted and closed")
            let r = try TestClient.get(port: port, "/a.php")
            #expect(r.text == "fresh" && fake.connections == 2)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func stderrLinesGoToTheErrorLog() async throws {
        let fake = try FakeFastCGIResponder { _, _ in
            .answer(FakeFastCGIResponder.stderr("PHP message: first; PHP message: second\n")
                    + FakeFastCGIResponder.stdout("Content-Type: text/plain\r\n\r\nok")
                    + FakeFastCGIResponder.stderr("unterminated tail") + FakeFastCGIResponder.end())
        }
        defer { fake.stop() }
        let captured = CapturedLog()
        var c = config(fake)
        c.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        c.log.access = .off
        let server = try Server(config: c, logger: Logger(label: "flaks-test") { _ in CapturedLog.Handler(log: captured) })
        try await withStarted(server) { (_: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/a.php")
            #expect(r.status == 200 && r.text == "ok")
        }
        let mine = captured.lines.filter { $0.contains("fastcgi \(root)/a.php: ") }
        #expect(mine.map { $0.components(separatedBy: ".php: ").last ?? "" }
                == ["PHP message: first", "PHP message: second", "unterminated tail"], "\(captured.lines)")
        #expect(mine.allSatisfy { $0.hasPrefix("error ") })
    }

    @Test(.timeLimit(.minutes(1)))
    func bodiesUpToMaxBodyGoToStdinWithTheirLength() async throws {
        let fake = try FakeFastCGIResponder { _, r in .answer(FakeFastCGIResponder.page("got \(r.stdin.count)")) }
        defer { fake.stop() }
        var c = config(fake)
        c.limits.maxBody = 1000
        try await withTestServer(c) { (_: Server, port: Int) async throws in
            // Exactly the limit, chunked: read whole first, sent with CONTENT_LENGTH.
            let client = try TestClient(port: port)
            let body = [UInt8](repeating: 0x62, count: 1000)
            try client.send(Array("POST /a.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n".utf8)
                            + body[..<500] + Array("\r\n1f4\r\n".utf8) + body[500...] + Array("\r\n0\r\n\r\n".utf8))
            let ok = try client.readResponse()
            #expect(ok.status == 200 && ok.text == "got 1000")
            #expect(fake.received.last?.params["CONTENT_LENGTH"] == "1000" && fake.received.last?.stdin == body)
            // One byte more: 413, and the responder sees nothing.
            let over = try TestClient(port: port)
            try over.send(Array("POST /a.php HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n".utf8) + body + [0x62])
            #expect(try over.readResponse().status == 413)
            #expect(fake.received.count == 1)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func exactlyMaxConnectionsRunAtOnce() async throws {
        // The responder holds every request until the test opens the gate.
        let fake = try FakeFastCGIResponder { index, _ in .gated(FakeFastCGIResponder.page("n\(index)")) }
        defer { fake.stop() }
        try await withTestServer(config(fake, maxConnections: 2, loops: 2)) { (_: Server, port: Int) async throws in
            var clients: [TestClient] = []
            for _ in 0..<3 {
                let c = try TestClient(port: port)
                try c.send("GET /a.php HTTP/1.1\r\nHost: x\r\n\r\n")
                clients.append(c)
            }
            #expect(fake.wait { fake.received.count == 2 }, "two at once: the limit")
            _ = fake.wait(0.3) { false }
            #expect(fake.received.count == 2, "the third waits for a connection")
            for _ in 0..<3 { fake.gate.signal() }
            for c in clients {
                let r = try c.readResponse()
                #expect(r.status == 200)
            }
            #expect(fake.received.count == 3 && fake.maxBusy == 2)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anUnreachableResponderIs502() async throws {
        let fake = try FakeFastCGIResponder { _, _ in .closeWithoutAnswer }
        fake.stop()                                  // the socket file is gone
        try await withTestServer(config(fake)) { (_: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/a.php")
            #expect(r.status == 502)
            // Closed without a byte on a fresh connection: 502 too (no retry for fresh ones).
        }
        let closing = try FakeFastCGIResponder { _, _ in .closeWithoutAnswer }
        defer { closing.stop() }
        try await withTestServer(config(closing)) { (_: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/a.php")
            #expect(r.status == 502 && closing.connections == 1)
        }
    }
}
