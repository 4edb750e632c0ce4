import FlaksHTTP

/// One CGI script's run for one request (RFC 3875 §6), as a pure state machine: it is told what the
/// script's pipes, its exit status, the client and the clock did, and answers what to do. The
/// executor (`CGIProcess` in FlaksServer) spawns the script, moves the bytes and performs the actions.
///
/// Phases: reading the header section; holding the start of the body; streaming the body to the
/// client; discarding (the answer went another way: an error page, a local redirect, a HEAD, a gone
/// client). The machine is done when the script was reaped and its stdout and stderr are closed.
///
/// Holding: most scripts write a short answer and exit within a millisecond. The head and the first
/// body bytes are held (up to `holdLimit` bytes, for up to `holdTime`) until the script's output has
/// ended and its exit status is known: the client then gets one complete response with a
/// Content-Length, in one write (lighttpd's mod_cgi buffers every answer whole; nginx buffers
/// upstream answers). Streamed, the same answer cost three sends (head, chunk, last chunk after the
/// exit): ~25% of the server loop's time at 1,600 scripts/s (bench/cgi.sh). A script that crashes
/// while held gets a 502 instead of a cut-off body. A longer or slower answer is streamed once the
/// limit or the time is reached, as before.
///
/// Time: `deadline` is `cgi.timeout` from the start while the script (or something holding its
/// pipes) runs, and a short grace after stdout's end while the exit status is awaited: a script that
/// crashed mid-body must abort the response, not end it cleanly.
public struct CGIStateMachine: Sendable {
    /// What the executor must do, in order.
    public enum Action: Sendable, Equatable {
        /// Start the response: status and fields; `length` from the script's Content-Length; then
        /// write `bodyBytes` (the tail of the stdout bytes just given, a range of them) if the sink wants a body.
        case start(status: HTTPStatus, headers: HeaderFields, length: Int?, bodyBytes: Range<Int>)
        /// Start the response as `start` does, then write `body` (the bytes that were held).
        case startHeld(status: HTTPStatus, headers: HeaderFields, length: Int?, body: [UInt8])
        /// The whole response, held until the script's output ended and it exited: one complete
        /// answer (the sink frames it with a Content-Length).
        case respondHeld(status: HTTPStatus, headers: HeaderFields, body: [UInt8])
        /// A complete response without body (204, 304 from the script).
        case respond(status: HTTPStatus, headers: HeaderFields)
        /// Serve `target` as a GET instead (local redirect, §6.2.2).
        case internalRedirect(String)
        /// Pass these stdout bytes (a range of the bytes just given) to the client.
        case forward(Range<Int>)
        /// The body is complete.
        case finish
        /// The response cannot be completed: abort it (before the head: the sink answers 502).
        case abort
        /// Answer with this error status (nothing was sent yet).
        case respondError(HTTPStatus)
        /// SIGKILL to the script's process group.
        case killGroup
        /// Stop reading stdout (the client is slow) / read it again.
        case pauseStdout
        case resumeStdout
        /// Close the script's pipes even though something may still hold them (the script was killed).
        case closePipes
        /// Log this at error level (prefixed with the script by the executor).
        case log(String)
    }

    public enum Phase: Sendable, Equatable {
        case head
        case holding
        case streaming
        case discarding
    }

    /// How the script ended.
    public typealias Exit = ProcessExit

    /// How long stdout's end waits for the exit status.
    public static let exitGrace: UInt64 = 200_000_000
    /// How long the head and the first body bytes are held for the script to finish (see above).
    public static let holdTime: UInt64 = 20_000_000
    /// The most body bytes held; more are streamed.
    public static let holdLimit = 64 * 1024

    /// The client's method: a HEAD answer never carries the script's body.
    public let method: HTTPMethod
    public private(set) var phase = Phase.head
    public private(set) var exit: Exit?
    public private(set) var stdoutOpen = true
    public private(set) var stderrOpen = true
    /// The client pushes back: stdout is not read until `sinkReady`.
    public private(set) var paused = false
    public private(set) var timedOut = false
    public private(set) var killed = false
    /// The client is gone or answered: nothing more goes to it.
    public private(set) var sinkDone = false
    private var parser: CGIOutputParser
    private let timeoutAt: UInt64
    private var graceUntil: UInt64 = 0
    private let givenTimeoutText: String
    private let timeout: UInt64
    /// How the log spells the timeout: the text given, else the nanoseconds as a Duration (made only
    /// when a script times out, not for every script).
    private var timeoutText: String { Duration.logText(nanoseconds: timeout, given: givenTimeoutText) }
    /// While holding: the head to start with, the body so far, and when to stop holding.
    private var heldHead: (status: HTTPStatus, headers: HeaderFields, length: Int?)?
    private var held: [UInt8] = []
    private var holdUntil: UInt64 = 0

