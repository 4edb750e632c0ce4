#if canImport(Glibc)
import Glibc
#endif
@testable import FlaksServer
import Foundation
import Testing

/// The worker pool: how many workers a batch wakes, and that slow jobs still run side by side.
@Suite("Worker pool")
struct WorkerPoolTests {
    @Test func shortJobsWakeOneWorkerForTheWholeBatch() {
        let short = WorkerPool.shortJobNanos - 1
        #expect(WorkerPool.wakeUps(jobs: 8, waiting: 0, meanJobNanos: short, threads: 4) == 1)
        #expect(WorkerPool.wakeUps(jobs: 1, waiting: 0, meanJobNanos: short, threads: 4) == 1)
        #expect(WorkerPool.wakeUps(jobs: 0, waiting: 0, meanJobNanos: short, threads: 4) == 0)
    }

    @Test func slowJobsOrABacklogWakeAWorkerPerJob() {
        let slow = WorkerPool.shortJobNanos
        #expect(WorkerPool.wakeUps(jobs: 8, waiting: 0, meanJobNanos: slow, threads: 4) == 4, "at the edge: slow")
        #expect(WorkerPool.wakeUps(jobs: 2, waiting: 0, meanJobNanos: slow, threads: 4) == 2)
        // Short on average, but jobs queued before are not started yet: the workers are held up.
        #expect(WorkerPool.wakeUps(jobs: 2, waiting: 1, meanJobNanos: 1, threads: 4) == 3)
        #expect(WorkerPool.wakeUps(jobs: 9, waiting: 9, meanJobNanos: 1, threads: 4) == 4)
    }

    /// Runs 64 empty jobs on `pool` and waits (bounded, 5 s) until its mean says they were short.
    static func runShortJobs(on pool: WorkerPool) {
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<64 { pool.submit(batch: [WorkerPool.Job(run: { done.signal() })]) }
        for _ in 0..<64 { done.wait() }
        // (The last job's duration is folded in when its worker takes the next one.)
        pool.submit(batch: [WorkerPool.Job(run: {})])
        let deadline = Date().addingTimeInterval(5)
        while pool.meanJobDuration >= WorkerPool.shortJobNanos && Date() < deadline { usleep(1000) }
    }

    /// Waits (bounded, 5 s) until nothing is queued and every worker of `pool` sleeps.
    static func waitIdle(_ pool: WorkerPool, workers: Int) {
        let deadline = Date().addingTimeInterval(5)
        while (pool.backlog > 0 || pool.idleWorkers < workers) && Date() < deadline { usleep(1000) }
    }

    @Test(.timeLimit(.minutes(1)))
    func theMeanFollowsTheJobsAndSlowJobsRunSideBySide() throws {
        let pool = WorkerPool(count: 2)
        defer { pool.stop() }
        #expect(pool.meanJobDuration >= WorkerPool.shortJobNanos, "unknown jobs count as slow")
        // Many short jobs bring the mean below the threshold.
        Self.runShortJobs(on: pool)
        #expect(pool.meanJobDuration < WorkerPool.shortJobNanos)
        // Two jobs that each block for 300 ms, submitted while the mean is short: the first holds a
        // worker; the second, submitted while nothing waits, is taken by the worker that batch woke.
        let started = Date()
        let both = DispatchSemaphore(value: 0)
        pool.submit(batch: [WorkerPool.Job(run: { usleep(300_000); both.signal() })])
        usleep(20_000)
        pool.submit(batch: [WorkerPool.Job(run: { usleep(300_000); both.signal() })])
        both.wait(); both.wait()
        #expect(Date().timeIntervalSince(started) < 0.55, "side by side, not one after the other")
        // Slow jobs bring the mean up again: a batch of two then wakes two workers.
        #expect(pool.meanJobDuration >= WorkerPool.shortJobNanos)
        let pair = Date()
        pool.submit(batch: [WorkerPool.Job(run: { usleep(300_000); both.signal() }),
                            WorkerPool.Job(run: { usleep(300_000); both.signal() })])
        both.wait(); both.wait()
        #expect(Date().timeIntervalSince(pair) < 0.55)
    }

    @Test(.timeLimit(.minutes(1)))
    func aSlowJobInABatchOfShortOnesDoesNotHoldUpTheRest() throws {
        let pool = WorkerPool(count: 2)
        defer { pool.stop() }
        Self.runShortJobs(on: pool)
        #expect(pool.meanJobDuration < WorkerPool.shortJobNanos)
        Self.waitIdle(pool, workers: 2)     // nothing queued before the batch: it wakes one worker
        // One batch: a job that blocks for 2 s, then a quick one. The batch wakes one worker,
        // which takes the slow job; the loop's checks (after submitting, then `backlogGrace`
        // later: no job started in between) hand the quick one to the other worker.
        let quick = DispatchSemaphore(value: 0), slow = DispatchSemaphore(value: 0), inSlow = DispatchSemaphore(value: 0)
        pool.submit(batch: [WorkerPool.Job(run: { inSlow.signal(); usleep(2_000_000); slow.signal() }),
                            WorkerPool.Job(run: { quick.signal() })])
        #expect(inSlow.wait(timeout: .now() + 5) == .success, "the woken worker is in the slow job")
        let mark = pool.checkBacklog(mark: nil)
        #expect(mark != nil, "a job is queued and a worker sleeps: watch it")
        #expect(quick.wait(timeout: .now() + 0.2) == .timedOut, "the first check wakes nobody")
        #expect(pool.checkBacklog(mark: mark) == nil)
        #expect(quick.wait(timeout: .now() + 1) == .success, "not held up behind the slow job")
        slow.wait()
    }

    /// The backlog rule at its edges: nothing to watch without a queued job or a sleeping worker;
    /// the first check only marks; a later one wakes a worker per queued job (at most the
    /// sleepers) only when no job started since the mark, and marks again when one did.
    @Test func theBacklogRuleWakesOnlyWhenNothingStarted() {
        #expect(WorkerPool.backlogStep(queued: 0, sleeping: 2, mark: 5, started: 5) == (0, nil))
        #expect(WorkerPool.backlogStep(queued: 3, sleeping: 0, mark: 5, started: 5) == (0, nil))
        #expect(WorkerPool.backlogStep(queued: 3, sleeping: 2, mark: nil, started: 5) == (0, 5))
        #expect(WorkerPool.backlogStep(queued: 3, sleeping: 2, mark: 5, started: 5) == (2, nil))
        #expect(WorkerPool.backlogStep(queued: 1, sleeping: 2, mark: 5, started: 5) == (1, nil))
        #expect(WorkerPool.backlogStep(queued: 3, sleeping: 2, mark: 5, started: 6) == (0, 6))
    }
}
