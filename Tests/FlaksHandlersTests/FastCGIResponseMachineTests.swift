import FlaksFastCGI
import FlaksHandlers
import FlaksHTTP
import Testing

/// The FastCGI response machine driven by hand with a fake clock: responder records built byte by
/// byte (FastCGI spec §3.3, independent of the encoder), fed whole, split at every byte and one byte
/// at a time; the actions applied to a recording executor the way `FastCGIRequest` applies them.
@Suite("FastCGIResponseMachine: records, CGI response rules, time, retry and keeping connections")
struct FastCGIResponseMachineTests {
    static let s: UInt64 = 1_000_000_000

    // MARK: records

    static func rec(_ type: UInt8, _ content: [UInt8], id: UInt16 = 1, version: UInt8 = 1) -> [UInt8] {
        let pad = (8 - content.count % 8) % 8
        return [version, type, UInt8(id >> 8), UInt8(id & 0xff), UInt8(content.count >> 8), UInt8(content.count & 0xff),
                UInt8(pad), 0] + content + [UInt8](repeating: 0, count: pad)
    }
    static func out(_ s: String) -> [UInt8] { rec(6, Array(s.utf8)) }
    static func err(_ s: String) -> [UInt8] { rec(7, Array(s.utf8)) }
    static func end(app: UInt32 = 0, status: UInt8 = 0) -> [UInt8] {
        rec(3, [UInt8(app >> 24), UInt8((app >> 16) & 0xff), UInt8((app >> 8) & 0xff), UInt8(app & 0xff), status, 0, 0, 0])
    }

    // MARK: the recording executor

    /// What the client saw and what was done to the connection.
    final class Executor {
        var started: (status: Int, headers: HeaderFields, length: Int?)?
        var body: [UInt8] = []
        var finished = false
        /// Answered with one complete response (`respondWhole`).
        var whole = false
        var aborted = false
        var error: Int?
        var complete: Int?
        var redirect: String?
        var stderr: [String] = []
        var logs: [String] = []
        var paused = false
        var cancelledWait = false
        var retries = 0
        var released: (keep: Bool, sendAbort: Bool)?
        /// What `start` answers: false for a HEAD or a gone client.
        var wantsBody = true
        /// What `write` answers: false when the client is slow.
        var keepsUp = true
        /// Unconsumed bytes, as the executor keeps them between reads.
        var pending: [UInt8] = []

        /// Feeds `bytes` as one read: the machine sees the pending bytes plus these.
        func read(_ bytes: [UInt8], _ m: inout FastCGIResponseMachine, now: UInt64 = 0) {
            pending += bytes
            let buffer = pending
            let (actions, consumed) = buffer.withUnsafeBytes { m.received($0, now: now) }
            apply(actions, buffer, &m)
            pending.removeFirst(min(consumed, pending.count))
        }

        func apply(_ actions: [FastCGIResponseMachine.Action], _ bytes: [UInt8] = [], _ m: inout FastCGIResponseMachine) {
            for a in actions {
                switch a {
                case .start(let status, let headers, let length, let range):
                    started = (status.code, headers, length)
                    if !wantsBody { m.sinkDeclinedBody() } else { write(Array(bytes[range]), &m) }
                case .respond(let status, _): complete = status.code
                case .respondWhole(let status, let headers, let ranges):
                    #expect(started == nil, "a whole response is the only one")
                    started = (status.code, headers, nil)
                    whole = true
                    for r in ranges { body += bytes[r] }
                    finished = true
                case .internalRedirect(let t): redirect = t
                case .forward(let range): write(Array(bytes[range]), &m)
                case .finish: finished = true
                case .abort: aborted = true
                case .respondError(let st): error = st.code
                case .stderr(let lines): stderr += lines.map(\.text)
                case .log(let l): logs.append(l)
                case .pauseReading: paused = true
                case .resumeReading: paused = false
                case .cancelWait: cancelledWait = true
                case .retry: retries += 1
                case .releaseConnection(let keep, let sendAbort):
                    #expect(released == nil, "the connection is released once")
                    released = (keep, sendAbort)
                }
            }
        }

