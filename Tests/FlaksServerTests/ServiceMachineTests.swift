#if canImport(Glibc)
import Glibc
#endif
@testable import FlaksServer
import FlaksHandlers
import Foundation
import Testing

private let ms: UInt64 = 1_000_000
private let s: UInt64 = 1_000_000_000

@Suite("Services: restart back-off")
struct RestartBackoffTests {
    @Test func doublesFrom100msUpTo30s() {
        var b = RestartBackoff()
        let delays = (0..<12).map { _ in b.delay(afterUptime: 0) / ms }
        #expect(delays == [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000])
    }

    @Test func resetsAfterTenSecondsUpNotOneNanosecondBefore() {
        var b = RestartBackoff()
        for _ in 0..<4 { _ = b.delay(afterUptime: 0) }
        #expect(b.delay(afterUptime: 10 * s - 1) == 1600 * ms)
        #expect(b.delay(afterUptime: 10 * s) == 100 * ms)
        #expect(b.delay(afterUptime: 0) == 200 * ms)
    }
}

@Suite("Services: the instance state machine")
struct InstanceMachineTests {
    static let settings = InstanceMachine.Settings(readyTimeout: 2 * s, stopTimeout: 1 * s, stopSignal: SIGTERM, restart: .always)

    /// A machine started at `t` whose process is running (starting).
    func running(_ settings: InstanceMachine.Settings = settings, at t: UInt64 = 1000 * s) -> InstanceMachine {
        var m = InstanceMachine(settings: settings)
        #expect(m.start(now: t) == [.spawn])
        #expect(m.spawned(now: t) == [])
        return m
    }

    /// A machine whose process became ready at `t + 100ms`.
    func ready(_ settings: InstanceMachine.Settings = settings, at t: UInt64 = 1000 * s) -> InstanceMachine {
        var m = running(settings, at: t)
        #expect(m.timerFired(now: t + 25 * ms, inFlight: 0) == [.probe])
        #expect(m.probeFinished(ok: true, now: t + 100 * ms) == [.ready, .log(.info, "ready after 100ms")])
        #expect(m.phase == .ready)
        return m
    }

    @Test func probesAfter25msThenBacksOffTo200msOneAtATime() {
        let t: UInt64 = 1000 * s
        var m = running(at: t)
        #expect(m.deadline == t + 25 * ms)
        #expect(m.stateName == "starting")
        #expect(m.timerFired(now: t + 25 * ms - 1, inFlight: 0) == [])
        var now = t + 25 * ms
        var gaps: [UInt64] = []
        for _ in 0..<6 {
            #expect(m.timerFired(now: now, inFlight: 0) == [.probe])
            // While a probe is out, the only deadline is the readiness one, and nothing else starts.
            #expect(m.deadline == t + 2 * s)
            #expect(m.timerFired(now: now, inFlight: 0) == [])
            #expect(m.probeFinished(ok: false, now: now) == [])
            gaps.append((m.deadline - now) / ms)
            now = m.deadline
        }
        #expect(gaps == [50, 100, 200, 200, 200, 200])
    }

