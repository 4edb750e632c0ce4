#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux

/// A joinable OS thread running a closure. The server core is threads + selectors, not tasks.
final class OSThread: @unchecked Sendable {
    // `handle` is written once by `start` before any other thread can see the object.
    private var handle = pthread_t()

    private final class Box {
        let body: @Sendable () -> Void
        let name: String
        init(_ b: @escaping @Sendable () -> Void, name: String) { body = b; self.name = name }
    }

    /// Starts `body` on a new thread named `name` (at most 15 bytes shown by the OS).
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> OSThread {
        let t = OSThread()
        let box = Unmanaged.passRetained(Box(body, name: String(name.prefix(15)))).toOpaque()
        let rc = pthread_create(&t.handle, nil, { arg in
            guard let arg else { return nil }
            let b = Unmanaged<Box>.fromOpaque(arg).takeRetainedValue()
            cflaks_set_thread_name(b.name)
            b.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return t
    }

    /// Waits for the thread to finish.
    func join() { _ = pthread_join(handle, nil) }
}

/// A mutex plus condition variable, for the worker queue (Synchronization.Mutex has no condition).
final class ConditionLock: @unchecked Sendable {
    // Both are initialised once and only used through pthread calls, which synchronise.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }
    deinit {
        pthread_cond_destroy(cond); pthread_mutex_destroy(mutex)
        cond.deallocate(); mutex.deallocate()
    }
    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func wait() { pthread_cond_wait(cond, mutex) }
    func signal() { pthread_cond_signal(cond) }
    func broadcast() { pthread_cond_broadcast(cond) }
    /// Waits until signalled or the absolute CLOCK_REALTIME time `deadline`.
    func timedWait(_ deadline: inout timespec) { pthread_cond_timedwait(cond, mutex, &deadline) }
    /// Waits on a condition of its own (one thread's), with this lock's mutex.
    func wait(_ c: ThreadCondition) { pthread_cond_wait(c.cond, mutex) }
}

/// A condition variable for one waiting thread, used with a `ConditionLock`'s mutex: lets a
/// waker choose which thread it wakes (`WorkerPool` wakes the worker that went idle last).
final class ThreadCondition: @unchecked Sendable {
    // Initialised once and only used through pthread calls, which synchronise.
    let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    init() { pthread_cond_init(cond, nil) }
    deinit { pthread_cond_destroy(cond); cond.deallocate() }
    func signal() { pthread_cond_signal(cond) }
}
