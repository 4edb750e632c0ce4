import Testing
@testable import FlaksHTTP

/// The connection state machine fed bytes and a fake clock: every timeout is driven here without
/// waiting for real time.
@Suite("ConnectionStateMachine: bytes and a fake clock")
struct ConnectionStateMachineTests {
    static let s: UInt64 = 1_000_000_000
    static let ms: UInt64 = 1_000_000

    static func config(maxRequests: Int = 1000) -> ConnectionStateMachine.Configuration {
        ConnectionStateMachine.Configuration(headerTimeout: 10 * s, bodyTimeout: 30 * s, keepaliveTimeout: 60 * s,
                                             sendTimeout: 60 * s, maxKeepaliveRequests: maxRequests,
                                             lingerTimeout: 2 * s, lingerBytes: 100)
    }

    /// What one run of feeding bytes produced.
    struct Fed {
        var heads: [RequestHead] = []
        var body: [UInt8] = []
        var ends = 0
        var errors: [Int] = []
        var continues = 0
        var closed = false
        var paused = false
        /// Bytes not consumed (pipelined, waiting).
        var left: [UInt8] = []
    }

    /// Feeds `bytes` (all at once, or `step` bytes at a time) the way `Connection` does: keep what was
    /// not consumed, call again until `.needMore`, `.pause` or `.close`.
    static func feed(_ m: inout ConnectionStateMachine, _ bytes: [UInt8], step: Int? = nil, now: UInt64) -> Fed {
        var fed = Fed()
        var buffer: [UInt8] = []
        var i = 0
        repeat {
            let n = min(step ?? bytes.count, bytes.count - i)
            buffer += bytes[i..<(i + n)]
            i += n
            parsing: while true {
                let (used, action) = buffer.withUnsafeBytes { m.received($0, now: now) }
                var stop = false
                switch action {
                case .needMore: stop = true
                case .pause: fed.paused = true; stop = true
                case .head(let c): if let h = m.takeHead() { fed.heads.append(h) }; if c { fed.continues += 1 }
                case .body(let r): fed.body += buffer[r]
                case .end: fed.ends += 1
                case .error(let e): fed.errors.append(e.status.code)
                case .close: fed.closed = true; stop = true
                }
                buffer.removeFirst(min(used, buffer.count))
                if stop { break parsing }
            }
            if fed.closed || fed.paused { break }
        } while i < bytes.count
        fed.left = buffer + bytes[i...]
        return fed
    }