    @Test func notReadyWithinReadyTimeoutIsKilledAndRestartedWithBackoff() {
        let t: UInt64 = 1000 * s
        var m = running(at: t)
        var now = t
        while m.deadline < t + 2 * s {
            now = m.deadline
            if m.timerFired(now: now, inFlight: 0) == [.probe] { _ = m.probeFinished(ok: false, now: now) }
        }
        #expect(m.timerFired(now: t + 2 * s - 1, inFlight: 0).contains(.killGroup) == false)
        #expect(m.timerFired(now: t + 2 * s, inFlight: 0)
                == [.log(.error, "not ready within 2s (ready_timeout): killing it"), .killGroup])
        #expect(m.phase == .failing)
        #expect(m.stateName == "starting")
        let actions = m.exited(.signal(SIGKILL), now: t + 2 * s + 5 * ms)
        #expect(actions == [.cleanUp, .log(.warning, "killed (not ready in time); restarting in 100ms")])
        #expect(m.phase == .backoff(until: t + 2 * s + 105 * ms))
        #expect(m.lastExit == .signal(SIGKILL))
    }

    @Test func exitWhileReadyGoesDownAndRestartsWhenTheBackoffIsDue() {
        let t: UInt64 = 1000 * s
        var m = ready(at: t)
        let actions = m.exited(.code(1), now: t + 3 * s)
        #expect(actions == [.down, .cleanUp, .log(.warning, "exited with status 1 after 3s; restarting in 100ms")])
        #expect(m.stateName == "backoff")
        #expect(m.hasProcess == false)
        #expect(m.timerFired(now: t + 3 * s + 100 * ms - 1, inFlight: 0) == [])
        #expect(m.timerFired(now: t + 3 * s + 100 * ms, inFlight: 0) == [.spawn])
        #expect(m.restarts == 1)
        #expect(m.spawned(now: t + 3 * s + 101 * ms) == [])
        #expect(m.stateName == "starting")
    }

    @Test func backoffGrowsOverFailuresAndResetsAfterTenSecondsReady() {
        var m = running(at: 0)
        var now: UInt64 = 0
        var delays: [UInt64] = []
        for _ in 0..<5 {
            now += 10 * ms
            _ = m.exited(.code(1), now: now)
            guard case .backoff(let until) = m.phase else { Issue.record("not backing off"); return }
            delays.append((until - now) / ms)
            now = until
            #expect(m.timerFired(now: now, inFlight: 0) == [.spawn])
            _ = m.spawned(now: now)
        }
        #expect(delays == [100, 200, 400, 800, 1600])
        #expect(m.restarts == 5)
        // Ready for exactly 10 s: the next failure starts over at 100 ms.
        _ = m.timerFired(now: now + 25 * ms, inFlight: 0)
        _ = m.probeFinished(ok: true, now: now + 30 * ms)
        _ = m.exited(.code(1), now: now + 30 * ms + 10 * s)
        #expect(m.phase == .backoff(until: now + 30 * ms + 10 * s + 100 * ms))
    }

    @Test func exitZeroWithinASecondAsksWhetherItDaemonises() {
        var m = running(at: 0)
        let quick = m.exited(.code(0), now: 1 * s - 1)
        #expect(quick.contains(.log(.warning, "exited with status 0 after 999ms: exited at once (does it daemonise?); restarting in 100ms")))
        var n = running(at: 0)
        let later = n.exited(.code(0), now: 1 * s)
        #expect(later.contains(.log(.warning, "exited with status 0 after 1s; restarting in 100ms")))
        var f = running(at: 0)
        #expect(!f.exited(.code(3), now: 10 * ms).contains { if case .log(_, let t) = $0 { t.contains("daemonise") } else { false } })
    }

    @Test func restartNeverLeavesItExited() {
        var settings = Self.settings
        settings.restart = .never
        var m = ready(settings, at: 0)
        #expect(m.exited(.code(3), now: 1 * s)
                == [.down, .cleanUp, .log(.warning, "exited with status 3 after 1s; not restarted (restart: never)"), .finished])
        #expect(m.phase == .exited)
        #expect(m.stateName == "exited")
        #expect(m.deadline == 0)
        #expect(m.timerFired(now: 100 * s, inFlight: 0) == [])
        #expect(m.restarts == 0)
    }

    @Test(arguments: [(ProcessExit.code(0), false), (.code(1), true), (.signal(SIGKILL), true)])
    func onFailureRestartsOnlyAfterAFailure(exit: ProcessExit, restarts: Bool) {
        var settings = Self.settings
        settings.restart = .onFailure
        var m = ready(settings, at: 0)
        let actions = m.exited(exit, now: 5 * s)
        #expect(actions.contains(.finished) == !restarts)
        if case .backoff = m.phase { #expect(restarts) } else { #expect(!restarts) }
    }

    @Test func spawnFailureBacksOffOrEndsUnderNever() {
        var m = InstanceMachine(settings: Self.settings)
        _ = m.start(now: 0)
        #expect(m.spawnFailed(now: 0, reason: "nope: not found") == [.log(.error, "cannot start: nope: not found; trying again in 100ms")])
        #expect(m.phase == .backoff(until: 100 * ms))
        #expect(m.timerFired(now: 100 * ms, inFlight: 0) == [.spawn])
        _ = m.spawnFailed(now: 100 * ms, reason: "nope")
        #expect(m.phase == .backoff(until: 300 * ms))

        var settings = Self.settings
        settings.restart = .never
        var n = InstanceMachine(settings: settings)
        _ = n.start(now: 0)
        #expect(n.spawnFailed(now: 0, reason: "nope").last == .finished)
        #expect(n.phase == .exited)
    }

    @Test func stopDrainsUntilRequestsInFlightEndThenSignalsThenKillsAfterStopTimeout() {
        var m = ready(at: 0)
        #expect(m.stop(now: 1 * s, drainUntil: 11 * s) == [.down])
        #expect(m.stateName == "stopping")
        #expect(m.deadline == 1 * s)
        #expect(m.timerFired(now: 1 * s, inFlight: 2) == [])
        #expect(m.deadline == 1 * s + 25 * ms)
        #expect(m.timerFired(now: 1 * s + 25 * ms, inFlight: 1) == [])
        #expect(m.timerFired(now: 1 * s + 50 * ms, inFlight: 0) == [.signalMain(SIGTERM)])
        #expect(m.phase == .stopping(killAt: 2 * s + 50 * ms))
        #expect(m.timerFired(now: 2 * s + 50 * ms - 1, inFlight: 0) == [])
        #expect(m.timerFired(now: 2 * s + 50 * ms, inFlight: 0)
                == [.log(.warning, "still running 1s after signal 15 (stop_timeout): SIGKILL to its process group"), .killGroup])
        #expect(m.phase == .killed)
        #expect(m.exited(.signal(SIGKILL), now: 2 * s + 60 * ms) == [.down, .cleanUp, .log(.info, "stopped (killed by signal 9)"), .finished])
        #expect(m.phase == .stopped)
        #expect(m.lastExit == .signal(SIGKILL))
    }

    @Test func drainTimeoutStopsItWithRequestsStillInFlight() {
        var m = ready(at: 0)
        _ = m.stop(now: 1 * s, drainUntil: 3 * s)
        var now = 1 * s
        while m.deadline < 3 * s {
            now = m.deadline
            #expect(m.timerFired(now: now, inFlight: 1) == [])
        }
        #expect(m.deadline == 3 * s)
        #expect(m.timerFired(now: 3 * s, inFlight: 1)
                == [.log(.warning, "1 request(s) still in flight at drain_timeout; stopping it anyway"), .signalMain(SIGTERM)])
    }

    @Test func stopSignalIsTheConfiguredOneAndAnExitBeforeTheTimeoutStops() {
        var settings = Self.settings
        settings.stopSignal = SIGINT
        var m = ready(settings, at: 0)
        #expect(m.stop(now: 1 * s, drainUntil: nil) == [.down, .signalMain(SIGINT)])
        #expect(m.exited(.code(0), now: 1 * s + 10 * ms).last == .finished)
        #expect(m.phase == .stopped)
        #expect(m.restarts == 0)
    }

    @Test func stopInEveryOtherPhase() {
        var idle = InstanceMachine(settings: Self.settings)
        #expect(idle.stop(now: 0, drainUntil: nil) == [.finished])
        var starting = running(at: 0)
        #expect(starting.stop(now: 0, drainUntil: 5 * s) == [.signalMain(SIGTERM)])
        #expect(starting.phase == .stopping(killAt: 1 * s))
        var backingOff = running(at: 0)
        _ = backingOff.exited(.code(1), now: 1 * ms)
        #expect(backingOff.stop(now: 2 * ms, drainUntil: nil) == [.finished])
        #expect(backingOff.timerFired(now: 1 * s, inFlight: 0) == [])
        var spawning = InstanceMachine(settings: Self.settings)
        _ = spawning.start(now: 0)
        #expect(spawning.stop(now: 0, drainUntil: nil) == [])
        #expect(spawning.spawned(now: 1) == [.signalMain(SIGTERM)])
        var failing = running(at: 0)
        _ = failing.timerFired(now: 2 * s, inFlight: 0)
        #expect(failing.stop(now: 2 * s, drainUntil: nil) == [])
        #expect(failing.phase == .killed)
        #expect(failing.exited(.signal(SIGKILL), now: 2 * s).last == .finished)
        // A second stop hurries a drain, never delays it.
        var draining = ready(at: 0)
        _ = draining.stop(now: 1 * s, drainUntil: 10 * s)
        _ = draining.stop(now: 2 * s, drainUntil: 20 * s)
        #expect(draining.phase == .draining(until: 10 * s, nextCheck: 1 * s))
        _ = draining.stop(now: 3 * s, drainUntil: nil)
        #expect(draining.phase == .draining(until: 3 * s, nextCheck: 1 * s))
    }

    @Test func staleReportsChangeNothing() {
        var m = ready(at: 0)
        #expect(m.probeFinished(ok: true, now: 1 * s) == [])
        #expect(m.spawned(now: 1 * s) == [])
        _ = m.stop(now: 1 * s, drainUntil: nil)
        _ = m.exited(.code(0), now: 1 * s)
        #expect(m.exited(.code(0), now: 2 * s) == [])
        #expect(m.stop(now: 2 * s, drainUntil: nil) == [])
        #expect(m.start(now: 2 * s) == [])
    }

    @Test func durationsAreShort() {
        #expect(InstanceMachine.format(100 * ms) == "100ms")
        #expect(InstanceMachine.format(1600 * ms) == "1.6s")
        #expect(InstanceMachine.format(30 * s) == "30s")
    }
}

