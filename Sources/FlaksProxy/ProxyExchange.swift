import FlaksHTTP

/// One proxied request and its answer over one upstream connection, as a pure state machine: the
/// executor (on an event loop) connects, writes, reads and relays; this value says what each event
/// means and what to do next. No I/O, no clock: every event carries `now` (monotonic nanoseconds).
/// Built like `ConnectionStateMachine`: the phase carries its data, events return actions, and the
/// deadline follows from the state, so nothing is reset by hand.
///
/// ## Life of an exchange
/// 1. `init(request:configuration:reused:now:)`: `.connecting` (for a pooled connection, call
///    `connected` right away).
/// 2. `connected(now:)` returns the request head to write. `connectFailed(reason:now:)` instead:
///    `.tryNextUpstream` (mark the upstream down, pick another; none left: answer the status).
/// 3. Body upload, streamed: `requestBodyBytes(_:now:appendingTo:)` frames each piece (chunked, or
///    as is under Content-Length), `requestBodyEnded(now:appendingTo:)` ends it. After every write
///    to the upstream socket: `requestBytesWritten(now:queueEmpty:)`.
/// 4. Answer: `upstreamBytesReceived(_:now:)` with every unconsumed byte; drop `consumed` bytes and
///    perform the action; call again (even with an empty buffer: a response without body ends on
///    the call after its head) until `.needMore` or a final action. EOF or a socket error:
///    `upstreamClosed(reset:now:)`.
/// 5. `timerFired(now:)` whenever `deadline` (0 = none) passes; `clientGone(now:)` when the client
///    connection broke; `sinkBlocked`/`sinkDrained` as the client's output fills and empties
///    (stop reading the upstream while `wantsUpstreamInput` is false).
///
/// ## Deadlines (`deadline`)
/// - connecting: `connectTimeout` from the start (then `.tryNextUpstream` with 504);
/// - waiting for the answer, head or body (SSE included): `timeout` since the last sign of life
///   of the upstream: a byte received, a byte of ours it accepted, the client's output draining.
///   Not while the client is slow: while the sink is blocked (the client connection's send timeout
///   applies), nor while the upstream has taken every byte of an upload that the client has not
///   finished sending (the client's body timeout applies) and has sent nothing yet. Before the
///   head went out: 504; after: `.abort`. Both mark the upstream down.
/// - a tunnel: `tunnelTimeout` of idleness in both directions (`tunnelTraffic(now:)`); 0 = none.
///
/// ## Retry (`.retry`)
/// Only when the connection came from the pool (`reused`), no byte of the answer arrived, and the
/// request can be sent again safely: an idempotent request (RFC 9110 §9.2.2) whose body, if any,
/// was not consumed yet (or the executor kept it: `canReplayBody`), or any request of which not
/// one byte was written. The usual cause is an upstream that closed an idle connection just as we
/// reused it. A non-idempotent request is not retried once a byte went out, even if no body byte
/// did (RFC 9110 §9.2.2: "A proxy MUST NOT automatically retry non-idempotent requests"; the
/// upstream may have read the head and acted). The retry goes on a fresh connection, so it cannot
/// itself be retried.
///
/// ## Keeping the connection (`.finish(reuseConnection: true)`)
/// All of: we did not send `Connection: close` (`UpstreamRequest.keepAlive`), the response is
/// complete (`ResponseParser` `.end`), the upstream allows it (`keepAlive`:
/// HTTP/1.1 without `Connection: close`, not close-delimited, not after a 101), no byte followed
/// the response in the buffer (RFC 9112 §6.3: extra data is never processed), the request was sent
/// whole (an answer that came before the end of the upload leaves the upstream mid-request), and
/// our output is written out.
public struct ProxyExchange: Sendable {
    /// Timeouts (nanoseconds) and parse limits of a proxy route.
    public struct Configuration: Sendable, Hashable {
        /// `connect_timeout` (default 5 s).
        public var connectTimeout: UInt64
        /// `timeout` (default 60 s): longest wait for the next byte of the answer.
        public var timeout: UInt64
        /// `tunnel_timeout` (default 0: none): idle time after which a tunnel is closed.
        public var tunnelTimeout: UInt64
        /// Bounds on the upstream's heads (the body is streamed, unbounded by default).
        public var responseLimits: ResponseParseLimits

