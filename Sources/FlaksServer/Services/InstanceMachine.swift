import FlaksHandlers

/// The life of one instance of a supervised service, as a pure state machine: events in (with
/// `now`, monotonic nanoseconds), actions out for `ServiceInstance` to perform. No I/O, no clock.
///
/// ```
/// idle ─start→ spawning ─spawned→ starting ─probe 2xx / connect→ ready
///                 │                  │ not ready by ready_timeout: SIGKILL group → failing
///                 └ spawn failed ┐   │ exit (on its own)                     │ exit
///                                ▼   ▼                                       ▼
///                     backoff(100 ms … 30 s) ─due→ spawning   or: exited (restart policy says no)
/// stop: ready → draining (until requests in flight end or drain_timeout) → stopping (stop_signal
///       to the main process) → killed (SIGKILL to the group after stop_timeout) → stopped at exit;
///       starting → stopping; idle/backoff/exited → stopped at once.
/// ```
///
/// Every exit of the main process is followed by `cleanUp` (SIGKILL to what is left of its process
/// group, orphans, the port); `finished` says the slot has no process and will start none.
struct InstanceMachine {
    /// The parts of a `ServiceSpec` the machine decides with, in nanoseconds.
    struct Settings: Equatable {
        var readyTimeout: UInt64
        var stopTimeout: UInt64
        var stopSignal: Int32
        var restart: ServiceSpec.RestartPolicy

        init(readyTimeout: UInt64, stopTimeout: UInt64, stopSignal: Int32, restart: ServiceSpec.RestartPolicy) {
            self.readyTimeout = readyTimeout; self.stopTimeout = stopTimeout
            self.stopSignal = stopSignal; self.restart = restart
        }

        init(_ spec: ServiceSpec) {
            self.init(readyTimeout: spec.readyTimeout.nanoseconds, stopTimeout: spec.stopTimeout.nanoseconds,
                      stopSignal: spec.stopSignal, restart: spec.restart)
        }
    }

    enum Phase: Equatable {
        /// Never started.
        case idle
        /// `spawn` was asked for; `spawned` or `spawnFailed` comes next.
        case spawning
        /// Exited (or could not start); started again at `until`.
        case backoff(until: UInt64)
        /// Running, not ready yet: probed at `nextProbe` (one probe at a time), killed at `readyBy`.
        case starting(readyBy: UInt64, nextProbe: UInt64, probing: Bool)
        /// Takes requests.
        case ready
        /// Killed for not becoming ready in time; its exit is awaited, then it restarts.
        case failing
        /// Stopping: no new requests; the stop signal goes out once the requests in flight are done
        /// (checked at `nextCheck`) or at `until` (drain_timeout).
        case draining(until: UInt64, nextCheck: UInt64)
        /// The stop signal was sent; SIGKILL to its process group at `killAt`.
        case stopping(killAt: UInt64)
        /// SIGKILL was sent to its process group; its exit is awaited.
        case killed
        /// Ended on its own and not restarted (`restart:` policy). Terminal.
        case exited
        /// Stopped on request. Terminal.
        case stopped
    }

    enum LogLevel: Equatable { case info, warning, error }

    enum Action: Equatable {
        /// Start the process (then report `spawned` or `spawnFailed`).
        case spawn
        /// Check readiness once (then report `probeFinished`).
        case probe
        /// It is ready: it may take requests.
        case ready
        /// It takes no more requests (unpublish it, retire its endpoint).
        case down
        /// Send this signal to the main process.
        case signalMain(Int32)
        /// SIGKILL to the whole process group.
        case killGroup
        /// The main process was reaped: SIGKILL what is left of its group, kill its orphans, free the port.
        case cleanUp
        /// No process, and none will be started: the slot is done.
        case finished
        case log(LogLevel, String)
    }

    /// How often a draining instance's requests in flight are counted.
    static let drainCheckInterval: UInt64 = 25_000_000
    /// An exit with status 0 sooner than this after the start is "exited at once".
    static let quickExit: UInt64 = 1_000_000_000
    /// The wait before readiness probe `n` (0-based): 25 ms doubling to 200 ms, so an app that is
    /// ready at once gets traffic at once, and a slow one is probed every 200 ms.
    static func probeDelay(_ n: Int) -> UInt64 { n >= 3 ? 200_000_000 : 25_000_000 << UInt64(n) }