    static let get = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)

    // MARK: one request

    @Test(arguments: [nil, 1, 3])
    func getRequestThenNextIsIdle(step: Int?) {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        #expect(m.deadline == 60 * Self.s)
        let fed = Self.feed(&m, Self.get, step: step, now: 5 * Self.ms)
        #expect(fed.heads.count == 1 && fed.ends == 1)
        #expect(m.awaitsResponse)
        #expect(m.deadline == 0, "no timer while the handler works")
        let plan = m.startResponse(status: .ok, bodyLength: 5, complete: true, now: 6 * Self.ms)
        #expect(plan == ResponsePlan(delimiter: .length(5), sendsBody: true, keepAlive: true, version: .http1_1))
        #expect(m.outputDrained(now: 7 * Self.ms, unreadInput: false) == .nextRequest)
        #expect(m.isIdle)
        #expect(m.deadline == 7 * Self.ms + 60 * Self.s)
    }

    @Test func pipelinedRequestsWaitForTheResponse() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        let two = Self.get + Array("GET /b HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let first = Self.feed(&m, two, now: 1)
        #expect(first.heads.count == 1 && first.ends == 1 && first.paused)
        #expect(first.left.count == two.count - Self.get.count)
        _ = m.startResponse(status: .ok, bodyLength: 0, complete: true, now: 2)
        #expect(m.outputDrained(now: 3, unreadInput: true) == .nextRequest)
        let second = Self.feed(&m, first.left, now: 4)
        #expect(second.heads.first?.target == "/b" && second.ends == 1)
    }

    @Test func maxKeepaliveRequestsClosesAfterTheLast() {
        var m = ConnectionStateMachine(configuration: Self.config(maxRequests: 2), now: 0)
        _ = Self.feed(&m, Self.get, now: 1)
        #expect(m.startResponse(status: .ok, bodyLength: 0, complete: true, now: 1)?.keepAlive == true)
        #expect(m.outputDrained(now: 1, unreadInput: false) == .nextRequest)
        _ = Self.feed(&m, Self.get, now: 2)
        #expect(m.startResponse(status: .ok, bodyLength: 0, complete: true, now: 2)?.keepAlive == false)
        #expect(m.outputDrained(now: 2, unreadInput: false) == .lingerClose)
    }

    @Test func clientConnectionCloseClosesWithoutLingerWhenNothingIsUnread() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Array("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8), now: 1)
        #expect(m.startResponse(status: .ok, bodyLength: 0, complete: true, now: 1)?.keepAlive == false)
        #expect(m.outputDrained(now: 1, unreadInput: false) == .close)
        var n = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&n, Array("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8), now: 1)
        _ = n.startResponse(status: .ok, bodyLength: 0, complete: true, now: 1)
        #expect(n.outputDrained(now: 1, unreadInput: true) == .lingerClose, "unread bytes: a plain close would reset")
    }

    // MARK: framing

    @Test func framingRules() {
        func plan(_ status: Int, _ method: String, _ version: String, length: Int?) -> ResponsePlan? {
            var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
            _ = Self.feed(&m, Array("\(method) / \(version)\r\nHost: a\r\n\r\n".utf8), now: 0)
            return m.startResponse(status: HTTPStatus(status), bodyLength: length, complete: length != nil, now: 0)
        }
        #expect(plan(200, "GET", "HTTP/1.1", length: nil)?.delimiter == .chunked)
        #expect(plan(200, "HEAD", "HTTP/1.1", length: 10) == ResponsePlan(delimiter: .length(10), sendsBody: false, keepAlive: true, version: .http1_1))
        #expect(plan(204, "GET", "HTTP/1.1", length: 0)?.delimiter == BodyDelimiter.none)
        #expect(plan(304, "GET", "HTTP/1.1", length: 10)?.sendsBody == false)
        #expect(plan(304, "GET", "HTTP/1.1", length: 10)?.delimiter == BodyDelimiter.none)
        // HTTP/1.0 without a length: only the close ends the body.
        #expect(plan(200, "GET", "HTTP/1.0", length: nil) == ResponsePlan(delimiter: .close, sendsBody: true, keepAlive: false, version: .http1_0))
        // ... unless there is no body: a HEAD keeps a 1.0 keep-alive connection.
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Array("HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8), now: 0)
        #expect(m.startResponse(status: .ok, bodyLength: nil, complete: false, now: 0)?.keepAlive == true)
    }

    @Test func bodyFramerCapsAtContentLengthAndChunks() {
        var f = BodyFramer(plan: ResponsePlan(delimiter: .length(5), sendsBody: true, keepAlive: true, version: .http1_1))
        var out: [UInt8] = []
        let n = Array("hello world".utf8).withUnsafeBytes { f.frame($0, into: &out) }
        #expect(n == 5 && out == Array("hello".utf8))
        let finished = f.finish(into: &out)
        #expect(finished)
        var short = BodyFramer(plan: ResponsePlan(delimiter: .length(5), sendsBody: true, keepAlive: true, version: .http1_1))
        _ = Array("hi".utf8).withUnsafeBytes { short.frame($0, into: &out) }
        let shortFinished = short.finish(into: &out)
        #expect(!shortFinished, "fewer bytes than announced cannot end cleanly")
        var c = BodyFramer(plan: ResponsePlan(delimiter: .chunked, sendsBody: true, keepAlive: true, version: .http1_1))
        var chunked: [UInt8] = []
        _ = Array("hello world!".utf8).withUnsafeBytes { c.frame($0, into: &chunked) }
        let chunkedFinished = c.finish(into: &chunked)
        #expect(chunkedFinished)
        #expect(String(decoding: chunked, as: UTF8.self) == "c\r\nhello world!\r\n0\r\n\r\n")
        var head = BodyFramer(plan: ResponsePlan(delimiter: .chunked, sendsBody: false, keepAlive: true, version: .http1_1))
        var none: [UInt8] = []
        _ = Array("x".utf8).withUnsafeBytes { head.frame($0, into: &none) }
        let headFinished = head.finish(into: &none)
        #expect(headFinished && none.isEmpty)
    }

    // MARK: timeouts

    @Test(arguments: [nil, 1])
    func headerTimeoutIsNotExtendedByTrickledBytes(step: Int?) {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        let partial = Array("GET / HTTP/1.1\r\nHost".utf8)
        _ = Self.feed(&m, partial, step: step, now: 1 * Self.s)
        #expect(m.deadline == 11 * Self.s)
        _ = Self.feed(&m, Array(": a".utf8), now: 9 * Self.s)
        #expect(m.deadline == 11 * Self.s, "slowloris: later bytes do not extend the header deadline")
        #expect(m.timerFired(now: 11 * Self.s - 1) == .none)
        #expect(m.timerFired(now: 11 * Self.s) == .requestTimeout)
        let plan = m.startResponse(status: .requestTimeout, bodyLength: 10, complete: true, now: 11 * Self.s)
        #expect(plan?.keepAlive == false)
        #expect(m.outputDrained(now: 11 * Self.s, unreadInput: false) == .lingerClose)
    }

    @Test func emptyLinesBeforeARequestDoNotStartTheHeaderTimer() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Array("\r\n\r\n".utf8), now: 1 * Self.s)
        #expect(m.isIdle)
        #expect(m.deadline == 60 * Self.s)
    }

    @Test func bodyTimeoutIsRefreshedByEveryBodyByte() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        let fed = Self.feed(&m, Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab".utf8), now: 1 * Self.s)
        #expect(fed.body == Array("ab".utf8))
        #expect(m.deadline == 31 * Self.s)
        _ = Self.feed(&m, Array("c".utf8), now: 20 * Self.s)
        #expect(m.deadline == 50 * Self.s)
        #expect(m.timerFired(now: 49 * Self.s) == .none)
        #expect(m.timerFired(now: 50 * Self.s) == .requestTimeout)
        #expect(m.startResponse(status: .requestTimeout, bodyLength: 0, complete: true, now: 50 * Self.s)?.keepAlive == false)
    }

    @Test func idleKeepaliveTimeoutCloses() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        #expect(m.timerFired(now: 60 * Self.s - 1) == .none)
        #expect(m.timerFired(now: 60 * Self.s) == .close)
        #expect(m.isClosed)
    }

    @Test func sendTimeoutRunsOnlyWhileTheClientDoesNotRead() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Self.get, now: 0)
        _ = m.startResponse(status: .ok, bodyLength: 1 << 30, complete: true, now: 0)
        #expect(m.deadline == 0, "output not blocked: no send timer")
        m.outputBlocked(now: 1 * Self.s)
        #expect(m.deadline == 61 * Self.s)
        m.outputProgress(now: 30 * Self.s)
        #expect(m.deadline == 90 * Self.s, "every byte the socket takes refreshes it")
        #expect(m.timerFired(now: 90 * Self.s) == .close)
    }

    @Test func aProducerWithItsOwnTimeoutIsNotCutOffByKeepalive() {
        // A CGI script writing for longer than keepalive_timeout (but within cgi.timeout).
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Self.get, now: 0)
        _ = m.startResponse(status: .ok, bodyLength: nil, complete: false, producerIdleLimit: nil, now: 0)
        for t in stride(from: UInt64(0), through: 300, by: 10) {
            m.produced(now: t * Self.s)
            #expect(m.outputDrained(now: t * Self.s, unreadInput: false) == .resumeProducer)
            #expect(m.timerFired(now: t * Self.s + 59 * Self.s) == .none)
        }
        _ = m.producerFinished(now: 301 * Self.s, outputEmpty: true, unreadInput: false)
        #expect(m.isIdle)
    }

    @Test func aSilentProducerWithAnIdleLimitIsAborted() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Self.get, now: 0)
        _ = m.startResponse(status: .ok, bodyLength: nil, complete: false, producerIdleLimit: 5 * Self.s, now: 0)
        m.produced(now: 2 * Self.s)
        #expect(m.deadline == 7 * Self.s)
        #expect(m.timerFired(now: 7 * Self.s) == .abort)
        #expect(m.isClosed)
    }

    // MARK: half-close, errors, lingering, drain

    @Test func halfCloseAfterARequestFinishesTheResponseThenCloses() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Self.get, now: 0)
        #expect(m.peerClosed(now: 1) == .none)
        #expect(m.awaitsResponse)
        #expect(m.startResponse(status: .ok, bodyLength: 3, complete: true, now: 2)?.keepAlive == false)
        #expect(m.outputDrained(now: 3, unreadInput: false) == .close)
    }

    @Test func halfCloseInsideAHeadOrBodyCloses() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Array("GET / HT".utf8), now: 0)
        #expect(m.peerClosed(now: 1) == .close)
        var b = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&b, Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nab".utf8), now: 0)
        #expect(b.peerClosed(now: 1) == .close)
        var idle = ConnectionStateMachine(configuration: Self.config(), now: 0)
        #expect(idle.peerClosed(now: 1) == .close)
    }

    @Test(arguments: [nil, 1])
    func badRequestAnswersOnceThenLingers(step: Int?) {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        let fed = Self.feed(&m, Array("GET / HTTP/1.1\r\nHost : a\r\n\r\nGET / HTTP/1.1\r\n".utf8), step: step, now: 0)
        #expect(fed.errors == [400])
        #expect(fed.heads.isEmpty)
        #expect(m.startResponse(status: .badRequest, bodyLength: 1, complete: true, now: 0)?.keepAlive == false)
        #expect(m.outputDrained(now: 1 * Self.s, unreadInput: false) == .lingerClose)
        #expect(m.isLingering && m.deadline == 3 * Self.s)
        // Lingering drops input until its byte budget (100 in this configuration) is spent.
        let some = Self.feed(&m, [UInt8](repeating: 65, count: 60), now: 2 * Self.s)
        #expect(!some.closed && some.left.isEmpty)
        let more = Self.feed(&m, [UInt8](repeating: 65, count: 60), now: 2 * Self.s)
        #expect(more.closed)
    }

    @Test func lingeringEndsAtItsTimeout() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Array("BREW / HTTP/1.1\r\n\r\n".utf8), now: 0)
        _ = m.startResponse(status: .notImplemented, bodyLength: 0, complete: true, now: 0)
        #expect(m.outputDrained(now: 0, unreadInput: false) == .lingerClose)
        #expect(m.timerFired(now: 2 * Self.s) == .close)
    }

    @Test func tooLargeBodyIsAnErrorAtTheHead() {
        var c = Self.config()
        c.parse.maxBody = 10
        var m = ConnectionStateMachine(configuration: c, now: 0)
        let fed = Self.feed(&m, Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n".utf8), now: 0)
        #expect(fed.errors == [413])
    }

    @Test func expectContinueOnlyWhenNoBodyByteIsThere() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        let head = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        #expect(Self.feed(&m, Array(head.utf8), now: 0).continues == 1)
        var n = ConnectionStateMachine(configuration: Self.config(), now: 0)
        #expect(Self.feed(&n, Array((head + "ab").utf8), now: 0).continues == 0)
    }

    @Test func drainClosesIdleAndFinishesTheRequestInFlight() {
        var idle = ConnectionStateMachine(configuration: Self.config(), now: 0)
        #expect(idle.drain(now: 1) == .close)
        var busy = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&busy, Self.get, now: 0)
        #expect(busy.drain(now: 1) == .none)
        #expect(busy.startResponse(status: .ok, bodyLength: 0, complete: true, now: 2)?.keepAlive == false)
        #expect(busy.outputDrained(now: 3, unreadInput: false) != .nextRequest)
    }

    @Test func abortedResponseClosesAndAnEarlyAnswerToAnUnreadBodyLingers() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Self.get, now: 0)
        _ = m.startResponse(status: .ok, bodyLength: nil, complete: false, now: 0)
        m.responseAborted()
        #expect(m.isClosed)
        // A response (a streamed upload's early answer) that ends before the request body did.
        var early = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&early, Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nab".utf8), now: 0)
        _ = early.startResponse(status: .contentTooLarge, bodyLength: 0, complete: true, now: 0)
        #expect(early.outputDrained(now: 1, unreadInput: false) == .lingerClose)
    }

    @Test func internalRedirectKeepsTheClientsMethodForFraming() {
        var m = ConnectionStateMachine(configuration: Self.config(), now: 0)
        _ = Self.feed(&m, Array("HEAD /cgi HTTP/1.1\r\nHost: a\r\n\r\n".utf8), now: 0)
        // Whatever the handler of the redirected GET answers, the plan sends no body.
        #expect(m.method == .HEAD)
        #expect(m.startResponse(status: .ok, bodyLength: 1234, complete: true, now: 0)?.sendsBody == false)
    }

    @Test func headEncoderDropsServerFieldsAndAppliesRouteFieldsByStatus() {
        let route = ResponseHeadEncoder.RouteFields(success: ["Cache-Control": "max-age=60"], always: ["X-Frame-Options": "DENY"])
        func head(_ status: Int) -> String {
            var b: [UInt8] = []
            let plan = ResponsePlan(delimiter: .length(0), sendsBody: true, keepAlive: true, version: .http1_1)
            ResponseHeadEncoder.encode(status: HTTPStatus(status), plan: plan,
                                       fields: ["Content-Length": "99", "Date": "x", "Server": "y", "Connection": "z", "Keep-Alive": "1",
                                                "Transfer-Encoding": "chunked", "X-A": "1"],
                                       preEncoded: nil, route: route, common: [], into: &b)
            return String(decoding: b, as: UTF8.self)
        }
        #expect(head(200) == "HTTP/1.1 200 OK\r\nX-A: 1\r\nCache-Control: max-age=60\r\nX-Frame-Options: DENY\r\nContent-Length: 0\r\n\r\n")
        #expect(!head(404).contains("Cache-Control"), "a cache policy must not make an error cacheable")
        #expect(head(404).contains("X-Frame-Options: DENY"))
        #expect(head(301).contains("Cache-Control"))
    }
}

