#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig
import FlaksHandlers
@testable import FlaksServer
import FlaksTestSupport
import Foundation
import Testing

/// The supervisor of `services:` against real programs (a Python and a Node app written by the
/// tests), through a real server: requests go through `ServiceForwarder`, a stand-in for the proxy
/// that uses the same `ServiceDirectory` API.
@Suite("Services: supervised programs", .serialized, .timeLimit(.minutes(2)))
struct ServiceTests {
    // MARK: start, spread, environment

    @Test func pythonInstancesSpreadWithTheirPortEnvAndCwd() async throws {
        let f = try ServiceFixture()
        try await withServiceServer([f.python("py", instances: 2, env: ["MODE": "test"])]) { server, port, _ in
            #expect(await eventually { server.readyPids("py").count == 2 })
            var seen: [String: AppAnswer] = [:]
            for _ in 0..<6 {
                let r = try TestClient.get(port: port, "/py/")
                #expect(r.status == 200)
                guard let a = decode(r) else { Issue.record("not JSON: \(r.text)"); continue }
                seen[a.instance ?? "?"] = a
            }
            #expect(Set(seen.keys) == ["0", "1"])
            #expect(Set(seen.values.map(\.port)).count == 2)
            for a in seen.values {
                #expect(a.service == "py")
                #expect(a.host == "127.0.0.1")
                #expect(a.mode == "test")
                #expect(a.cwd == f.appDir)
                #expect(a.early == 0)
                // Nothing inherited but stdin (/dev/null), stdout and stderr (pipes).
                let fds = a.fds ?? [:]
                #expect(fds.keys.sorted() == ["0", "1", "2"], "\(fds)")
                #expect(fds["0"] == "/dev/null")
                #expect(fds["1"]?.hasPrefix("pipe:") == true && fds["2"]?.hasPrefix("pipe:") == true)
            }
            // Each instance's PORT is the port the directory gives for it.
            let endpoints = server.serviceDirectory.snapshot(of: "py")?.endpoints ?? []
            #expect(Set(endpoints.map { String($0.port) }) == Set(seen.values.compactMap(\.port)))
            #expect(Set(endpoints.map(\.pid)) == Set(seen.values.map { Int32($0.pid) }))
            // They went through the proxy route (`proxy: {service: py}`): each instance is an upstream
            // with its requests counted (3 of the 6 each, round robin).
            let metrics = try TestClient.get(port: port, "/_metrics").text
            for e in endpoints {
                #expect(metrics.contains("flaks_upstream_requests_total{upstream=\"\(e.url)\"} 3"), "\(metrics)")
            }
        }
    }

    @Test func nodeInstancesSpreadWithTheirEnvAndCwd() async throws {
        let f = try ServiceFixture()
        try await withServiceServer([f.node("web", instances: 2, env: ["GREETING": "hi"])]) { server, port, log in
            #expect(await eventually { server.readyPids("web").count == 2 })
            var instances = Set<String>()
            for _ in 0..<4 {
                let r = try TestClient.get(port: port, "/web/anything")
                #expect(r.status == 200)
                let a = decode(r)
                instances.insert(a?.instance ?? "?")
                #expect(a?.greeting == "hi")
                #expect(a?.cwd == f.appDir)
                #expect(a?.service == "web")
                #expect(a?.host == "127.0.0.1")
            }
            #expect(instances == ["0", "1"])
            #expect(log.waitFor("[web#1] node instance 1 up"))
        }
    }

    // MARK: readiness

    /// The app accepts connections at once but answers /healthz 503 for its first second: no
    /// request may reach it before then; one sent at once waits, then succeeds.
    @Test func noTrafficBeforeReadyAndARequestWaitsForIt() async throws {
        let f = try ServiceFixture()
        try await withServiceServer([f.python("slow", env: ["NOT_READY_FOR": "1"])]) { server, port, _ in
            #expect(server.serviceDirectory.snapshot(of: "slow")?.endpoints.isEmpty == true)
            let start = Date()
            let r = try TestClient.get(port: port, "/slow/")
            let waited = Date().timeIntervalSince(start)
            #expect(r.status == 200)
            #expect(decode(r)?.early == 0)
            #expect(waited >= 0.7, "answered after \(waited) s: before the app was ready")
            let events = server.services.journal.filter { $0.service == "slow" }
            guard let spawned = events.first(where: { $0.kind == .spawned }), let ready = events.first(where: { $0.kind == .ready }) else {
                Issue.record("no spawn or ready in \(events)"); return
            }
            #expect(ready.time - spawned.time >= 1_000_000_000)
        }
    }

