#if canImport(Glibc)
import Glibc
#endif

/// A fixed pool of threads for blocking work (blocking view functions, password checks, file and
/// key work) and for the jobs of async views' tasks (`ViewTaskExecutor`).
/// Jobs are closures; a job hands its result back to a loop through `EventLoop.execute`.
public final class WorkerPool: @unchecked Sendable {
    // `queue`, `head` and `stopping` are protected by `lock`; `threads` is written only in init/stop.
    private let lock = ConditionLock()
    private var queue: [Job?] = []
    private var head = 0
    private var stopping = false
    private var threads: [OSThread] = []
    private let threadCount: Int
    /// The recent jobs' mean duration (ns, a moving average with weight 1/8; under `lock`). It
    /// starts long: until jobs are known to be short, a batch wakes a worker per job.
    private var meanJobNanos: UInt64 = 1_000_000
    /// Jobs shorter than this on average are run one after the other by the one worker a batch
    /// wakes. Why: on a core shared with the loop, each woken worker preempts the loop, and the
    /// first one had already run the whole batch: a second wake-up found nothing to do and cost a
    /// context switch pair per batch (a `sched_switch` trace of a JSON view: loop -> worker-0 runs
    /// ~8 requests' views in 6 us, loop -> worker-1 runs 3 us for nothing, every batch).
    static let shortJobNanos: UInt64 = 20_000
    /// Workers waiting for a job, the one that went idle last at the end (under `lock`). A wake-up
    /// takes the last: the worker whose caches are warm, and with short jobs the same worker runs
    /// batch after batch while the others stay asleep (with one condition variable for all,
    /// `pthread_cond_signal` woke the one that had waited longest: two workers took turns).
    /// A worker is chosen by being taken out of it (`takeIdle`).
    private var idle: [Int] = []
    /// Per worker: what it waits on.
    private var conditions: [ThreadCondition] = []
    private var sleeping: Int { idle.count }
    /// Jobs started since the pool began (under `lock`): the progress `checkBacklog` looks for.
    private var started: UInt64 = 0
    /// How long a loop lets queued jobs wait for the worker already woken for them before it wakes
    /// more (`checkBacklog`). On a core shared with the loop, the woken worker runs only once the
    /// loop waits; the loop used to wake every sleeping worker for the jobs still queued just
    /// before it waited, so with `threads: 2` both workers took turns at short jobs (36,000 worker
    /// wake-ups where one worker needed 22,000): 131,346 req/s against 143,891 with `threads: 1`
    /// in `bench/views.sh`.
    static let backlogGrace: UInt64 = 1_000_000

    /// A job. Kept in a struct so arrays store the closure as it is (see `LoopTask`).
    public struct Job: Sendable {
        let closure: (@Sendable () -> Void)?
        let call: BlockingCall?
        /// A job of an async view's task (`ViewTaskExecutor`).
        let task: UnownedJob?
        public init(run: @escaping @Sendable () -> Void) { closure = run; call = nil; task = nil }
        init(call: BlockingCall) { closure = nil; self.call = call; task = nil }
        init(task: UnownedJob) { closure = nil; call = nil; self.task = task }
        func run() {
            if let call { call.run() } else if let task { ViewTaskExecutor.shared.run(task) } else { closure?() }
        }
    }

    /// Starts `count` threads (at least one).
    public init(count: Int) {
        threadCount = max(1, count)
        conditions = (0..<threadCount).map { _ in ThreadCondition() }
        for i in 0..<threadCount {
            threads.append(OSThread.start(name: "flaks-worker-\(i)") { [unowned self] in self.run(worker: i) })
        }
    }

    /// Workers chosen to wake: the first without an array (one is the usual case: no allocation).
    private struct Chosen {
        var first = -1
        var more: [Int] = []
    }

    /// Chooses up to `n` idle workers, the last to go idle first (under `lock`); signal them with
    /// `signal(_:)` after unlocking.
    private func takeIdle(_ n: Int) -> Chosen {
        var chosen = Chosen()
        var count = 0
        while count < n, let i = idle.popLast() {
            if count == 0 { chosen.first = i } else { chosen.more.append(i) }
            count += 1
        }
        return chosen
    }

    private func signal(_ workers: Chosen) {
        if workers.first >= 0 { conditions[workers.first].signal() }
        for i in workers.more { conditions[i].signal() }
    }