        private func write(_ b: [UInt8], _ m: inout FastCGIResponseMachine) {
            body += b
            if !keepsUp { apply(m.sinkFull(), [], &m) }
        }

        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func sent(_ method: HTTPMethod = .GET, timeout: UInt64 = 10 * s, reused: Bool = false,
                     headerLimit: Int = 64 * 1024) -> FastCGIResponseMachine {
        var m = FastCGIResponseMachine(method: method, timeout: timeout, headerLimit: headerLimit)
        _ = try? m.encodeRequest(params: [FastCGIParam("SCRIPT_FILENAME", "/srv/x.php")], body: [])
        m.requestSent(now: 0, reused: reused)
        return m
    }

    /// A typical php-fpm answer: PHP's lower-case `Content-type`, two Set-Cookie, STDERR, a body in
    /// two records, END_REQUEST.
    static let phpAnswer: [UInt8] =
        out("X-Powered-By: PHP/8.2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-type: text/html; charset=UTF-8\r\n\r\nhel")
        + err("PHP message: notice") + out("lo world") + end()

    /// Runs `bytes` through a fresh machine in reads of the given sizes.
    static func run(_ bytes: [UInt8], splits: [Int], method: HTTPMethod = .GET) -> (Executor, FastCGIResponseMachine) {
        var m = sent(method)
        let e = Executor()
        var i = 0
        var k = 0
        while i < bytes.count {
            let n = k < splits.count ? splits[k] : bytes.count - i
            e.read(Array(bytes[i..<min(i + max(n, 1), bytes.count)]), &m, now: UInt64(k))
            i += max(n, 1)
            k += 1
        }
        return (e, m)
    }

    // MARK: documents