        public init(connectTimeout: UInt64 = 5_000_000_000, timeout: UInt64 = 60_000_000_000,
                    tunnelTimeout: UInt64 = 0, responseLimits: ResponseParseLimits = ResponseParseLimits()) {
            self.connectTimeout = connectTimeout; self.timeout = timeout; self.tunnelTimeout = tunnelTimeout
            self.responseLimits = responseLimits
        }
    }

    /// Why an exchange failed: the status to answer (when nothing was sent yet), the reason for the
    /// error log, and whether the upstream is to be marked down (`UpstreamHealth.markFailed`).
    public struct Failure: Sendable, Hashable, CustomStringConvertible {
        /// 502 (refused, bad or no answer) or 504 (timed out).
        public var status: HTTPStatus
        public var reason: String
        /// A refused or failed connect, or a timeout (config-schema: marked down for `fail_timeout`).
        public var marksUpstreamDown: Bool

        public init(status: HTTPStatus, reason: String, marksUpstreamDown: Bool) {
            self.status = status; self.reason = reason; self.marksUpstreamDown = marksUpstreamDown
        }

        public var description: String { "\(status.code) \(reason)" }
    }

    /// The client's response head, from the upstream's final head.
    public struct ResponseStart: Sendable, Hashable {
        public var status: HTTPStatus
        /// The upstream's fields less hop-by-hop ones and Content-Length (`UpstreamResponse.clientFields`).
        public var fields: HeaderFields
        /// The body length for `ConnectionStateMachine.startResponse(bodyLength:)`: the
        /// Content-Length (for a HEAD answer, the one the upstream announced), 0 for a status without
        /// body, nil for a chunked or close-delimited body (streamed).
        public var bodyLength: Int?
        /// How the upstream frames the body (for the log; the executor need not look).
        public var upstreamFraming: ResponseFraming
    }

    /// What the executor does next. Final actions (after which the exchange is over and the
    /// upstream connection is closed, unless `.finish(reuseConnection: true)` returns it to the
    /// pool): `finish`, `startTunnel` (the exchange continues as a tunnel), `retry`,
    /// `tryNextUpstream`, `fail`, `abort`, `close`, `closeTunnel`.
    public enum Action: Sendable, Hashable {
        /// Nothing to do.
        case none
        /// Read more from the upstream (keep the unconsumed bytes).
        case needMore
        /// Send this 1xx (100 Continue, 102, 103 Early Hints, ...) to the client; more follows.
        case relayInterim(status: HTTPStatus, fields: HeaderFields)
        /// Start the client's response with this head; body events follow.
        case startResponse(ResponseStart)
        /// Pass these bytes (a range of the buffer given to that call, never empty) to the client.
        case body(Range<Int>)
        /// The trailer fields of a chunked answer: pass them on if the client's response is chunked,
        /// else drop them (RFC 9112 §7.1.2 allows either).
        case trailers(HeaderFields)
        /// The response is complete: end the client's response; return the upstream connection to
        /// the pool when `reuseConnection` (and the pool has room), else close it.
        case finish(reuseConnection: Bool)
        /// A valid 101 to a WebSocket upgrade: send `101 Switching Protocols` with these fields to the
        /// client, then relay the unconsumed rest of the buffer and everything after it, both ways,
        /// reporting `tunnelTraffic`. The client connection stays a tunnel until `closeTunnel`.
        case startTunnel(fields: HeaderFields)
        /// Close this connection and send the same request (`connected` on a new `ProxyExchange`
        /// with `reused: false`) on a fresh connection to the same upstream.
        case retry(reason: String)
        /// Connecting failed: close, mark the upstream down for the route's `fail_timeout`, and try
        /// the next upstream the balancer gives; when there is none, answer `failure.status`.
        case tryNextUpstream(Failure)
        /// Nothing went to the client yet: answer `failure.status`, close the upstream connection,
        /// mark it down if the failure says so.
        case fail(Failure)
        /// The response head already went out: close the upstream connection and the client
        /// connection without completing the message (no last chunk, fewer bytes than announced), so
        /// the client sees an incomplete response, never a wrong one.
        case abort(Failure)
        /// Tunnel: the upstream finished sending; once everything it sent is relayed, shut the
        /// client connection's write side.
        case shutdownClientWrite
        /// Tunnel: the client finished sending; once everything it sent is relayed, shut the
        /// upstream connection's write side.
        case shutdownUpstreamWrite
        /// Tunnel over (both sides finished, a reset, idle timeout, client gone): close both.
        case closeTunnel(reason: String)
        /// The client went away: close the upstream connection (never pool it).
        case close
    }

