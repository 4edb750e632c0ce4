#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHandlers
import FlaksHTTP

/// Runs one CGI script for one request (RFC 3875) entirely from the connection's loop: no thread is
/// held while the script runs.
///
/// - Spawn: `posix_spawn` (glibc uses clone(CLONE_VFORK), so it costs about an exec) called on the
///   loop; the child gets fresh pipes on 0/1/2, its own process group, default signals, an empty
///   signal mask, and the script's directory as cwd. Every descriptor of ours is close-on-exec.
/// - stdin: the buffered request body, written as the pipe becomes writable, then closed. A script
///   that does not read its stdin makes us see EPIPE, which just ends the writing.
/// - stdout: parsed by `CGIOutputParser` until the header section ends (§6.3), then streamed to the
///   client. When the connection pushes back (`streamWrite` returns false) we stop reading stdout, so
///   the pipe fills and the script blocks; `outputDrained` resumes.
/// - stderr: logged line by line to the error log, prefixed with the script's path.
/// - Exit: a pidfd (readable when the child exits) triggers `waitpid(pid, WNOHANG)`, so every child
///   is reaped and none becomes a zombie. Without pidfd_open, a 100 ms timerfd tick polls instead.
/// - Timeout: a timerfd fires at `cgi.timeout`: the whole process group gets SIGKILL; 504 if no byte
///   of the response was sent yet, else the stream is aborted.
/// - Client gone: the connection calls `connectionClosed`, which kills the process group.
/// - `cgi.max_processes`: `Server.cgiChildren` counts live children; over the limit → 503, Retry-After: 1.
/// - Shutdown: children still running when the loops stop are killed and reaped by `Server.wait`.
///
/// Ownership: loop thread only. The selector's registrations (one `CGIPipe` per descriptor) keep
/// this object alive until the child is reaped and every descriptor is closed.
final class CGIProcess: StreamSource {
    /// Where the response stands.
    private enum Phase {
        /// Reading the header section.
        case head
        /// The head was sent; stdout is the body.
        case streaming
        /// The response went another way (error page, redirect, HEAD, client gone): drain and reap.
        case discarding
    }

    /// How the child ended.
    private enum Exit: CustomStringConvertible {
        case code(Int32)
        case signal(Int32)
        case unknown
        var description: String {
            switch self {
            case .code(let c): "exited with status \(c)"
            case .signal(let s): "killed by signal \(s)"
            case .unknown: "reaped elsewhere (status unknown)"
            }
        }
    }

    private unowned let loop: EventLoop
    private let children: CGIChildren
    /// The connection while we owe it a response; nil once it was answered, redirected or closed.
    private var connection: Connection?
    private let name: String
    private let settings: CGISettings
    private let isHead: Bool
    private var pid: pid_t = 0
    private var stdinFD: Int32 = -1
    private var stdoutFD: Int32 = -1
    private var stderrFD: Int32 = -1
    private var pidFD: Int32 = -1
    private var timerFD: Int32 = -1
    private var body: [UInt8]
    private var bodyOffset = 0
    private var parser = CGIOutputParser()
    private var phase = Phase.head
    private var exit: Exit?
    private var deadline: UInt64 = 0
    /// After stdout EOF while streaming: how long to wait for the exit status before ending normally.
    private var graceDeadline: UInt64 = 0
    private var killed = false
    private var timedOut = false
    /// Back-pressure: the connection has enough queued; do not read stdout.
    private var paused = false
    /// Inside `readStdout` (the connection may call `outputDrained` from within `streamWrite`).
    private var reading = false
    private var stdoutDone = false
    private var declaredLength: Int?
    private var bodySent = 0
    private var stderrLine: [UInt8] = []
    private var readBuffer: UnsafeMutableRawBufferPointer?

    /// Longest stderr line logged as one entry; longer lines are split.
    private static let maxLogLine = 4096
    /// How long stdout EOF waits for the exit status (a crash mid-body must abort, not end cleanly).
    private static let exitGrace: UInt64 = 200_000_000

    private init(_ invocation: CGIInvocation, connection: Connection) {
        loop = connection.loop
        children = connection.loop.server.cgiChildren
        self.connection = connection
        name = invocation.scriptPath
        settings = invocation.settings
        body = invocation.body
        isHead = invocation.environment.contains("REQUEST_METHOD=HEAD")
    }

