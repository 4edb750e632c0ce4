#if canImport(Glibc)
import Glibc
#endif
import FlaksSync
import Logging

/// Starts, watches, restarts, rolls and stops the programs of `services:` (docs/services.md).
/// Owned by `Server`; thread-safe: commands come from the thread that starts or reloads the server,
/// the work runs on a loop of its own (`ServiceRuntime` on a thread named flaks-services).
///
/// Why a loop of its own rather than loop 0: the services must outlive the serving loops (at
/// shutdown the loops drain first, then the services are stopped, and the exit watchers, pipes and
/// timers doing that need a loop that still runs); spawning, readiness probes and a chatty
/// service's output never take time from a loop serving requests; and the first instances can be
/// spawned before any listener accepts. It is the same `EventLoop` (selector, timers, `execute`)
/// with no listener: `ChildExitWatcher`, `LogPipe` and the timers work on it unchanged. It exists
/// only once a service is configured.
final class ServiceSupervisor: Sendable {
    let directory: ServiceDirectory
    private let clock: any LoopClock
    // protected by its lock; written by the services loop after each change, read by scrapes.
    // Beside each status, its instances' endpoints: the in-flight counts are read live.
    private let statusTable = Locked<[(status: ServiceStatus, endpoints: [ServiceEndpoint?])]>([])
    // protected by its lock; the last `journalLimit` events
    private let events = Locked<[ServiceEvent]>([])
    static let journalLimit = 4096

    private struct Control {
        var runtime: ServiceRuntime?
        var thread: OSThread?
        /// The definitions last applied, by name (what a reload is summarised against).
        var applied: [String: ServiceSpec] = [:]
        var stopped = false
    }
    // protected by its lock; taken by start/reload/stop (not by the loop)
    private let control = Locked(Control())

    init(clock: any LoopClock) {
        self.clock = clock
        directory = ServiceDirectory(clock: clock)
    }

    /// The status of every service (for `status` and `metrics`), by name.
    var status: [ServiceStatus] {
        statusTable.withLock { $0 }.map { entry in
            var s = entry.status
            for (k, e) in entry.endpoints.enumerated() where k < s.instances.count { s.instances[k].inFlight = e?.inFlight ?? 0 }
            return s
        }
    }

    /// What the supervisor did, oldest first (the last `journalLimit` events).
    var journal: [ServiceEvent] { events.withLock { $0 } }

    /// Makes the services those of `specs` (start: all added; reload: the diff) and returns one
    /// line per change. Services are registered in the directory before it returns (a request routed
    /// by the new manifest finds them and waits for an instance), and the processes of added ones
    /// are spawned before it returns (bounded: 5 s); readiness is not waited for.
    @discardableResult
    func apply(_ specs: [ServiceSpec], server: Server) -> [String] {
        let (runtime, plan): (ServiceRuntime?, ServicePlan) = control.withLock { c in
            guard !c.stopped else { return (nil, ServicePlan()) }
            let plan = ServicePlan.diff(running: c.applied, wanted: specs)
            c.applied = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            return (c.runtime, plan)
        }
        var rt = runtime
        if rt == nil {
            // Nothing ran yet: no loop is needed while no service is configured.
            guard !specs.isEmpty else { return [] }
            do { rt = try startLoop(server: server) } catch {
                server.logger.error("services: cannot start the supervisor loop: \(error); no service runs")
                return ["services not started: \(error)"]
            }
        }
        guard let runtime = rt else { return [] }
        for spec in plan.start { directory.register(spec.name, readyTimeout: spec.readyTimeout.nanoseconds) }
        let done = OneShot()
        runtime.loop.execute { _ in
            runtime.apply(specs)
            done.signal()
        }
        _ = done.wait(seconds: 5)
        return plan.summary
    }

    /// Makes the services of `specs` known to the directory before the site that routes to them
    /// is swapped in (a reload calls it, then swaps the site, then `apply`).
    func register(_ specs: [ServiceSpec]) {
        for spec in specs where directory.snapshot(of: spec.name) == nil {
            directory.register(spec.name, readyTimeout: spec.readyTimeout.nanoseconds)
        }
    }

