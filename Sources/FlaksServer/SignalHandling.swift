#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig

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
        cflaks_spawn_signals_changed()   // a spawned child resets what is not at its default
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
            watcher = ManifestWatcher(paths: ManifestWatcher.watchedFiles(of: server.currentSite.config, manifest: path))
            if watcher == nil { server.logger.error("--watch: cannot watch \(path) (inotify failed); SIGHUP still reloads") }
            else { server.logger.info("watching \(path) and its certificate files for changes") }
        }
        /// After a reload: watch the files the manifest now names.
        func rewatch() {
            guard let w = watcher, let path = server.currentSite.config.sourceFile else { return }
            w.watch(ManifestWatcher.watchedFiles(of: server.currentSite.config, manifest: path))
        }
        var changeDue: UInt64?  // debounce: editors write in several steps
        // Orphan passes: at most one per 50 ms (every CGI script's exit raises SIGCHLD too, and a
        // pass reads /proc for each thread). After a pass, SIGCHLD is left out of the signalfd for
        // 50 ms: it stays pending (blocked in every thread; one pending SIGCHLD stands for any
        // number of exits) and wakes this thread at most 20 times a second. Waking on each one cost
        // 13.4 us of CPU per CGI request (bench/cgi.sh, one core): a context switch per script on
        // the loop's core. A pass given up because a spawn was under way runs again 50 ms later.
        var reapDue: UInt64?
        var chldReported = true
        var chldRearmDue: UInt64?
        func reportChld(_ on: Bool) {
            guard on != chldReported else { return }
            let signals = on ? handled : handled.filter { $0 != SIGCHLD }
            if signals.withUnsafeBufferPointer({ cflaks_signalfd_set(fd, $0.baseAddress, Int32($0.count)) }) == 0 {
                chldReported = on
            }
        }
        // Called on a SIGCHLD read (reported only 50 ms after the last pass) or when `reapDue` came.
        func reap() {
            let now = monotonicNanos()
            reapDue = OrphanReaper.reapOrphans() ? nil : now &+ 50_000_000
            reportChld(false)
            chldRearmDue = now &+ 50_000_000
        }
        var idle = IdleMemoryRelease()
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            if let w = watcher { fds.append(pollfd(fd: w.fd, events: Int16(POLLIN), revents: 0)) }
            var timeout = idle.pollTimeout(server)
            for due in [changeDue, reapDue, chldRearmDue].compactMap({ $0 }) {
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
                if let changed = w.changedFile() {
                    server.logger.info("\(changed) changed on disk: reloading")
                    onReload(server.reloadFromDisk())
                    rewatch()
                }
            }
            if let due = reapDue, monotonicNanos() >= due {
                reapDue = nil
                reap()
            }
            if let due = chldRearmDue, monotonicNanos() >= due {
                // A SIGCHLD that came meanwhile is pending: the read below sees it at once.
                chldRearmDue = nil
                reportChld(true)
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
                    _ = watcher?.changedFile()  // remember what was just loaded
                    rewatch()
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

/// Watches the manifest's directory (and those of the certificate and key files it names) with
/// inotify, so an editor's write-to-temp-then-rename, the symlink swap Kubernetes does for a
/// mounted ConfigMap or Secret (`..data` renamed) and a certificate renewed in place are all seen;
/// then compares each file's bytes with the last ones loaded, so unrelated events change nothing.
final class ManifestWatcher {
    let fd: Int32
    /// Each watched file and its bytes when last loaded (nil: unreadable then).
    private var files: [String: [UInt8]?] = [:]
    private var directories: Set<String> = []

    init?(paths: [String]) {
        let ifd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard ifd >= 0 else { return nil }
        fd = ifd
        guard let first = paths.first, addDirectory(of: first) else { close(ifd); return nil }
        watch(paths)
    }

    deinit { close(fd) }

    /// The files a reload depends on: the manifest, and every host's `tls: {cert, key}`.
    static func watchedFiles(of config: ServerConfig, manifest: String) -> [String] {
        var out = [manifest]
        for h in config.hosts {
            if case .files(let cert, let key)? = h.tls { out.append(cert); out.append(key) }
        }
        return out
    }

    /// Watches exactly `paths` from now on (their bytes now are the ones loaded).
    func watch(_ paths: [String]) {
        var next: [String: [UInt8]?] = [:]
        for p in paths {
            _ = addDirectory(of: p)
            next[p] = Self.read(p)
        }
        files = next
    }

    private func addDirectory(of path: String) -> Bool {
        let dir = path.contains("/") ? String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) : "."
        let d = dir.isEmpty ? "/" : dir
        if directories.contains(d) { return true }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB)
        guard inotify_add_watch(fd, d, mask) >= 0 else { return false }
        directories.insert(d)
        return true
    }

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

    /// The first watched file whose bytes differ from the last ones seen, or nil (every file's
    /// bytes are remembered now either way).
    func changedFile() -> String? {
        var changed: String?
        for (path, last) in files.sorted(by: { $0.key < $1.key }) {
            let now = Self.read(path)
            if now != nil && now != last && changed == nil { changed = path }
            files[path] = now
        }
        return changed
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