/// `beginPrepared`: a request answered whole from a prepared response goes through the same
/// states, counts and deadlines as one the parser read.
@Suite("ConnectionStateMachine: prepared answers")
struct PreparedAnswerMachineTests {
    static let s: UInt64 = 1_000_000_000
    static let plan = ResponsePlan.decide(status: .ok, method: .GET, version: .http1_1, bodyLength: 3, keepAlive: true)

    @Test func aPreparedAnswerIsCountedAndEndsInIdleWithTheKeepaliveDeadline() {
        var m = ConnectionStateMachine(configuration: ConnectionStateMachineTests.config(), now: 0)
        #expect(m.awaitsHead)
        let r1 = m.beginPrepared(plan: Self.plan, now: 2 * Self.s)

        #expect(r1)
        #expect(m.requests == 1)
        #expect(!m.awaitsHead && m.plan == Self.plan && m.method == .GET)
        #expect(m.deadline == 0, "no timer until the socket refuses output")
        m.outputBlocked(now: 3 * Self.s)
        #expect(m.deadline == 3 * Self.s + 60 * Self.s)
        let r2 = m.outputDrained(now: 5 * Self.s, unreadInput: false)

        #expect(r2 == .nextRequest)
        #expect(m.isIdle && m.deadline == 5 * Self.s + 60 * Self.s)
        // The parser carries on with the next request as usual.
        let fed = ConnectionStateMachineTests.feed(&m, Array("GET /b HTTP/1.1\r\nHost: a\r\n\r\n".utf8), now: 6 * Self.s)
        #expect(fed.heads.map(\.target) == ["/b"] && m.requests == 2)
    }