    /// Stops every service (after the listeners drained): `stop_signal` to each main process,
    /// SIGKILL to its group after it exits or after `stop_timeout`; returns once every process is
    /// gone, or after the longest `stop_timeout` plus a few seconds (then everything left gets
    /// SIGKILL). Then stops the supervisor's loop. Idempotent.
    func stopAll() {
        let (runtime, thread, timeout) = control.withLock { c -> (ServiceRuntime?, OSThread?, Double) in
            guard !c.stopped else { return (nil, nil, 0) }
            c.stopped = true
            let longest = c.applied.values.map { Double($0.stopTimeout.nanoseconds) / 1e9 }.max() ?? 0
            return (c.runtime, c.thread, longest + 3)
        }
        guard let runtime, let thread else { return }
        let done = OneShot()
        runtime.loop.execute { _ in runtime.stopAll { done.signal() } }
        if !done.wait(seconds: timeout) {
            runtime.logger.error("services: still running \(Int(timeout)) s after the stop began: SIGKILL to every instance")
            runtime.loop.execute { _ in runtime.killAll() }
            _ = done.wait(seconds: 2)
        }
        directory.setWake { _ in }
        runtime.loop.execute { loop in
            runtime.closeLogs()
            loop.beginDrain(deadline: 0)
        }
        thread.join()
        control.withLock { $0.runtime = nil; $0.thread = nil }
    }

    /// Reopens the services' `log:` files (SIGUSR1).
    func reopenLogs() {
        guard let runtime = control.withLock({ $0.runtime }) else { return }
        runtime.loop.execute { _ in runtime.reopenLogs() }
    }

    // MARK: from the runtime

    func publish(_ status: [(status: ServiceStatus, endpoints: [ServiceEndpoint?])]) { statusTable.withLock { $0 = status } }

    func record(_ event: ServiceEvent) {
        events.withLock { e in
            if e.count >= Self.journalLimit { e.removeFirst(e.count / 2) }
            e.append(event)
        }
    }

    // MARK: the loop

    private func startLoop(server: Server) throws(SystemError) -> ServiceRuntime {
        // Another thread may have started it meanwhile (start and reload are not concurrent in
        // practice: one control thread); the lock makes it one loop either way.
        if let rt = control.withLock({ $0.runtime }) { return rt }
        let loop = try EventLoop(index: 0xFFFF, server: server, clock: clock)
        let runtime = ServiceRuntime(loop: loop, directory: directory, logger: server.logger, supervisor: self)
        let (winner, won) = control.withLock { c -> (ServiceRuntime, Bool) in
            if let rt = c.runtime { return (rt, false) }
            c.runtime = runtime
            c.thread = OSThread.start(name: "flaks-services") { loop.run() }
            return (runtime, true)
        }
        if won { directory.setWake { deadline in loop.execute { _ in runtime.wakeWaiters(at: deadline) } } }
        return winner
    }
}

/// A one-time signal a thread can wait for, bounded.
final class OneShot: Sendable {
    private let fired = Locked(false)
    private let cond = ConditionLock()

    func signal() {
        cond.lock()
        fired.withLock { $0 = true }
        cond.broadcast()
        cond.unlock()
    }

    /// Waits until signalled or `seconds` passed; true when signalled.
    func wait(seconds: Double) -> Bool {
        let deadline = monotonicNanos() &+ UInt64(seconds * 1e9)
        cond.lock()
        defer { cond.unlock() }
        while !fired.withLock({ $0 }) {
            let now = monotonicNanos()
            if now >= deadline { return false }
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            let left = min(deadline - now, 100_000_000)
            ts.tv_nsec += Int(left)
            while ts.tv_nsec >= 1_000_000_000 { ts.tv_sec += 1; ts.tv_nsec -= 1_000_000_000 }
            cond.timedWait(&ts)
        }
        return true
    }
}
