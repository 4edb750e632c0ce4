import FlaksHandlers
import FlaksHTTP
import Testing

/// The CGI state machine driven by hand with a fake clock; its actions are applied to a recording
/// sink the way `CGIProcess` applies them to a connection.
@Suite("CGIStateMachine: script output, exits and time")
struct CGIStateMachineTests {
    static let s: UInt64 = 1_000_000_000

    /// What a client would have seen, and what was done to the script.
    final class RecordingSink {
        var started: (status: Int, length: Int?)?
        var body: [UInt8] = []
        var finished = false
        var aborted = false
        var error: Int?
        var redirect: String?
        var complete: Int?
        /// The held answer, given whole (`respondHeld`).
        var whole: [UInt8]?
        var killed = 0
        var logs: [String] = []
        var paused = false
        var closedPipes = false
        /// What `start` answers: false for a HEAD or a gone client.
        var wantsBody = true
        /// What `write` answers: false when the client is slow.
        var keepsUp = true

        func apply(_ actions: [CGIStateMachine.Action], _ bytes: [UInt8] = [], to m: inout CGIStateMachine) {
            for a in actions {
                switch a {
                case .start(let status, _, let length, let range):
                    started = (status.code, length)
                    if !wantsBody { m.sinkDeclinedBody() } else { write(Array(bytes[range]), &m) }
                case .startHeld(let status, _, let length, let held):
                    started = (status.code, length)
                    if !wantsBody { m.sinkDeclinedBody() } else { write(held, &m) }
                case .respondHeld(let status, _, let held):
                    complete = status.code
                    whole = held
                case .respond(let status, _): complete = status.code
                case .internalRedirect(let t): redirect = t
                case .forward(let range): write(Array(bytes[range]), &m)
                case .finish: finished = true
                case .abort: aborted = true
                case .respondError(let st): error = st.code
                case .killGroup: killed += 1
                case .pauseStdout: paused = true
                case .resumeStdout: paused = false
                case .closePipes: closedPipes = true
                case .log(let l): logs.append(l)
                }
            }
        }

        private func write(_ b: [UInt8], _ m: inout CGIStateMachine) {
            body += b
            if !keepsUp { apply(m.sinkFull(), to: &m) }
        }
    }

    static func feed(_ m: inout CGIStateMachine, _ text: String, _ sink: RecordingSink, now: UInt64 = 0) {
        feed(&m, Array(text.utf8), sink, now: now)
    }

    static func feed(_ m: inout CGIStateMachine, _ bytes: [UInt8], _ sink: RecordingSink, now: UInt64 = 0) {
        let actions = bytes.withUnsafeBytes { m.stdout($0, now: now) }
        sink.apply(actions, bytes, to: &m)
    }

    /// The hold (started at 0) runs out: what is held starts streaming.
    static func endHold(_ m: inout CGIStateMachine, _ sink: RecordingSink) {
        sink.apply(m.timerFired(now: CGIStateMachine.holdTime), to: &m)
    }

    @Test(arguments: [1, 3, 1000])
    func aShortDocumentIsHeldAndAnsweredWholeOnceTheScriptExited(step: Int) {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        let out = Array("Content-Type: text/plain\r\nStatus: 201 Made\r\n\r\nhello world".utf8)
        var i = 0
        while i < out.count {
            Self.feed(&m, Array(out[i..<min(i + step, out.count)]), sink)
            i += step
        }
        #expect(m.phase == .holding)
        #expect(sink.started == nil && sink.complete == nil, "nothing goes out while the script may still finish")
        #expect(m.deadline == CGIStateMachine.holdTime)
        sink.apply(m.stdoutEnded(now: 1_000_000), to: &m)
        #expect(sink.complete == nil, "stdout's end waits for the exit status")
        #expect(m.deadline == 1_000_000 + CGIStateMachine.exitGrace, "the hold no longer counts once the output ended")
        m.stderrEnded()
        sink.apply(m.exited(.code(0)), to: &m)
        #expect(sink.complete == 201)
        #expect(sink.whole.map { String(decoding: $0, as: UTF8.self) } == "hello world")
        #expect(sink.started == nil && !sink.finished && !sink.aborted)
        #expect(m.isDone)
    }

