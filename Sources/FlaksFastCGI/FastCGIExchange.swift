/// One request to a FastCGI responder, from the first byte written to END_REQUEST: a pure state
/// machine. The executor (on an event loop) performs what it returns: writes the bytes, hands
/// STDOUT ranges to the CGI response parser, logs STDERR lines, and on completion returns the
/// connection to the pool or closes it. No I/O, no clock: timeouts are the executor's.
///
/// ## Send side
/// `start(params:body:)` returns the request head as one array (BEGIN_REQUEST with
/// FCGI_KEEP_CONN, PARAMS, and, for a body already read whole, STDIN and its end). Without a
/// body the executor streams it with `stdinBytes(_:appendingTo:)` and ends it with
/// `stdinEnded(appendingTo:)`. A request without body is `start(params:, body: [])`.
///
/// ## Receive side
/// `bytesReceived(_:)` follows the decoder's calling protocol: call it with all unconsumed bytes,
/// drop `consumed`, perform the action, and call again until `.needMoreBytes`. Actions:
/// - `.stdout(range)`: response bytes, a range of the buffer of that call.
/// - `.stderr(lines)`: lines for the error log (see `FastCGIStderrSplitter`; bound `maxStderrLine`).
/// - `.complete(...)`: END_REQUEST arrived. An unterminated STDERR line is returned as a
///   `.stderr` action first, and `.complete` on the next call.
/// - `.failed(error)`: 502 if no STDOUT byte reached the client, else cut the response; close
///   the connection. Every later call returns the same failure.
/// When the responder closes the connection (EOF, ECONNRESET), call `responderClosed()`.
///
/// ## When the connection may be kept (`.complete(keepConnection: true)`)
/// All of: FCGI_KEEP_CONN was asked for; the whole STDIN stream (its end included) was handed
/// to the executor before END_REQUEST arrived (else the responder stopped reading a body that is
/// still on its way, and the next request would start in the middle of it); protocolStatus is
/// REQUEST_COMPLETE; and no byte followed END_REQUEST in the buffer. The executor must also have
/// written everything out. A byte that arrives after `.complete` on a pooled connection makes
/// that connection unusable (the pool should close an idle connection that becomes readable).
public struct FastCGIExchange: Sendable {
    /// What the executor must do after `bytesReceived`.
    public enum Action: Sendable, Equatable {
        /// Read more from the responder, keeping the unconsumed bytes.
        case needMoreBytes
        /// Pass these bytes (a range of the buffer given to that call, never empty) to the
        /// response: they are the CGI-style output (header lines, empty line, body).
        case stdout(Range<Int>)
        /// Log these STDERR lines (never empty).
        case stderr([FastCGIStderrLine])
        /// The request is over. `appStatus` is the script's exit status; protocolStatus other
        /// than REQUEST_COMPLETE means the responder rejected the request (OVERLOADED: 503;
        /// others: 502, when no STDOUT was delivered).
        case complete(appStatus: UInt32, protocolStatus: FastCGI.ProtocolStatus, keepConnection: Bool)
        /// The exchange failed; close the connection.
        case failed(FastCGIError)
    }

    /// One `bytesReceived` result: the action and how many bytes it consumed.
    public struct Step: Sendable, Equatable {
        public var action: Action
        public var consumed: Int
        public init(action: Action, consumed: Int) {
            self.action = action
            self.consumed = consumed
        }
    }

    enum SendPhase: Sendable { case notStarted, streamingStdin, stdinEnded }

    enum ReceivePhase: Sendable {
        case receiving
        /// END_REQUEST was decoded and a last STDERR line returned; `.complete` comes next.
        /// `mayKeep` is decided when END_REQUEST arrives.
        case completePending(appStatus: UInt32, protocolStatus: FastCGI.ProtocolStatus, mayKeep: Bool)
        case complete
        case failed(FastCGIError)
    }