    /// Without `ready`, an instance is ready once its port accepts; one that sleeps before
    /// listening gets its first request once it listens.
    @Test func withoutAReadyPathTheOpenPortIsReadiness() async throws {
        let f = try ServiceFixture()
        try await withServiceServer([f.python("late", env: ["START_DELAY": "1"], ready: nil)]) { server, port, _ in
            let start = Date()
            let r = try TestClient.get(port: port, "/late/")
            #expect(r.status == 200)
            #expect(Date().timeIntervalSince(start) >= 0.7)
        }
    }

    @Test func aRequestForAServiceThatNeverGetsReadyIs503AfterReadyTimeout() async throws {
        let f = try ServiceFixture()
        let svc = f.python("never", env: ["NEVER_READY": "1"], readyTimeout: .seconds(1))
        try await withServiceServer([svc]) { server, port, log in
            let start = Date()
            let r = try TestClient.get(port: port, "/never/")
            let waited = Date().timeIntervalSince(start)
            #expect(r.status == 503)
            #expect(r.header("Retry-After") != nil)
            #expect(waited >= 0.9 && waited < 5, "waited \(waited) s")
            // Not ready within ready_timeout: killed and restarted with back-off.
            #expect(log.waitFor("service never#0: not ready within 1s (ready_timeout): killing it"))
            #expect(await eventually { (server.service("never")?.instances.first?.restarts ?? 0) >= 1 })
        }
    }

    // MARK: restarts

    @Test func aKilledInstanceIsRestartedWithANewPid() async throws {
        let f = try ServiceFixture()
        try await withServiceServer([f.python("py")]) { server, port, _ in
            #expect(await eventually { server.readyPids("py").count == 1 })
            let old = server.readyPids("py")[0]
            kill(old, SIGKILL)
            #expect(await eventually { server.readyPids("py").first.map { $0 != old } ?? false })
            let instance = server.service("py")?.instances.first
            #expect(instance?.restarts == 1)
            #expect(instance?.lastExit == .signal(SIGKILL))
            let r = try TestClient.get(port: port, "/py/")
            #expect(decode(r)?.pid == Int(server.readyPids("py")[0]))
            #expect(!exists(old))
        }
    }

    /// An app that exits at once is restarted after 100 ms, 200, 400, 800…: the gaps between its
    /// starts grow.
    @Test func restartsBackOff() async throws {
        let f = try ServiceFixture()
        try await withServiceServer([f.python("crash", env: ["EXIT_AT_ONCE": "1"])]) { server, port, log in
            try await Task.sleep(for: .milliseconds(3500))
            let spawns = server.services.journal.filter { $0.service == "crash" && $0.kind == .spawned }.map(\.time)
            #expect(spawns.count >= 4 && spawns.count <= 7, "\(spawns.count) starts in 3.5 s")
            let gaps = zip(spawns.dropFirst(), spawns).map { Double($0 - $1) / 1e6 }
            for (i, gap) in gaps.enumerated() {
                let backoff = 100.0 * Double(1 << i)
                #expect(gap >= backoff, "gap \(i): \(gap) ms, back-off \(backoff) ms")
                #expect(gap < backoff + 1000, "gap \(i): \(gap) ms, back-off \(backoff) ms")
            }
            let instance = server.service("crash")?.instances.first
            #expect(instance?.lastExit == .code(1))
            #expect((instance?.restarts ?? 0) == spawns.count - 1)
            #expect(log.contains("service crash#0: exited with status 1"))
            // A crash-looping service takes nothing else down.
            let status = try TestClient.get(port: port, "/_status")
            #expect(status.status == 200)
        }
    }

    @Test func restartNeverLeavesItDownAnd503AtOnce() async throws {
        let f = try ServiceFixture()
        let svc = f.python("once", env: ["EXIT_AT_ONCE": "3"], restart: .never)
        try await withServiceServer([svc]) { server, port, log in
            #expect(await eventually { server.service("once")?.instances.first?.state == "exited" })
            try await Task.sleep(for: .milliseconds(500))
            let spawns = server.services.journal.filter { $0.service == "once" && $0.kind == .spawned }
            #expect(spawns.count == 1)
            let instance = server.service("once")?.instances.first
            #expect(instance?.lastExit == .code(3))
            #expect(instance?.restarts == 0)
            #expect(instance?.pid == nil)
            let start = Date()
            let r = try TestClient.get(port: port, "/once/")
            #expect(r.status == 503)
            #expect(Date().timeIntervalSince(start) < 1)
            #expect(log.contains("not restarted (restart: never)"))
        }
    }

