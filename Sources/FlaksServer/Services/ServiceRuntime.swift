#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig
import Logging

/// The supervisor's state on its own loop: the services by name, the ports handed out, the
/// output files, and the timer that ends requests' waits for a ready instance.
///
/// `@unchecked Sendable`: it is created before its loop's thread starts and from then on touched
/// only on that loop (commands arrive through `EventLoop.execute` closures that carry it).
final class ServiceRuntime: @unchecked Sendable {
    let loop: EventLoop
    let directory: ServiceDirectory
    let logger: Logger
    private unowned let supervisor: ServiceSupervisor
    // Everything below: the services loop only.
    private var services: [String: SupervisedService] = [:]
    /// Removed services still stopping (a service of the same name may be running again).
    private var departing: [SupervisedService] = []
    private var ports: Set<Int> = []
    private var writers: [String: BackgroundWriter] = [:]
    private var endpointIDs: UInt64 = 0
    private lazy var waiterTimer = WaiterTimer(directory: directory, loop: loop)
    /// Set by `stopAll`: called once every service is gone.
    private var onStopped: (() -> Void)?

    init(loop: EventLoop, directory: ServiceDirectory, logger: Logger, supervisor: ServiceSupervisor) {
        self.loop = loop
        self.directory = directory
        self.logger = logger
        self.supervisor = supervisor
    }

    /// `server.drain_timeout` of the manifest being served: how long a rolled or removed
    /// instance's requests in flight may take before it is stopped anyway.
    var drainTimeout: UInt64 { loop.server.currentSite.config.server.drainTimeout.nanoseconds }

    // MARK: commands (on the loop)

    /// Makes the services those of `specs`: added ones start, changed ones roll, removed ones stop,
    /// unchanged ones are left alone.
    func apply(_ specs: [ServiceSpec]) {
        guard onStopped == nil else { return }
        let plan = ServicePlan.diff(running: services.mapValues(\.servedSpec), wanted: specs)
        // Changed ones roll; unchanged ones only drop a roll the manifest no longer asks for.
        for spec in specs { services[spec.name]?.apply(spec) }
        for name in plan.stop {
            guard let s = services.removeValue(forKey: name) else { continue }
            departing.append(s)
            s.remove(drainUntil: loop.now &+ drainTimeout)
        }
        for spec in plan.start {
            let s = SupervisedService(spec: spec, runtime: self)
            services[spec.name] = s
            logger.info("service \(spec.name): starting \(spec.instances) instance(s): \(spec.command.joined(separator: " "))")
            s.start()
        }
        statusChanged()
    }

    /// Stops every service at once (shutdown: the listeners have drained); `done` runs when the
    /// last process is gone.
    func stopAll(_ done: @escaping () -> Void) {
        onStopped = done
        for (_, s) in services {
            departing.append(s)
        }
        services = [:]
        for s in departing { s.remove(drainUntil: nil) }
        // Services already gone were dropped by `serviceMaybeGone`; the rest call it as they end.
        for s in departing where s.isGone { serviceMaybeGone(s) }
        checkStopped()
    }

    /// SIGKILL to every instance's process group (shutdown gave up waiting).
    func killAll() {
        for s in departing { s.killNow() }
        for (_, s) in services { s.killNow() }
    }

    /// Reopens the `log:` files (SIGUSR1).
    func reopenLogs() { for (_, w) in writers { w.reopen() } }

    /// Flushes and closes the `log:` files (after `stopAll`).
    func closeLogs() {
        for (_, w) in writers { w.stop() }
        writers = [:]
    }

    // MARK: for services and instances

    /// A removed service may have ended: forget it once nothing of it runs.
    func serviceMaybeGone(_ s: SupervisedService) {
        guard s.isGone, let k = departing.firstIndex(where: { $0 === s }) else { return }
        departing.remove(at: k)
        logger.info("service \(s.name): stopped")
        statusChanged()
        checkStopped()
    }

    private func checkStopped() {
        guard services.isEmpty && departing.isEmpty, let done = onStopped else { return }
        onStopped = { }
        done()
    }

    /// A loopback port no live instance holds.
    func allocatePort() -> Result<Int, SystemError> {
        let r = LoopbackPort.pick(avoiding: ports)
        if case .success(let p) = r { ports.insert(p) }
        return r
    }

    func releasePort(_ port: Int) { ports.remove(port) }

    func nextEndpointID() -> UInt64 {
        endpointIDs &+= 1
        return endpointIDs
    }

    /// Flaks' own environment now (the base of every instance's).
    func baseEnvironment() -> [String: String] { ProcessEnvironment.current() }

    /// Where an instance's output lines go: its `log:` file (appended by a background writer, so
    /// the loop never blocks on it), or nil for the error log.
    func outputSink(for spec: ServiceSpec) -> ((String) -> Void)? {
        guard let path = spec.log else { return nil }
        let writer: BackgroundWriter
        if let w = writers[path] {
            writer = w
        } else {
            writer = BackgroundWriter(destination: .file(path), name: "flaks-svc-log")
            writers[path] = writer
        }
        return { line in writer.append(Array((line + "\n").utf8)) }
    }

    /// Makes sure the waits for ready instances are ended at `deadline`.
    func wakeWaiters(at deadline: UInt64) { waiterTimer.wake(at: deadline) }

    func record(_ kind: ServiceEvent.Kind, _ i: ServiceInstance) {
        supervisor.record(ServiceEvent(time: loop.now, service: i.spec.name, instance: i.index, generation: i.generation,
                                       pid: i.pid, kind: kind))
    }

    func record(_ kind: ServiceEvent.Kind, service: String) {
        supervisor.record(ServiceEvent(time: loop.now, service: service, instance: nil, generation: nil, pid: nil, kind: kind))
    }

    /// Publishes the status of every service (a handful of values; after each change).
    func statusChanged() {
        var all: [(status: ServiceStatus, endpoints: [ServiceEndpoint?])] = []
        for s in services.values.sorted(by: { $0.name < $1.name }) + departing {
            let instances = s.allInstances
            all.append((ServiceStatus(name: s.name, note: s.note, instances: instances.map { i in
                ServiceStatus.Instance(index: i.index, generation: i.generation, pid: i.hasProcess ? i.pid : nil,
                                       port: i.hasProcess ? i.port : nil, state: i.stateName, restarts: i.restarts,
                                       lastExit: i.lastExit, inFlight: 0)
            }), instances.map(\.endpoint)))
        }
        supervisor.publish(all)
    }
}

/// Ends requests' waits for a ready instance at their deadlines (`ServiceDirectory.expireWaiters`).
/// Loop thread only.
final class WaiterTimer: TimerTarget {
    private let directory: ServiceDirectory
    private unowned let loop: EventLoop
    private var scheduled: UInt64 = 0
    var timerSlot = TimerSlot()

    init(directory: ServiceDirectory, loop: EventLoop) { self.directory = directory; self.loop = loop }

    /// Fires at `deadline` unless already due sooner.
    func wake(at deadline: UInt64) {
        guard scheduled == 0 || deadline < scheduled else { return }
        scheduled = deadline
        loop.schedule(self, at: deadline)
    }

    func timerFired(now: UInt64) {
        scheduled = 0
        if let next = directory.expireWaiters(now: now) { wake(at: next) }
    }
}