    /// Queues a job. Never blocks on the job itself.
    public func submit(_ job: @escaping @Sendable () -> Void) { submit(one: Job(run: job)) }

    /// Queues a job of a task (`ViewTaskExecutor`, from a worker).
    func submit(task: UnownedJob) { submit(one: Job(task: task)) }

    private func submit(one job: Job) {
        lock.lock()
        queue.append(job)
        let woken = takeIdle(1)
        lock.unlock()
        signal(woken)
    }

    /// Queues several jobs with one lock and as few wake-ups as they need.
    public func submit(batch: [Job]) {
        guard !batch.isEmpty else { return }
        lock.lock()
        // Jobs queued before and not started yet: the workers are busy (or slow): wake more.
        let waiting = queue.count - head
        for job in batch { queue.append(job) }
        let wakes = Self.wakeUps(jobs: batch.count, waiting: waiting, meanJobNanos: meanJobNanos, threads: threadCount)
        let woken = takeIdle(wakes)
        lock.unlock()
        // A woken worker keeps taking jobs until the queue is empty.
        signal(woken)
    }

    /// The backlog check a loop makes after it submitted jobs, and again every `backlogGrace` while
    /// jobs stay queued. A batch of short jobs wakes one worker; if one of them turns out to block,
    /// the jobs behind it must go to other workers. `mark`: the started-jobs count at the previous
    /// check (nil: the first). Returns the mark to check again with after `backlogGrace`, or nil
    /// when there is nothing left to watch (see `backlogStep`).
    public func checkBacklog(mark: UInt64?) -> UInt64? {
        lock.lock()
        let (wakes, next) = Self.backlogStep(queued: queue.count - head, sleeping: sleeping, mark: mark, started: started)
        let woken = takeIdle(wakes)
        lock.unlock()
        signal(woken)
        return next
    }

    /// The rule of `checkBacklog`: with nothing queued or no worker asleep, nothing to do; at the
    /// first check, mark the progress; at a later one, if no job started since the mark, the
    /// workers are held up: wake a sleeping worker per queued job; if jobs did start, mark again.
    static func backlogStep(queued: Int, sleeping: Int, mark: UInt64?, started: UInt64) -> (wakes: Int, mark: UInt64?) {
        guard queued > 0, sleeping > 0 else { return (0, nil) }
        if let mark, mark == started { return (min(queued, sleeping), nil) }
        return (0, started)
    }

    /// How many workers a batch of `jobs` wakes: one per job (at most one per thread), except that
    /// short jobs (`shortJobNanos`) with nothing waiting before them wake one worker for them all.
    static func wakeUps(jobs: Int, waiting: Int, meanJobNanos: UInt64, threads: Int) -> Int {
        if meanJobNanos < shortJobNanos && waiting == 0 { return min(1, jobs) }
        return min(jobs + waiting, threads)
    }

    /// Jobs queued and not yet started.
    public var backlog: Int {
        lock.lock(); defer { lock.unlock() }
        return queue.count - head
    }

    /// Lets queued jobs finish, then joins the threads.
    public func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        for c in conditions { c.signal() }
        for t in threads { t.join() }
        threads = []
    }

    private func run(worker i: Int) {
        pthread_setspecific(CurrentThread.poolKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(CurrentThread.poolKey, nil) }
        var last: UInt64?             // the duration of this worker's previous job, folded in under the lock
        while true {
            lock.lock()
            if let last { meanJobNanos = (meanJobNanos &* 7 &+ last) / 8 }
            while head == queue.count && !stopping {
                idle.append(i)
                // Until a waker chose this worker (took it out of `idle`), or the pool stops.
                while !stopping && idle.contains(i) { lock.wait(conditions[i]) }
                if let k = idle.lastIndex(of: i) { idle.remove(at: k) }
            }
            if head == queue.count && stopping { lock.unlock(); return }
            let job = queue[head]
            queue[head] = nil
            head += 1
            started &+= 1
            if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
            lock.unlock()
            let t0 = monotonicNanos()
            job?.run()
            last = min(monotonicNanos() &- t0, 1_000_000_000)
        }
    }

    /// Workers waiting for a job now (tests).
    var idleWorkers: Int {
        lock.lock(); defer { lock.unlock() }
        return idle.count
    }

    /// The recent jobs' mean duration in nanoseconds (tests).
    var meanJobDuration: UInt64 {
        lock.lock(); defer { lock.unlock() }
        return meanJobNanos
    }
}
