#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksHandlers

/// Waits on a loop for one child to exit and reaps it (`waitpid(pid, WNOHANG)`, never a wait for any
/// child, so nothing else's children are taken): a pidfd where the kernel has pidfd_open (readable
/// once the child exits), else a poll every 100 ms on the loop's timers. Reports the status once.
/// Used for CGI scripts and supervised services. Loop thread only; the registration and the timer
/// keep it (and what its callback holds) alive until the child is reaped.
final class ChildExitWatcher: Selectable, TimerTarget {
    let pid: pid_t
    private var pidFD: Int32
    private unowned let loop: EventLoop
    private var onExit: ((ProcessExit) -> Void)?
    var timerSlot = TimerSlot()
    static let pollInterval: UInt64 = 100_000_000

    /// Watches `pid`; `pidFD` is its pidfd or -1.
    init(pid: pid_t, pidFD: Int32, loop: EventLoop, onExit: @escaping (ProcessExit) -> Void) throws(SystemError) {
        self.pid = pid; self.pidFD = pidFD; self.loop = loop; self.onExit = onExit
        if pidFD >= 0 {
            try loop.register(fd: pidFD, interest: .readable, target: self)
        } else {
            loop.schedule(self, at: loop.now &+ Self.pollInterval)
        }
    }

    deinit { if pidFD >= 0 { Glibc.close(pidFD) } }

    var reaped: Bool { onExit == nil }

    /// The loop stopped before the child exited: the report (which holds the owner, which holds
    /// this watcher) is dropped. The server's shutdown ends and reaps what is left (a subreaper).
    func loopStopped() {
        onExit = nil
        if pidFD >= 0 { Glibc.close(pidFD); pidFD = -1 }
    }

    func timersDropped() { loopStopped() }

    func ready(_ events: SelectorEvents) { reap() }

    func timerFired(now: UInt64) {
        reap()
        if !reaped { loop.schedule(self, at: now &+ Self.pollInterval) }
    }

    /// Reaps `pid` at once if it has exited (no pidfd, no registration), else watches it as `init`
    /// does, with a pidfd opened now. nil when it was reaped here (`onExit` has been called).
    ///
    /// For a CGI script, called when its output ends: by then the script has usually exited, so
    /// one `wait4` replaces the pidfd's four system calls (pidfd_open, two epoll_ctl, close; the
    /// epoll wake-up too) that a watcher from the spawn on costs. Safe late: the pid stays ours (a
    /// zombie, and a `KnownChildren` entry the orphan reaper leaves alone) until it is reaped here.
    /// `tryNow: false` skips the first attempt (a child just killed is not gone yet, and the caller
    /// may not be ready for `onExit` to run within this call).
    static func reapOrWatch(pid: pid_t, tryNow: Bool = true, loop: EventLoop,
                            onExit: @escaping (ProcessExit) -> Void) throws(SystemError) -> ChildExitWatcher? {
        if tryNow, let e = reapNow(pid) { onExit(e); return nil }
        return try ChildExitWatcher(pid: pid, pidFD: cflaks_pidfd_open(pid), loop: loop, onExit: onExit)
    }

    /// `waitpid(pid, WNOHANG)`: the exit if `pid` was reaped now (and forgotten as a known child),
    /// nil while it runs.
    private static func reapNow(_ pid: pid_t) -> ProcessExit? {
        var code: Int32 = -1, sig: Int32 = -1
        let r = cflaks_reap(pid, &code, &sig)
        if r == 0 { return nil }
        KnownChildren.forget(pid)
        return r < 0 ? .unknown : (sig >= 0 ? .signal(sig) : .code(code))
    }

    /// Reaps the child if it has exited; returns true once it was reaped.
    @discardableResult
    func reap() -> Bool {
        guard let report = onExit else { return true }
        guard let exit = Self.reapNow(pid) else { return false }
        onExit = nil
        // The report may drop the last reference to this watcher.
        withExtendedLifetime(self) {
            if pidFD >= 0 {
                loop.deregister(fd: pidFD)
                Glibc.close(pidFD)
                pidFD = -1
            }
            loop.removeTimer(self)
            report(exit)
        }
        return true
    }

    /// Waits (bounded, about 200 ms) for a child just killed that nothing watches (its watch could
    /// not be set up), and forgets it as a known child either way: one still unreaped then is left
    /// to the orphan reaper. An error path only: it blocks the calling loop.
    static func reapKilled(_ pid: pid_t) {
        for _ in 0..<200 where reapNow(pid) == nil { usleep(1000) }
        KnownChildren.forget(pid)
    }
}
