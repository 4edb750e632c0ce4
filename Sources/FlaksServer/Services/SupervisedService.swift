/// One service on the supervisor's loop: its instances, and rolls from one definition to the next.
///
/// - `current`: the instances of the definition being served (`spec`); the ready ones are
///   published in the directory as one list.
/// - A roll (the definition changed): a new set of instances starts beside `current`; when all of
///   them are ready they are published in place of the old ones (one list swap: every request from
///   then on goes to the new set), and the old ones drain (their requests in flight finish, at most
///   `server.drain_timeout`), get `stop_signal`, and SIGKILL to their group after `stop_timeout`.
///   A roll whose new instances are not all ready within `ready_timeout`, or one of which exited
///   for good, is abandoned: "roll stalled" (log and status), the new ones are stopped, the old
///   ones keep serving. A later reload compares with the definition being served, so it tries again.
/// - `retiring`: instances being stopped (old sets, abandoned rolls, a removed service).
///
/// Loop thread only.
final class SupervisedService: TimerTarget {
    let name: String
    unowned let runtime: ServiceRuntime
    /// The definition being served.
    private(set) var spec: ServiceSpec
    private(set) var current: [ServiceInstance] = []
    private(set) var retiring: [ServiceInstance] = []
    private var roll: Roll?
    /// "rolling to generation N" or "roll stalled: …", for status.
    private(set) var note: String?
    /// Removed from the manifest (or the server stops): every instance is stopping.
    private(set) var removed = false
    private var generation = 0
    var timerSlot = TimerSlot()

    private struct Roll {
        let spec: ServiceSpec
        var instances: [ServiceInstance]
        let deadline: UInt64
        let generation: Int
    }

    init(spec: ServiceSpec, runtime: ServiceRuntime) {
        self.name = spec.name
        self.spec = spec
        self.runtime = runtime
    }

    private var loop: EventLoop { runtime.loop }

    /// The definition a reload is compared with: the one being served.
    var servedSpec: ServiceSpec { spec }

    /// Every instance, for status: current, then a roll's, then the retiring ones.
    var allInstances: [ServiceInstance] { current + (roll?.instances ?? []) + retiring }

    /// Nothing left running and nothing will start.
    var isGone: Bool { removed && current.isEmpty && retiring.isEmpty && roll == nil }

    // MARK: commands

    /// Starts the instances of `spec`.
    func start() {
        generation += 1
        current = makeInstances(spec, generation: generation)
        publish()
        for i in current { i.start() }
    }

    /// A reload gave `newSpec` for this service.
    func apply(_ newSpec: ServiceSpec) {
        guard !removed else { return }
        if let r = roll, r.spec == newSpec { return }                  // already rolling there
        if newSpec == spec {
            if roll != nil { cancelRoll(reason: "the manifest went back to the definition being served") }
            if note != nil { note = nil; statusChanged() }
            return
        }
        if roll != nil { cancelRoll(reason: "the definition changed again") }
        generation += 1
        let instances = makeInstances(newSpec, generation: generation)
        roll = Roll(spec: newSpec, instances: instances, deadline: loop.now &+ newSpec.readyTimeout.nanoseconds,
                    generation: generation)
        note = "rolling to generation \(generation)"
        runtime.logger.info("service \(name): definition changed: starting \(instances.count) new instance(s) (generation \(generation)); the old ones serve until they are ready")
        runtime.record(.rollStarted(generation), service: name)
        loop.schedule(self, at: loop.now &+ newSpec.readyTimeout.nanoseconds)
        for i in instances { i.start() }
        statusChanged()
    }

    /// Removed from the manifest (or the server stops): unpublished at once; ready instances drain
    /// until `drainUntil` (nil: stopped at once), then get `stop_signal`. Called again, it hurries
    /// the instances still draining.
    func remove(drainUntil: UInt64?) {
        if !removed {
            removed = true
            if roll != nil { cancelRoll(reason: "the service was removed") }
            loop.removeTimer(self)
            let old = current
            current = []
            runtime.directory.remove(name)
            for i in old { i.endpoint?.retire() }
            retiring += old
            runtime.logger.info("service \(name): stopping")
        }
        for i in retiring { i.stop(drainUntil: drainUntil) }
        statusChanged()
        runtime.serviceMaybeGone(self)
    }