    let settings: Settings
    private(set) var phase: Phase = .idle
    private(set) var backoff = RestartBackoff()
    /// Starts after the first one (restarts with back-off).
    private(set) var restarts = 0
    /// How the last process ended.
    private(set) var lastExit: ProcessExit?
    /// When the current (or last) process was started.
    private(set) var spawnedAt: UInt64 = 0
    /// When the current process became ready (nil: not ready).
    private(set) var readyAt: UInt64?
    /// Failed probes of the current process.
    private var probes = 0
    /// `stop` arrived while a spawn was under way.
    private var stopAfterSpawn = false

    init(settings: Settings) { self.settings = settings }

    /// When `timerFired` should be called next (0: nothing scheduled).
    var deadline: UInt64 {
        switch phase {
        case .backoff(let until): until
        case .starting(let readyBy, let nextProbe, let probing): probing ? readyBy : min(readyBy, nextProbe)
        case .draining(let until, let nextCheck): min(until, nextCheck)
        case .stopping(let killAt): killAt
        default: 0
        }
    }

    /// Whether a process of this instance exists (spawned and not yet reaped).
    var hasProcess: Bool {
        switch phase {
        case .starting, .ready, .failing, .draining, .stopping, .killed: true
        default: false
        }
    }

    /// The state `status` and `metrics` show.
    var stateName: String {
        switch phase {
        case .idle, .spawning, .starting, .failing: "starting"
        case .ready: "ready"
        case .draining, .stopping, .killed: "stopping"
        case .backoff: "backoff"
        case .exited: "exited"
        case .stopped: "stopped"
        }
    }

    /// Whether the instance is done (no process, none to come).
    var isFinished: Bool { phase == .exited || phase == .stopped }

    // MARK: events

    /// The first start.
    mutating func start(now: UInt64) -> [Action] {
        guard phase == .idle else { return [] }
        phase = .spawning
        return [.spawn]
    }

    /// The process was started.
    mutating func spawned(now: UInt64) -> [Action] {
        guard phase == .spawning else { return [] }
        spawnedAt = now
        readyAt = nil
        probes = 0
        if stopAfterSpawn {
            phase = .stopping(killAt: now &+ settings.stopTimeout)
            return [.signalMain(settings.stopSignal)]
        }
        phase = .starting(readyBy: now &+ settings.readyTimeout, nextProbe: now &+ Self.probeDelay(0), probing: false)
        return []
    }

    /// The process could not be started (`reason` says why: not found, not executable, no port).
    mutating func spawnFailed(now: UInt64, reason: String) -> [Action] {
        guard phase == .spawning else { return [] }
        if stopAfterSpawn {
            phase = .stopped
            return [.finished]
        }
        spawnedAt = now
        guard settings.restart != .never else {
            phase = .exited
            return [.log(.error, "cannot start: \(reason); not restarted (restart: never)"), .finished]
        }
        let d = backoff.delay(afterUptime: 0)
        phase = .backoff(until: now &+ d)
        return [.log(.error, "cannot start: \(reason); trying again in \(Self.format(d))")]
    }

    /// A readiness probe ended: `ok` when it answered 2xx (or accepted the connection without `ready`).
    mutating func probeFinished(ok: Bool, now: UInt64) -> [Action] {
        guard case .starting(let readyBy, _, true) = phase else { return [] }
        if ok {
            phase = .ready
            readyAt = now
            return [.ready, .log(.info, "ready after \(Self.format(now &- spawnedAt))")]
        }
        probes += 1
        phase = .starting(readyBy: readyBy, nextProbe: now &+ Self.probeDelay(probes), probing: false)
        return []
    }

