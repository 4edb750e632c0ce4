import FlaksFastCGI
import FlaksHTTP

/// One request on a FastCGI responder (php-fpm), from the moment it waits for a connection to the
/// moment that connection is kept or closed, as a pure state machine. It is told what the
/// responder's bytes, the connection, the client and the clock did, and answers what to do. The
/// executor (`FastCGIRequest` in FlaksServer) owns the socket, the pool and the slot queue and
/// performs the actions; every decision is here, tested with a fake clock.
///
/// Layers: `FastCGIExchange` (FlaksFastCGI) decodes the records; the STDOUT stream is CGI output,
/// parsed by `CGIOutputParser` under the CGI response rules (RFC 3875 §6: Status, Location local
/// and client redirects, header validation); the body is streamed to the client with back-pressure.
///
/// Decisions:
/// - **Statuses.** Responder unreachable: 502. Nothing within `timeout` (of the request being sent,
///   or of the last byte): 504, and the connection is closed after an FCGI_ABORT_REQUEST (php-fpm
///   ignores it; closing is what stops the exchange). Protocol garbage or a bad CGI header: 502,
///   nothing of it passed on; after the head went out, the response is cut short (`abort`).
///   END_REQUEST with OVERLOADED: 503; with another refusal: 502. No free connection within
///   `timeout` (`max_connections` reached): 503.
/// - **Retry.** A connection taken from the pool that the responder closed before sending any
///   byte (php-fpm closing an idle connection as we wrote: `pm.max_requests`) is retried once, on a
///   fresh connection. Any byte at all means the script may have run: no retry.
/// - **Keeping the connection.** Only after END_REQUEST with `keepConnection` (see
///   `FastCGIExchange`). A request that timed out or whose client left is closed, never kept.
/// - **Time.** While the client pushes back (`sinkFull`), the responder's silence is ours: the
///   deadline is off until `sinkReady`, and the client's own send timeout applies instead.
public struct FastCGIResponseMachine: Sendable {
    /// What the executor must do, in order.
    public enum Action: Sendable, Equatable {
        /// Start the response: status and fields; `length` from the script's Content-Length; then
        /// write `bodyBytes` (a range of the bytes just given) if the sink wants a body.
        case start(status: HTTPStatus, headers: HeaderFields, length: Int?, bodyBytes: Range<Int>)
        /// A complete response without body (204, 304 from the script).
        case respond(status: HTTPStatus, headers: HeaderFields)
        /// The whole response arrived at once: status, fields and the body (ranges of the bytes just
        /// given, in order). Sent as one complete response.
        case respondWhole(status: HTTPStatus, headers: HeaderFields, body: [Range<Int>])
        /// Serve `target` as a GET instead (a local redirect, RFC 3875 §6.2.2).
        case internalRedirect(String)
        /// Pass these bytes (a range of the bytes just given) to the client.
        case forward(Range<Int>)
        /// The body is complete.
        case finish
        /// The response cannot be completed: abort it (before the head: the sink answers 502).
        case abort
        /// Answer with this error status (nothing was sent yet).
        case respondError(HTTPStatus)
        /// STDERR lines from the responder, for the error log.
        case stderr([FastCGIStderrLine])
        /// Log this at error level (the executor prefixes the script).
        case log(String)
        /// Stop reading from the responder (the client is slow) / read again.
        case pauseReading
        case resumeReading
        /// Leave the queue of requests waiting for a connection.
        case cancelWait
        /// The kept connection was closed by the responder before it answered: close it, keep its
        /// slot, and send the request again on a fresh connection.
        case retry
        /// Done with the connection: `keep` puts it back (the pool or the next waiter); otherwise it
        /// is closed, after an FCGI_ABORT_REQUEST record when `sendAbort`.
        case releaseConnection(keep: Bool, sendAbort: Bool)
    }

    public enum Phase: Sendable, Equatable {
        /// Nothing happened yet.
        case idle
        /// Waiting for a free connection (`max_connections` reached).
        case queued
        /// The request went to a connection (maybe still connecting); reading the header section.
        case head
        /// Passing the body on to the client.
        case streaming
        /// Reading to END_REQUEST without passing anything on (HEAD, 204/304, local redirect), so
        /// the connection can be kept.
        case discarding
        /// The connection was released (or never taken) and the client answered.
        case done
    }