    /// Shutdown is taking too long: SIGKILL to every process group now.
    func killNow() {
        for i in allInstances { i.killNow() }
    }

    // MARK: from the instances

    func instanceReady(_ i: ServiceInstance) {
        if current.contains(where: { $0 === i }) {
            publish()
        } else if let r = roll, r.instances.contains(where: { $0 === i }), r.instances.allSatisfy(\.isReady) {
            completeRoll()
        }
    }

    func instanceDown(_ i: ServiceInstance) {
        if current.contains(where: { $0 === i }) { publish() }
    }

    func instanceFinished(_ i: ServiceInstance) {
        if let k = retiring.firstIndex(where: { $0 === i }) {
            retiring.remove(at: k)
            runtime.serviceMaybeGone(self)
        } else if current.contains(where: { $0 === i }) {
            publish()                                                    // may now be unable to get ready
        } else if let r = roll, r.instances.contains(where: { $0 === i }) {
            abandonRoll(reason: "instance \(i.index) of the new definition \(i.lastExit.map { "\($0)" } ?? "could not start") and is not restarted")
        }
    }

    /// Something about an instance changed: republish (readiness, Retry-After) and refresh status.
    func statusChanged() {
        publish()
        runtime.statusChanged()
    }

    /// The roll's deadline.
    func timerFired(now: UInt64) {
        guard let r = roll, now >= r.deadline else { return }
        let waiting = r.instances.filter { !$0.isReady }.map { "#\($0.index) \($0.stateName)" }
        abandonRoll(reason: "the new instances were not ready within \(InstanceMachine.format(r.spec.readyTimeout.nanoseconds)) (ready_timeout; \(waiting.joined(separator: ", ")))")
    }

    // MARK: rolls

    private func completeRoll() {
        guard let r = roll else { return }
        roll = nil
        loop.removeTimer(self)
        let old = current
        current = r.instances
        spec = r.spec
        note = nil
        publish()                                                        // the new set takes every request from now on
        let drainUntil = loop.now &+ runtime.drainTimeout
        for i in old { i.endpoint?.retire() }
        retiring += old
        runtime.logger.info("service \(name): rolled to generation \(r.generation) (pids \(current.map { String($0.pid) }.joined(separator: ", "))); the old instances stop once their requests are done")
        runtime.record(.rollCompleted(r.generation), service: name)
        for i in old { i.stop(drainUntil: drainUntil) }
        statusChanged()
    }

    private func abandonRoll(reason: String) {
        guard let r = roll else { return }
        roll = nil
        loop.removeTimer(self)
        note = "roll stalled: \(reason); the old instances keep serving"
        retiring += r.instances
        for i in r.instances { i.stop(drainUntil: nil) }
        // Status first, then the log line: whoever reads the line finds the status saying so.
        statusChanged()
        runtime.logger.error("service \(name): roll stalled: \(reason); the old instances keep serving")
        runtime.record(.rollStalled(r.generation), service: name)
    }

    private func cancelRoll(reason: String) {
        guard let r = roll else { return }
        roll = nil
        loop.removeTimer(self)
        note = nil
        runtime.logger.info("service \(name): roll to generation \(r.generation) cancelled: \(reason)")
        retiring += r.instances
        for i in r.instances { i.stop(drainUntil: nil) }
    }

    // MARK: the directory

    private func makeInstances(_ spec: ServiceSpec, generation: Int) -> [ServiceInstance] {
        (0..<max(spec.instances, 1)).map {
            ServiceInstance(spec: spec, index: $0, generation: generation, service: self, loop: runtime.loop)
        }
    }

    /// Publishes the ready instances of `current`, whether one may still become ready, and the
    /// Retry-After a 503 should carry (the seconds until the next restart, at least 1).
    private func publish() {
        guard !removed else { return }
        let ready = current.compactMap { $0.isReady ? $0.endpoint : nil }
        let hope = current.contains(where: \.canBecomeReady) || roll != nil
        let now = loop.now
        let nextRestart = current.compactMap(\.restartDue).min()
        let retry = nextRestart.map { Int(($0 > now ? $0 - now : 0) / 1_000_000_000) + 1 } ?? 1
        runtime.directory.update(name, endpoints: ready, readyTimeout: spec.readyTimeout.nanoseconds,
                                 canBecomeReady: hope, retryAfter: min(retry, 30))
    }
}