    @Test func anExitZeroAtOnceAsksWhetherItDaemonises() async throws {
        let f = try ServiceFixture()
        let svc = f.python("fork", env: ["EXIT_AT_ONCE": "0"], restart: .onFailure)
        try await withServiceServer([svc]) { server, _, log in
            #expect(log.waitFor("service fork#0: exited with status 0"))
            #expect(log.contains("exited at once (does it daemonise?); not restarted (restart: on-failure)"))
        }
    }

    // MARK: output

    @Test func outputLinesGoToTheErrorLogWithThePrefix() async throws {
        let f = try ServiceFixture()
        try await withServiceServer([f.python("py", instances: 2)]) { _, _, log in
            #expect(log.waitFor("[py#0] hello from py instance 0"))
            #expect(log.waitFor("[py#1] hello from py instance 1"))
            #expect(log.waitFor("[py#1] stderr line from instance 1"))
        }
    }

    @Test func outputLinesGoToTheLogFileWhenOneIsSet() async throws {
        let f = try ServiceFixture()
        let file = f.dir.appendingPathComponent("py.log").path
        try await withServiceServer([f.python("py", log: file)]) { server, _, log in
            #expect(await eventually { server.readyPids("py").count == 1 })
            #expect(await eventually {
                let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
                return text.contains("[py#0] hello from py instance 0\n") && text.contains("[py#0] stderr line from instance 0\n")
            })
            #expect(!log.contains("[py#0] hello"))
        }
    }

    // MARK: reload

    /// Four clients loop for 5 s while the service is rolled to a new definition: no request fails,
    /// the answers move from version 1 to version 2, and every new instance was ready before any
    /// old one got its stop signal.
    @Test func aRollingReloadFailsNoRequest() async throws {
        let f = try ServiceFixture()
        let v1 = f.python("py", instances: 2, env: ["VERSION": "1"])
        var v2 = v1
        v2.env["VERSION"] = "2"
        try await withServiceServer([v1], threads: 8) { server, port, log in
            #expect(await eventually { server.readyPids("py").count == 2 })
            let oldPids = Set(server.readyPids("py"))
            let failures = Locked<[String]>([])
            // Per client, the versions it saw in order.
            let versions = Locked<[[String]]>(Array(repeating: [], count: 4))
            let stopAt = Date().addingTimeInterval(5)
            let clients = (0..<4).map { k in
                Thread {
                    while Date() < stopAt {
                        do {
                            let r = try TestClient.get(port: port, "/py/")
                            if r.status != 200 { failures.withLock { $0.append("\(r.status) \(r.text)") } }
                            else { versions.withLock { $0[k].append(decode(r)?.version ?? "?") } }
                        } catch {
                            failures.withLock { $0.append("\(error)") }
                        }
                    }
                }
            }
            for c in clients { c.start() }
            try await Task.sleep(for: .seconds(1))
            let outcome = server.reload(serviceConfig([v2]))
            guard case .reloaded(_, let changes) = outcome else { Issue.record("reload failed: \(outcome)"); return }
            #expect(changes.contains("service changed: py (env)"))
            while Date() < stopAt.addingTimeInterval(0.5) { try await Task.sleep(for: .milliseconds(100)) }
            #expect(failures.withLock { $0 } == [])
            let seen = versions.withLock { $0 }
            #expect(seen.joined().count > 50)
            for s in seen {
                #expect(s.first == "1")
                #expect(s.last == "2")
                // Once a client saw version 2 it never saw version 1 again: the list is swapped at once.
                if let firstNew = s.firstIndex(of: "2") { #expect(!s[firstNew...].contains("1")) }
            }
            let newPids = Set(server.readyPids("py"))
            #expect(newPids.count == 2 && newPids.isDisjoint(with: oldPids))
            #expect(await eventually { oldPids.allSatisfy { !exists($0) } })
            // The order: every new instance ready before any old one was signalled.
            let events = server.services.journal.filter { $0.service == "py" }
            let newReady = events.filter { $0.kind == .ready && $0.generation == 2 }.map(\.time)
            let oldSignalled = events.filter { if case .signalled = $0.kind { $0.generation == 1 } else { false } }.map(\.time)
            #expect(newReady.count == 2 && oldSignalled.count == 2)
            if let lastReady = newReady.max(), let firstSignal = oldSignalled.min() { #expect(lastReady <= firstSignal) }
            #expect(log.contains("service py: rolled to generation 2"))
            #expect(server.service("py")?.instances.allSatisfy { $0.generation == 2 } == true)
        }
    }

    /// A slow request in flight on an old instance completes there; the old instance is stopped
    /// only after it.
    @Test func aSlowRequestCompletesOnTheOldInstanceDuringARoll() async throws {
        let f = try ServiceFixture()
        let v1 = f.python("py", env: ["VERSION": "1"])
        var v2 = v1
        v2.env["VERSION"] = "2"
        try await withServiceServer([v1]) { server, port, _ in
            #expect(await eventually { server.readyPids("py").count == 1 })
            let old = server.readyPids("py")[0]
            let slow = Locked<TestClient.Response?>(nil)
            let slowDone = Locked<UInt64>(0)
            let t = Thread {
                let r = try? TestClient.get(port: port, "/py/slow?2")
                slowDone.withLock { $0 = monotonicNanos() }
                slow.withLock { $0 = r }
            }
            t.start()
            #expect(await eventually { server.service("py")?.instances.first?.inFlight == 1 })
            _ = server.reload(serviceConfig([v2]))
            #expect(await eventually { server.readyPids("py").count == 1 && server.readyPids("py")[0] != old })
            // New requests go to the new instance while the slow one is still running on the old.
            let during = try TestClient.get(port: port, "/py/")
            #expect(decode(during)?.version == "2")
            #expect(isRunning(old))
            #expect(f.read("signal-\(old).txt") == nil)
            #expect(await eventually { slow.withLock { $0 } != nil })
            let r = slow.withLock { $0 }
            #expect(r?.status == 200)
            #expect(r.flatMap(decode)?.pid == Int(old))
            #expect(r.flatMap(decode)?.version == "1")
            #expect(f.waitFor("signal-\(old).txt") == "SIGTERM")
            let signalled = server.services.journal.first { $0.pid == old && $0.kind == .signalled(SIGTERM) }
            #expect((signalled?.time ?? 0) >= slowDone.withLock { $0 } - 50_000_000)
        }
    }

    /// A roll whose new instances never become ready is abandoned: the old ones keep serving, and
    /// the log, status and metrics say "roll stalled".
    @Test func aRollThatNeverGetsReadyStallsAndTheOldInstancesKeepServing() async throws {
        let f = try ServiceFixture()
        let v1 = f.python("py", env: ["VERSION": "1"], readyTimeout: .seconds(1))
        var broken = v1
        broken.env["NEVER_READY"] = "1"
        try await withServiceServer([v1]) { server, port, log in
            #expect(await eventually { server.readyPids("py").count == 1 })
            let old = server.readyPids("py")[0]
            _ = server.reload(serviceConfig([broken]))
            #expect(log.waitFor("service py: roll stalled: the new instances were not ready within 1s"))
            #expect(server.service("py")?.rollStalled == true)
            #expect(server.readyPids("py") == [old])
            let still = try TestClient.get(port: port, "/py/")
            #expect(decode(still)?.version == "1")
            let status = try TestClient.get(port: port, "/_status").text
            #expect(status.contains("\"roll_stalled\":true"))
            #expect(status.contains("roll stalled: the new instances were not ready within 1s"))
            let metrics = try TestClient.get(port: port, "/_metrics").text
            #expect(metrics.contains("flaks_service_roll_stalled{service=\"py\"} 1"))
            // The new instances are stopped; the old one is untouched.
            #expect(await eventually { server.service("py")?.instances.count == 1 })
            #expect(isRunning(old))
            // Back to the served definition: the note goes.
            _ = server.reload(serviceConfig([v1]))
            #expect(await eventually { server.service("py")?.note == nil })
            #expect(server.readyPids("py") == [old])
        }
    }

    @Test func unchangedServicesKeepTheirProcessesAndRemovedOnesStop() async throws {
        let f = try ServiceFixture()
        let a = f.python("a", instances: 2), b = f.node("b")
        try await withServiceServer([a, b]) { server, port, _ in
            #expect(await eventually { server.readyPids("a").count == 2 && server.readyPids("b").count == 1 })
            let aPids = Set(server.readyPids("a")), bPid = server.readyPids("b")[0]
            guard case .reloaded(_, let changes) = server.reload(serviceConfig([a])) else { Issue.record("reload failed"); return }
            #expect(changes.contains("service removed: b"))
            #expect(await eventually { server.service("b") == nil })
            #expect(!exists(bPid))
            #expect(Set(server.readyPids("a")) == aPids)
            let gone = try TestClient.get(port: port, "/b/")
            #expect(gone.status == 503)
            // Added back: started again.
            _ = server.reload(serviceConfig([a, b]))
            #expect(await eventually { server.readyPids("b").count == 1 })
            #expect(server.readyPids("b")[0] != bPid)
            #expect(Set(server.readyPids("a")) == aPids)
        }
    }

    @Test func aManifestThatFailsChangesNoService() async throws {
        let f = try ServiceFixture()
        let v1 = f.python("py", env: ["VERSION": "1"])
        var v2 = v1
        v2.env["VERSION"] = "2"
        try await withServiceServer([v1]) { server, _, _ in
            #expect(await eventually { server.readyPids("py").count == 1 })
            let old = server.readyPids("py")
            var bad = serviceConfig([v2])
            bad.hosts[0].routes.append(Route(path: "/missing", kind: .handler("no-such-handler")))
            guard case .failed = server.reload(bad) else { Issue.record("reload should fail"); return }
            try await Task.sleep(for: .milliseconds(300))
            #expect(server.readyPids("py") == old)
            #expect(!server.services.journal.contains { if case .rollStarted = $0.kind { true } else { false } })
        }
    }

    // MARK: stop

    /// SIGTERM's path (shutdown, then wait): every service is stopped, a child left in the group
    /// included, and nothing of theirs is left running.
    @Test func shutdownLeavesNoProcessBehind() async throws {
        let f = try ServiceFixture()
        var pids: [Int32] = []
        try await withServiceServer([f.python("py", instances: 2, env: ["FORK_CHILD": "1"]), f.node("web")]) { server, _, _ in
            #expect(await eventually { server.readyPids("py").count == 2 && server.readyPids("web").count == 1 })
            pids = server.readyPids("py") + server.readyPids("web")
            for i in 0..<2 {
                if let s = f.waitFor("child-\(i).pid"), let p = Int32(s) { pids.append(p) } else { Issue.record("no child \(i)") }
            }
            #expect(pids.allSatisfy(isRunning))
        }
        #expect(pids.count == 5)
        // The group's SIGKILL is sent before shutdown returns; unless this test process happens to
        // be a subreaper (only `flaks serve` makes itself one), nothing here waits for the kernel to
        // finish tearing a killed child down, so allow it a moment.
        for p in pids { #expect(await eventually(seconds: 3) { !isRunning(p) }, "pid \(p) still running") }
    }

    @Test func aServiceIgnoringSigtermIsKilledAfterStopTimeout() async throws {
        let f = try ServiceFixture()
        let svc = f.python("stubborn", env: ["IGNORE_TERM": "1"], stopTimeout: .seconds(1))
        var pid: Int32 = 0
        var server: Server?
        let start = try await withServiceServer([svc]) { s, _, _ in
            #expect(await eventually { s.readyPids("stubborn").count == 1 })
            pid = s.readyPids("stubborn")[0]
            server = s
            return Date()
        }
        let took = Date().timeIntervalSince(start)
        #expect(took >= 0.9 && took < 6, "shutdown took \(took) s")
        #expect(!isRunning(pid))
        let kinds = (server?.services.journal ?? []).filter { $0.pid == pid }.map(\.kind)
        #expect(kinds.suffix(3) == [.signalled(SIGTERM), .killed, .exited(.signal(SIGKILL))])
    }

    @Test func stopSignalIntIsDelivered() async throws {
        let f = try ServiceFixture()
        var pid: Int32 = 0
        try await withServiceServer([f.python("py", stopSignal: .int)]) { server, _, _ in
            #expect(await eventually { server.readyPids("py").count == 1 })
            pid = server.readyPids("py")[0]
        }
        #expect(f.read("signal-\(pid).txt") == "SIGINT")
    }

    // MARK: visibility

    @Test func statusAndMetricsListEachInstance() async throws {
        let f = try ServiceFixture()
        try await withServiceServer([f.python("py", instances: 2)]) { server, port, _ in
            #expect(await eventually { server.readyPids("py").count == 2 })
            let pids = server.readyPids("py")
            let status = try TestClient.get(port: port, "/_status")
            let json = try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any]
            let services = json?["services"] as? [String: Any]
            let py = services?["py"] as? [String: Any]
            let instances = py?["instances"] as? [[String: Any]] ?? []
            #expect(instances.count == 2)
            #expect(Set(instances.compactMap { $0["pid"] as? Int }) == Set(pids.map(Int.init)))
            #expect(instances.allSatisfy { $0["state"] as? String == "ready" && $0["restarts"] as? Int == 0 })
            #expect(instances.allSatisfy { $0["last_exit"] is NSNull })
            let metrics = try TestClient.get(port: port, "/_metrics").text
            #expect(metrics.contains("flaks_service_instance_state{service=\"py\",instance=\"0\",generation=\"1\",state=\"ready\"} 1"))
            #expect(metrics.contains("flaks_service_instance_state{service=\"py\",instance=\"1\",generation=\"1\",state=\"starting\"} 0"))
            #expect(metrics.contains("flaks_service_restarts_total{service=\"py\",instance=\"1\",generation=\"1\"} 0"))
            let p0 = server.service("py")?.instances.first { $0.index == 0 }?.pid ?? -1
            #expect(metrics.contains("flaks_service_instance_pid{service=\"py\",instance=\"0\",generation=\"1\"} \(p0)"))
            kill(p0, SIGKILL)
            #expect(await eventually { server.service("py")?.instances.first { $0.index == 0 }?.restarts == 1 })
            let after = try TestClient.get(port: port, "/_metrics").text
            #expect(after.contains("flaks_service_restarts_total{service=\"py\",instance=\"0\",generation=\"1\"} 1"))
            #expect(after.contains("flaks_service_last_exit_signal{service=\"py\",instance=\"0\",generation=\"1\"} 9"))
            let status2 = try TestClient.get(port: port, "/_status").text
            #expect(status2.contains("\"last_exit\":\"killed by signal 9\""))
        }
    }
}

/// `flaks serve` is a child subreaper: what a service forks off and abandons is re-parented to it,
/// reaped when it dies, killed with the instance it came from, and killed at exit.
@Suite("Services: the flaks executable reaps orphans", .serialized, .timeLimit(.minutes(1)))
struct ServiceProcessTests {
    static func manifest() -> String {
        """
        server: {listen: ["127.0.0.1:0"], loops: 1, threads: 2, drain_timeout: 3s}
        log: {access: off, level: info}
        services:
          - name: py
            command: ["\(ServiceApps.pythonExecutable)", "app.py"]
            cwd: app
            env: {DOUBLE_FORK: "1"}
            ready: /healthz
            stop_timeout: 2s
        hosts:
          - names: ["*"]
            routes:
              - path: /status
                handler: status
        """
    }

    /// The pid of instance 0's main process, from `handler: status`.
    static func mainPid(_ port: Int) -> Int32? {
        guard let r = try? TestClient.get(port: port, "/status"),
              let json = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any],
              let services = json["services"] as? [String: Any], let py = services["py"] as? [String: Any],
              let instances = py["instances"] as? [[String: Any]],
              let ready = instances.first(where: { $0["state"] as? String == "ready" }),
              let pid = ready["pid"] as? Int else { return nil }
        return Int32(pid)
    }

    /// Reads and removes `daemon-0.pid` (written by each new instance's daemon).
    static func takeDaemonPid(_ app: URL) -> Int32? {
        let file = app.appendingPathComponent("daemon-0.pid")
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let s = try? String(contentsOf: file, encoding: .utf8), let pid = Int32(s) {
                try? FileManager.default.removeItem(at: file)
                return pid
            }
            usleep(20_000)
        }
        return nil
    }

    @Test func orphansAreReapedKilledWithTheirInstanceAndAtExit() throws {
        let p = try FlaksProcess(manifest: Self.manifest(), extraFiles: ["app/app.py": ServiceApps.python])
        let flaks = p.process.processIdentifier
        let app = p.dir.appendingPathComponent("app")

        // The daemon left the instance's process group and was re-parented to flaks.
        guard let a = Self.takeDaemonPid(app) else { Issue.record("no daemon; log:\n\(p.stderrText)"); return }
        guard let main1 = eventuallyValue({ Self.mainPid(p.port) }) else { Issue.record("no main pid"); return }
        #expect(eventuallyBlocking { parentPid(a) == flaks })
        #expect(getpgid(main1) == main1)
        #expect(getpgid(a) != main1)
        // It dies: flaks reaps it (no zombie left).
        kill(a, SIGKILL)
        #expect(eventuallyBlocking(seconds: 5) { !exists(a) }, "orphan \(a) left as a zombie")

        // The instance dies: it is restarted, and its new daemon is another orphan.
        kill(main1, SIGKILL)
        guard let b = Self.takeDaemonPid(app) else { Issue.record("no second daemon; log:\n\(p.stderrText)"); return }
        #expect(eventuallyBlocking { parentPid(b) == flaks })
        // The instance that started it dies: its orphan is killed and reaped with it.
        guard let main2 = eventuallyValue({ Self.mainPid(p.port).flatMap { $0 == main1 ? nil : $0 } }) else {
            Issue.record("no restart"); return
        }
        kill(main2, SIGKILL)
        #expect(eventuallyBlocking(seconds: 5) { !exists(b) }, "orphan \(b) of a dead instance still there")

        // At exit (SIGTERM): the last instance and its daemon are gone, and flaks exits 0.
        guard let c = Self.takeDaemonPid(app) else { Issue.record("no third daemon"); return }
        guard let main3 = eventuallyValue({ Self.mainPid(p.port).flatMap { $0 == main2 ? nil : $0 } }) else {
            Issue.record("no second restart"); return
        }
        #expect(isRunning(c) && isRunning(main3))
        p.signal(SIGTERM)
        #expect(p.waitForExit(seconds: 10) == 0)
        #expect(!exists(c))
        #expect(!exists(main3))
        #expect(p.stderrText.contains("[py#0] hello from py instance 0"))
    }
}