    /// - Parameters:
    ///   - now: when the script was spawned; `timeout` counts from here.
    ///   - timeout: `cgi.timeout` in nanoseconds.
    public init(method: HTTPMethod, now: UInt64, timeout: UInt64, timeoutText: String = "", headerLimit: Int = 64 * 1024) {
        self.method = method
        timeoutAt = now &+ timeout
        self.timeout = timeout
        givenTimeoutText = timeoutText
        parser = CGIOutputParser(limit: headerLimit)
    }

    /// The script or something it started may still hold its pipes.
    public var running: Bool { exit == nil || stdoutOpen || stderrOpen }

    /// Everything is over: reaped, both output pipes closed.
    public var isDone: Bool { exit != nil && !stdoutOpen && !stderrOpen }

    /// The next time `timerFired` has something to do; 0 when none.
    public var deadline: UInt64 {
        var next: UInt64 = 0
        if !timedOut && running { next = timeoutAt }
        if graceUntil != 0 && (next == 0 || graceUntil < next) { next = graceUntil }
        if phase == .holding && stdoutOpen && (next == 0 || holdUntil < next) { next = holdUntil }
        return next
    }

    // MARK: - Events

    /// Bytes from stdout, read at `now`.
    public mutating func stdout(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> [Action] {
        switch phase {
        case .discarding:
            return []
        case .streaming:
            return [.forward(0..<bytes.count)]
        case .holding:
            held.append(contentsOf: bytes)
            return held.count > CGIStateMachine.holdLimit ? stopHolding() : []
        case .head:
            do {
                switch try parser.append(bytes) {
                case .needMoreBytes:
                    return []
                case .head(let reply, let bodyBytes):
                    return headComplete(reply, body: UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - bodyBytes)...]),
                                        now: now)
                }
            } catch {
                return badGateway(error.description)
            }
        }
    }

    private mutating func headComplete(_ reply: CGIReply, body: UnsafeRawBufferPointer, now: UInt64) -> [Action] {
        guard !sinkDone else { phase = .discarding; return [] }
        let outcome = reply.outcome(method: method)
        if case .stream(let status, let headers, let length) = outcome {
            phase = .holding
            heldHead = (status, headers, length)
            held = Array(body)
            holdUntil = now &+ CGIStateMachine.holdTime
            return held.count > CGIStateMachine.holdLimit ? stopHolding() : []
        }
        // Everything else answers with the head alone; the script's output is drained and dropped.
        phase = .discarding
        sinkDone = true
        switch outcome {
        case .internalRedirect(let target): return [.internalRedirect(target)]
        case .respond(let status, let headers): return [.respond(status: status, headers: headers)]
        case .headOnly(let status, let headers, let length), .stream(let status, let headers, let length):
            return [.start(status: status, headers: headers, length: length, bodyBytes: 0..<0)]
        }
    }

    /// Ends a hold: the held head and body, no longer kept here (nil when nothing is held).
    /// The caller sets the next phase.
    @discardableResult
    private mutating func takeHeld() -> (head: (status: HTTPStatus, headers: HeaderFields, length: Int?), body: [UInt8])? {
        guard phase == .holding, let h = heldHead else { return nil }
        heldHead = nil
        holdUntil = 0
        defer { held = [] }
        return (h, held)
    }

    /// The held head and bytes go out, and what follows is streamed.
    private mutating func stopHolding() -> [Action] {
        guard let (h, body) = takeHeld() else { return [] }
        phase = .streaming
        return [.startHeld(status: h.status, headers: h.headers, length: h.length, body: body)]
    }

    /// The output ended while held and the exit is known (or its grace is over): one complete
    /// response, or a 502 for a script that was killed or crashed (nothing was sent yet).
    private mutating func completeHeld() -> [Action] {
        guard phase == .holding, let h = heldHead else { return [] }
        graceUntil = 0
        var crashed = false
        if case .signal? = exit { crashed = true }
        // A body that disagrees with the script's Content-Length keeps the streamed path's
        // handling (the sink cuts it off or ends the connection).
        if !crashed, let n = h.length, n != held.count { return stopHolding() + finishStream() }
        guard let (_, body) = takeHeld() else { return [] }
        phase = .discarding
        sinkDone = true
        return crashed ? [.respondError(.badGateway)]
            : [.respondHeld(status: h.status, headers: h.headers, body: body)]
    }

    /// The sink took the head but wants no body (HEAD, bodyless status) or is gone.
    public mutating func sinkDeclinedBody() {
        phase = .discarding
        sinkDone = true
        paused = false
    }

    /// The sink's queue is full: stop reading stdout until `sinkReady`.
    public mutating func sinkFull() -> [Action] {
        guard phase == .streaming, !paused else { return [] }
        paused = true
        return [.pauseStdout]
    }

    /// The sink drained: read stdout again.
    public mutating func sinkReady() -> [Action] {
        guard paused else { return [] }
        paused = false
        return [.resumeStdout]
    }

    /// The client went away (or the connection closed): stop the script.
    public mutating func sinkGone() -> [Action] {
        guard !sinkDone else { return [] }
        takeHeld()
        sinkDone = true
        phase = .discarding
        paused = false
        if exit == nil {
            killed = true
            return [.killGroup, .resumeStdout]
        }
        return [.resumeStdout]
    }

    /// stdout reached its end (or failed).
    public mutating func stdoutEnded(now: UInt64) -> [Action] {
        stdoutOpen = false
        switch phase {
        case .head:
            if sinkDone { phase = .discarding; return [] }
            return badGateway(parser.isEmpty ? "the script produced no output" : CGIOutputError.incompleteHeader.description)
        case .streaming, .holding:
            if exit != nil { return finishStream() }
            graceUntil = now &+ CGIStateMachine.exitGrace
            return []
        case .discarding:
            return []
        }
    }

    /// stderr reached its end.
    public mutating func stderrEnded() {
        stderrOpen = false
    }

    /// The script was reaped.
    public mutating func exited(_ e: Exit) -> [Action] {
        guard exit == nil else { return [] }
        exit = e
        var actions: [Action] = []
        switch e {
        case .code(0): break
        case .signal(9) where killed: break
        default: actions.append(.log(e.description))
        }
        if !stdoutOpen && (phase == .streaming || phase == .holding) { actions += finishStream() }
        if killed {
            // Whatever of the group still holds our pipes was killed too: do not wait for it.
            actions += pipesClosedByForce()
        }
        return actions
    }

    /// The executor closed the pipes after a kill: end what depended on them.
    public mutating func pipesClosedByForce() -> [Action] {
        var actions: [Action] = [.closePipes]
        if stdoutOpen {
            stdoutOpen = false
            switch phase {
            case .head: actions += badGateway("the script was killed")
            case .streaming, .holding: actions += finishStream()
            case .discarding: break
            }
        }
        stderrOpen = false
        return actions
    }

    /// The deadline may have passed.
    public mutating func timerFired(now: UInt64) -> [Action] {
        var actions: [Action] = []
        // The hold is over for output still coming: the head and what is held go out first.
        if phase == .holding && stdoutOpen && now >= holdUntil { actions += stopHolding() }
        if !timedOut && running && now >= timeoutAt {
            timedOut = true
            killed = true
            actions.append(.log("timed out after \(timeoutText); killing its process group"))
            actions.append(.killGroup)
            if !sinkDone {
                sinkDone = true
                switch phase {
                case .head, .holding: actions.append(.respondError(.gatewayTimeout))
                case .streaming: actions.append(.abort)
                case .discarding: break
                }
            }
            takeHeld()
            phase = .discarding
            paused = false
            // The script is gone but something it started held our pipes: stop waiting.
            if exit != nil { actions += pipesClosedByForce() } else { actions.append(.resumeStdout) }
        }
        if graceUntil != 0 && now >= graceUntil { actions += finishStream() }
        return actions
    }

    // MARK: - Endings

    /// The body is over: end it, or abort it when it is known to be cut short (the script was killed).
    private mutating func finishStream() -> [Action] {
        graceUntil = 0
        if phase == .holding { return completeHeld() }
        guard phase == .streaming, !sinkDone else { return [] }
        phase = .discarding
        sinkDone = true
        if case .signal? = exit { return [.abort] }
        return [.finish]
    }

    /// The script's output is not a CGI response: 502, and the script is stopped.
    private mutating func badGateway(_ reason: String) -> [Action] {
        phase = .discarding
        var actions: [Action] = [.log("bad gateway: \(reason)\(exit.map { "; it \($0)" } ?? "")")]
        if exit == nil { killed = true; actions.append(.killGroup) }
        if !sinkDone {
            sinkDone = true
            actions.append(.respondError(.badGateway))
        }
        return actions
    }
}