    /// The deadline passed. `inFlight`: the instance's requests in flight now (for draining).
    mutating func timerFired(now: UInt64, inFlight: Int) -> [Action] {
        switch phase {
        case .backoff(let until) where now >= until:
            restarts += 1
            phase = .spawning
            return [.spawn]
        case .starting(let readyBy, let nextProbe, let probing):
            if now >= readyBy {
                phase = .failing
                return [.log(.error, "not ready within \(Self.format(settings.readyTimeout)) (ready_timeout): killing it"), .killGroup]
            }
            if !probing && now >= nextProbe {
                phase = .starting(readyBy: readyBy, nextProbe: nextProbe, probing: true)
                return [.probe]
            }
        case .draining(let until, _):
            if inFlight <= 0 || now >= until {
                phase = .stopping(killAt: now &+ settings.stopTimeout)
                var actions: [Action] = []
                if inFlight > 0 {
                    actions.append(.log(.warning, "\(inFlight) request(s) still in flight at drain_timeout; stopping it anyway"))
                }
                actions.append(.signalMain(settings.stopSignal))
                return actions
            }
            phase = .draining(until: until, nextCheck: now &+ Self.drainCheckInterval)
        case .stopping(let killAt) where now >= killAt:
            phase = .killed
            return [.log(.warning, "still running \(Self.format(settings.stopTimeout)) after signal \(settings.stopSignal) (stop_timeout): SIGKILL to its process group"),
                    .killGroup]
        default:
            break
        }
        return []
    }

    /// The main process was reaped with `exit`.
    mutating func exited(_ exit: ProcessExit, now: UInt64) -> [Action] {
        let ran = now &- spawnedAt
        switch phase {
        case .starting, .ready, .failing:
            lastExit = exit
            var actions: [Action] = phase == .ready ? [.down, .cleanUp] : [.cleanUp]
            let failedReadiness = phase == .failing
            var text = failedReadiness ? "killed (not ready in time)" : "\(exit) after \(Self.format(ran))"
            if !failedReadiness && exit == .code(0) && ran < Self.quickExit {
                text += ": exited at once (does it daemonise?)"
            }
            // Killed for not being ready counts as a failure, whatever the status says.
            let restart = failedReadiness ? settings.restart != .never : settings.restart.restarts(after: exit)
            if restart {
                let up = readyAt.map { now &- $0 } ?? 0
                let d = backoff.delay(afterUptime: up)
                phase = .backoff(until: now &+ d)
                actions.append(.log(.warning, text + "; restarting in \(Self.format(d))"))
            } else {
                phase = .exited
                actions.append(.log(.warning, text + "; not restarted (restart: \(settings.restart.rawValue))"))
                actions.append(.finished)
            }
            readyAt = nil
            return actions
        case .draining, .stopping, .killed:
            lastExit = exit
            phase = .stopped
            readyAt = nil
            return [.down, .cleanUp, .log(.info, "stopped (\(exit))"), .finished]
        case .idle, .spawning, .backoff, .exited, .stopped:
            return []
        }
    }

    /// Stop the instance. `drainUntil`: a ready instance takes no new requests and gets the stop
    /// signal once its requests in flight are done, at the latest at this time; nil: at once.
    mutating func stop(now: UInt64, drainUntil: UInt64?) -> [Action] {
        switch phase {
        case .idle, .backoff, .exited:
            phase = .stopped
            return [.finished]
        case .spawning:
            stopAfterSpawn = true
            return []
        case .starting:
            phase = .stopping(killAt: now &+ settings.stopTimeout)
            return [.signalMain(settings.stopSignal)]
        case .ready:
            if let until = drainUntil, until > now {
                phase = .draining(until: until, nextCheck: now)
                return [.down]
            }
            phase = .stopping(killAt: now &+ settings.stopTimeout)
            return [.down, .signalMain(settings.stopSignal)]
        case .draining(let until, let nextCheck):
            let sooner = min(until, drainUntil ?? now)
            phase = .draining(until: sooner, nextCheck: min(nextCheck, sooner))
            return []
        case .failing:
            phase = .killed
            return []
        case .stopping, .killed, .stopped:
            return []
        }
    }

    /// `1.6s`, `400ms`, `30s`.
    static func format(_ nanos: UInt64) -> String {
        if nanos < 1_000_000_000 { return "\(nanos / 1_000_000)ms" }
        let tenths = (nanos + 50_000_000) / 100_000_000
        return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
    }
}