/// The children of `parent` as (pid, state), from /proc.
func childrenOf(_ parent: Int32) -> [(pid: Int32, state: Substring)] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    var out: [(Int32, Substring)] = []
    for e in entries {
        guard let pid = Int32(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 2, Int32(fields[1]) == parent { out.append((pid, fields[0])) }
    }
    return out
}

/// CGI scripts' orphans, many of them dying close together: while SIGCHLD is left out of the
/// signalfd between two reaping passes (at most one per 50 ms), an exit is held pending, not lost.
/// A script's stderr in the error log. When a script's exit is watched.
@Suite("CGI scripts of the flaks executable", .serialized, .timeLimit(.minutes(1)))
struct CGIOrphanProcessTests {
    @Test func orphansDyingInABurstAreAllReaped() throws {
        let p = try cgiFlaksProcess(scripts: [
            "bg.sh": "#!/bin/sh\nsleep 0.4 </dev/null >/dev/null 2>&1 &\nprintf 'Content-Type: text/plain\\n\\nok'\n",
            "err.sh": "#!/bin/sh\necho 'oops from the script' >&2\nprintf 'Content-Type: text/plain\\n\\nok'\n",
        ])
        let flaks = p.process.processIdentifier
        for _ in 0..<40 { #expect(try TestClient.get(port: p.port, "/cgi-bin/bg.sh").text == "ok") }
        // The scripts have exited and were reaped; their sleeps are flaks' children now (a subreaper).
        let orphans = childrenOf(flaks)
        #expect(orphans.count >= 20, "the sleeps were re-parented to flaks: \(orphans)")
        // They die within ~0.4 s of each other's start: every one is reaped, none left a zombie.
        #expect(eventuallyBlocking(seconds: 5) { childrenOf(flaks).isEmpty }, "left: \(childrenOf(flaks))")
        // A script's stderr reaches the error log, each line prefixed with the script's path.
        #expect(try TestClient.get(port: p.port, "/cgi-bin/err.sh").text == "ok")
        let errScript = p.dir.appendingPathComponent("cgi-bin/err.sh").path
        #expect(eventuallyBlocking(seconds: 5) { p.stderrText.contains("cgi \(errScript): oops from the script") },
                "\(p.stderrText)")
        p.signal(SIGTERM)
        #expect(p.waitForExit(seconds: 10) == 0)
    }
}