    /// The client's method: a HEAD answer never carries the script's body.
    public let method: HTTPMethod
    /// Longest wait for a connection, and for the next byte from the responder, nanoseconds.
    public let timeout: UInt64
    public private(set) var phase = Phase.idle
    /// The client pushes back: the responder is not read until `sinkReady`.
    public private(set) var paused = false
    /// The client is answered or gone: nothing more goes to it.
    public private(set) var sinkDone = false
    public private(set) var timedOut = false
    /// The current connection came from the pool (a retry is possible).
    public private(set) var reused = false
    /// The one retry was used.
    public private(set) var retried = false
    private var exchange: FastCGIExchange
    private var parser: CGIOutputParser
    private let givenTimeoutText: String
    /// The timeout as the log spells it: made only when a line is written (a string per request cost ~1,000 instructions).
    private var timeoutText: String { Duration.logText(nanoseconds: timeout, given: givenTimeoutText) }
    private let maxStderrLine: Int
    /// Start of the current wait: queueing, the request being sent, or the last byte received.
    private var since: UInt64 = 0

    /// - Parameters:
    ///   - timeout: the route's `timeout`, nanoseconds. `timeoutText` spells it for the log.
    ///   - headerLimit: most bytes of CGI header section (default 64 KiB).
    public init(method: HTTPMethod, timeout: UInt64, timeoutText: String = "", headerLimit: Int = 64 * 1024,
                maxStderrLine: Int = 4096) {
        self.method = method
        self.timeout = timeout
        self.givenTimeoutText = timeoutText
        self.maxStderrLine = maxStderrLine
        exchange = FastCGIExchange(requestID: Self.requestID, maxStderrLine: maxStderrLine)
        parser = CGIOutputParser(limit: headerLimit)
    }

    /// The next time `timerFired` has something to do; 0 when none.
    public var deadline: UInt64 {
        switch phase {
        case .queued: return since &+ timeout
        case .head, .streaming, .discarding: return paused ? 0 : since &+ timeout
        case .idle, .done: return 0
        }
    }

    public var isDone: Bool { phase == .done }

    /// The connection is still in use by this request (released once `phase` is `.done`).
    public var usesConnection: Bool {
        switch phase {
        case .head, .streaming, .discarding: true
        case .idle, .queued, .done: false
        }
    }

    // MARK: - Before the response

    /// The request as one array of bytes: BEGIN_REQUEST, PARAMS, the body as STDIN and its end.
    /// Throws when a param cannot be encoded (answer 431 without connecting).
    public mutating func encodeRequest(params: [FastCGIParam], body: [UInt8]) throws(FastCGIEncodingError) -> [UInt8] {
        try exchange.start(params: params, body: body)
    }

    /// `encodeRequest` with the PARAMS records already written (`FastCGIInvocation.params`).
    public mutating func encodeRequest(params: FastCGIParamsWriter, body: [UInt8]) throws(FastCGIEncodingError) -> [UInt8] {
        try exchange.start(params: params, body: body)
    }

    /// The request ID of every request (one request per connection at a time).
    public static let requestID: UInt16 = 1

    /// No connection is free: the request waits (at most `timeout`).
    public mutating func queued(now: UInt64) {
        guard phase == .idle else { return }
        phase = .queued
        since = now
    }

    /// The request was written to a connection (`reused`: one from the pool) or queued on one
    /// that is connecting. The timeout counts from here.
    public mutating func requestSent(now: UInt64, reused: Bool) {
        guard phase == .idle || phase == .queued else { return }
        phase = .head
        since = now
        self.reused = reused
    }

    /// A fresh connection completed its connect: the timeout counts from here.
    public mutating func connected(now: UInt64) {
        if phase == .head && !exchange.receivedAnyByte { since = now }
    }

    /// The connect failed (refused, no such socket, `timedOut`): 502, or 504 for a timeout.
    public mutating func connectFailed(_ reason: String, timedOut: Bool) -> [Action] {
        guard phase == .head else { return [] }
        phase = .done
        var actions: [Action] = [.log("cannot connect to the responder: \(reason)")]
        if !sinkDone {
            sinkDone = true
            actions.append(.respondError(timedOut ? .gatewayTimeout : .badGateway))
        }
        return actions
    }

    // MARK: - The responder's bytes

