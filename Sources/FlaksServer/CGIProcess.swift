#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHandlers
import FlaksHTTP

/// Runs one CGI script for one request (RFC 3875): the executor of a `CGIStateMachine`. Everything
/// happens on the connection's loop; no thread is held while the script runs.
///
/// - Spawn: `posix_spawn` (glibc uses clone(CLONE_VFORK), so it costs about an exec) on the loop; the
///   child gets fresh pipes on 0/1/2, its own process group, default signals, an empty signal mask,
///   and the script's directory as cwd. Every descriptor of ours is close-on-exec.
/// - stdin: the buffered request body, written as the pipe becomes writable, then closed. A script
///   that does not read its stdin makes us see EPIPE, which just ends the writing.
/// - stdout: fed to the machine, which parses the header section and then forwards the body to the
///   `ResponseSink` with back-pressure (a full sink pauses reading, so the pipe fills and the script
///   blocks; `proceed` resumes).
/// - stderr: logged line by line to the error log, prefixed with the script's path.
/// - Exit: a pidfd (readable when the child exits) triggers `waitpid(pid, WNOHANG)`, so every child is
///   reaped and none becomes a zombie. Without pidfd_open, the loop's timer polls every 100 ms.
/// - Timeout and the exit grace: the loop's timers, at the machine's `deadline`.
/// - `cgi.max_processes`: `Server.cgiChildren` counts live children; over the limit → 503, Retry-After: 1.
/// - Shutdown: children still running when the loops stop are killed and reaped by `Server.wait`.
///
/// Ownership: loop thread only. The selector's registrations (one `CGIPipe` per descriptor) and the
/// timer heap keep this object alive until the child is reaped and every descriptor is closed.
final class CGIProcess: ResponseProducer, TimerTarget {
    private unowned let loop: EventLoop
    private let children: CGIChildren
    /// The sink while it may still hear from us.
    private var sink: (any ResponseSink)?
    private let name: String
    private var machine: CGIStateMachine
    private var pid: pid_t = 0
    private var stdinFD: Int32 = -1
    private var stdoutFD: Int32 = -1
    private var stderrFD: Int32 = -1
    private var pidFD: Int32 = -1
    private var body: [UInt8]
    private var bodyOffset = 0
    /// Inside `readStdout` (the sink may call `proceed` from within `write`).
    private var reading = false
    private var stderrLines = LineSplitter(limit: 4096)
    private var readBuffer: UnsafeMutableRawBufferPointer?
    var timerSlot = TimerSlot()

    private init(_ invocation: CGIInvocation, method: HTTPMethod, sink: any ResponseSink, loop: EventLoop) {
        self.loop = loop
        children = loop.server.cgiChildren
        self.sink = sink
        name = invocation.scriptPath
        body = invocation.body
        machine = CGIStateMachine(method: method, now: loop.now, timeout: invocation.settings.timeout.nanoseconds,
                                  timeoutText: "\(invocation.settings.timeout)")
    }

    deinit {
        readBuffer?.deallocate()
        // Only reached with descriptors open when the loop stopped first (its selector let go of us).
        for fd in [stdinFD, stdoutFD, stderrFD, pidFD] where fd >= 0 { Glibc.close(fd) }
    }

    /// Starts `invocation` for the request `sink` answers (503 at once when `cgi.max_processes`
    /// children are already running). `method` is the client's.
    static func start(_ invocation: CGIInvocation, method: HTTPMethod, sink: any ResponseSink, loop: EventLoop) {
        let server = loop.server
        guard server.cgiChildren.reserve(limit: invocation.settings.maxProcesses) else {
            server.logger.warning("cgi \(invocation.scriptPath): \(invocation.settings.maxProcesses) scripts running (cgi.max_processes); answering 503")
            var r = ErrorPage.response(.serviceUnavailable, detail: "too many scripts are running; try again")
            r.headers.set("Retry-After", "1")
            sink.send(r)
            return
        }
        CGIProcess(invocation, method: method, sink: sink, loop: loop).launch(invocation)
    }

