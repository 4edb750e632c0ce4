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
/// - Spawn: `ChildSpawner` on the loop (a vfork-style clone and exec, pipes on 0/1/2, its own process group, the
///   script's directory as cwd).
/// - stdin: the buffered request body, written by a `PipeWriter` as the pipe takes it, then closed.
/// - stdout: fed to the machine, which parses the header section, holds a short answer until the
///   script is done (then it goes out whole, in one write), and otherwise forwards the body to the
///   `ResponseSink` with back-pressure (a full sink pauses reading, so the pipe fills and the script
///   blocks; `proceed` resumes).
/// - stderr: a `LogPipe`: the error log, line by line, prefixed with the script's path.
/// - Exit: from the moment it matters (stdout's end, or a kill) the script is reaped at once if it
///   has exited, else a `ChildExitWatcher` (pidfd, or a 100 ms poll) reaps it: no zombie is left.
/// - Timeout and the exit grace: the loop's timers, at the machine's `deadline`.
/// - `cgi.max_processes`: `Server.cgiChildren` counts live children; over the limit → 503, Retry-After: 1.
/// - Shutdown: children still running when the loops stop are killed and reaped by `Server.wait`.
///
/// Ownership: loop thread only. Its pipes (`PipeReader`, `LogPipe`, `PipeWriter`) and exit watcher hold
/// it through their callbacks, and the timer heap through its deadline, until the child is reaped and
/// every descriptor is closed; each lets go as it ends.
final class CGIProcess: ResponseProducer, TimerTarget {
    private unowned let loop: EventLoop
    private let children: CGIChildren
    /// The sink while it may still hear from us.
    private var sink: (any ResponseSink)?
    private let name: String
    private var machine: CGIStateMachine
    private var pid: pid_t = 0
    private var stdin: PipeWriter?
    private var stdout: PipeReader?
    private var stderrPipe: LogPipe?
    private var exitWatcher: ChildExitWatcher?
    private let body: [UInt8]
    var timerSlot = TimerSlot()

