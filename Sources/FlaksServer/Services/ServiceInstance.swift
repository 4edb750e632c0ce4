#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHandlers

/// One instance of a supervised service: the executor of an `InstanceMachine` on the supervisor's
/// loop. It picks the port, spawns the process (`ChildSpawner`: a vfork-style spawn, its own process group,
/// nothing inherited but the environment built here), probes readiness (`ReadinessProbe`), logs
/// its output (`LogPipe`, `[NAME#INSTANCE] line`), reaps it (`ChildExitWatcher`), signals it and
/// kills its group, and tells its service what changed.
///
/// Loop thread only. The exit watcher, the pipes and the timer heap hold it while it has a process.
final class ServiceInstance: TimerTarget {
    let spec: ServiceSpec
    let index: Int
    /// The roll generation it belongs to (1 for the first start of a service).
    let generation: Int
    /// `NAME#INDEX`, the log prefix.
    let label: String
    private unowned let loop: EventLoop
    /// Strong: an instance reports its end to its service, which may then be forgotten by the
    /// runtime; the service lets its instances go as they finish, so there is no lasting cycle.
    private let service: SupervisedService
    private var machine: InstanceMachine
    /// The main process (0 before the first spawn); kept after it exits for status.
    private(set) var pid: pid_t = 0
    /// Its port while it has a process (0 otherwise).
    private(set) var port = 0
    private var watcher: ChildExitWatcher?
    private var stdoutPipe: LogPipe?
    private var stderrPipe: LogPipe?
    private var probe: ReadinessProbe?
    /// Set while it is ready and published; retired when it goes down.
    private(set) var endpoint: ServiceEndpoint?
    /// Spawns so far (pipes of an earlier process that outlive it check it before forgetting themselves).
    private var spawns = 0
    var timerSlot = TimerSlot()

    init(spec: ServiceSpec, index: Int, generation: Int, service: SupervisedService, loop: EventLoop) {
        self.spec = spec
        self.index = index
        self.generation = generation
        self.label = "\(spec.name)#\(index)"
        self.service = service
        self.loop = loop
        machine = InstanceMachine(settings: InstanceMachine.Settings(spec))
    }

    // MARK: what the service sees

    var stateName: String { machine.stateName }
    var isReady: Bool { machine.phase == .ready }
    var isFinished: Bool { machine.isFinished }
    var hasProcess: Bool { machine.hasProcess }
    var restarts: Int { machine.restarts }
    var lastExit: ProcessExit? { machine.lastExit }
    /// It may still become ready without a new start from outside (starting, or restarting after back-off).
    var canBecomeReady: Bool {
        switch machine.phase {
        case .idle, .spawning, .backoff, .starting, .ready, .failing: true
        default: false
        }
    }
    /// When a restart is due, if it is waiting for one.
    var restartDue: UInt64? {
        if case .backoff(let until) = machine.phase { return until }
        return nil
    }

    func start() { perform(machine.start(now: loop.now)) }

    /// Stops it: a ready instance drains until `drainUntil` (nil: signal at once).
    func stop(drainUntil: UInt64?) { perform(machine.stop(now: loop.now, drainUntil: drainUntil)) }

    /// Shutdown gave up waiting: SIGKILL to its process group now.
    func killNow() {
        if machine.hasProcess && pid > 0 { _ = kill(-pid, SIGKILL) }
    }

    func timerFired(now: UInt64) {
        perform(machine.timerFired(now: now, inFlight: endpoint?.inFlight ?? 0))
    }

    // MARK: performing

    private func perform(_ actions: [InstanceMachine.Action]) {
        for action in actions {
            switch action {
            case .spawn:
                spawn()
            case .probe:
                probe?.cancel()
                probe = ReadinessProbe(port: port, path: spec.ready, loop: loop) { [self] ok in
                    probe = nil
                    perform(machine.probeFinished(ok: ok, now: loop.now))
                }
            case .ready:
                endpoint = ServiceEndpoint(service: spec.name, instance: index, id: service.runtime.nextEndpointID(),
                                           pid: pid, port: port)
                service.runtime.record(.ready, self)
                service.instanceReady(self)
            case .down:
                endpoint?.retire()
                service.instanceDown(self)
            case .signalMain(let sig):
                if machine.hasProcess && pid > 0 {
                    _ = kill(pid, sig)
                    service.runtime.record(.signalled(sig), self)
                }
            case .killGroup:
                if pid > 0 {
                    _ = kill(-pid, SIGKILL)
                    service.runtime.record(.killed, self)
                }
            case .cleanUp:
                cleanUp()
            case .finished:
                service.instanceFinished(self)
            case .log(let level, let text):
                log(level, text)
            }
        }
        if case .starting(_, _, true) = machine.phase {} else if let p = probe {
            probe = nil
            p.cancel()
        }
        loop.schedule(self, at: machine.deadline)
        service.statusChanged()
    }

    // MARK: spawning