    // MARK: spawning

    /// Creates the pipes, spawns the child and registers everything with the loop.
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
        do {
            try loop.register(fd: stdoutFD, interest: [.readable, .edgeTriggered], target: CGIPipe(self, .stdout))
            try loop.register(fd: stderrFD, interest: [.readable, .edgeTriggered], target: CGIPipe(self, .stderr))
            if stdinFD >= 0 {
                try loop.register(fd: stdinFD, interest: [.writable, .edgeTriggered], target: CGIPipe(self, .stdin))
            }
            if pidFD >= 0 { try loop.register(fd: pidFD, interest: .readable, target: CGIPipe(self, .exit)) }
        } catch {
            // Cannot watch the child: stop it, answer, and reap it right here.
            log("cannot watch the script: \(error)")
            _ = kill(-pid, SIGKILL)
            if let s = sink { sink = nil; s.send(ErrorPage.response(.internalServerError)) }
            closeEverything()
            reapBlocking()
            return
        }
        sink?.attach(self)
        rearm()
        writeStdin()
    }

    /// Spawning failed: no child exists. 500 (the route's configuration or the system is at fault).
    private func failToStart(_ message: String) {
        log(message)
        children.spawnFailed()
        if let s = sink {
            sink = nil
            s.send(ErrorPage.response(.internalServerError))
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
    enum Role { case stdin, stdout, stderr, exit }

    func ready(_ role: Role, _ events: SelectorEvents) {
        switch role {
        case .stdin: writeStdin()
        case .stdout: readStdout()
        case .stderr: readStderr()
        case .exit: reap()
        }
        rearm()
    }

    func timerFired(now: UInt64) {
        if pidFD < 0 { reap() }
        perform(machine.timerFired(now: now))
        rearm()
    }

    /// The machine's deadline, or the reap poll without a pidfd.
    private func rearm() {
        var next = machine.deadline
        if pidFD < 0 && machine.exit == nil && pid > 0 {
            let poll = loop.now &+ 100_000_000
            if next == 0 || poll < next { next = poll }
        }
        if machine.isDone { next = 0 }
        if next == 0 { loop.removeTimer(self) } else { loop.schedule(self, at: next) }
    }

    // MARK: ResponseProducer

    func proceed() {
        perform(machine.sinkReady())
    }

    func stop() {
        sink = nil
        if machine.exit == nil && !machine.sinkDone {
            loop.server.logger.info("cgi \(name): client went away; killing pid \(pid)")
        }
        perform(machine.sinkGone())
        rearm()
    }

    // MARK: actions

    private func perform(_ actions: [CGIStateMachine.Action], bytes: UnsafeRawBufferPointer? = nil) {
        for a in actions {
            switch a {
            case .start(let status, let headers, let length, let range):
                guard let s = sink else { machine.sinkDeclinedBody(); continue }
                if !s.start(status: status, headers: headers, length: length, producer: self, idleLimit: nil) {
                    sink = nil
                    machine.sinkDeclinedBody()
                } else if let bytes, !range.isEmpty {
                    forward(UnsafeRawBufferPointer(rebasing: bytes[range]))
                }
            case .respond(let status, let headers):
                answer(Response(status: status, headers: headers))
            case .internalRedirect(let target):
                if let s = sink { sink = nil; s.internalRedirect(to: target) }
            case .forward(let range):
                if let bytes { forward(UnsafeRawBufferPointer(rebasing: bytes[range])) }
            case .finish:
                if let s = sink { sink = nil; s.finish() }
            case .abort:
                if let s = sink { sink = nil; s.abort() }
            case .respondError(let status):
                answer(ErrorPage.response(status))
            case .killGroup:
                // The script is its group's leader; the group id stays reserved while any member lives.
                if pid > 0 { _ = kill(-pid, SIGKILL) }
            case .pauseStdout:
                break  // readStdout checks `machine.paused`
            case .resumeStdout:
                if !reading { readStdout() }
            case .closePipes:
                if stdoutFD >= 0 { closeFD(&stdoutFD) }
                if stderrFD >= 0 { readStderr(); closeFD(&stderrFD) }
            case .log(let message):
                log(message)
            }
        }
        finishIfDone()
    }

    private func forward(_ bytes: UnsafeRawBufferPointer) {
        guard let s = sink else { return }
        if !s.write(bytes) {
            if sink == nil { return }   // the sink stopped us from within write
            perform(machine.sinkFull())
        }
    }

    /// Sends a complete response if the sink still waits for one.
    private func answer(_ response: Response) {
        guard let s = sink else { return }
        sink = nil
        if s.awaitsResponse { s.send(response) } else { s.abort() }
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
        closeFD(&stdinFD)
        body = []
    }

    // MARK: stdout, stderr

    /// Reads stdout until it is empty, ends, or the client pushes back.
    private func readStdout() {
        guard !reading else { return }
        reading = true
        defer { reading = false }
        let buffer = readBuffer ?? .allocate(byteCount: 32 * 1024, alignment: 16)
        readBuffer = buffer
        while stdoutFD >= 0 && !machine.paused {
            let fd = stdoutFD
            let r: IOResult<Int>
            do { r = try syscall("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) } } catch {
                r = .done(0)                                     // EIO and the like: treat as the end
            }
            switch r {
            case .wouldBlock:
                return                                           // edge-triggered: the next edge resumes us
            case .done(0):
                closeFD(&stdoutFD)
                perform(machine.stdoutEnded(now: loop.now))
                return
            case .done(let n):
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                perform(machine.stdout(bytes), bytes: bytes)
            }
        }
    }

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
                stderrLines.finish(logStderr)
                closeFD(&stderrFD)
                machine.stderrEnded()
                finishIfDone()
                return
            }
            chunk.withUnsafeBytes { stderrLines.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), logStderr) }
        }
    }

    private func logStderr(_ line: String) {
        loop.server.logger.error("cgi \(name): \(line)")
    }

    // MARK: exit

    /// Collects the child's exit status (pidfd readable, or a poll tick without pidfd).
    private func reap() {
        guard machine.exit == nil, pid > 0 else { return }
        var code: Int32 = -1, sig: Int32 = -1
        let r = cflaks_reap(pid, &code, &sig)
        if r == 0 { return }
        let e: CGIStateMachine.Exit = r < 0 ? .unknown : (sig >= 0 ? .signal(sig) : .code(code))
        if pidFD >= 0 { closeFD(&pidFD) }
        children.reaped(pid)
        closeStdin()
        if case .signal(9) = e, machine.killed { loop.server.logger.debug("cgi \(name): pid \(pid) killed") }
        perform(machine.exited(e))
    }

    /// Waits (bounded) for a child we just killed, when no event will come for it.
    private func reapBlocking() {
        for _ in 0..<200 where machine.exit == nil {
            reap()
            if machine.exit == nil { usleep(1000) }
        }
    }

    // MARK: teardown

    /// When the child is reaped and its pipes are closed, nothing is left to watch.
    private func finishIfDone() {
        guard machine.isDone else { return }
        closeStdin()
        loop.removeTimer(self)
        if let s = sink {
            // Defensive: every path above answers; never leave a client hanging.
            sink = nil
            if s.awaitsResponse { s.send(ErrorPage.response(.badGateway)) } else { s.abort() }
        }
    }

    private func closeEverything() {
        closeStdin()
        closeFD(&stdoutFD)
        closeFD(&stderrFD)
        closeFD(&pidFD)
    }

    private func closeFD(_ fd: inout Int32) {
        guard fd >= 0 else { return }
        loop.deregister(fd: fd)
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