@Suite("Services: the reload diff")
struct ServicePlanTests {
    let a = ServiceSpec(name: "a", command: ["/bin/true"])
    let b = ServiceSpec(name: "b", command: ["/bin/true"], env: ["X": "1"])

    @Test func addedChangedRemovedAndUnchanged() {
        var b2 = b
        b2.env["X"] = "2"
        let c = ServiceSpec(name: "c", command: ["/bin/false"])
        let plan = ServicePlan.diff(running: ["a": a, "b": b, "gone": a], wanted: [a, b2, c])
        #expect(plan.keep == ["a"])
        #expect(plan.roll == [b2])
        #expect(plan.start == [c])
        #expect(plan.stop == ["gone"])
        #expect(plan.summary == ["service c: started", "service b: rolling to its new definition", "service gone: stopped"])
    }

    @Test func everyFieldCountsAsAChange() {
        var variants: [ServiceSpec] = []
        var v = a; v.command = ["/bin/false"]; variants.append(v)
        v = a; v.cwd = "/tmp"; variants.append(v)
        v = a; v.env = ["A": "1"]; variants.append(v)
        v = a; v.instances = 2; variants.append(v)
        v = a; v.ready = "/healthz"; variants.append(v)
        v = a; v.readyTimeout = .seconds(5); variants.append(v)
        v = a; v.restart = .never; variants.append(v)
        v = a; v.stopSignal = SIGINT; variants.append(v)
        v = a; v.stopTimeout = .seconds(1); variants.append(v)
        v = a; v.log = "/tmp/x.log"; variants.append(v)
        for variant in variants {
            #expect(ServicePlan.diff(running: ["a": a], wanted: [variant]).roll == [variant])
        }
        #expect(ServicePlan.diff(running: ["a": a], wanted: [a]).isEmpty)
    }