    @Test func aHeadScannedInPartIsForgottenWhenItIsAnsweredPrepared() {
        var m = ConnectionStateMachine(configuration: ConnectionStateMachineTests.config(), now: 0)
        // The first bytes of a head: the parser scans them and waits.
        let first = ConnectionStateMachineTests.feed(&m, Array("GET /a HTTP/1.1\r\nHo".utf8), now: 1)
        #expect(first.heads.isEmpty && m.awaitsHead)
        let r3 = m.beginPrepared(plan: Self.plan, now: 2)

        #expect(r3)
        let r4 = m.outputDrained(now: 3, unreadInput: false)

        #expect(r4 == .nextRequest)
        // Had the scan of the consumed head been kept, this head would be read from the wrong offset.
        let next = ConnectionStateMachineTests.feed(&m, Array("GET /next HTTP/1.1\r\nHost: a\r\n\r\n".utf8), now: 4)
        #expect(next.heads.map(\.target) == ["/next"] && next.errors.isEmpty)
    }

    @Test func theLastRequestOfMaxKeepaliveRequestsIsNotPrepared() {
        var m = ConnectionStateMachine(configuration: ConnectionStateMachineTests.config(maxRequests: 3), now: 0)
        let r5 = m.beginPrepared(plan: Self.plan, now: 1)

        #expect(r5)
        let r6 = m.outputDrained(now: 1, unreadInput: false)

        #expect(r6 == .nextRequest)
        let r7 = m.beginPrepared(plan: Self.plan, now: 2)

        #expect(r7, "request 2 of 3 may still keep the connection")
        let r8 = m.outputDrained(now: 2, unreadInput: false)

        #expect(r8 == .nextRequest)
        let r9 = m.beginPrepared(plan: Self.plan, now: 3)

        #expect(!r9, "request 3 of 3 must say close: the general path")
        #expect(m.requests == 2 && m.awaitsHead)
    }