    /// Where the exchange is.
    public enum Phase: Sendable, Hashable {
        /// Waiting for the connection, since this time.
        case connecting(since: UInt64)
        /// The request is going out and/or the final head has not arrived (1xx may have).
        case awaitingHead
        /// The final head went to the client; its body is being relayed.
        case streamingBody
        /// A WebSocket tunnel: bytes go both ways untouched.
        case tunnel(lastActivity: UInt64, clientSending: Bool, upstreamSending: Bool)
        /// Over (a final action was returned).
        case done
    }

    public let configuration: Configuration
    /// What is sent (its method decides whether the answer has a body; `upgradesToWebSocket`
    /// whether a 101 may come).
    public let request: UpstreamRequest
    /// The connection came from the idle pool.
    public let reused: Bool
    /// The client's version: no 1xx goes to an HTTP/1.0 client (RFC 9110 §15.2).
    public let clientVersion: HTTPVersion
    /// The executor kept the whole body and can send it again.
    public let canReplayBody: Bool
    public private(set) var phase: Phase

    private var parser: ResponseParser
    /// Last sign of life of the upstream (see the deadlines).
    private var lastProgress: UInt64 = 0
    /// When the connection was usable (for `UpstreamHealth.markSucceeded(connectedAt:)`).
    public private(set) var connectedAt: UInt64 = 0
    /// Some request byte was accepted by the upstream socket.
    public private(set) var anyRequestByteWritten = false
    /// Body bytes handed out for writing (consumed from the client).
    public private(set) var bodyBytesSent = 0
    /// Bytes still owed under `Content-Length` (0 for other framings).
    private var bodyRemaining = 0
    /// The whole request (head and body, with its end) was handed out.
    public private(set) var requestComplete = false
    /// The body ended short of its Content-Length: the connection can never be reused.
    private var requestShort = false
    /// Everything handed out for writing was written.
    private var writeQueueEmpty = true
    /// Some byte of the answer arrived.
    public private(set) var answerStarted = false
    /// The final head went to the client (`.startResponse` was returned).
    public private(set) var responseStarted = false
    /// The client's output is full: stop reading the upstream.
    public private(set) var sinkBlocked = false
    private var finalKeepAlive = false

    /// - Parameters:
    ///   - request: what to send (built once; reused unchanged for a retry).
    ///   - reused: the connection comes from the idle pool (it is connected: call `connected` now).
    ///   - clientVersion: the client's HTTP version.
    ///   - canReplayBody: the executor holds the whole body and could send it again (a retry of an
    ///     idempotent request with a body is then possible).
    public init(request: UpstreamRequest, configuration: Configuration = Configuration(), reused: Bool,
                clientVersion: HTTPVersion = .http1_1, canReplayBody: Bool = false, now: UInt64) {
        self.request = request
        self.configuration = configuration
        self.reused = reused
        self.clientVersion = clientVersion
        self.canReplayBody = canReplayBody
        parser = ResponseParser(limits: configuration.responseLimits)
        phase = .connecting(since: now)
    }

    // MARK: - Connecting and sending

    /// The connection is established (or taken from the pool): the request head to write, in one
    /// buffer. The answer's timer starts now.
    public mutating func connected(now: UInt64) -> [UInt8] {
        var b: [UInt8] = []
        connected(now: now, appendingTo: &b)
        return b
    }

    /// `connected(now:)`, appending the head to `out` (the connection's reused output buffer: no
    /// allocation per request).
    public mutating func connected(now: UInt64, appendingTo out: inout [UInt8]) {
        guard case .connecting = phase else { preconditionFailure("ProxyExchange.connected called twice") }
        phase = .awaitingHead
        connectedAt = now
        lastProgress = now
        writeQueueEmpty = false
        switch request.framing {
        case .none, .length(0): requestComplete = true
        case .length(let n): bodyRemaining = n
        case .chunked: break
        }
        parser.startResponse(to: request.method, upgradeRequested: request.upgradesToWebSocket)
        request.encode(into: &out)
    }

    /// The connect failed (refused, unreachable, reset): try the next upstream.
    public mutating func connectFailed(reason: String, now: UInt64) -> Action {
        guard case .connecting = phase else { return .none }
        phase = .done
        return .tryNextUpstream(Failure(status: .badGateway, reason: "connect failed: \(reason)", marksUpstreamDown: true))
    }