    /// The request id on the wire (1 by default; one request per connection).
    public let requestID: UInt16
    /// Whether BEGIN_REQUEST asks the responder to keep the connection open (FCGI_KEEP_CONN).
    public let keepConnection: Bool
    var decoder: FastCGIResponseDecoder
    var stderr: FastCGIStderrSplitter
    var send: SendPhase = .notStarted
    var receive: ReceivePhase = .receiving

    /// True once any byte came from the responder. A kept connection that the responder closed
    /// with this still false failed with `.closedBeforeAnyByte`: the request may be retried once
    /// on a fresh connection (if its body can be sent again).
    public private(set) var receivedAnyByte = false
    /// STDOUT bytes handed out so far (0: nothing reached the client, a 502 is still possible).
    public private(set) var stdoutByteCount = 0

    /// - Parameters:
    ///   - maxStderrLine: longest STDERR line logged, in bytes (default 4096).
    ///   - maxPadding: most padding bytes accepted per record (default 7; see `FastCGIResponseDecoder`).
    public init(requestID: UInt16 = 1, keepConnection: Bool = true, maxStderrLine: Int = 4096, maxPadding: Int = 7) {
        self.requestID = requestID
        self.keepConnection = keepConnection
        decoder = FastCGIResponseDecoder(requestID: requestID, maxPadding: maxPadding)
        stderr = FastCGIStderrSplitter(maxLine: maxStderrLine)
    }

    /// True once `.complete` or `.failed` was returned (or is pending).
    public var isFinished: Bool {
        if case .receiving = receive { return false }
        return true
    }

    /// True once the STDIN stream's end was handed out.
    public var isStdinEnded: Bool {
        if case .stdinEnded = send { return true }
        return false
    }

    // MARK: Send side

    /// The request head to write, in one array. With `body` (read whole; `[]` for none) the
    /// STDIN stream and its end are included; with nil the body is streamed afterwards.
    /// Throws (and stays unstarted) when a parameter does not fit in a PARAMS record: answer 431
    /// or 500 without connecting.
    public mutating func start(params: [FastCGIParam], body: [UInt8]?) throws(FastCGIEncodingError) -> [UInt8] {
        try begin(body: body) { id, keep throws(FastCGIEncodingError) in
            try FastCGIEncoder.requestHead(requestID: id, params: params, keepConnection: keep, body: body)
        }
    }

    /// `start` with the params as (name, value) pairs (`FastCGIEncoder.appendParams(pairs:)`), the
    /// executor's form.
    public mutating func start(pairs: [FastCGIPair], body: [UInt8]?) throws(FastCGIEncodingError) -> [UInt8] {
        try begin(body: body) { id, keep throws(FastCGIEncodingError) in
            try FastCGIEncoder.requestHead(requestID: id, pairs: pairs, keepConnection: keep, body: body)
        }
    }

    /// `start` with the PARAMS records already written (the executor's form: `FastCGIParamsWriter`,
    /// made with this exchange's `requestID`).
    public mutating func start(params: FastCGIParamsWriter, body: [UInt8]?) throws(FastCGIEncodingError) -> [UInt8] {
        precondition(params.requestID == requestID, "the params were written for another request ID")
        return try begin(body: body) { _, keep throws(FastCGIEncodingError) in
            try FastCGIEncoder.requestHead(params: params, keepConnection: keep, body: body)
        }
    }

    private mutating func begin(body: [UInt8]?,
                                _ encode: (UInt16, Bool) throws(FastCGIEncodingError) -> [UInt8]) throws(FastCGIEncodingError) -> [UInt8] {
        precondition(send == .notStarted, "FastCGIExchange.start called twice")
        let head = try encode(requestID, keepConnection)
        send = body == nil ? .streamingStdin : .stdinEnded
        return head
    }

    /// Appends the STDIN records for `chunk` of a streamed body to `out` (nothing for an empty chunk).
    public mutating func stdinBytes(_ chunk: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) {
        precondition(send == .streamingStdin, "stdinBytes needs start(body: nil) and no stdinEnded yet")
        FastCGIEncoder.appendStdin(chunk, requestID: requestID, to: &out)
    }

