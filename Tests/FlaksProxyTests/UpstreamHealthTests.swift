import Testing
@testable import FlaksProxy

/// Passive marks and active-check thresholds, with a fake clock; the shared objects under concurrent use.
@Suite struct UpstreamHealthTests {
    @Test func passiveMarkHoldsForFailTimeoutExactly() {
        let h = UpstreamHealth()
        #expect(!h.isDown(now: 0))
        h.markFailed(now: 1 * s, failTimeout: 10 * s)
        #expect(h.isDown(now: 1 * s))
        #expect(h.isDown(now: 11 * s - 1), "one nanosecond before the end")
        #expect(!h.isDown(now: 11 * s), "exactly fail_timeout later")
        #expect(h.status(now: 5 * s) == .passivelyDown(until: 11 * s))
        #expect(h.status(now: 11 * s) == .up)
    }

    @Test func laterMarksExtendButNeverShorten() {
        let h = UpstreamHealth()
        h.markFailed(now: 1 * s, failTimeout: 10 * s)
        h.markFailed(now: 2 * s, failTimeout: 1 * s)  // another route with a shorter fail_timeout
        #expect(h.isDown(now: 10 * s))
        h.markFailed(now: 5 * s, failTimeout: 10 * s)
        #expect(h.isDown(now: 14 * s) && !h.isDown(now: 15 * s))
    }

    @Test func successLiftsOnlyAnEarlierMark() {
        let h = UpstreamHealth()
        h.markFailed(now: 5 * s, failTimeout: 10 * s)
        h.markSucceeded(connectedAt: 4 * s)  // a connection made before the failure
        #expect(h.isDown(now: 6 * s))
        h.markSucceeded(connectedAt: 5 * s)
        #expect(!h.isDown(now: 6 * s))
    }

    @Test func activeChecksFollowTheirThresholds() {
        let h = UpstreamHealth()
        #expect(!h.checkResult(ok: false, now: 1 * s, fails: 2, passes: 2))
        #expect(!h.isDown(now: 1 * s), "one failure of two")
        #expect(!h.checkResult(ok: true, now: 2 * s, fails: 2, passes: 2))
        #expect(!h.checkResult(ok: false, now: 3 * s, fails: 2, passes: 2))
        #expect(!h.isDown(now: 3 * s), "a pass in between resets the count")
        #expect(h.checkResult(ok: false, now: 4 * s, fails: 2, passes: 2))
        #expect(h.isDown(now: 4 * s) && h.isActivelyDown && h.status(now: 4 * s) == .activelyDown)
        #expect(!h.checkResult(ok: false, now: 5 * s, fails: 2, passes: 2), "already down")
        #expect(!h.checkResult(ok: true, now: 6 * s, fails: 2, passes: 2))
        #expect(h.isDown(now: 6 * s), "one pass of two")
        #expect(h.checkResult(ok: true, now: 7 * s, fails: 2, passes: 2))
        #expect(!h.isDown(now: 7 * s) && !h.isActivelyDown)
        #expect(h.lastCheck == 7 * s)
    }

    @Test func thresholdOfOneAndBelow() {
        let h = UpstreamHealth()
        #expect(h.checkResult(ok: false, now: 1, fails: 1, passes: 1))
        #expect(h.isDown(now: 1))
        #expect(h.checkResult(ok: true, now: 2, fails: 0, passes: 0), "0 counts as 1")
        #expect(!h.isDown(now: 2))
    }

    @Test func startsDownUntilChecksPass() {
        let h = UpstreamHealth(startsDown: true)
        #expect(h.isDown(now: 0) && h.lastCheck == nil)
        h.checkResult(ok: true, now: 1, fails: 2, passes: 1)
        #expect(!h.isDown(now: 1))
    }

    @Test func passiveAndActiveMarksAreIndependent() {
        let h = UpstreamHealth()
        h.markFailed(now: 0, failTimeout: 10 * s)
        h.checkResult(ok: true, now: 1 * s, fails: 1, passes: 1)
        #expect(h.isDown(now: 1 * s), "a passing check does not lift a passive mark")
        h.checkResult(ok: false, now: 2 * s, fails: 1, passes: 1)
        #expect(h.isDown(now: 20 * s), "active down outlasts the passive mark")
        h.checkResult(ok: true, now: 21 * s, fails: 1, passes: 1)
        #expect(!h.isDown(now: 21 * s))
    }

    @Test func registrySharesOneObjectPerAddress() {
        let r = UpstreamRegistry()
        let a = r.upstream(for: "http://127.0.0.1:9001")
        let b = r.upstream(for: "http://127.0.0.1:9001", startsDown: true)
        #expect(a === b && !b.health.isDown(now: 0), "startsDown applies only at creation")
        let c = r.upstream(for: "unix:/run/app.sock")
        #expect(a !== c)
        a.health.markFailed(now: 0, failTimeout: 5 * s)
        #expect(r.upstream(for: "http://127.0.0.1:9001").health.isDown(now: 1), "a reload sees the mark")
        r.retain(only: ["unix:/run/app.sock"])
        #expect(r.addresses == ["unix:/run/app.sock"])
        #expect(r.upstream(for: "http://127.0.0.1:9001") !== a)
    }

    /// Loops call these at once: counts and marks stay consistent.
    @Test func concurrentUse() async {
        let u = Upstream(address: "x")
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in 0..<2000 {
                        u.requestStarted()
                        if i % 100 == 0 { u.health.markFailed(now: UInt64(t * 10_000 + i), failTimeout: 1) }
                        _ = u.health.isDown(now: UInt64(i))
                        u.health.checkResult(ok: i % 2 == 0, now: UInt64(i), fails: 3, passes: 3)
                        u.requestFinished()
                    }
                    for _ in 0..<10 { u.requestStarted() }
                }
            }
        }
        #expect(u.inFlight == 80)
        #expect(!u.health.isActivelyDown, "alternating results never reach 3 in a row")
    }
}
