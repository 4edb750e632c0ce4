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

    static func feed(_ m: inout CGIStateMachine, _ text: String, _ sink: RecordingSink) {
        let bytes = Array(text.utf8)
        let actions = bytes.withUnsafeBytes { m.stdout($0) }
        sink.apply(actions, bytes, to: &m)
    }

    @Test(arguments: [1, 3, 1000])
    func documentStreamsAndFinishesAfterExit(step: Int) {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        let out = Array("Content-Type: text/plain\r\nStatus: 201 Made\r\n\r\nhello world".utf8)
        var i = 0
        while i < out.count {
            let chunk = Array(out[i..<min(i + step, out.count)])
            sink.apply(chunk.withUnsafeBytes { m.stdout($0) }, chunk, to: &m)
            i += step
        }
        #expect(sink.started?.status == 201)
        #expect(String(decoding: sink.body, as: UTF8.self) == "hello world")
        sink.apply(m.stdoutEnded(now: 1 * Self.s), to: &m)
        #expect(!sink.finished, "stdout's end waits for the exit status")
        #expect(m.deadline == 1 * Self.s + CGIStateMachine.exitGrace)
        m.stderrEnded()
        sink.apply(m.exited(.code(0)), to: &m)
        #expect(sink.finished && !sink.aborted)
        #expect(m.isDone)
    }

    @Test func aScriptKilledMidBodyAbortsTheResponse() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\n\npartial", sink)
        sink.apply(m.stdoutEnded(now: 1), to: &m)
        sink.apply(m.exited(.signal(11)), to: &m)
        #expect(sink.aborted && !sink.finished, "a crash must not look like a complete body")
        #expect(sink.logs.contains { $0.contains("signal 11") })
    }

    @Test func theExitGraceEndsTheBodyWhenNoStatusComes() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 30 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\n\nbody", sink)
        sink.apply(m.stdoutEnded(now: 5 * Self.s), to: &m)
        sink.apply(m.timerFired(now: 5 * Self.s + CGIStateMachine.exitGrace - 1), to: &m)
        #expect(!sink.finished)
        sink.apply(m.timerFired(now: 5 * Self.s + CGIStateMachine.exitGrace), to: &m)
        #expect(sink.finished)
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
        sink.apply(m.timerFired(now: 10 * Self.s), to: &m)
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
        #expect(sink.paused && m.paused)
        sink.apply(m.sinkReady(), to: &m)
        #expect(!sink.paused && !m.paused)
    }

    @Test func aGoneClientKillsTheScriptOnceAndDrainsItsOutput() {
        var m = CGIStateMachine(method: .GET, now: 0, timeout: 10 * Self.s)
        let sink = RecordingSink()
        Self.feed(&m, "Content-Type: text/plain\n\nx", sink)
        sink.apply(m.sinkGone(), to: &m)
        sink.apply(m.sinkGone(), to: &m)
        #expect(sink.killed == 1)
        Self.feed(&m, "more output after the client left", sink)
        #expect(String(decoding: sink.body, as: UTF8.self) == "x")
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