extension CGIOrphanProcessTests {
    /// A script is watched from the moment its exit matters (`CGIProcess.watchExit`): while its
    /// output is open nothing is registered for it, no pidfd; once its output has ended it is reaped
    /// at once if it exited, else watched through a pidfd until it does. Either way no zombie is
    /// left, and a script still running after closing its output is reaped when it exits.
    @Test func aScriptIsWatchedFromItsOutputsEnd() throws {
        let p = try cgiFlaksProcess(scripts: [
            // Header at once, the body once released (a line on its FIFO, written when the test
            // has looked): its output stays open meanwhile.
            "slow.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nread x < ../slow.fifo\nprintf 'done'\n",
            // Answers, closes its output, and runs on until released.
            "lingering.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nbye'\nexec >&- 2>&-\nread x < ../lingering.fifo\n",
        ]) { dir in
            for fifo in ["slow.fifo", "lingering.fifo"] { mkfifo(dir.appendingPathComponent(fifo).path, 0o600) }
        }
        let flaks = p.process.processIdentifier
        /// Writes a line to the FIFO once the script has opened its end (bounded: ENXIO until then).
        func release(_ fifo: String) {
            let path = p.dir.appendingPathComponent(fifo).path
            var fd: Int32 = -1
            for _ in 0..<250 {
                fd = open(path, O_WRONLY | O_NONBLOCK)
                if fd >= 0 || errno != ENXIO { break }
                usleep(20_000)
            }
            guard fd >= 0 else { Issue.record("the script never opened \(fifo): errno \(errno)"); return }
            _ = write(fd, "go\n", 3)
            close(fd)
        }
        // While slow.sh runs with its output open: its child exists, and flaks holds no pidfd.
        let answer = Locked<String?>(nil)
        let t = Thread {
            let text = (try? TestClient.get(port: p.port, "/cgi-bin/slow.sh").text) ?? "failed"
            answer.withLock { $0 = text }
        }
        t.start()
        #expect(eventuallyBlocking(seconds: 5) { childrenOf(flaks).contains { $0.state != "Z" } }, "slow.sh never started")
        usleep(100_000)
        #expect(pidFDCount(of: flaks) == 0, "a pidfd while the script's output is open")
        release("slow.fifo")
        #expect(eventuallyBlocking(seconds: 5) { answer.withLock { $0 } != nil })
        #expect(answer.withLock { $0 } == "done")
        #expect(eventuallyBlocking(seconds: 5) { childrenOf(flaks).isEmpty }, "left: \(childrenOf(flaks))")
        // lingering.sh answers and still runs: watched through a pidfd, then reaped.
        #expect(try TestClient.get(port: p.port, "/cgi-bin/lingering.sh").text == "bye")
        #expect(eventuallyBlocking(seconds: 5) { pidFDCount(of: flaks) == 1 }, "no pidfd for a script running on")
        #expect(childrenOf(flaks).count == 1 && childrenOf(flaks).first?.state != "Z", "\(childrenOf(flaks))")
        release("lingering.fifo")
        #expect(eventuallyBlocking(seconds: 5) { childrenOf(flaks).isEmpty && pidFDCount(of: flaks) == 0 },
                "left: \(childrenOf(flaks)), pidfds: \(pidFDCount(of: flaks))")
        p.signal(SIGTERM)
        #expect(p.waitForExit(seconds: 10) == 0)
    }
}