    @Test func aDuplicateNameKeepsItsFirstDefinition() {
        var a2 = a
        a2.instances = 3
        let plan = ServicePlan.diff(running: [:], wanted: [a, a2])
        #expect(plan.start == [a])
    }
}

@Suite("Services: readiness answers")
struct ReadinessCheckTests {
    static let cases: [(String, ReadinessCheck.Answer)] = [
        ("HTTP/1.1 200 OK\r\n\r\n", .status(200)),
        ("HTTP/1.0 204 No Content\r\n", .status(204)),
        ("HTTP/1.1 299 \r\n", .status(299)),
        ("HTTP/1.1 200\r\n", .status(200)),
        ("HTTP/1.1 503 Service Unavailable\r\n", .status(503)),
        ("HTTP/1.1 301 Moved\r\n", .status(301)),
        ("HTTP/1.1 2000 OK\r\n", .invalid),
        ("HTTP/1.1 20x OK\r\n", .invalid),
        ("HTTP/1.1 099 Low\r\n", .invalid),
        ("HTTP/2 200 OK\r\n", .invalid),
        ("http/1.1 200 OK\r\n", .invalid),
        ("HTTP/1.1  200 OK\r\n", .invalid),
        ("SSH-2.0-OpenSSH\r\n", .invalid),
        ("HTTP/1.1 20", .needMore),
        ("", .needMore),
    ]

