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
    /// Workers waiting for a job (under `lock`).
    private var sleeping = 0

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
        for i in 0..<max(1, count) {
            threads.append(OSThread.start(name: "flaks-worker-\(i)") { [unowned self] in self.run() })
        }
    }

    /// Queues a job. Never blocks on the job itself.
    public func submit(_ job: @escaping @Sendable () -> Void) { submit(one: Job(run: job)) }

    /// Queues a job of a task (`ViewTaskExecutor`, from a worker).
    func submit(task: UnownedJob) { submit(one: Job(task: task)) }

    private func submit(one job: Job) {
        lock.lock()
        queue.append(job)
        lock.unlock()
        lock.signal()
    }

    /// Queues several jobs with one lock and as few wake-ups as they need.
    public func submit(batch: [Job]) {
        guard !batch.isEmpty else { return }
        lock.lock()
        // Jobs queued before and not started yet: the workers are busy (or slow): wake more.
        let waiting = queue.count - head
        for job in batch { queue.append(job) }
        let wakes = Self.wakeUps(jobs: batch.count, waiting: waiting, meanJobNanos: meanJobNanos, threads: threadCount)
        lock.unlock()
        // A woken worker keeps taking jobs until the queue is empty.
        for _ in 0..<wakes { lock.signal() }
    }

    /// Wakes a waiting worker for each job still queued. A loop calls it before it waits, after it
    /// submitted jobs: a batch of short jobs wakes one worker, and if one of those jobs is slow
    /// after all (it blocks), the jobs behind it go to other workers now instead of waiting.
    public func wakeForBacklog() {
        lock.lock()
        let n = min(queue.count - head, sleeping)
        lock.unlock()
        for _ in 0..<n { lock.signal() }
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
        lock.broadcast()
        for t in threads { t.join() }
        threads = []
    }

    private func run() {
        pthread_setspecific(CurrentThread.poolKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(CurrentThread.poolKey, nil) }
        var last: UInt64?             // the duration of this worker's previous job, folded in under the lock
        while true {
            lock.lock()
            if let last { meanJobNanos = (meanJobNanos &* 7 &+ last) / 8 }
            while head == queue.count && !stopping {
                sleeping += 1
                lock.wait()
                sleeping -= 1
            }
            if head == queue.count && stopping { lock.unlock(); return }
            let job = queue[head]
            queue[head] = nil
            head += 1
            if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
            lock.unlock()
            let t0 = monotonicNanos()
            job?.run()
            last = min(monotonicNanos() &- t0, 1_000_000_000)
        }
    }

    /// The recent jobs' mean duration in nanoseconds (tests).
    var meanJobDuration: UInt64 {
        lock.lock(); defer { lock.unlock() }
        return meanJobNanos
    }
}
