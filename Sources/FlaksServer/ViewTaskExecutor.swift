#if canImport(Glibc)
import Glibc
#endif

/// Where async views' tasks continue (their task executor preference): on the worker pool, next to
/// the blocking views, instead of Swift's global concurrent pool. (A task starts on the worker that
/// took its request's `BlockingCall`, with `Task.immediate`.)
///
/// Why: a task on the global pool woke a thread of its own, and on a core shared with the loop
/// each wake-up preempted it (1.84 context switches per async JSON view). Here a job enqueued on a
/// loop thread (a continuation the loop resumed) joins the loop's batch of jobs for the workers,
/// handed over once the wake-up's events are dispatched (`WorkerPool.submit(batch:)`, one worker
/// woken for short jobs); a job enqueued on a worker (a continuation resumed there) goes to that
/// worker's pool; anything else (a continuation resumed by Dispatch's timer, say) runs on the
/// global concurrent pool.
///
/// One executor for the process, never freed: a task keeps its preference unowned, and a
/// continuation may come back after the server that started the task has stopped.
final class ViewTaskExecutor: TaskExecutor, Sendable {   // no state
    static let shared = ViewTaskExecutor()
    private init() {}

    func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        if let loop = EventLoop.current {
            loop.queueTask(j)
        } else if let pool = WorkerPool.current {
            pool.submit(task: j)
        } else {
            globalConcurrentExecutor.enqueue(ExecutorJob(j))
        }
    }

    /// Runs `job` on this thread (a worker).
    func run(_ job: UnownedJob) {
        job.runSynchronously(on: asUnownedTaskExecutor())
    }
}

/// The loop or worker pool a thread belongs to (pthread keys: set while the thread runs it).
enum CurrentThread {
    static let loopKey = makeKey()
    static let poolKey = makeKey()

    private static func makeKey() -> pthread_key_t {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key, nil)
        precondition(rc == 0, "pthread_key_create: \(rc)")
        return key
    }
}

extension EventLoop {
    /// The loop whose thread this is, while it runs.
    static var current: EventLoop? {
        guard let raw = pthread_getspecific(CurrentThread.loopKey) else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(raw).takeUnretainedValue()
    }
}

extension WorkerPool {
    /// The pool whose worker this thread is, while it runs.
    static var current: WorkerPool? {
        guard let raw = pthread_getspecific(CurrentThread.poolKey) else { return nil }
        return Unmanaged<WorkerPool>.fromOpaque(raw).takeUnretainedValue()
    }
}