/// The flaks executable serving `scripts` (name: text, made executable) from `/cgi-bin/`, with
/// `prepare` run on its directory first (the scripts' parent).
func cgiFlaksProcess(scripts: [String: String], prepare: @escaping (URL) throws -> Void = { _ in }) throws -> FlaksProcess {
    try FlaksProcess(manifest: "") { dir in
        try prepare(dir)
        let bin = dir.appendingPathComponent("cgi-bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for (name, text) in scripts {
            let script = bin.appendingPathComponent(name)
            try text.write(to: script, atomically: true, encoding: .utf8)
            chmod(script.path, 0o755)
        }
        let manifest = dir.appendingPathComponent("config.yaml")
        try """
            server: {listen: ["127.0.0.1:0"], loops: 1, threads: 2}
            log: {access: off, level: info}
            hosts:
              - names: ["*"]
                routes:
                  - path: /cgi-bin/
                    cgi: \(bin.path)
            """.write(to: manifest, atomically: true, encoding: .utf8)
        return manifest
    }
}

/// How many pidfds process `pid` holds (its /proc fd links that name one).
func pidFDCount(of pid: Int32) -> Int {
    guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return 0 }
    return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == "anon_inode:[pidfd]" }.count
}

/// Polls (bounded) until `body` gives a value.
func eventuallyValue<T>(seconds: Double = 10, _ body: () -> T?) -> T? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let v = body() { return v }
        usleep(20_000)
    }
    return body()
}