    /// Bytes from the responder: all unconsumed bytes of the executor's buffer. Returns the actions
    /// (ranges are into `bytes`) and how many bytes were consumed; the rest is an incomplete
    /// record: keep it and read more.
    ///
    /// A response whose head, body and END_REQUEST all arrive in one call (a small page: the usual
    /// case) is answered whole (`respondWhole`): one write of head and body with a Content-Length,
    /// instead of a head, chunks and a last chunk as they came. Otherwise the head is held until the
    /// call's bytes run out and then started with the body bytes it has.
    public mutating func received(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> (actions: [Action], consumed: Int) {
        guard usesConnection else { return ([], bytes.count) }
        if !bytes.isEmpty { since = now }
        var actions: [Action] = []
        var consumed = 0
        while phase != .done {
            let base = consumed
            let step = exchange.bytesReceived(UnsafeRawBufferPointer(rebasing: bytes[base...]))
            consumed += step.consumed
            switch step.action {
            case .needMoreBytes:
                releaseHeld(into: &actions)
                return (actions, consumed)
            case .stdout(let r):
                actions += stdout((base + r.lowerBound)..<(base + r.upperBound), in: bytes)
            case .stderr(let lines):
                actions.append(.stderr(lines))
            case .complete(_, let status, let keep):
                if let h = held, status == .requestComplete, h.length == nil || h.length == h.bodyCount {
                    // The whole answer is here: one complete response.
                    held = nil
                    phase = .done
                    sinkDone = true
                    actions.append(.respondWhole(status: h.status, headers: h.headers, body: h.body))
                    actions.append(.releaseConnection(keep: keep, sendAbort: false))   // after: see `completed`
                } else if held != nil && status != .requestComplete {
                    // A refusal after a head that was never started: answered as if no head came.
                    held = nil
                    phase = .head
                    actions += completed(status, keep: keep)
                } else {
                    // (A Content-Length that does not match the body: streamed, the sink keeps the length.)
                    releaseHeld(into: &actions)
                    actions += completed(status, keep: keep)
                }
            case .failed(let error):
                actions += failed(error.reason)
            }
        }
        return (actions, bytes.count)
    }

    /// A head parsed in this call, not yet started, and its body ranges so far.
    private struct Held: Sendable {
        var status: HTTPStatus
        var headers: HeaderFields
        var length: Int?
        var body: [Range<Int>] = []
        var bodyCount: Int { body.reduce(0) { $0 + $1.count } }
    }
    private var held: Held?

    /// Starts the held head with the body bytes gathered so far.
    private mutating func releaseHeld(into actions: inout [Action]) {
        guard let h = held else { return }
        held = nil
        actions.append(.start(status: h.status, headers: h.headers, length: h.length, bodyBytes: h.body.first ?? 0..<0))
        for r in h.body.dropFirst() { actions.append(.forward(r)) }
    }

    private mutating func stdout(_ range: Range<Int>, in bytes: UnsafeRawBufferPointer) -> [Action] {
        switch phase {
        case .streaming:
            if held != nil { held?.body.append(range); return [] }
            return sinkDone ? [] : [.forward(range)]
        case .head:
            do {
                switch try parser.append(UnsafeRawBufferPointer(rebasing: bytes[range])) {
                case .needMoreBytes:
                    return []
                case .head(let reply, let bodyBytes):
                    return headComplete(reply, body: (range.upperBound - bodyBytes)..<range.upperBound)
                }
            } catch {
                return failed(error.description)
            }
        case .idle, .queued, .discarding, .done:
            return []
        }
    }

    /// The header section is complete (RFC 3875 §6.2): the same decisions as for a CGI script.
    private mutating func headComplete(_ reply: CGIReply, body: Range<Int>) -> [Action] {
        guard !sinkDone else { phase = .discarding; return [] }
        let outcome = reply.outcome(method: method)
        if case .stream(let status, let headers, let length) = outcome {
            // The head is held until the end of this read (see `received`): an answer that arrived
            // whole goes out as one response.
            phase = .streaming
            held = Held(status: status, headers: headers, length: length, body: body.isEmpty ? [] : [body])
            return []
        }
        // Everything else answers with the head alone; the responder's output is read and dropped.
        phase = .discarding
        sinkDone = true
        switch outcome {
        case .internalRedirect(let target): return [.internalRedirect(target)]
        case .respond(let status, let headers): return [.respond(status: status, headers: headers)]
        case .headOnly(let status, let headers, let length), .stream(let status, let headers, let length):
            return [.start(status: status, headers: headers, length: length, bodyBytes: body.upperBound..<body.upperBound)]
        }
    }

    /// END_REQUEST.
    private mutating func completed(_ status: FastCGI.ProtocolStatus, keep: Bool) -> [Action] {
        var actions: [Action] = []
        let wasHead = phase == .head
        let wasStreaming = phase == .streaming
        phase = .done
        if status != .requestComplete {
            actions.append(.log("the responder refused the request: \(status)"))
            if !sinkDone {
                sinkDone = true
                actions.append(wasHead ? .respondError(status == .overloaded ? .serviceUnavailable : .badGateway) : .abort)
            }
        } else if wasHead {
            if !sinkDone {
                sinkDone = true
                let reason = parser.isEmpty ? "the script produced no output" : CGIOutputError.incompleteHeader.description
                actions.append(.log("bad gateway: \(reason)"))
                actions.append(.respondError(.badGateway))
            }
        } else if wasStreaming && !sinkDone {
            sinkDone = true
            actions.append(.finish)
        }
        // The client's answer first, then the connection: passing it on may write the next request
        // to the responder, which (on the same core) would run before this answer left.
        actions.append(.releaseConnection(keep: keep, sendAbort: false))
        return actions
    }

    /// The exchange cannot go on: close the connection; 502, or cut the response short. A head
    /// held in this call was never started: a 502 then, nothing of it passed on.
    private mutating func failed(_ reason: String) -> [Action] {
        let wasHead = phase == .head || held != nil
        held = nil
        phase = .done
        paused = false
        var actions: [Action] = []
        if let last = exchange.takeStderrRemainder() { actions.append(.stderr([last])) }
        actions.append(.log("bad gateway: \(reason)"))
        actions.append(.releaseConnection(keep: false, sendAbort: false))
        if !sinkDone {
            sinkDone = true
            actions.append(wasHead ? .respondError(.badGateway) : .abort)
        }
        return actions
    }

    /// The responder closed the connection (EOF, reset) or a write to it failed.
    public mutating func responderClosed(now: UInt64) -> [Action] {
        guard usesConnection else { return [] }
        guard let error = exchange.responderClosed() else { return [] }
        if error == .closedBeforeAnyByte && reused && !retried && phase == .head {
            // php-fpm closed the kept connection as we wrote: it never saw the request.
            retried = true
            reused = false
            since = now
            exchange = FastCGIExchange(requestID: Self.requestID, maxStderrLine: maxStderrLine)
            // The request bytes are sent again as they were; the new exchange only has to know the
            // body went whole (its STDIN end was sent), which is what `start` records.
            _ = try? exchange.start(params: [], body: [])
            return [.retry]
        }
        return failed(error.reason)
    }

    // MARK: - The client

    /// The sink took the head but wants no body (HEAD, 204, 304) or is gone: read to the end and drop.
    public mutating func sinkDeclinedBody() {
        if phase == .streaming { phase = .discarding }
        sinkDone = true
        paused = false
    }

    /// The client's queue is full: stop reading until `sinkReady`.
    public mutating func sinkFull() -> [Action] {
        guard phase == .streaming, !paused else { return [] }
        paused = true
        return [.pauseReading]
    }

    /// The client's queue drained: read again (the timeout counts from now).
    public mutating func sinkReady(now: UInt64) -> [Action] {
        guard paused else { return [] }
        paused = false
        since = now
        return [.resumeReading]
    }

    /// The client went away (or its connection closed): leave the queue, or close the connection
    /// (never kept: the script may still be running).
    public mutating func sinkGone() -> [Action] {
        guard !sinkDone else { return [] }
        sinkDone = true
        paused = false
        switch phase {
        case .idle:
            phase = .done
            return []
        case .queued:
            phase = .done
            return [.cancelWait]
        case .head, .streaming:
            phase = .done
            return [.releaseConnection(keep: false, sendAbort: true)]
        case .discarding, .done:
            return []
        }
    }

    // MARK: - Time

    /// The deadline may have passed.
    public mutating func timerFired(now: UInt64) -> [Action] {
        let due = deadline
        guard due != 0, now >= due else { return [] }
        switch phase {
        case .queued:
            phase = .done
            var actions: [Action] = [.cancelWait, .log("no free connection to the responder within \(timeoutText) (max_connections)")]
            if !sinkDone {
                sinkDone = true
                actions.append(.respondError(.serviceUnavailable))
            }
            return actions
        case .head, .streaming, .discarding:
            let wasHead = phase == .head
            timedOut = true
            phase = .done
            var actions: [Action] = []
            if let last = exchange.takeStderrRemainder() { actions.append(.stderr([last])) }
            actions.append(.log("the responder sent nothing for \(timeoutText); aborting the request"))
            actions.append(.releaseConnection(keep: false, sendAbort: true))
            if !sinkDone {
                sinkDone = true
                actions.append(wasHead ? .respondError(.gatewayTimeout) : .abort)
            }
            return actions
        case .idle, .done:
            return []
        }
    }
}
