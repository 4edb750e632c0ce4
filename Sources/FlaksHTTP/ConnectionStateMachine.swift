/// The server side of one HTTP/1.1 connection as a pure state machine (RFC 9112 §9): which request
/// is being read, which response is being written, which deadline applies, and what happens when the
/// peer half-closes, a timer fires or the server drains. No I/O, no clock: every event carries `now`
/// (monotonic nanoseconds) and returns what the executor (`Connection` in FlaksServer) must do.
///
/// One request at a time: after a request's end, pipelined bytes wait (`.pause`) until its response
/// has been written, which keeps responses in request order (RFC 9112 §9.3.2).
///
/// Deadlines (`deadline`, 0 = none) follow from the state, so nothing is reset by hand:
/// - idle between requests: `keepaliveTimeout` from the end of the last response;
/// - a head in progress: `headerTimeout` from its first byte (later bytes do not extend it: slowloris);
/// - a body in progress: `bodyTimeout` from the last body byte;
/// - a response whose output is blocked by the client: `sendTimeout` from the last byte the socket took;
/// - a streamed response waiting on its producer: the producer's own idle limit, if it gave one
///   (a CGI script or an upstream has its own timeout, and a slow-but-alive producer is not cut off);
/// - lingering after an early error: `lingerTimeout` from the shutdown of the write side.
public struct ConnectionStateMachine: Sendable {
    /// Limits and timeouts in the units the machine needs (nanoseconds).
    public struct Configuration: Sendable {
        public var parse: ParseLimits
        public var headerTimeout: UInt64
        public var bodyTimeout: UInt64
        public var keepaliveTimeout: UInt64
        /// How long the client may leave queued output unread.
        public var sendTimeout: UInt64
        public var maxKeepaliveRequests: Int
        /// Lingering close (RFC 9112 §9.6): how long, and how many bytes, of input are read and dropped
        /// after the write side was shut, so the client reads the answer instead of a reset.
        public var lingerTimeout: UInt64
        public var lingerBytes: Int

        public init(parse: ParseLimits = ParseLimits(), headerTimeout: UInt64 = 10_000_000_000,
                    bodyTimeout: UInt64 = 30_000_000_000, keepaliveTimeout: UInt64 = 60_000_000_000,
                    sendTimeout: UInt64? = nil, maxKeepaliveRequests: Int = 1000,
                    lingerTimeout: UInt64 = 2_000_000_000, lingerBytes: Int = 1 << 20) {
            self.parse = parse; self.headerTimeout = headerTimeout; self.bodyTimeout = bodyTimeout
            self.keepaliveTimeout = keepaliveTimeout; self.sendTimeout = sendTimeout ?? keepaliveTimeout
            self.maxKeepaliveRequests = maxKeepaliveRequests
            self.lingerTimeout = lingerTimeout; self.lingerBytes = lingerBytes
        }
    }

    /// Where the connection is. Each state carries what it needs; the request being served is
    /// `exchange`, kept beside the state rather than inside `.active` so that the hot path updates
    /// its fields in place instead of copying it out of the enum and back (measured: ~300
    /// instructions per request of copies).
    public enum State: Sendable {
        /// Between requests: no byte of the next one yet.
        case idle(since: UInt64)
        /// Some bytes of a request head arrived, the first at `since`.
        case readingHead(since: UInt64)
        /// A request is being served (its body may still be arriving): `exchange`.
        case active
        /// The write side is shut after a final response; input is read and dropped until EOF,
        /// `until` or the byte budget runs out.
        case lingering(until: UInt64, budget: Int)
        /// After `101 Switching Protocols`: bytes pass both ways untouched (a WebSocket relayed to an
        /// upstream); nothing is parsed, and the tunnel keeps its own idle limit.
        case tunnel
        case closed
    }

    /// One request and its response.
    public struct Exchange: Sendable {
        /// The method as the client sent it: it frames the response, whatever an internal
        /// redirect makes of the request.
        public let method: HTTPMethod
        public let version: HTTPVersion
        /// Whether another request may follow on this connection.
        public var keepAlive: Bool
        /// The client itself asked to close after this response.
        let clientCloses: Bool
        /// The request could not be parsed or timed out: what follows it on the wire is not a request.
        let failed: Bool
        public var body: BodyState
        public var response: ResponseState
        /// The body's consumer (a proxied upload) cannot take more now: nothing is parsed and the
        /// body timeout does not run until it can (the consumer's own timeout applies).
        public var bodyHeld = false
    }