    @Test func notWhileDrainingHalfClosedBusyOrForAClosingPlan() {
        var draining = ConnectionStateMachine(configuration: ConnectionStateMachineTests.config(), now: 0)
        _ = draining.drain(now: 1)
        let r10 = draining.beginPrepared(plan: Self.plan, now: 2)

        #expect(!r10)

        var halfClosed = ConnectionStateMachine(configuration: ConnectionStateMachineTests.config(), now: 0)
        _ = ConnectionStateMachineTests.feed(&halfClosed, Array("GET / HTTP/1.1\r\n".utf8), now: 1)
        _ = halfClosed.peerClosed(now: 1)
        let r11 = halfClosed.beginPrepared(plan: Self.plan, now: 2)

        #expect(!r11)

        var busy = ConnectionStateMachine(configuration: ConnectionStateMachineTests.config(), now: 0)
        _ = ConnectionStateMachineTests.feed(&busy, Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8), now: 1)
        let r12 = busy.beginPrepared(plan: Self.plan, now: 2)

        #expect(!r12, "a request is in flight")

        var m = ConnectionStateMachine(configuration: ConnectionStateMachineTests.config(), now: 0)
        var closing = Self.plan
        closing.keepAlive = false
        let r13 = m.beginPrepared(plan: closing, now: 1)

        #expect(!r13)
        #expect(m.requests == 0)
    }
}