    @Test func wholeSplitAndByteByByte() {
        for (text, expected) in Self.cases {
            let bytes = Array(text.utf8)
            #expect(ReadinessCheck.answer(bytes) == expected, "\(text.debugDescription)")
            // Every prefix says "need more" or already the final answer: the answer never changes.
            for cut in 0...bytes.count {
                let partial = ReadinessCheck.answer(bytes[0..<cut])
                #expect(partial == .needMore || partial == expected, "\(text.debugDescription) cut at \(cut): \(partial)")
            }
        }
    }

    @Test func only2xxIsReady() {
        #expect(!ReadinessCheck.isReady(199))
        #expect(ReadinessCheck.isReady(200))
        #expect(ReadinessCheck.isReady(299))
        #expect(!ReadinessCheck.isReady(300))
    }

    @Test func theProbeAsksLocalhostAndCloses() {
        let text = String(decoding: ReadinessCheck.request(path: "/healthz"), as: UTF8.self)
        #expect(text.hasPrefix("GET /healthz HTTP/1.1\r\nHost: localhost\r\n"))
        #expect(text.contains("Connection: close\r\n"))
        #expect(text.hasSuffix("\r\n\r\n"))
    }
}

/// A clock the test moves.
final class ManualClock: LoopClock, @unchecked Sendable {
    // protected by its lock
    private let value = NSLock()
    private var t: UInt64 = 1_000 * 1_000_000_000
    func now() -> UInt64 { value.lock(); defer { value.unlock() }; return t }
    func advance(_ d: UInt64) { value.lock(); t += d; value.unlock() }
}

/// Collects wait results from any thread.
final class WaitResults: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [ServiceDirectory.WaitResult] = []
    func add(_ r: ServiceDirectory.WaitResult) { lock.lock(); items.append(r); lock.unlock() }
    var all: [ServiceDirectory.WaitResult] { lock.lock(); defer { lock.unlock() }; return items }
}

@Suite("Services: the directory the proxy reads")
struct ServiceDirectoryTests {
    func endpoint(_ i: Int, id: UInt64? = nil, port: Int = 40000) -> ServiceEndpoint {
        ServiceEndpoint(service: "api", instance: i, id: id ?? UInt64(i + 1), pid: 100 + Int32(i), port: port + i)
    }

    @Test func unknownServiceIsUnavailable() {
        let d = ServiceDirectory(clock: ManualClock())
        #expect(d.acquire("nope") == nil)
        #expect(d.snapshot(of: "nope") == nil)
        #expect(d.waitForReady("nope") { _ in Issue.record("called") } == .unavailable)
    }

    @Test func aWaitEndsWhenAnInstanceIsPublished() {
        let clock = ManualClock()
        let d = ServiceDirectory(clock: clock)
        let wakes = Locked<[UInt64]>([])
        d.setWake { t in wakes.withLock { $0.append(t) } }
        d.register("api", readyTimeout: 30 * s)
        #expect(d.acquire("api") == nil)
        let results = WaitResults()
        guard case .waiting = d.waitForReady("api", notify: results.add) else { Issue.record("not waiting"); return }
        #expect(wakes.withLock { $0 } == [clock.now() + 30 * s])
        #expect(d.waiting == 1)
        d.update("api", endpoints: [], readyTimeout: 30 * s, canBecomeReady: true, retryAfter: 1)
        #expect(results.all == [])
        let e = endpoint(0)
        d.update("api", endpoints: [e], readyTimeout: 30 * s, canBecomeReady: true, retryAfter: 1)
        #expect(results.all == [.ready])
        #expect(d.waiting == 0)
        #expect(d.waitForReady("api") { _ in Issue.record("called") } == .readyNow)
        #expect(d.acquire("api") === e)
        #expect(e.inFlight == 1)
        e.release()
        #expect(e.inFlight == 0)
    }

