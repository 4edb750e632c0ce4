import FlaksSync
import Synchronization

/// The children of this process that someone watches: CGI scripts and service instances, each
/// reaped by its own `ChildExitWatcher` with `waitpid(pid)`. Process-wide (all servers).
///
/// The orphan reaper (`OrphanReaper`) reaps every other child, and must never take a known
/// child's exit status. A child is known from the moment the spawn returns: `ChildSpawner`
/// counts a spawn in progress before the call and registers the pid before it stops counting, and
/// the reaper gives up a pass that saw a spawn in progress (see `OrphanReaper.reapOrphans`).
enum KnownChildren {
    // protected by its lock; held for set updates only
    private static let pids = Locked<Set<Int32>>([])
    // any thread; atomic
    private static let spawning = Atomic<Int>(0)

    /// Runs `body` (which spawns and returns the child's pid, or nil) counted as a spawn in
    /// progress; the pid is registered before the count drops.
    static func spawning<R>(_ body: () -> (R, Int32?)) -> R {
        spawning.wrappingAdd(1, ordering: .sequentiallyConsistent)
        let (result, pid) = body()
        if let pid { pids.withLock { _ = $0.insert(pid) } }
        spawning.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        return result
    }

    /// Spawns under way now.
    static var spawnsInProgress: Int { spawning.load(ordering: .sequentiallyConsistent) }

    /// `pid` was reaped by its watcher (or given up on).
    static func forget(_ pid: Int32) { _ = pids.withLock { $0.remove(pid) } }

    /// The known pids now.
    static var snapshot: Set<Int32> { pids.withLock { $0 } }

    static func contains(_ pid: Int32) -> Bool { pids.withLock { $0.contains(pid) } }
}