    /// The request body's progress.
    public enum BodyState: Sendable, Equatable {
        /// Bytes may still come; `last` is when the last one (or the head) arrived.
        case reading(last: UInt64)
        /// The request ended (`.end` was returned).
        case complete
    }

    /// The response's progress.
    public enum ResponseState: Sendable, Equatable {
        /// The handler has the request; nothing was written yet.
        case pending
        /// The head was queued.
        case sending(Sending)
    }

    /// A response being written.
    public struct Sending: Sendable, Equatable {
        public let plan: ResponsePlan
        /// The producer finished the body (or there is no producer: a complete response).
        public var producerDone: Bool
        /// The socket refused output (EAGAIN) and has not drained since.
        public var blocked: Bool
        /// When the socket last took bytes (or the response started).
        public var lastProgress: UInt64
        /// When the producer last wrote; with `producerIdleLimit`, bounds a silent producer.
        public var lastProduced: UInt64
        public let producerIdleLimit: UInt64?
    }

    /// What to do after a chunk of input was looked at.
    public enum ReadAction: Sendable {
        /// Read more from the socket and call again.
        case needMore
        /// Do not parse now: the current request is complete and its response is not written yet.
        /// The bytes not consumed stay buffered for later.
        case pause
        /// A request head: take it with `takeHead()`. `sendContinue`: answer `100 Continue` before
        /// reading its body (RFC 9110 §10.1.1: the client waits for it and no body byte is here yet).
        /// (The head itself is not in the action: an enum carrying it costs a copy and a destroy of
        /// every field per call, measured at ~400 instructions per request.)
        case head(sendContinue: Bool)
        /// Body bytes: this range of the buffer given (de-chunked).
        case body(Range<Int>)
        /// The request is complete.
        case end
        /// The request is bad: answer the error's status and close after it. Nothing more is parsed.
        case error(HTTPParseError)
        /// Close the connection now, answering nothing.
        case close
    }

    /// What to do when a response's output is out, or its producer finished.
    public enum AfterResponse: Sendable, Equatable {
        /// Nothing yet.
        case none
        /// The producer may write more (its output drained).
        case resumeProducer
        /// The exchange is over: look at buffered input, then read the next request.
        case nextRequest
        /// Close now.
        case close
        /// Shut the write side, then read and drop input until EOF or the linger limits (RFC 9112 §9.6).
        case lingerClose
    }

    /// What a fired timer means.
    public enum TimerAction: Sendable, Equatable {
        case none
        /// Close, answering nothing (idle, lingering, or a client that does not read).
        case close
        /// Answer 408 and close (a request that did not arrive in time).
        case requestTimeout
        /// The response cannot finish: end the connection without completing the message.
        case abort
    }

    public let configuration: Configuration
    public private(set) var state: State
    /// The request in flight while `.active`.
    public private(set) var exchange = Exchange(method: .GET, version: .http1_1, keepAlive: false, clientCloses: false,
                                                failed: false, body: .complete, response: .pending)
    private var parser: RequestParser
    /// Requests started on this connection.
    public private(set) var requests = 0
    /// The peer sent FIN: nothing more will arrive after what is buffered.
    public private(set) var peerHalfClosed = false
    /// The server is draining: finish what is in flight, accept no further request.
    public private(set) var draining = false
    /// The head announced by the last `.head` action, until `takeHead()`.
    private var parsedHead: RequestHead?

    /// `headStarted`: the header timeout runs from now (a TLS connection: it covers the handshake).
    public init(configuration: Configuration, now: UInt64, headStarted: Bool = false) {
        self.configuration = configuration
        parser = RequestParser(limits: configuration.parse)
        state = headStarted ? .readingHead(since: now) : .idle(since: now)
    }

    // MARK: - Input

