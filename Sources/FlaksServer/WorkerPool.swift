/// A fixed pool of threads for blocking work (CGI spawning, blocking view functions).
/// Jobs are closures; a job hands its result back to a loop through `EventLoop.execute`.
public final class WorkerPool: @unchecked Sendable {
    // `queue`, `head` and `stopping` are protected by `lock`; `threads` is written only in init/stop.
    private let lock = ConditionLock()
    private var queue: [Job?] = []
    private var head = 0
    private var stopping = false
    private var threads: [OSThread] = []
    private let threadCount: Int

    /// A job. Kept in a struct so arrays store the closure as it is (see `LoopTask`).
    public struct Job: Sendable {
        let closure: (@Sendable () -> Void)?
        let call: BlockingCall?
        public init(run: @escaping @Sendable () -> Void) { closure = run; call = nil }
        init(call: BlockingCall) { closure = nil; self.call = call }
        func run() {
            if let call { call.run() } else { closure?() }
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
    public func submit(_ job: @escaping @Sendable () -> Void) {
        lock.lock()
        queue.append(Job(run: job))
        lock.unlock()
        lock.signal()
    }

    /// Queues several jobs with one lock and as few wake-ups as they need.
    public func submit(batch: [Job]) {
        guard !batch.isEmpty else { return }
        lock.lock()
        for job in batch { queue.append(job) }
        lock.unlock()
        // Wake at most one worker per job; a woken worker keeps taking jobs until the queue is empty.
        for _ in 0..<min(batch.count, threadCount) { lock.signal() }
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
        while true {
            lock.lock()
            while head == queue.count && !stopping { lock.wait() }
            if head == queue.count && stopping { lock.unlock(); return }
            let job = queue[head]
            queue[head] = nil
            head += 1
            if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
            lock.unlock()
            job?.run()
        }
    }
}