    private init(_ invocation: CGIInvocation, method: HTTPMethod, sink: any ResponseSink, loop: EventLoop) {
        self.loop = loop
        children = loop.server.cgiChildren
        self.sink = sink
        name = invocation.scriptPath
        body = invocation.body
        machine = CGIStateMachine(method: method, now: loop.now, timeout: invocation.settings.timeout.nanoseconds)
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

    /// Spawns the child and registers its descriptors with the loop.
    private func launch(_ invocation: CGIInvocation) {
        let child: SpawnedChild
        switch ChildSpawner.spawn(executable: invocation.executable, arguments: invocation.arguments,
                                  environment: invocation.environmentBlock, directory: invocation.workingDirectory,
                                  withStdin: !body.isEmpty) {
        case .success(let c): child = c
        case .failure(let e):
            // No child exists. 500: the route's configuration or the system is at fault.
            log(e.message)
            children.spawnFailed()
            if let s = sink { sink = nil; s.send(ErrorPage.response(.internalServerError)) }
            return
        }
        pid = child.pid
        children.spawned(child.pid)
        do {
            stdout = try PipeReader(fd: child.stdout, loop: loop, onBytes: { [self] bytes in
                perform(machine.stdout(bytes, now: loop.now), bytes: bytes)
                rearm()
            }, onEnd: { [self] in
                stdout = nil
                perform(machine.stdoutEnded(now: loop.now))
                watchExit()
                rearm()
            })
            // The script has nothing more ready: push out what a compressor holds back.
            stdout?.onDrained = { [unowned self] in sink?.flush() }
            // The pipe holds this process until it ends (like the other registrations do).
            let name = self.name
            stderrPipe = try LogPipe(fd: child.stderr, loop: loop, prefix: "cgi \(name): ") { [self] in
                machine.stderrEnded()
                stderrPipe = nil
                finishIfDone()
            }
            if child.stdin >= 0 { stdin = try PipeWriter(fd: child.stdin, loop: loop, bytes: body) }
        } catch {
            // Cannot watch the child: stop it, answer, and reap it right here.
            if stdout == nil { Glibc.close(child.stdout) }
            if stderrPipe == nil { Glibc.close(child.stderr) }
            if stdin == nil && child.stdin >= 0 { Glibc.close(child.stdin) }
            log("cannot watch the script: \(error)")
            _ = kill(-pid, SIGKILL)
            if let s = sink { sink = nil; s.send(ErrorPage.response(.internalServerError)) }
            closeEverything()
            ChildExitWatcher.reapKilled(pid)
            children.reaped(pid)
            return
        }
        sink?.attach(self)
        rearm()
    }

    // MARK: events

    /// Which descriptor an event is for.
    func timerFired(now: UInt64) {
        let actions = machine.timerFired(now: now)
        perform(actions)
        // The hold ran out while the script is quiet: no read will end in `onDrained`, so push
        // out what a compressor holds back now.
        if actions.contains(where: { if case .startHeld = $0 { true } else { false } }) { sink?.flush() }
        rearm()
    }

    /// The machine's deadline on the loop's timers.
    private func rearm() {
        let next = machine.isDone ? 0 : machine.deadline
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
                if startResponse(status, headers, length), let bytes, !range.isEmpty {
                    forward(UnsafeRawBufferPointer(rebasing: bytes[range]))
                }
            case .startHeld(let status, let headers, let length, let body):
                if startResponse(status, headers, length), !body.isEmpty { body.withUnsafeBytes { forward($0) } }
            case .respondHeld(let status, let headers, let body):
                answer(Response(status: status, headers: headers, body: .bytes(body)))
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
                // Watched from now, not reaped within this loop over the actions.
                if pid > 0 { _ = kill(-pid, SIGKILL); watchExit(reapingNow: false) }
            case .pauseStdout:
                stdout?.paused = true
            case .resumeStdout:
                stdout?.paused = false
                stdout?.readAvailable()
            case .closePipes:
                stdout?.close()
                stdout = nil
                stderrPipe?.close()
            case .log(let message):
                log(message)
            }
        }
        finishIfDone()
    }

    /// Starts the response; false when the sink is gone or wants no body (the machine is told).
    private func startResponse(_ status: HTTPStatus, _ headers: HeaderFields, _ length: Int?) -> Bool {
        guard let s = sink else { machine.sinkDeclinedBody(); return false }
        guard s.start(status: status, headers: headers, length: length, producer: self, idleLimit: nil) else {
            sink = nil
            machine.sinkDeclinedBody()
            return false
        }
        return true
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

    // MARK: exit

    /// Reaps the script now if it has exited, else watches for its exit. Nothing is registered for
    /// it before its exit matters: its output ended (by then it has usually exited: one `wait4`
    /// instead of a pidfd's four system calls, see `ChildExitWatcher.reapOrWatch`), or its group
    /// was killed. A script that exits while something it started holds stdout open is reaped when
    /// that ends or at its timeout's kill, as its answer waits for stdout's end anyway.
    private func watchExit(reapingNow: Bool = true) {
        // Already watched, or already reaped (the machine knows the exit).
        guard exitWatcher == nil, machine.exit == nil, pid > 0 else { return }
        do {
            exitWatcher = try ChildExitWatcher.reapOrWatch(pid: pid, tryNow: reapingNow, loop: loop) { [self] e in exited(e) }
        } catch {
            // The pidfd could not be registered: poll for the exit on the loop's timers instead.
            log("cannot watch the script's pidfd (\(error)); polling for its exit")
            exitWatcher = try? ChildExitWatcher(pid: pid, pidFD: -1, loop: loop) { [self] e in exited(e) }
        }
    }

    /// The child was reaped.
    private func exited(_ e: ProcessExit) {
        children.reaped(pid)
        stdin?.close()
        stdin = nil
        exitWatcher = nil
        if case .signal(9) = e, machine.killed { loop.server.logger.debug("cgi \(name): pid \(pid) killed") }
        perform(machine.exited(e))
        rearm()
    }

    // MARK: teardown

    /// When the child is reaped and its pipes are closed, nothing is left to watch.
    private func finishIfDone() {
        guard machine.isDone else { return }
        stdin?.close()
        stdin = nil
        loop.removeTimer(self)
        if let s = sink {
            // Defensive: every path above answers; never leave a client hanging.
            sink = nil
            if s.awaitsResponse { s.send(ErrorPage.response(.badGateway)) } else { s.abort() }
        }
    }

    private func closeEverything() {
        stdin?.close()
        stdout?.close()
        stdout = nil
        stderrPipe?.close(drain: false)
        stderrPipe = nil
    }

    private func log(_ message: String) {
        loop.server.logger.error("cgi \(name): \(message)")
    }
}