    private func spawn() {
        let runtime = service.runtime
        let port: Int
        switch runtime.allocatePort() {
        case .success(let p): port = p
        case .failure(let e):
            perform(machine.spawnFailed(now: loop.now, reason: "no free loopback port: \(e)"))
            return
        }
        let environment = Self.environment(base: runtime.baseEnvironment(), spec: spec, index: index, port: port)
        guard let executable = spec.executable ?? Self.resolve(spec.command.first ?? "", cwd: spec.cwd, path: environment.path) else {
            runtime.releasePort(port)
            perform(machine.spawnFailed(now: loop.now, reason: "\(spec.command.first ?? "(empty command)"): not found or not executable"))
            return
        }
        let child: SpawnedChild
        switch ChildSpawner.spawn(executable: executable, arguments: spec.command, environment: environment.list,
                                  directory: spec.cwd, withStdin: false) {
        case .success(let c): child = c
        case .failure(let e):
            runtime.releasePort(port)
            perform(machine.spawnFailed(now: loop.now, reason: e.message))
            return
        }
        pid = child.pid
        self.port = port
        spawns += 1
        let generation = spawns
        let sink = runtime.outputSink(for: spec)
        let label = self.label
        do {
            stdoutPipe = try LogPipe(fd: child.stdout, loop: loop, prefix: "[\(label)] ", sink: sink) { [weak self] in
                if let self, self.spawns == generation { self.stdoutPipe = nil }
            }
            stderrPipe = try LogPipe(fd: child.stderr, loop: loop, prefix: "[\(label)] ", sink: sink) { [weak self] in
                if let self, self.spawns == generation { self.stderrPipe = nil }
            }
            watcher = try ChildExitWatcher(pid: child.pid, pidFD: child.pidFD, loop: loop) { [self] exit in
                watcher = nil
                runtime.record(.exited(exit), self)
                perform(machine.exited(exit, now: loop.now))
            }
        } catch {
            // Cannot watch it: stop it at once and reap it here.
            if stdoutPipe == nil { close(child.stdout) }
            if stderrPipe == nil { close(child.stderr) }
            if watcher == nil && child.pidFD >= 0 { close(child.pidFD) }
            _ = kill(-child.pid, SIGKILL)
            ChildExitWatcher.reapKilled(child.pid)
            stdoutPipe?.close(drain: false)
            stderrPipe?.close(drain: false)
            runtime.releasePort(port)
            self.port = 0
            perform(machine.spawnFailed(now: loop.now, reason: "cannot watch pid \(child.pid): \(error)"))
            return
        }
        runtime.record(.spawned, self)
        log(.info, "started pid \(pid) on 127.0.0.1:\(port)\(generation > 1 ? " (restart \(machine.restarts))" : "")")
        perform(machine.spawned(now: loop.now))
    }

    /// After the main process was reaped: what is left of its process group gets SIGKILL, its
    /// orphans too (serve mode), and the port is given back.
    private func cleanUp() {
        if pid > 0 {
            // The group is named by the reaped leader's pid: it cannot have been reused while
            // members of the group remain, and with none left this finds nothing (ESRCH).
            _ = kill(-pid, SIGKILL)
            OrphanReaper.killOrphans(service: spec.name, instance: index, port: port)
        }
        if port > 0 { service.runtime.releasePort(port) }
        port = 0
        endpoint = nil
    }

    private func log(_ level: InstanceMachine.LogLevel, _ text: String) {
        let logger = service.runtime.logger
        let message = "service \(label): \(text)"
        switch level {
        case .info: logger.info("\(message)")
        case .warning: logger.warning("\(message)")
        case .error: logger.error("\(message)")
        }
    }

    // MARK: environment and executable

    /// Flaks' environment, then the manifest's `env`, then PORT, HOST, FLAKS_SERVICE and
    /// FLAKS_INSTANCE (ours win). `list` is "NAME=value" entries; `path` the PATH the command is
    /// looked up in.
    static func environment(base: [String: String], spec: ServiceSpec, index: Int, port: Int) -> (list: [String], path: String) {
        var env = base
        for (k, v) in spec.env { env[k] = v }
        env["PORT"] = String(port)
        env["HOST"] = "127.0.0.1"
        env["FLAKS_SERVICE"] = spec.name
        env["FLAKS_INSTANCE"] = String(index)
        return (env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }, env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
    }

    /// The program to run for `argv0`: a name without `/` is looked up in `path`; a relative path
    /// is taken from `cwd`. nil when no executable file is found.
    static func resolve(_ argv0: String, cwd: String?, path: String) -> String? {
        guard !argv0.isEmpty else { return nil }
        func executable(_ p: String) -> Bool {
            var st = stat()
            return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(p, X_OK) == 0
        }
        if argv0.hasPrefix("/") { return executable(argv0) ? argv0 : nil }
        if argv0.contains("/") {
            let full = (cwd ?? ".") + "/" + argv0
            return executable(full) ? full : nil
        }
        for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
            let d = dir.isEmpty ? "." : String(dir)
            let candidate = d.hasPrefix("/") ? "\(d)/\(argv0)" : "\(cwd ?? ".")/\(d)/\(argv0)"
            if executable(candidate) { return candidate }
        }
        return nil
    }
}