    @Test func anExitBeforeTheOutputsEndAlsoAnswersWhole() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\nContent-Length: 2\n\nok", sink)
        sink.apply(m.exited(.code(3)), to: &m)
        #expect(sink.complete == nil)
        sink.apply(m.stdoutEnded(now: 1), to: &m)
        #expect(sink.complete == 200 && sink.whole == Array("ok".utf8))
        #expect(sink.logs == ["exited with status 3"], "a non-zero exit is logged")
    }

    @Test func aSlowDocumentStreamsOnceTheHoldRunsOutAndFinishesAfterExit() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\n\nfirst ", sink)
        sink.apply(m.timerFired(now: CGIStateMachine.holdTime - 1), to: &m)
        #expect(sink.started == nil, "held until the hold's last nanosecond")
        sink.apply(m.timerFired(now: CGIStateMachine.holdTime), to: &m)
        #expect(sink.started?.status == 200 && sink.started?.length == nil)
        #expect(String(decoding: sink.body, as: UTF8.self) == "first ")
        #expect(m.phase == .streaming && m.deadline == 30 * Self.s)
        Self.feed(&m, "second", sink, now: CGIStateMachine.holdTime + 1)
        #expect(String(decoding: sink.body, as: UTF8.self) == "first second")
        sink.apply(m.stdoutEnded(now: 1 * Self.s), to: &m)
        #expect(!sink.finished, "stdout's end waits for the exit status")
        #expect(m.deadline == 1 * Self.s + CGIStateMachine.exitGrace)
        m.stderrEnded()
        sink.apply(m.exited(.code(0)), to: &m)
        #expect(sink.finished && !sink.aborted && sink.complete == nil)
        #expect(m.isDone)
    }

    @Test func moreThanTheHoldLimitStreamsAtOnce() {
        let head = Array("Content-Type: application/octet-stream\n\n".utf8)
        // Exactly the limit stays held, in one read or after the head's read.
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, head + [UInt8](repeating: 7, count: CGIStateMachine.holdLimit), sink)
        #expect(m.phase == .holding && sink.started == nil)
        Self.feed(&m, [7], sink)
        #expect(m.phase == .streaming && sink.body.count == CGIStateMachine.holdLimit + 1)
        // Past the limit in the head's own read.
        var m2 = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink2 = RecordingSink()
        Self.feed(&m2, head + [UInt8](repeating: 7, count: CGIStateMachine.holdLimit + 1), sink2)
        #expect(m2.phase == .streaming && sink2.body.count == CGIStateMachine.holdLimit + 1)
        // Past it over several reads after the head.
        var m3 = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink3 = RecordingSink()
        Self.feed(&m3, head, sink3)
        Self.feed(&m3, [UInt8](repeating: 1, count: CGIStateMachine.holdLimit - 1), sink3)
        Self.feed(&m3, [2], sink3)
        #expect(m3.phase == .holding)
        Self.feed(&m3, [3, 4], sink3)
        #expect(m3.phase == .streaming && sink3.body.count == CGIStateMachine.holdLimit + 2 && sink3.body.last == 4)
    }

    /// A script whose whole `output` was held, then stdout ended and it exited with `exit`.
    static func heldThenEnded(_ output: String, exit: ProcessExit) -> RecordingSink {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * s)
        let sink = RecordingSink()
        feed(&m, output, sink)
        sink.apply(m.stdoutEnded(now: 1), to: &m)
        sink.apply(m.exited(exit), to: &m)
        return sink
    }

    @Test func aHeldBodyThatDisagreesWithItsContentLengthTakesTheStreamedEnd() {
        let sink = Self.heldThenEnded("Content-Type: text/plain\nContent-Length: 10\n\nshort", exit: .code(0))
        #expect(sink.complete == nil && sink.started?.length == 10)
        #expect(String(decoding: sink.body, as: UTF8.self) == "short" && sink.finished,
                "the sink's framing decides what a short body does, as for a streamed one")
    }

    @Test func aScriptThatCrashesWhileHeldGets502() {
        let sink = Self.heldThenEnded("Content-Type: text/plain\n\npartial", exit: .signal(11))
        #expect(sink.error == 502 && sink.started == nil && sink.complete == nil,
                "nothing was sent: a crash is answered as one")
        #expect(sink.logs.contains { $0.contains("signal 11") })
    }

    @Test func aScriptKilledMidBodyAbortsTheResponse() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\n\npartial", sink)
        Self.endHold(&m, sink)
        sink.apply(m.stdoutEnded(now: 1 * Self.s), to: &m)
        sink.apply(m.exited(.signal(11)), to: &m)
        #expect(sink.aborted && !sink.finished, "a crash must not look like a complete body")
        #expect(sink.logs.contains { $0.contains("signal 11") })
    }

    @Test("the timeout, at its edge on a fake clock: the group is killed, 504, and the log names it")
    func timeoutAtItsEdge() {
        var m = CGIStateMachine(method: .GET, now: 7, timeout: 1_500_000_000)
        let sink = RecordingSink()
        #expect(m.deadline == 7 + 1_500_000_000)
        sink.apply(m.timerFired(now: 7 + 1_500_000_000 - 1), to: &m)
        #expect(sink.logs.isEmpty && sink.error == nil && sink.killed == 0)
        sink.apply(m.timerFired(now: 7 + 1_500_000_000), to: &m)
        #expect(sink.killed == 1 && sink.error == 504)
        #expect(sink.logs == ["timed out after 1.5 seconds; killing its process group"], "\(sink.logs)")
        // A text given by the caller is used as it is.
        var m2 = CGIStateMachine(method: .GET, now: 0, timeout: 5, timeoutText: "5 ns")
        let sink2 = RecordingSink()
        sink2.apply(m2.timerFired(now: 5), to: &m2)
        #expect(sink2.logs.first == "timed out after 5 ns; killing its process group")
    }

    @Test func theExitGraceEndsTheBodyWhenNoStatusComes() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\n\nbody", sink)
        sink.apply(m.stdoutEnded(now: 5 * Self.s), to: &m)
        sink.apply(m.timerFired(now: 5 * Self.s + CGIStateMachine.exitGrace - 1), to: &m)
        #expect(sink.complete == nil && sink.started == nil, "held through the grace: the output ended, only the exit is awaited")
        sink.apply(m.timerFired(now: 5 * Self.s + CGIStateMachine.exitGrace), to: &m)
        #expect(sink.complete == 200 && sink.whole == Array("body".utf8))

        // Streamed already: the grace ends the stream.
        var s2 = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink2 = RecordingSink()
        Self.feed(&s2, "Content-Type: text/plain\n\nbody", sink2)
        Self.endHold(&s2, sink2)
        sink2.apply(s2.stdoutEnded(now: 5 * Self.s), to: &s2)
        sink2.apply(s2.timerFired(now: 5 * Self.s + CGIStateMachine.exitGrace - 1), to: &s2)
        #expect(!sink2.finished)
        sink2.apply(s2.timerFired(now: 5 * Self.s + CGIStateMachine.exitGrace), to: &s2)
        #expect(sink2.finished)
    }

    @Test func aTimeoutWhileHeldIs504() {
        // A timeout shorter than the hold: nothing went out yet, so the client gets an answer.
        var m = CGIStateMachine(method: .GET, now: 0, timeout: CGIStateMachine.holdTime / 2)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\n\nstill going", sink)
        #expect(m.deadline == CGIStateMachine.holdTime / 2)
        sink.apply(m.timerFired(now: CGIStateMachine.holdTime / 2), to: &m)
        #expect(sink.error == 504 && sink.killed == 1 && sink.started == nil)
    }

    @Test func timeoutBeforeTheHeadIs504AndKills() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        #expect(m.deadline == 30 * Self.s)
        sink.apply(m.timerFired(now: 30 * Self.s - 1), to: &m)
        #expect(sink.killed == 0 && sink.error == nil)
        sink.apply(m.timerFired(now: 30 * Self.s), to: &m)
        #expect(sink.error == 504 && sink.killed == 1)
        // The killed script is reaped; whatever held the pipes is dropped.
        sink.apply(m.exited(.signal(9)), to: &m)
        #expect(sink.closedPipes && m.isDone)
        #expect(!sink.logs.contains { $0.contains("signal 9") }, "our own kill is not an error")
    }

    @Test func timeoutAfterTheHeadAbortsTheStream() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 10 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\n\nstill going", sink)
        // The loop would have fired at the hold's end; one late firing does both, in order.
        sink.apply(m.timerFired(now: 10 * Self.s), to: &m)
        #expect(sink.started?.status == 200 && String(decoding: sink.body, as: UTF8.self) == "still going")
        #expect(sink.aborted && sink.killed == 1 && sink.error == nil)
    }

    @Test func badOutputIs502() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 10 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "this is not a header\n\n", sink)
        #expect(sink.error == 502 && sink.killed == 1)
        var empty = CGIStateMachine(method: .GET, now: 0, timeout: 10 * Self.s)
        let sink2 = RecordingSink()
        sink2.apply(empty.stdoutEnded(now: 1), to: &empty)
        #expect(sink2.error == 502 && sink2.logs.contains { $0.contains("no output") })
    }

    @Test func localRedirectHandsTheRequestBackAndIgnoresTheBody() {
        var m = CGIStateMachine(method: .HEAD, now: 0, timeout: 10 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Location: /elsewhere?x=1\n\nignored body", sink)
        #expect(sink.redirect == "/elsewhere?x=1")
        #expect(sink.started == nil && sink.body.isEmpty)
    }

    @Test func aHeadRequestGetsTheHeadAndNoBody() {
        var m = CGIStateMachine(method: .HEAD, now: 0, timeout: 10 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\nContent-Length: 5\n\nhello", sink)
        #expect(sink.started?.status == 200 && sink.started?.length == 5)
        #expect(sink.body.isEmpty, "the machine itself knows the client's method")
        Self.feed(&m, "more", sink)
        #expect(sink.body.isEmpty)
    }

    @Test func bodylessStatusesAreCompleteResponses() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 10 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Status: 304 Not Modified\n\n", sink)
        #expect(sink.complete == 304 && sink.started == nil)
    }

    @Test func backPressurePausesAndResumesStdout() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 10 * Self.s)
        let sink = RecordingSink()
        sink.keepsUp = false
        Self.feed(&m, "Content-Type: text/plain\n\nfirst", sink)
        #expect(!sink.paused, "held bytes are not written yet")
        Self.endHold(&m, sink)
        #expect(sink.paused && m.paused)
        sink.apply(m.sinkReady(), to: &m)
        #expect(!sink.paused && !m.paused)
    }

    @Test func aGoneClientKillsTheScriptOnceAndDrainsItsOutput() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 10 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\n\nx", sink)
        Self.endHold(&m, sink)
        sink.apply(m.sinkGone(), to: &m)
        sink.apply(m.sinkGone(), to: &m)
        #expect(sink.killed == 1)
        Self.feed(&m, "more output after the client left", sink)
        #expect(String(decoding: sink.body, as: UTF8.self) == "x")

        // Gone while held: killed once, nothing is ever sent, the held bytes are dropped.
        var h = CGIStateMachine(method: .GET, now: 0, timeout: 10 * Self.s)
        let held = RecordingSink()
        Self.feed(&h, "Content-Type: text/plain\n\nx", held)
        held.apply(h.sinkGone(), to: &h)
        #expect(held.killed == 1 && h.phase == .discarding)
        held.apply(h.stdoutEnded(now: 1), to: &h)
        held.apply(h.exited(.signal(9)), to: &h)
        held.apply(h.timerFired(now: 20 * Self.s), to: &h)
        #expect(held.started == nil && held.complete == nil && held.error == nil && held.body.isEmpty)
    }

    @Test func stderrLinesAreSplitAndBounded() {
        var lines: [String] = []
        var splitter = LineSplitter(limit: 8)
        let input = Array("one\r\ntwo\nabcdefghij\nlast".utf8)
        input.withUnsafeBytes { splitter.feed($0) { lines.append($0) } }
        splitter.finish { lines.append($0) }
        #expect(lines == ["one", "two", "abcdefgh", "ij", "last"])
    }
}
