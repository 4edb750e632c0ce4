#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux

/// Process signals and manifest watching, served on the calling (control) thread: signals arrive
/// through a signalfd, file changes through inotify, both waited on with poll. No work runs in a
/// C signal handler, and reloads never run on a selector loop.
public enum SignalHandling {
    static let handled: [Int32] = [SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGCHLD]

    /// Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER): what a service leaves behind
    /// when it forks or daemonises is re-parented to Flaks, which reaps it (on SIGCHLD, in `run`)
    /// and kills it at exit. For a process that is a server of its own (`flaks serve`, an app's
    /// `run`); never for an in-process server, whose host has children of its own.
    public static func becomeChildSubreaper() {
        OrphanReaper.becomeSubreaper()
    }

    /// Blocks the server's signals in the calling thread. Call before starting any thread,
    /// so every thread inherits the mask and only the signalfd sees them.
    public static func blockServerSignals() {
        _ = handled.withUnsafeBufferPointer { cflaks_block_signals($0.baseAddress, Int32($0.count)) }
        signal(SIGPIPE, SIG_IGN)
    }

    /// Serves signals until a stop signal: SIGHUP reloads the manifest, SIGUSR1 reopens logs,
    /// SIGCHLD reaps orphans (when a child subreaper), SIGTERM/SIGINT/SIGQUIT drain and return.
    /// With `watch`, a change of the manifest on disk reloads too. `onReload` sees each reload's outcome (the CLI writes it for `flaks reload`).
    /// Between signals it also ticks `server.idle_release` (IdleMemoryRelease).
    public static func run(_ server: Server, watch: Bool = false, onReload: (Server.ReloadOutcome) -> Void = { _ in }) {
        let fd = handled.withUnsafeBufferPointer { cflaks_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else {
            server.logger.error("signalfd failed (errno \(cflaks_errno())); signals will not be handled")
            server.wait()
            return
        }
        defer { close(fd) }
        var watcher: ManifestWatcher?
        if watch, let path = server.currentSite.config.sourceFile {
            watcher = ManifestWatcher(path: path)
            if watcher == nil { server.logger.error("--watch: cannot watch \(path) (inotify failed); SIGHUP still reloads") }
            else { server.logger.info("watching \(path) for changes") }
        }
        var changeDue: UInt64?  // debounce: editors write in several steps
        // Orphan passes: at most one per 50 ms (every CGI script's exit raises SIGCHLD too, and a
        // pass reads /proc for each thread); one given up because a spawn was under way is retried.
        var reapDue: UInt64?
        var lastReap: UInt64 = 0
        func reap() {
            let now = monotonicNanos()
            if now &- lastReap < 50_000_000 {
                reapDue = min(reapDue ?? .max, lastReap &+ 50_000_000)
                return
            }
            lastReap = now
            reapDue = OrphanReaper.reapOrphans() ? nil : now &+ 10_000_000
        }
        var idle = IdleMemoryRelease()
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            if let w = watcher { fds.append(pollfd(fd: w.fd, events: Int16(POLLIN), revents: 0)) }
            var timeout = idle.pollTimeout(server)
            for due in [changeDue, reapDue].compactMap({ $0 }) {
                let now = monotonicNanos()
                let t = due > now ? Int32((due - now) / 1_000_000) + 1 : 0
                timeout = timeout < 0 ? t : min(timeout, t)
            }
            let r = poll(&fds, nfds_t(fds.count), timeout)
            if r < 0 && errno != EINTR { break }
            idle.tick(server)
            if let w = watcher, fds.count > 1, fds[1].revents != 0, w.drainEvents() {
                changeDue = monotonicNanos() &+ 200_000_000
            }
            if let due = changeDue, monotonicNanos() >= due, let w = watcher {
                changeDue = nil
                if w.contentChanged() {
                    server.logger.info("manifest changed on disk: reloading")
                    onReload(server.reloadFromDisk())
                }
            }
            if let due = reapDue, monotonicNanos() >= due {
                reapDue = nil
                reap()
            }
            while true {
                let sig = cflaks_signalfd_read(fd)
                if sig <= 0 { break }
                switch sig {
                case SIGCHLD:
                    reap()
                case SIGHUP:
                    server.logger.info("SIGHUP: reloading the manifest")
                    let outcome = server.reloadFromDisk()
                    _ = watcher?.contentChanged()  // remember what was just loaded
                    onReload(outcome)
                case SIGUSR1:
                    server.logger.info("SIGUSR1: reopening logs")
                    server.reopenLogs()
                default:
                    server.logger.info("signal \(sig): shutting down")
                    server.shutdown()
                    server.wait()
                    return
                }
            }
        }
        server.wait()
    }
}

/// Watches the manifest's directory with inotify, so an editor's write-to-temp-then-rename and the
/// symlink swap Kubernetes does for a mounted ConfigMap (`..data` renamed) are both seen; then
/// compares the manifest's bytes with the last ones loaded, so unrelated events change nothing.
final class ManifestWatcher {
    let fd: Int32
    let path: String
    private var lastContent: [UInt8]?

    init?(path: String) {
        self.path = path
        let dir = path.contains("/") ? String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) : "."
        let ifd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard ifd >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB)
        guard inotify_add_watch(ifd, dir.isEmpty ? "/" : dir, mask) >= 0 else { close(ifd); return nil }
        fd = ifd
        lastContent = Self.read(path)
    }

    deinit { close(fd) }

    /// Reads and discards pending events; true when there were any.
    func drainEvents() -> Bool {
        var buf = [UInt8](repeating: 0, count: 4096)
        var any = false
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return any }
            any = true
        }
    }

    /// True when the manifest's bytes differ from the last ones seen (and remembers them).
    func contentChanged() -> Bool {
        let now = Self.read(path)
        defer { lastContent = now }
        return now != nil && now != lastContent
    }

    static func read(_ path: String) -> [UInt8]? {
        let f = open(path, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return nil }
        defer { close(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(f, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }
}