    @Test func aPHPAnswerWholeSplitAtEveryByteAndByteByByte() {
        let bytes = Self.phpAnswer
        var cases: [[Int]] = [[bytes.count], Array(repeating: 1, count: bytes.count)]
        for cut in 1..<bytes.count { cases.append([cut]) }
        for splits in cases {
            let (e, m) = Self.run(bytes, splits: splits)
            #expect(e.started?.status == 200, "\(splits)")
            #expect(e.started?.headers.values("Set-Cookie") == ["a=1", "b=2"], "both cookies kept")
            #expect(e.started?.headers["content-type"] == "text/html; charset=UTF-8", "PHP's Content-type is a content type")
            #expect(e.text == "hello world", "\(splits)")
            #expect(e.stderr == ["PHP message: notice"])
            #expect(e.finished && !e.aborted && e.error == nil)
            #expect(e.released.map { $0.keep && !$0.sendAbort } == true, "END_REQUEST with nothing after it: kept")
            #expect(m.isDone && m.deadline == 0)
            if splits == [bytes.count] { #expect(e.whole, "all at once: one complete response") }
            if e.text != "hello world" { break }
        }
    }

    @Test func statusLocationAndLength() {
        let (e, _) = Self.run(Self.out("Status: 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope") + Self.end(),
                              splits: [])
        #expect(e.started?.status == 404 && e.text == "nope" && e.finished && e.whole)

        // A head in one read, the rest later: started, streamed, finished.
        let head = Self.out("Content-Type: text/plain\r\n\r\nfirst ")
        let (st, _) = Self.run(head + Self.out("second") + Self.end(), splits: [head.count])
        #expect(!st.whole && st.started?.status == 200 && st.text == "first second" && st.finished)
        // A Content-Length that does not match the body is streamed with that length: the sink
        // then cuts the connection rather than sending a wrong message.
        let (mismatch, _) = Self.run(Self.out("Content-Type: text/plain\r\nContent-Length: 10\r\n\r\nnope") + Self.end(), splits: [])
        #expect(!mismatch.whole && mismatch.started?.length == 10 && mismatch.finished)

        // PHP's header('Location: ...') comes with its own Status: a client redirect.
        let (r, _) = Self.run(Self.out("Status: 302 Found\r\nLocation: /elsewhere\r\nContent-type: text/html\r\n\r\n") + Self.end(),
                              splits: [])
        #expect(r.started?.status == 302 && r.started?.headers["Location"] == "/elsewhere" && r.redirect == nil)

        // A Location without Status to a local path: served internally; the rest is read and dropped,
        // and the connection is still kept.
        let (l, lm) = Self.run(Self.out("Location: /other?x=1\r\n\r\nignored body") + Self.out("more") + Self.end(), splits: [])
        #expect(l.redirect == "/other?x=1" && l.started == nil && l.body.isEmpty)
        #expect(l.released.map { $0.keep } == true && lm.isDone)

        let (n, _) = Self.run(Self.out("Status: 204 No Content\r\n\r\n") + Self.end(), splits: [])
        #expect(n.complete == 204 && n.started == nil && n.released?.keep == true)
    }

    @Test func headGetsTheHeadAndTheConnectionIsKept() {
        let (e, m) = Self.run(Self.out("Content-Type: text/plain\r\n\r\nbody bytes") + Self.out("more") + Self.end(),
                              splits: [20], method: .HEAD)
        #expect(e.started?.status == 200 && e.body.isEmpty && !e.finished)
        #expect(e.released?.keep == true && m.isDone)
    }

    // MARK: 502s

    @Test(arguments: [
        ("a CR inside a value (response splitting)", "X-A: one\rX-B: two\r\nContent-Type: text/plain\r\n\r\nbody"),
        ("a NUL in a value", "X-A: a\u{0}b\r\nContent-Type: text/plain\r\n\r\nbody"),
        ("a line without colon", "garbage line\r\n\r\nbody"),
        ("a space in a name", "Bad Name: x\r\nContent-Type: text/plain\r\n\r\nbody"),
        ("a bad Status", "Status: 99 Low\r\nContent-Type: text/plain\r\n\r\n"),
        ("no response type", "X-Only: 1\r\n\r\n"),
        ("a bad Content-Length", "Content-Type: text/plain\r\nContent-Length: 1e3\r\n\r\n"),
    ])
    func badHeadersAre502AndNothingIsPassedOn(_ name: String, _ head: String) {
        let (e, m) = Self.run(Self.out(head) + Self.end(), splits: [])
        #expect(e.error == 502, "\(name)")
        #expect(e.started == nil && e.body.isEmpty, "\(name): nothing of it reaches the client")
        #expect(e.released.map { !$0.keep } == true && m.isDone)
        #expect(e.logs.contains { $0.hasPrefix("bad gateway") })
    }

    @Test func endWithoutOutputOrInsideTheHeadIs502() {
        let (e, _) = Self.run(Self.end(), splits: [])
        #expect(e.error == 502 && e.logs.contains { $0.contains("no output") })
        let (h, _) = Self.run(Self.out("Content-Type: text/plain\r\n") + Self.end(), splits: [])
        #expect(h.error == 502 && h.logs.contains { $0.contains("inside the header") })
        // An empty answer still keeps the connection: the exchange was well formed.
        #expect(e.released?.keep == true)
    }

    @Test func protocolGarbageIs502OrCutsTheStream() {
        // An HTTP answer where records were expected: version byte 0x48.
        let (e, _) = Self.run(Array("HTTP/1.1 200 OK\r\n\r\n".utf8), splits: [])
        #expect(e.error == 502 && e.released.map { !$0.keep } == true && e.body.isEmpty)
        // In the same read as the head: nothing was started, a 502.
        let cut = Self.out("Content-Type: text/plain\r\n\r\npart")
        let (w, _) = Self.run(cut + Self.rec(6, [1], version: 2), splits: [])
        #expect(w.error == 502 && w.started == nil && w.body.isEmpty)
        // After the head went out: the response is aborted (the client sees it cut short).
        let (a, _) = Self.run(cut + Self.rec(6, [1], version: 2), splits: [cut.count])
        #expect(a.started?.status == 200 && a.text == "part" && a.aborted && !a.finished && a.error == nil)
        #expect(a.released.map { !$0.keep } == true)
        // A record for another request id.
        let (o, _) = Self.run(Self.rec(6, Array("Content-Type: x\r\n\r\n".utf8), id: 2), splits: [])
        #expect(o.error == 502)
    }

    @Test func refusalsFromTheResponder() {
        let (o, _) = Self.run(Self.end(status: 2), splits: [])          // FCGI_OVERLOADED
        #expect(o.error == 503 && o.released.map { !$0.keep } == true)
        let (u, _) = Self.run(Self.end(status: 3), splits: [])          // FCGI_UNKNOWN_ROLE
        #expect(u.error == 502)
    }

    @Test func bytesAfterEndRequestAreNotKept() {
        let (e, _) = Self.run(Self.out("Content-Type: text/plain\r\n\r\nok") + Self.end() + Self.out("late"), splits: [])
        #expect(e.finished && e.text == "ok")
        #expect(e.released.map { !$0.keep } == true, "a connection with bytes after END_REQUEST is out of step")
    }

    @Test func headerSectionLimitAtTheEdge() {
        // The header section (up to, not including, the blank line) may be exactly `limit` bytes.
        let limit = 64
        let line = "Content-Type: text/plain\r\nX-Pad: "
        let exact = line + String(repeating: "p", count: limit - line.utf8.count - 2) + "\r\n"
        #expect(exact.utf8.count == limit)
        var m = Self.sent(headerLimit: limit)
        let e = Executor()
        e.read(Self.out(exact + "\r\nok") + Self.end(), &m)
        #expect(e.started?.status == 200 && e.text == "ok")
        let over = line + String(repeating: "p", count: limit - line.utf8.count - 1) + "\r\n"
        var m2 = Self.sent(headerLimit: limit)
        let e2 = Executor()
        e2.read(Self.out(over + "\r\nok") + Self.end(), &m2)
        #expect(e2.error == 502 && e2.started == nil)
    }

    // MARK: time

    @Test func noAnswerWithinTheTimeoutIs504AndTheRequestIsAborted() {
        var m = Self.sent(timeout: 10 * Self.s)
        let e = Executor()
        #expect(m.deadline == 10 * Self.s)
        e.apply(m.timerFired(now: 10 * Self.s - 1), [], &m)
        #expect(e.error == nil && e.released == nil)
        e.apply(m.timerFired(now: 10 * Self.s), [], &m)
        #expect(e.error == 504 && m.timedOut)
        #expect(e.released.map { !$0.keep && $0.sendAbort } == true, "closed after FCGI_ABORT_REQUEST, never kept")
        #expect(m.isDone && m.deadline == 0)
    }

    @Test func eachByteMovesTheDeadlineAndASilentStreamIsCutShort() {
        var m = Self.sent(timeout: 10 * Self.s)
        let e = Executor()
        m.connected(now: 2 * Self.s)
        #expect(m.deadline == 12 * Self.s, "a fresh connection's timeout counts from its connect")
        e.read(Self.out("Content-Type: text/plain\r\n\r\nfirst"), &m, now: 5 * Self.s)
        #expect(m.deadline == 15 * Self.s)
        e.apply(m.timerFired(now: 15 * Self.s - 1), [], &m)
        #expect(!e.aborted)
        e.apply(m.timerFired(now: 15 * Self.s), [], &m)
        #expect(e.aborted && e.error == nil && e.released.map { !$0.keep && $0.sendAbort } == true)
    }

    @Test func aSlowClientStopsTheReadingAndTheClock() {
        var m = Self.sent(timeout: 10 * Self.s)
        let e = Executor()
        e.keepsUp = false
        e.read(Self.out("Content-Type: text/plain\r\n\r\nchunk"), &m, now: 1 * Self.s)
        #expect(e.paused && m.paused && m.deadline == 0, "while the client pushes back, the responder's silence is ours")
        e.apply(m.timerFired(now: 100 * Self.s), [], &m)
        #expect(!e.aborted && e.released == nil)
        e.keepsUp = true
        e.apply(m.sinkReady(now: 100 * Self.s), [], &m)
        #expect(!e.paused && m.deadline == 110 * Self.s)
        e.read(Self.out(" more") + Self.end(), &m, now: 101 * Self.s)
        #expect(e.text == "chunk more" && e.finished && e.released?.keep == true)
    }

    @Test func waitingForAConnectionEndsAt503() {
        var m = FastCGIResponseMachine(method: .GET, timeout: 5 * Self.s)
        let e = Executor()
        m.queued(now: 1 * Self.s)
        #expect(m.deadline == 6 * Self.s)
        e.apply(m.timerFired(now: 6 * Self.s - 1), [], &m)
        #expect(!e.cancelledWait)
        e.apply(m.timerFired(now: 6 * Self.s), [], &m)
        #expect(e.cancelledWait && e.error == 503 && e.released == nil && m.isDone)
        // Granted in time: the timeout starts again from the send.
        var g = FastCGIResponseMachine(method: .GET, timeout: 5 * Self.s)
        g.queued(now: 0)
        g.requestSent(now: 4 * Self.s, reused: false)
        #expect(g.deadline == 9 * Self.s)
    }

    @Test func connectFailures() {
        var m = Self.sent()
        let e = Executor()
        e.apply(m.connectFailed("connect: Connection refused", timedOut: false), [], &m)
        #expect(e.error == 502 && m.isDone && e.logs.contains { $0.contains("refused") })
        var t = Self.sent()
        let f = Executor()
        f.apply(t.connectFailed("connect timed out", timedOut: true), [], &t)
        #expect(f.error == 504)
    }

    // MARK: retry

    @Test func aKeptConnectionClosedBeforeAnyByteIsRetriedOnce() {
        var m = Self.sent(reused: true)
        let e = Executor()
        e.apply(m.responderClosed(now: 1), [], &m)
        #expect(e.retries == 1 && e.error == nil && e.released == nil && !m.reused)
        // The fresh connection answers normally.
        e.read(Self.out("Content-Type: text/plain\r\n\r\nretried") + Self.end(), &m)
        #expect(e.text == "retried" && e.finished && e.released?.keep == true)

        // Only once: a second close before any byte is a 502.
        var twice = Self.sent(reused: true)
        let t = Executor()
        t.apply(twice.responderClosed(now: 1), [], &twice)
        t.apply(twice.responderClosed(now: 2), [], &twice)
        #expect(t.retries == 1 && t.error == 502)
    }

    @Test func noRetryOnAFreshConnectionOrAfterAnyByte() {
        var fresh = Self.sent(reused: false)
        let f = Executor()
        f.apply(fresh.responderClosed(now: 1), [], &fresh)
        #expect(f.retries == 0 && f.error == 502)
        // Half a record header: the script may have run.
        var half = Self.sent(reused: true)
        let h = Executor()
        h.read([1, 6, 0], &half)
        h.apply(half.responderClosed(now: 1), [], &half)
        #expect(h.retries == 0 && h.error == 502 && h.logs.contains { $0.contains("bad gateway") })
        // Closed mid-body: cut short.
        var mid = Self.sent(reused: true)
        let b = Executor()
        b.read(Self.out("Content-Type: text/plain\r\n\r\nhalf"), &mid)
        b.apply(mid.responderClosed(now: 1), [], &mid)
        #expect(b.aborted && b.retries == 0)
    }

    // MARK: the client

    @Test func aClientThatLeavesClosesTheConnection() {
        var m = Self.sent()
        let e = Executor()
        e.read(Self.out("Content-Type: text/plain\r\n\r\nstart"), &m)
        e.apply(m.sinkGone(), [], &m)
        #expect(e.released.map { !$0.keep && $0.sendAbort } == true, "never kept: the script may still run")
        #expect(m.isDone)
        // Before any byte.
        var early = Self.sent()
        let x = Executor()
        x.apply(early.sinkGone(), [], &early)
        #expect(x.released.map { !$0.keep } == true)
        // While queued: it only leaves the queue.
        var q = FastCGIResponseMachine(method: .GET, timeout: Self.s)
        q.queued(now: 0)
        let y = Executor()
        y.apply(q.sinkGone(), [], &q)
        #expect(y.cancelledWait && y.released == nil && q.isDone)
    }

    @Test func stderrAloneIsLoggedAndTheLastLineFlushedAtTheEnd() {
        let (e, _) = Self.run(Self.err("PHP message: a; PHP message: b\n") + Self.err("tail without LF")
                              + Self.out("Content-Type: text/plain\r\n\r\n") + Self.end(), splits: [])
        #expect(e.stderr == ["PHP message: a", "PHP message: b", "tail without LF"])
        #expect(e.finished)
    }
}