    /// The upstream socket accepted some of our bytes; `queueEmpty`: nothing of ours is left to write.
    public mutating func requestBytesWritten(now: UInt64, queueEmpty: Bool) {
        anyRequestByteWritten = true
        lastProgress = now
        writeQueueEmpty = queueEmpty
    }

    /// Whether body bytes are still wanted from the client (the upload is not over and the
    /// exchange still runs).
    public var wantsRequestBody: Bool {
        switch phase {
        case .awaitingHead, .streamingBody: !requestComplete
        case .connecting, .tunnel, .done: false
        }
    }

    /// Appends `chunk` of the client's body to `out`, framed as announced: a chunk
    /// (`size CRLF data CRLF`, RFC 9112 §7.1) for chunked, as is for Content-Length (never more than
    /// announced: extra bytes would be read upstream as the next request, and are dropped).
    /// Returns the body bytes taken. Call only after `connected` (the head goes first).
    @discardableResult
    public mutating func requestBodyBytes(_ chunk: UnsafeRawBufferPointer, now: UInt64, appendingTo out: inout [UInt8]) -> Int {
        if case .connecting = phase { preconditionFailure("request body before the head: call connected first") }
        guard wantsRequestBody, !chunk.isEmpty else { return 0 }
        let taken: Int
        switch request.framing {
        case .length:
            taken = min(chunk.count, bodyRemaining)
            guard taken > 0 else { return 0 }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<taken]))
            bodyRemaining -= taken
            bodyTaken(taken, now: now)
            return taken
        case .chunked:
            taken = chunk.count
            ResponseSerializer.writeChunkHeader(length: taken, into: &out)
            out.append(contentsOf: chunk)
            ResponseSerializer.writeChunkTrailer(into: &out)
        case .none:
            return 0
        }
        bodyTaken(taken, now: now)
        return taken
    }

    /// For a Content-Length upload, whose bytes go upstream as they are: takes the first of `count`
    /// body bytes of the client (never more than announced; the rest is dropped) and returns how
    /// many to write, unframed, so the executor can write them from its own buffer without a copy.
    /// Nil for any other framing: use `requestBodyBytes(_:now:appendingTo:)`. Call only after
    /// `connected` (the head goes first).
    public mutating func requestBodyPassThrough(_ count: Int, now: UInt64) -> Int? {
        if case .connecting = phase { preconditionFailure("request body before the head: call connected first") }
        guard case .length = request.framing else { return nil }
        guard wantsRequestBody else { return 0 }
        let taken = min(count, bodyRemaining)
        guard taken > 0 else { return 0 }
        bodyRemaining -= taken
        bodyTaken(taken, now: now)
        return taken
    }

    private mutating func bodyTaken(_ taken: Int, now: UInt64) {
        // Waiting on the client until now: the upstream's clock starts with these bytes.
        if writeQueueEmpty { lastProgress = now }
        writeQueueEmpty = false
        bodyBytesSent += taken
    }

    /// The client's body ended: appends the last chunk for chunked framing. A Content-Length body
    /// that ended short leaves the upstream waiting; the connection will not be reused.
    public mutating func requestBodyEnded(now: UInt64, appendingTo out: inout [UInt8]) {
        guard wantsRequestBody else { return }
        switch request.framing {
        case .chunked:
            ResponseSerializer.writeLastChunk(into: &out)
            if writeQueueEmpty { lastProgress = now }
            writeQueueEmpty = false
        case .length:
            if bodyRemaining > 0 { requestShort = true }
        case .none:
            break
        }
        requestComplete = true
    }

    // MARK: - The answer

    /// Bytes from the upstream: every unconsumed byte of the executor's buffer. Returns how many
    /// were consumed and what to do (see `Action`). Not for tunnel bytes.
    public mutating func upstreamBytesReceived(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> (consumed: Int, action: Action) {
        switch phase {
        case .awaitingHead, .streamingBody:
            break
        case .connecting:
            phase = .done
            return (bytes.count, .fail(Failure(status: .badGateway, reason: "bytes before the request was sent",
                                               marksUpstreamDown: false)))
        case .tunnel, .done:
            return (0, .none)
        }
        if !bytes.isEmpty {
            answerStarted = true
            lastProgress = now
        }
        var offset = 0
        while true {
            let base = offset
            let result: ResponseParseResult
            do {
                result = try parser.parse(UnsafeRawBufferPointer(rebasing: bytes[base...]))
            } catch {
                return (bytes.count, failed(Failure(status: .badGateway, reason: error.description, marksUpstreamDown: false)))
            }
            offset += result.consumed
            switch result.event {
            case .needMoreBytes:
                return (offset, .needMore)
            case .interim(let head):
                // RFC 9110 §15.2: "A proxy MUST forward 1xx responses unless the proxy itself requested
                // the generation of the 1xx response", but "a server MUST NOT send a 1xx response to an
                // HTTP/1.0 client".
                guard clientVersion.major > 1 || clientVersion.minor >= 1 else { continue }
                return (offset, .relayInterim(status: head.status, fields: UpstreamResponse.clientFields(head.headers)))
            case .head(let head):
                phase = .streamingBody
                responseStarted = true
                finalKeepAlive = head.keepAlive
                return (offset, .startResponse(Self.responseStart(head, method: request.method)))
            case .switchingProtocols(let head):
                guard WebSocketUpgrade.acceptsSwitch(head, sentWebSocketUpgrade: request.upgradesToWebSocket) else {
                    let offered = head.headers.values("Upgrade").joined(separator: ", ")
                    return (bytes.count, failed(Failure(status: .badGateway, reason: "101 switching to \"\(offered)\", not websocket",
                                                        marksUpstreamDown: false)))
                }
                responseStarted = true
                phase = .tunnel(lastActivity: now, clientSending: true, upstreamSending: true)
                return (offset, .startTunnel(fields: UpstreamResponse.clientFields(head.headers, tunnel: true)))
            case .body(let range):
                return (offset, .body((base + range.lowerBound)..<(base + range.upperBound)))
            case .trailers(let fields):
                return (offset, .trailers(fields))
            case .end:
                phase = .done
                let reuse = finalKeepAlive && request.keepAlive && offset == bytes.count && requestComplete && !requestShort && writeQueueEmpty
                return (offset, .finish(reuseConnection: reuse))
            }
        }
    }

    /// The client's head for the upstream's final `head`.
    static func responseStart(_ head: ResponseHead, method: HTTPMethod) -> ResponseStart {
        let length: Int?
        switch head.framing {
        case .length(let n): length = n
        case .chunked, .untilClose: length = nil
        case .none:
            // A HEAD answer announces the GET body's length (RFC 9110 §9.3.2, §8.6); 1xx/204/304 have none.
            length = method == .HEAD && !head.status.forbidsBody ? UpstreamResponse.contentLength(head.headers) : 0
        }
        return ResponseStart(status: head.status, fields: UpstreamResponse.clientFields(head.headers),
                             bodyLength: length, upstreamFraming: head.framing)
    }

    /// The upstream closed its side (read returned 0: `reset` false) or the connection failed
    /// (ECONNRESET, EPIPE on a write: `reset` true).
    public mutating func upstreamClosed(reset: Bool = false, now: UInt64) -> Action {
        switch phase {
        case .connecting:
            return connectFailed(reason: reset ? "connection reset" : "connection closed", now: now)
        case .done:
            return .none
        case .tunnel(_, let clientSending, _):
            if reset || !clientSending {
                phase = .done
                return .closeTunnel(reason: reset ? "upstream connection reset" : "both sides finished")
            }
            phase = .tunnel(lastActivity: now, clientSending: clientSending, upstreamSending: false)
            return .shutdownClientWrite
        case .awaitingHead, .streamingBody:
            break
        }
        if mayRetry {
            phase = .done
            return .retry(reason: "pooled connection closed before any answer")
        }
        // A fresh connection closed without a byte of answer (an upstream going down accepts, then
        // closes): an idempotent request whose body can be sent again goes to the next upstream, as
        // nginx's `proxy_next_upstream error` does; the one that closed counts as a failure.
        if !reused && !answerStarted && request.isIdempotent && (bodyBytesSent == 0 || canReplayBody) {
            phase = .done
            return .tryNextUpstream(Failure(status: .badGateway,
                                            reason: reset ? "connection reset before any answer" : "connection closed before any answer",
                                            marksUpstreamDown: true))
        }
        let event: ResponseEvent?
        do {
            event = try parser.inputEnded()
        } catch {
            let why = answerStarted ? error.description : "upstream closed the connection without answering"
            return failed(Failure(status: .badGateway, reason: reset ? "\(why) (reset)" : why, marksUpstreamDown: false))
        }
        if event == .end {
            // A close-delimited body ends with a clean close; a reset leaves its end unknown.
            if reset {
                return failed(Failure(status: .badGateway, reason: "connection reset inside a close-delimited body",
                                      marksUpstreamDown: false))
            }
            phase = .done
            return .finish(reuseConnection: false)
        }
        // Nothing was in progress: cannot happen while a response is awaited; treat as no answer.
        return failed(Failure(status: .badGateway, reason: "upstream closed the connection", marksUpstreamDown: false))
    }

    /// Whether a failure now may be retried on a fresh connection (see the type's notes).
    public var mayRetry: Bool {
        guard reused, !answerStarted else { return false }
        // The body can be sent again only if none of it was consumed, or the executor kept it.
        guard bodyBytesSent == 0 || canReplayBody else { return false }
        return request.isIdempotent || !anyRequestByteWritten
    }

    /// Fail or abort, depending on whether the client has the head.
    private mutating func failed(_ failure: Failure) -> Action {
        phase = .done
        return responseStarted ? .abort(failure) : .fail(failure)
    }

    // MARK: - The client side

    /// The client connection's output is full: stop reading the upstream.
    public mutating func sinkBlocked(now: UInt64) {
        sinkBlocked = true
    }

    /// The client connection's output drained: read the upstream again. Its clock restarts now
    /// (it was not read while the client was slow).
    public mutating func sinkDrained(now: UInt64) {
        sinkBlocked = false
        lastProgress = now
    }

    /// The client connection broke or closed before the answer was delivered.
    public mutating func clientGone(now: UInt64) -> Action {
        switch phase {
        case .done:
            return .none
        case .tunnel:
            phase = .done
            return .closeTunnel(reason: "client gone")
        case .connecting, .awaitingHead, .streamingBody:
            phase = .done
            return .close
        }
    }

    /// Whether to read from the upstream now (not while connecting, after the end, in a tunnel
    /// (the executor relays those bytes itself), or while the client's output is full).
    public var wantsUpstreamInput: Bool {
        switch phase {
        case .awaitingHead, .streamingBody: !sinkBlocked
        case .connecting, .tunnel, .done: false
        }
    }

    // MARK: - Tunnel

    /// Bytes went through the tunnel (either way): it is not idle.
    public mutating func tunnelTraffic(now: UInt64) {
        guard case .tunnel(_, let c, let u) = phase else { return }
        phase = .tunnel(lastActivity: now, clientSending: c, upstreamSending: u)
    }

    /// Tunnel: the client half-closed (read returned 0).
    public mutating func clientHalfClosed(now: UInt64) -> Action {
        guard case .tunnel(_, _, let upstreamSending) = phase else { return .none }
        if !upstreamSending {
            phase = .done
            return .closeTunnel(reason: "both sides finished")
        }
        phase = .tunnel(lastActivity: now, clientSending: false, upstreamSending: true)
        return .shutdownUpstreamWrite
    }

    // MARK: - Time

    /// The current deadline in monotonic nanoseconds; 0 when none applies.
    public var deadline: UInt64 {
        switch phase {
        case .connecting(let since):
            return since &+ configuration.connectTimeout
        case .awaitingHead, .streamingBody:
            if sinkBlocked { return 0 }
            if !requestComplete && writeQueueEmpty && !answerStarted { return 0 }  // waiting on the client's upload
            return lastProgress &+ configuration.timeout
        case .tunnel(let last, _, _):
            return configuration.tunnelTimeout == 0 ? 0 : last &+ configuration.tunnelTimeout
        case .done:
            return 0
        }
    }

    /// The deadline may have passed: what to do.
    public mutating func timerFired(now: UInt64) -> Action {
        let d = deadline
        guard d != 0, now >= d else { return .none }
        switch phase {
        case .connecting:
            phase = .done
            return .tryNextUpstream(Failure(status: .gatewayTimeout, reason: "connect timed out", marksUpstreamDown: true))
        case .awaitingHead, .streamingBody:
            let what = responseStarted ? "response body" : "response head"
            return failed(Failure(status: .gatewayTimeout, reason: "upstream timed out waiting for the \(what)",
                                  marksUpstreamDown: true))
        case .tunnel:
            phase = .done
            return .closeTunnel(reason: "tunnel idle")
        case .done:
            return .none
        }
    }

    /// True once a final action was returned.
    public var isFinished: Bool { phase == .done }
}