    /// Appends the empty STDIN record that ends a streamed body.
    public mutating func stdinEnded(appendingTo out: inout [UInt8]) {
        precondition(send == .streamingStdin, "stdinEnded needs start(body: nil) and no stdinEnded yet")
        FastCGIEncoder.appendStdinEnd(requestID: requestID, to: &out)
        send = .stdinEnded
    }

    // MARK: Receive side

    /// Bytes from the responder: all unconsumed bytes of the executor's buffer.
    public mutating func bytesReceived(_ bytes: UnsafeRawBufferPointer) -> Step {
        if !bytes.isEmpty { receivedAnyByte = true }
        switch receive {
        case .failed(let error):
            return Step(action: .failed(error), consumed: 0)
        case .complete:
            guard bytes.isEmpty else { return fail(.contentAfterEndRequest, consumed: 0) }
            return Step(action: .needMoreBytes, consumed: 0)
        case .completePending(let appStatus, let status, let keep):
            receive = .complete
            return Step(action: .complete(appStatus: appStatus, protocolStatus: status,
                                          keepConnection: keep && bytes.isEmpty), consumed: 0)
        case .receiving:
            break
        }
        var consumed = 0
        // Each pass consumes at least one byte or returns.
        while true {
            let base = consumed
            let result: FastCGIDecodeResult
            do {
                result = try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[base...]))
            } catch {
                return fail(error, consumed: consumed)
            }
            consumed += result.consumed
            switch result.event {
            case .needMoreBytes:
                return Step(action: .needMoreBytes, consumed: consumed)
            case .stdout(let range):
                stdoutByteCount += range.count
                return Step(action: .stdout((base + range.lowerBound)..<(base + range.upperBound)), consumed: consumed)
            case .stderr(let range):
                let lines = stderr.feed(UnsafeRawBufferPointer(rebasing: bytes[(base + range.lowerBound)..<(base + range.upperBound)]))
                if !lines.isEmpty { return Step(action: .stderr(lines), consumed: consumed) }
            case .endRequest(let appStatus, let status):
                if let last = stderr.flush() {
                    receive = .completePending(appStatus: appStatus, protocolStatus: status, mayKeep: mayKeep(status))
                    return Step(action: .stderr([last]), consumed: consumed)
                }
                receive = .complete
                return Step(action: .complete(appStatus: appStatus, protocolStatus: status,
                                              keepConnection: mayKeep(status) && consumed == bytes.count),
                            consumed: consumed)
            case .getValuesResult:
                continue  // never asked for; harmless
            case .unknownType(let type):
                return fail(.typeNotUnderstood(type), consumed: consumed)
            }
        }
    }

    /// The responder closed the connection (read returned 0, or the socket failed). Returns nil
    /// when the request had completed (a responder without FCGI_KEEP_CONN closes after
    /// END_REQUEST), else the failure: `.closedBeforeAnyByte` or `.closedBeforeEndRequest`.
    public mutating func responderClosed() -> FastCGIError? {
        switch receive {
        case .complete, .completePending:
            return nil
        case .failed(let error):
            return error
        case .receiving:
            let error: FastCGIError = receivedAnyByte ? .closedBeforeEndRequest : .closedBeforeAnyByte
            receive = .failed(error)
            return error
        }
    }

    /// After a failure: the unterminated last STDERR line, if any, for the error log.
    public mutating func takeStderrRemainder() -> FastCGIStderrLine? { stderr.flush() }

    private func mayKeep(_ status: FastCGI.ProtocolStatus) -> Bool {
        keepConnection && send == .stdinEnded && status == .requestComplete
    }

    private mutating func fail(_ error: FastCGIError, consumed: Int) -> Step {
        receive = .failed(error)
        return Step(action: .failed(error), consumed: consumed)
    }
}