    /// Feeds input from the front of `bytes` (everything received and not yet consumed). Returns how
    /// many bytes were consumed and what to do; call again after acting, until `.needMore`, `.pause`
    /// or `.close`.
    public mutating func received(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> (consumed: Int, action: ReadAction) {
        switch state {
        case .idle, .readingHead:
            return parseHead(bytes, now: now)
        case .active:
            guard case .reading = exchange.body, !exchange.bodyHeld else { return (0, .pause) }
            let result: ParseResult
            do { result = try parser.parse(bytes) } catch {
                if case .pending = exchange.response {
                    exchange.keepAlive = false
                    exchange.body = .complete
                    return (bytes.count, .error(error))
                }
                state = .closed
                return (bytes.count, .close)
            }
            switch result.event {
            case .needMoreBytes:
                return (result.consumed, .needMore)
            case .body(let range):
                exchange.body = .reading(last: now)
                return (result.consumed, .body(range))
            case .end:
                exchange.body = .complete
                return (result.consumed, .end)
            case .head:
                // The parser yields a head only between requests.
                state = .closed
                return (bytes.count, .close)
            }
        case .tunnel:
            return (0, .pause)
        case .lingering(let until, let budget):
            let left = budget - bytes.count
            if left <= 0 {
                state = .closed
                return (bytes.count, .close)
            }
            state = .lingering(until: until, budget: left)
            return (bytes.count, .needMore)
        case .closed:
            return (0, .close)
        }
    }

    private mutating func parseHead(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> (consumed: Int, action: ReadAction) {
        let result: ParseResult
        do { result = try parser.parse(bytes) } catch {
            fail(now: now)
            return (bytes.count, .error(error))
        }
        switch result.event {
        case .needMoreBytes:
            if case .idle = state, result.consumed < bytes.count { state = .readingHead(since: now) }
            return (result.consumed, .needMore)
        case .head(let h):
            requests += 1
            let keepAlive = h.keepAlive && !draining && !peerHalfClosed && requests < configuration.maxKeepaliveRequests
            exchange = Exchange(method: h.method, version: h.version, keepAlive: keepAlive,
                                clientCloses: !h.keepAlive, failed: false,
                                body: .reading(last: now), response: .pending)
            state = .active
            let bodyFollows = h.framing != .none && h.framing != .length(0)
            let sendContinue = h.expectContinue && bodyFollows && result.consumed == bytes.count
            parsedHead = consume h
            return (result.consumed, .head(sendContinue: sendContinue))
        case .body, .end:
            // Not between requests.
            state = .closed
            return (bytes.count, .close)
        }
    }

    /// A request the executor answers whole from a prepared response (a `QuickHead`: GET, HTTP/1.1,
    /// no body, keep-alive): counted like a parsed head, with its response started on `plan` and
    /// complete, so the executor only writes it and reports `outputDrained` (or `outputBlocked`).
    /// Returns false, changing nothing, when the request must take the general path instead:
    /// not between requests, draining, the peer half-closed, or the request would be the last of
    /// `maxKeepaliveRequests` (its answer must then say `Connection: close`). The parser's partial
    /// scan of the head (bytes that came earlier) is forgotten: the executor consumed the head.
    public mutating func beginPrepared(plan: ResponsePlan, now: UInt64) -> Bool {
        switch state {
        case .idle, .readingHead: break
        default: return false
        }
        guard !draining, !peerHalfClosed, plan.keepAlive, requests &+ 1 < configuration.maxKeepaliveRequests else { return false }
        requests &+= 1
        parser.forgetHeadScan()
        exchange = Exchange(method: .GET, version: .http1_1, keepAlive: true, clientCloses: false, failed: false,
                            body: .complete,
                            response: .sending(Sending(plan: plan, producerDone: true, blocked: false, lastProgress: now,
                                                       lastProduced: now, producerIdleLimit: nil)))
        state = .active
        return true
    }

    /// A request that failed before its head was complete: an exchange that only answers an error.
    /// The head of the last `.head` action (moved out: a second call returns nil).
    public mutating func takeHead() -> RequestHead? {
        parsedHead.take()
    }

    private mutating func fail(now: UInt64) {
        exchange = Exchange(method: .GET, version: .http1_1, keepAlive: false, clientCloses: false, failed: true,
                            body: .complete, response: .pending)
        state = .active
    }

    /// The peer sent FIN (a read returned 0).
    public mutating func peerClosed(now: UInt64) -> AfterResponse {
        peerHalfClosed = true
        switch state {
        case .idle, .readingHead, .lingering, .closed:
            state = .closed
            return .close
        case .tunnel:
            return .none
        case .active:
            if case .reading = exchange.body {
                // The request can never be complete.
                state = .closed
                return .close
            }
            // Half-close after a complete request: finish the response, then close (RFC 9112 §9.6).
            exchange.keepAlive = false
            return .none
        }
    }

    /// The connection broke (reset, error): nothing can be delivered.
    public mutating func peerReset() {
        state = .closed
    }

    // MARK: - Output

    /// The response's head is about to be queued. Returns its framing, or nil when no response can
    /// start now (none is owed, one already started, or the connection closed).
    /// - Parameters:
    ///   - bodyLength: the body's length when known; nil for a stream of unknown length.
    ///   - complete: the whole response is queued with the head (no producer follows).
    ///   - producerIdleLimit: for a stream, how long its producer may stay silent (nil: it has its own timeout).
    public mutating func startResponse(status: HTTPStatus, bodyLength: Int?, complete: Bool,
                                       producerIdleLimit: UInt64? = nil, now: UInt64) -> ResponsePlan? {
        guard case .active = state, case .pending = exchange.response else { return nil }
        if draining { exchange.keepAlive = false }
        let plan = ResponsePlan.decide(status: status, method: exchange.method, version: exchange.version,
                                        bodyLength: bodyLength, keepAlive: exchange.keepAlive)
        exchange.keepAlive = plan.keepAlive
        exchange.response = .sending(Sending(plan: plan, producerDone: complete, blocked: false, lastProgress: now,
                                             lastProduced: now, producerIdleLimit: producerIdleLimit))
        return plan
    }

    /// The plan of the response being written, if any.
    @inlinable
    public var plan: ResponsePlan? {
        if case .active = state, case .sending(let s) = exchange.response { return s.plan }
        return nil
    }

    /// True between requests (idle, or part of the next head buffered): a head is what comes next.
    @inlinable
    public var awaitsHead: Bool {
        switch state {
        case .idle, .readingHead: true
        default: false
        }
    }

    /// True while a request waits for its handler's answer (no response started).
    @inlinable
    public var awaitsResponse: Bool {
        if case .active = state, case .pending = exchange.response { return true }
        return false
    }

    /// The method the client sent for the request in flight.
    @inlinable
    public var method: HTTPMethod? {
        if case .active = state { return exchange.method }
        return nil
    }

    /// The streamed body's producer wrote something.
    public mutating func produced(now: UInt64) {
        mutateSending { $0.lastProduced = now }
    }

    /// The socket refused output (EAGAIN): the send timer runs from the last byte it took.
    public mutating func outputBlocked(now: UInt64) {
        mutateSending { s in
            if !s.blocked { s.blocked = true; s.lastProgress = now }
        }
    }

    /// The socket took bytes while output was blocked.
    public mutating func outputProgress(now: UInt64) {
        mutateSending { $0.lastProgress = now }
    }

    /// Everything queued was written. `unreadInput`: bytes of the client may be waiting (buffered or
    /// in the socket), so a close must linger.
    public mutating func outputDrained(now: UInt64, unreadInput: Bool) -> AfterResponse {
        guard case .active = state, case .sending(var s) = exchange.response else { return .none }
        if !s.producerDone {
            s.blocked = false
            s.lastProgress = now
            exchange.response = .sending(s)
            return .resumeProducer
        }
        return finish(now: now, unreadInput: unreadInput)
    }

    /// The producer wrote its last byte. `outputEmpty`: nothing is left queued, so the exchange ends now;
    /// otherwise it ends at `outputDrained`.
    public mutating func producerFinished(now: UInt64, outputEmpty: Bool, unreadInput: Bool) -> AfterResponse {
        guard case .active = state, case .sending(var s) = exchange.response else { return .none }
        s.producerDone = true
        exchange.response = .sending(s)
        return outputEmpty ? finish(now: now, unreadInput: unreadInput) : .none
    }

    /// The response cannot be completed (its producer failed after the head went out): the only honest
    /// signal left is to close without ending the message (no last chunk, fewer bytes than announced).
    public mutating func responseAborted() {
        state = .closed
    }

    /// The exchange is over.
    private mutating func finish(now: UInt64, unreadInput: Bool) -> AfterResponse {
        let ex = exchange
        let bodyRead = ex.body == .complete
        if ex.keepAlive && bodyRead && !draining && !peerHalfClosed {
            state = .idle(since: now)
            return .nextRequest
        }
        // Closing. A plain close with unread input makes the kernel send a reset, which can destroy the
        // answer before the client reads it; so unless the client said it sends nothing more, linger.
        if (ex.clientCloses && bodyRead && !ex.failed && !unreadInput) || (peerHalfClosed && !unreadInput) {
            state = .closed
            return .close
        }
        state = .lingering(until: now &+ configuration.lingerTimeout, budget: configuration.lingerBytes)
        return .lingerClose
    }

    private mutating func mutateSending(_ body: (inout Sending) -> Void) {
        guard case .active = state, case .sending(var s) = exchange.response else { return }
        body(&s)
        exchange.response = .sending(s)
    }

    // MARK: - Time and drain

    /// The current deadline in monotonic nanoseconds; 0 when none applies. Inlinable: read after
    /// every event, and as a cross-module call it copied the whole machine first (~80 instructions).
    @inlinable
    public var deadline: UInt64 {
        let c = configuration
        switch state {
        case .idle(let since): return since &+ c.keepaliveTimeout
        case .readingHead(let since): return since &+ c.headerTimeout
        case .lingering(let until, _): return until
        case .closed, .tunnel: return 0
        case .active:
            switch exchange.response {
            case .pending:
                if case .reading(let last) = exchange.body, !exchange.bodyHeld { return last &+ c.bodyTimeout }
                return 0
            case .sending(let s):
                if s.blocked { return s.lastProgress &+ c.sendTimeout }
                if !s.producerDone, let idle = s.producerIdleLimit { return s.lastProduced &+ idle }
                if case .reading(let last) = exchange.body, !exchange.bodyHeld { return last &+ c.bodyTimeout }
                return 0
            }
        }
    }

    /// The deadline may have passed: what to do.
    public mutating func timerFired(now: UInt64) -> TimerAction {
        let d = deadline
        guard d != 0, now >= d else { return .none }
        switch state {
        case .idle, .lingering, .closed:
            state = .closed
            return .close
        case .tunnel:
            return .none
        case .readingHead:
            fail(now: now)
            return .requestTimeout
        case .active:
            switch exchange.response {
            case .pending:
                // The body stopped arriving.
                exchange.keepAlive = false
                exchange.body = .complete
                return .requestTimeout
            case .sending(let s):
                state = .closed
                return s.blocked ? .close : .abort
            }
        }
    }

    /// The server stops: an idle connection closes now; one in flight finishes and then closes.
    public mutating func drain(now: UInt64) -> AfterResponse {
        draining = true
        switch state {
        case .idle:
            state = .closed
            return .close
        case .active:
            exchange.keepAlive = false
            return .none
        case .readingHead, .lingering, .closed, .tunnel:
            return .none
        }
    }

    /// True once the connection is closed.
    @inlinable
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// True while lingering.
    @inlinable
    public var isLingering: Bool {
        if case .lingering = state { return true }
        return false
    }

    /// True between requests with no byte of the next one.
    @inlinable
    public var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// Whether the machine wants input now (to parse a request, or to drop it while lingering).
    @inlinable
    public var wantsInput: Bool {
        switch state {
        case .idle, .readingHead, .lingering, .tunnel: return true
        case .active: if case .reading = exchange.body, !exchange.bodyHeld { return true }; return false
        case .closed: return false
        }
    }

    /// The body's consumer cannot take more (`held`), or can again. While held nothing is parsed and
    /// no body timeout runs.
    public mutating func holdBody(_ held: Bool, now: UInt64) {
        guard case .active = state, case .reading = exchange.body else { return }
        exchange.bodyHeld = held
        if !held { exchange.body = .reading(last: now) }
    }

    /// The response was `101 Switching Protocols` to an upgrade: the connection becomes a tunnel.
    public mutating func startTunnel() {
        guard case .active = state else { return }
        state = .tunnel
    }

    /// True once the connection is a tunnel.
    @inlinable
    public var isTunnel: Bool {
        if case .tunnel = state { return true }
        return false
    }

    /// The request in flight is answered, but the connection closes after it (a request that was
    /// framed well but is unusable, such as a path that climbs above the root).
    public mutating func closeAfterResponse() {
        guard case .active = state else { return }
        exchange.keepAlive = false
    }

    /// The machine was closed by the executor (an I/O error).
    public mutating func closed() {
        state = .closed
    }
}