    @Test func aWaitTimesOutAtItsDeadlineNotBefore() {
        let clock = ManualClock()
        let d = ServiceDirectory(clock: clock)
        d.register("api", readyTimeout: 2 * s)
        let results = WaitResults()
        let start = clock.now()
        _ = d.waitForReady("api", notify: results.add)
        _ = d.waitForReady("api", timeout: 1 * s, notify: results.add)
        #expect(d.expireWaiters(now: start + 1 * s - 1) == start + 1 * s)
        #expect(results.all == [])
        #expect(d.expireWaiters(now: start + 1 * s) == start + 2 * s)
        #expect(results.all == [.timedOut])
        #expect(d.expireWaiters(now: start + 2 * s) == nil)
        #expect(results.all == [.timedOut, .timedOut])
    }

    @Test func aCancelledWaitIsNeverAnswered() {
        let d = ServiceDirectory(clock: ManualClock())
        d.register("api", readyTimeout: 2 * s)
        guard case .waiting(let token) = d.waitForReady("api", notify: { _ in Issue.record("called") }) else {
            Issue.record("not waiting"); return
        }
        d.cancelWait(token)
        d.update("api", endpoints: [endpoint(0)], readyTimeout: 2 * s, canBecomeReady: true, retryAfter: 1)
        #expect(d.expireWaiters(now: UInt64.max) == nil)
    }

    @Test func nothingToWaitForAnswersUnavailable() {
        let d = ServiceDirectory(clock: ManualClock())
        d.register("api", readyTimeout: 2 * s)
        let results = WaitResults()
        _ = d.waitForReady("api", notify: results.add)
        d.update("api", endpoints: [], readyTimeout: 2 * s, canBecomeReady: false, retryAfter: 7)
        #expect(results.all == [.unavailable])
        #expect(d.waitForReady("api") { _ in } == .unavailable)
        #expect(d.snapshot(of: "api")?.retryAfter == 7)
        d.register("other", readyTimeout: 2 * s)
        _ = d.waitForReady("other", notify: results.add)
        d.remove("other")
        #expect(results.all == [.unavailable, .unavailable])
    }

    @Test func roundRobinSkipsRetiredEndpoints() {
        let d = ServiceDirectory(clock: ManualClock())
        let e0 = endpoint(0), e1 = endpoint(1), e2 = endpoint(2)
        d.update("api", endpoints: [e0, e1, e2], readyTimeout: s, canBecomeReady: true, retryAfter: 1)
        let picks = (0..<6).compactMap { _ in d.acquire("api")?.instance }
        #expect(picks == [0, 1, 2, 0, 1, 2])
        e1.retire()
        #expect(!e1.tryAcquire())
        #expect(e1.isRetired)
        #expect(e1.inFlight == 2)
        let after = (0..<4).compactMap { _ in d.acquire("api")?.instance }
        #expect(after == [0, 2, 0, 2])
        e0.retire(); e2.retire()
        #expect(d.acquire("api") == nil)
    }

    @Test func theVersionChangesWithTheListOnly() {
        let d = ServiceDirectory(clock: ManualClock())
        let e0 = endpoint(0)
        d.update("api", endpoints: [e0], readyTimeout: s, canBecomeReady: true, retryAfter: 1)
        let v1 = d.snapshot(of: "api")?.version
        d.update("api", endpoints: [e0], readyTimeout: s, canBecomeReady: true, retryAfter: 2)
        #expect(d.snapshot(of: "api")?.version == v1)
        d.update("api", endpoints: [e0, endpoint(1)], readyTimeout: s, canBecomeReady: true, retryAfter: 1)
        #expect(d.snapshot(of: "api")?.version != v1)
        #expect(d.snapshot(of: "api")?.endpoints.count == 2)
    }

    /// Threads acquire and release while the endpoint is retired: after `retire` returns no acquire
    /// succeeds, and the count ends at zero.
    @Test func noAcquireSucceedsAfterRetire() async {
        let e = endpoint(0)
        let afterRetire = Locked(0)
        let retired = Locked(false)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<20_000 {
                        let wasRetired = retired.withLock { $0 }
                        if e.tryAcquire() {
                            if wasRetired { afterRetire.withLock { $0 += 1 } }
                            e.release()
                        }
                    }
                }
            }
            group.addTask {
                usleep(2_000)
                e.retire()
                retired.withLock { $0 = true }
            }
        }
        #expect(afterRetire.withLock { $0 } == 0)
        #expect(e.inFlight == 0)
        #expect(e.isRetired)
    }
}