/// Splits a stream of bytes into lines for the error log: LF ends a line, a CR before it is dropped,
/// and a line longer than `limit` is cut into pieces of `limit` bytes.
public struct LineSplitter: Sendable {
    public let limit: Int
    private var line: [UInt8] = []

    public init(limit: Int = 4096) { self.limit = limit }

    /// Feeds bytes; calls `emit` for every complete line.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (String) -> Void) {
        for b in bytes {
            if b == 10 {
                emitLine(emit)
            } else {
                line.append(b)
                if line.count >= limit { emitLine(emit) }
            }
        }
    }

    /// The input ended: emits what is left.
    public mutating func finish(_ emit: (String) -> Void) {
        if !line.isEmpty { emitLine(emit) }
    }

    private mutating func emitLine(_ emit: (String) -> Void) {
        var l = line[...]
        if l.last == 13 { l = l.dropLast() }
        emit(String(decoding: l, as: UTF8.self))
        line.removeAll(keepingCapacity: true)
    }
}

extension Duration {
    /// How the state machines' log lines spell a timeout: `given` when the caller spelled it, else
    /// the nanoseconds as a Duration ("1.5 seconds"). Made only when a line is logged.
    static func logText(nanoseconds: UInt64, given: String) -> String {
        given.isEmpty ? "\(Duration.nanoseconds(Int64(clamping: nanoseconds)))" : given
    }
}
