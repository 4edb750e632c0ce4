#if canImport(Glibc)
import FlaksHandlers
import Glibc
#endif
import CFlaksLinux

/// The CGI children of one server, all loops together.
///
/// Enforces `cgi.max_processes` (a slot is reserved before spawning and given back when the child is
/// reaped), and lets shutdown reap the children a stopped loop can no longer watch: a script whose
/// response was already sent does not hold its connection open, so the drain does not wait for it.
final class CGIChildren: Sendable {
    /// The slot count and the live pids, changed together.
    private struct State {
        /// Slots in use: reserved for a spawn, or held by a child not yet reaped.
        var slots = 0
        /// Children spawned and not yet reaped.
        var live: Set<pid_t> = []
    }
    // protected by its lock; held only for set/counter updates
    private let state = Locked(State())

    /// Children running or being started now.
    var count: Int { state.withLock { $0.slots } }

    /// Takes a slot unless `limit` are in use.
    func reserve(limit: Int) -> Bool {
        state.withLock { s in
            guard s.slots < limit else { return false }
            s.slots += 1
            return true
        }
    }

    /// The reserved slot now belongs to `pid`.
    func spawned(_ pid: pid_t) { state.withLock { _ = $0.live.insert(pid) } }

    /// Spawning failed: give the reserved slot back.
    func spawnFailed() { state.withLock { $0.slots -= 1 } }

    /// `pid` was reaped: give its slot back (once; later calls do nothing).
    func reaped(_ pid: pid_t) {
        state.withLock { s in
            if s.live.remove(pid) != nil { s.slots -= 1 }
        }
        KnownChildren.forget(pid)
    }

    /// After every loop has stopped: SIGKILL the process group of each child still alive and reap it
    /// (waiting at most about a second in total), so a stopped server leaves no zombies.
    func killAndReapAll() {
        var pending = state.withLock { Array($0.live) }
        guard !pending.isEmpty else { return }
        for pid in pending { _ = kill(-pid, SIGKILL) }
        for _ in 0..<1000 where !pending.isEmpty {
            pending.removeAll { pid in
                var code: Int32 = -1, sig: Int32 = -1
                let r = cflaks_reap(pid, &code, &sig)
                if r == 0 { return false }
                reaped(pid)
                return true
            }
            if !pending.isEmpty { usleep(1000) }
        }
    }
}