    deinit {
        readBuffer?.deallocate()
        // Only reached with descriptors open when the loop stopped first (its selector let go of us).
        for fd in [stdinFD, stdoutFD, stderrFD, pidFD, timerFD] where fd >= 0 { Glibc.close(fd) }
    }

    /// Starts `invocation` for the connection's current request; the connection gets its response
    /// from this object (503 at once when `cgi.max_processes` children are already running).
    static func start(_ invocation: CGIInvocation, for connection: Connection) {
        let server = connection.loop.server
        guard server.cgiChildren.reserve(limit: invocation.settings.maxProcesses) else {
            server.logger.warning("cgi \(invocation.scriptPath): \(invocation.settings.maxProcesses) scripts running (cgi.max_processes); answering 503")
            var r = ErrorPage.response(.serviceUnavailable, detail: "too many scripts are running; try again")
            r.headers.set("Retry-After", "1")
            connection.send(r)
            return
        }
        let process = CGIProcess(invocation, connection: connection)
        process.launch(invocation)
    }

    // MARK: spawning

    /// Creates the pipes, spawns the child and registers everything with the loop's selector.
    private func launch(_ invocation: CGIInvocation) {
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1], inp: [Int32] = [-1, -1]
        func closeAll() { for fd in out + err + inp where fd >= 0 { Glibc.close(fd) } }
        guard cflaks_pipe(&out) == 0, cflaks_pipe(&err) == 0, body.isEmpty || cflaks_pipe(&inp) == 0 else {
            let e = cflaks_errno()
            closeAll()
            failToStart("pipe2: \(SystemError("pipe2", errno: e))")
            return
        }
        var child: pid_t = 0
        let rc = CGIProcess.withCStrings(invocation.arguments) { argv in
            CGIProcess.withCStrings(invocation.environment) { envp in
                cflaks_spawn(&child, invocation.executable, argv, envp, inp[0], out[1], err[1], invocation.workingDirectory)
            }
        }
        // The child's ends now live in the child only.
        for fd in [inp[0], out[1], err[1]] where fd >= 0 { Glibc.close(fd) }
        guard rc == 0 else {
            for fd in [inp[1], out[0], err[0]] where fd >= 0 { Glibc.close(fd) }
            failToStart("cannot run \(invocation.executable): \(String(cString: strerror(rc)))")
            return
        }
        pid = child
        children.spawned(child)
        stdoutFD = out[0]; stderrFD = err[0]; stdinFD = inp[1]
        for fd in [stdoutFD, stderrFD, stdinFD] where fd >= 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        pidFD = cflaks_pidfd_open(child)
        timerFD = cflaks_timerfd()
        deadline = monotonicNanos() &+ settings.timeout.nanoseconds
        connection?.attach(self)
        do {
            try loop.selector.register(fd: stdoutFD, interest: [.readable, .edgeTriggered], target: CGIPipe(self, .stdout))
            try loop.selector.register(fd: stderrFD, interest: [.readable, .edgeTriggered], target: CGIPipe(self, .stderr))
            if stdinFD >= 0 {
                try loop.selector.register(fd: stdinFD, interest: [.writable, .edgeTriggered], target: CGIPipe(self, .stdin))
            }
            if pidFD >= 0 { try loop.selector.register(fd: pidFD, interest: .readable, target: CGIPipe(self, .exit)) }
            if timerFD >= 0 { try loop.selector.register(fd: timerFD, interest: .readable, target: CGIPipe(self, .timer)) }
        } catch {
            // Cannot watch the child: stop it, answer, and reap it right here.
            log("cannot watch the script: \(error)")
            killGroup()
            respond(ErrorPage.response(.internalServerError))
            closeEverything()
            reapBlocking()
            return
        }
        armTimer()
        writeStdin()
    }

    /// Spawning failed: no child exists. 500 (the route's configuration or the system is at fault).
    private func failToStart(_ message: String) {
        log(message)
        children.spawnFailed()
        if let c = connection {
            connection = nil
            c.send(ErrorPage.response(.internalServerError))
        }
    }

    /// Runs `body` with a NULL-terminated array of C strings.
    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    // MARK: events

    /// Which descriptor an event is for.
    enum Role { case stdin, stdout, stderr, exit, timer }

    func ready(_ role: Role, _ events: SelectorEvents) {
        switch role {
        case .stdin: writeStdin()
        case .stdout: readStdout()
        case .stderr: readStderr()
        case .exit: reap()
        case .timer: timerFired()
        }
    }

    // MARK: StreamSource

    func outputDrained() {
        guard paused else { return }
        paused = false
        if !reading { readStdout() }
    }

    func connectionClosed() {
        guard connection != nil else { return }
        connection = nil
        phase = .discarding
        paused = false
        if exit == nil {
            loop.server.logger.info("cgi \(name): client went away; killing pid \(pid)")
            killGroup()
        }
        closeStdin()
        readStdout()
    }

    // MARK: stdin

    /// Writes the request body as far as the pipe takes it; closes stdin when all was written.
    private func writeStdin() {
        while stdinFD >= 0 && bodyOffset < body.count {
            let fd = stdinFD, offset = bodyOffset
            let r: IOResult<Int>
            do {
                r = try body.withUnsafeBytes { p in try syscall("write") { Glibc.write(fd, p.baseAddress! + offset, p.count - offset) } }
            } catch {
                // EPIPE: the script does not read its stdin (or is gone). Fine: stop writing.
                break
            }
            guard case .done(let n) = r else { return }     // pipe full: wait for the writable edge
            bodyOffset += n
        }
        closeStdin()
    }

    private func closeStdin() {
        guard stdinFD >= 0 else { return }
        loop.selector.deregister(fd: stdinFD)
        Glibc.close(stdinFD)
        stdinFD = -1
        body = []
    }

    // MARK: stdout

    /// Reads stdout until it is empty, ends, or the client pushes back.
    private func readStdout() {
        guard !reading else { return }
        reading = true
        defer { reading = false }
        let buffer = readBuffer ?? .allocate(byteCount: 32 * 1024, alignment: 16)
        readBuffer = buffer
        while stdoutFD >= 0 && !paused {
            let fd = stdoutFD
            let r: IOResult<Int>
            do { r = try syscall("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) } } catch {
                stdoutEnded()                                   // EIO and the like: treat as the end
                return
            }
            switch r {
            case .wouldBlock: return                            // edge-triggered: the next edge resumes us
            case .done(0): stdoutEnded(); return
            case .done(let n): output(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        }
    }

    /// Script output: header section first, then body.
    private func output(_ bytes: UnsafeRawBufferPointer) {
        switch phase {
        case .discarding:
            return
        case .streaming:
            forward(bytes)
        case .head:
            do {
                switch try parser.append(bytes) {
                case .needMoreBytes: return
                case .head(let reply, let bodyBytes):
                    startResponse(reply)
                    if bodyBytes > 0 && phase == .streaming {
                        forward(UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - bodyBytes)...]))
                    }
                }
            } catch {
                badGateway(error.description)
            }
        }
    }

    /// The header section is complete: answer, stream, or redirect (RFC 3875 §6.2).
    private func startResponse(_ reply: CGIReply) {
        guard let c = connection else { phase = .discarding; return }
        switch reply {
        case .localRedirect(let target):
            // §6.2.2: the server serves the new target itself; the script's body (if any) is ignored.
            phase = .discarding
            connection = nil
            c.detach(self)
            c.internalRedirect(to: target)
        case .document(let status, let headers):
            let response = Response(status: status, headers: headers)
            if status.forbidsBody {
                // 204/304: a complete response without body (keeps the connection reusable).
                phase = .discarding
                respond(response)
                return
            }
            declaredLength = headers["Content-Length"].flatMap { Int($0) }
            phase = .streaming
            c.beginStream(response)
            if connection == nil { return }               // closed while writing the head
            if isHead {
                // The connection ends a HEAD stream by itself once the head is written.
                phase = .discarding
                connection = nil
                c.detach(self)
            }
        }
    }

    /// Passes body bytes on, capped at the script's own Content-Length.
    private func forward(_ bytes: UnsafeRawBufferPointer) {
        guard let c = connection else { return }
        var chunk = bytes
        if let declared = declaredLength {
            let room = max(0, declared - bodySent)
            if chunk.count > room {
                if room == 0 { return }
                chunk = UnsafeRawBufferPointer(rebasing: chunk[0..<room])
            }
        }
        bodySent += chunk.count
        let more = c.streamWrite(chunk)
        if connection != nil && !more { paused = true }
    }

    /// stdout reached EOF (or failed).
    private func stdoutEnded() {
        closeFD(&stdoutFD)
        stdoutDone = true
        switch phase {
        case .head:
            badGateway(parser.isEmpty ? "the script produced no output" : CGIOutputError.incompleteHeader.description)
        case .streaming:
            if exit != nil { finishStream() } else {
                graceDeadline = monotonicNanos() &+ CGIProcess.exitGrace
                armTimer()
            }
        case .discarding:
            break
        }
        finishIfDone()
    }

    /// The body is complete: end the stream, or abort it when it is known to be cut short
    /// (the script was killed, or sent less than its Content-Length).
    private func finishStream() {
        guard phase == .streaming, let c = connection else { return }
        phase = .discarding
        connection = nil
        graceDeadline = 0
        var cutShort = false
        if case .signal? = exit { cutShort = true }
        if let declared = declaredLength, bodySent < declared {
            log("sent \(bodySent) of the \(declared) bytes its Content-Length promised")
            cutShort = true
        }
        if cutShort { c.streamAbort() } else { c.streamEnd() }
    }

    /// The script's output is not a CGI response: 502, and the script is stopped.
    private func badGateway(_ reason: String) {
        log("bad gateway: \(reason)\(exit.map { "; it \($0)" } ?? "")")
        phase = .discarding
        if exit == nil { killGroup() }
        respond(ErrorPage.response(.badGateway))
    }

    /// Sends a complete response if the connection still waits for one.
    private func respond(_ response: Response) {
        guard let c = connection else { return }
        connection = nil
        c.detach(self)
        if c.isWaitingForHandler { c.send(response) } else { c.streamAbort() }
    }

    // MARK: stderr

    /// Logs stderr line by line.
    private func readStderr() {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while stderrFD >= 0 {
            let fd = stderrFD
            var n = 0
            do {
                let r = try chunk.withUnsafeMutableBytes { p in try syscall("read") { Glibc.read(fd, p.baseAddress, p.count) } }
                guard case .done(let got) = r else { return }
                n = got
            } catch { n = 0 }
            if n == 0 {
                if !stderrLine.isEmpty { logStderr(stderrLine); stderrLine = [] }
                closeFD(&stderrFD)
                finishIfDone()
                return
            }
            for b in chunk[0..<n] {
                if b == 10 {
                    logStderr(stderrLine)
                    stderrLine.removeAll(keepingCapacity: true)
                } else {
                    stderrLine.append(b)
                    if stderrLine.count >= CGIProcess.maxLogLine { logStderr(stderrLine); stderrLine.removeAll(keepingCapacity: true) }
                }
            }
        }
    }

    private func logStderr(_ line: [UInt8]) {
        var l = line[...]
        if l.last == 13 { l = l.dropLast() }
        let text = String(decoding: l, as: UTF8.self)
        loop.server.logger.error("cgi \(name): \(text)")
    }

    // MARK: exit, timeout

    /// Collects the child's exit status (pidfd readable, or a poll tick without pidfd).
    private func reap() {
        guard exit == nil, pid > 0 else { return }
        var code: Int32 = -1, sig: Int32 = -1
        let r = cflaks_reap(pid, &code, &sig)
        if r == 0 { return }
        exit = r < 0 ? .unknown : (sig >= 0 ? .signal(sig) : .code(code))
        closeFD(&pidFD)
        children.reaped(pid)
        closeStdin()
        if let e = exit {
            switch e {
            case .code(0): break
            case .signal(9) where killed: loop.server.logger.debug("cgi \(name): pid \(pid) killed")
            default: log("pid \(pid) \(e)")
            }
        }
        if stdoutDone && phase == .streaming { finishStream() }
        if killed {
            // Whatever of the group still holds our pipes was killed too; do not wait for it.
            forceClose()
        }
        finishIfDone()
    }

    /// Waits (bounded) for a child we just killed, when the loop is about to stop and no event will come.
    private func reapBlocking() {
        for _ in 0..<200 where exit == nil {
            reap()
            if exit == nil { usleep(1000) }
        }
    }

    /// The timerfd fired: the timeout, the exit grace after EOF, or a poll tick without pidfd.
    private func timerFired() {
        var expirations: UInt64 = 0
        _ = Glibc.read(timerFD, &expirations, 8)
        let now = monotonicNanos()
        if pidFD < 0 { reap() }
        if !timedOut && now >= deadline && stillRunning {
            timedOut = true
            log("timed out after \(settings.timeout); killing process group \(pid)")
            killGroup(evenAfterExit: true)
            switch phase {
            case .head: respond(ErrorPage.response(.gatewayTimeout))
            case .streaming:
                if let c = connection { connection = nil; c.streamAbort() }
            case .discarding: break
            }
            phase = .discarding
            // The script itself is gone but something it started held our pipes: stop waiting.
            if exit != nil { forceClose() }
        }
        if graceDeadline != 0 && now >= graceDeadline { finishStream() }
        armTimer()
        finishIfDone()
    }

    /// Sets the timerfd to the next thing to check.
    private func armTimer() {
        guard timerFD >= 0 else { return }
        let now = monotonicNanos()
        var next: UInt64 = 0
        if !timedOut && stillRunning { next = deadline }
        if graceDeadline != 0 && (next == 0 || graceDeadline < next) { next = graceDeadline }
        let interval: UInt64 = (pidFD < 0 && exit == nil) ? 100_000_000 : 0
        if next == 0 && interval == 0 { _ = cflaks_timerfd_set(timerFD, 0, 0); return }
        let first = next == 0 ? interval : max(1, next > now ? next - now : 1)
        _ = cflaks_timerfd_set(timerFD, interval == 0 ? first : min(first, interval), interval)
    }

    /// The script, or something it started that still holds its stdout/stderr, may be running.
    private var stillRunning: Bool { exit == nil || stdoutFD >= 0 || stderrFD >= 0 }

    /// SIGKILL to the script's whole process group (the script is its group leader). After the script
    /// was reaped only `evenAfterExit` kills: then the group id stays reserved only while a member of the
    /// group lives (such as a background job holding our pipe), which is the case the timeout handles.
    private func killGroup(evenAfterExit: Bool = false) {
        guard pid > 0, exit == nil || evenAfterExit else { return }
        killed = true
        _ = kill(-pid, SIGKILL)
    }

    // MARK: teardown

    /// After a kill and reap: close the output pipes even if a stray process still holds them.
    private func forceClose() {
        if stdoutFD >= 0 {
            closeFD(&stdoutFD)
            stdoutDone = true
            switch phase {
            case .head: badGateway("the script was killed")
            case .streaming: finishStream()
            case .discarding: break
            }
        }
        if stderrFD >= 0 { readStderr(); closeFD(&stderrFD) }
    }

    /// When the child is reaped and its pipes are closed, nothing is left to watch.
    private func finishIfDone() {
        guard exit != nil, stdoutFD < 0, stderrFD < 0 else { return }
        closeStdin()
        closeFD(&timerFD)
        if let c = connection {
            // Defensive: every path above answers; never leave a client hanging.
            connection = nil
            c.detach(self)
            if c.isWaitingForHandler { c.send(ErrorPage.response(.badGateway)) } else { c.streamAbort() }
        }
    }

    private func closeEverything() {
        closeStdin()
        closeFD(&stdoutFD)
        closeFD(&stderrFD)
        closeFD(&pidFD)
        closeFD(&timerFD)
    }

    private func closeFD(_ fd: inout Int32) {
        guard fd >= 0 else { return }
        loop.selector.deregister(fd: fd)
        Glibc.close(fd)
        fd = -1
    }

    private func log(_ message: String) {
        loop.server.logger.error("cgi \(name): \(message)")
    }
}

/// The selector target for one of a script's descriptors; holds the process alive while registered.
final class CGIPipe: Selectable {
    let process: CGIProcess
    let role: CGIProcess.Role
    init(_ process: CGIProcess, _ role: CGIProcess.Role) { self.process = process; self.role = role }
    func ready(_ events: SelectorEvents) { process.ready(role, events) }
}
