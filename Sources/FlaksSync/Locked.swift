#if canImport(Glibc)
import Glibc
#endif

/// A value guarded by a pthread mutex: the shared-state primitive of Flaks.
///
/// Why not `Synchronization.Mutex`: on Linux it locks with raw futex calls that ThreadSanitizer
/// cannot see, so every contended `withLock` is reported as a race and real races drown in the
/// noise; a pthread mutex costs the same uncontended (~20 ns) and TSan understands it.
/// Keep the critical section small: no syscalls, no handler calls, no second lock inside.
public final class Locked<Value>: @unchecked Sendable {
    // `value` is only touched between lock and unlock of `mutex`. Both are visible to the inlined
    // `withLock` of other modules (FlaksHandlers' caches, the loops' counters): as plain calls across
    // the module boundary, lock/unlock and the accessor cost ~450 instructions per static request.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    @inlinable
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body(&valueStorage)
    }

    @inlinable func lock() { pthread_mutex_lock(mutex) }
    @inlinable func unlock() { pthread_mutex_unlock(mutex) }
    @inlinable var valueStorage: Value {
        _read { yield value }
        _modify { yield &value }
    }
}
