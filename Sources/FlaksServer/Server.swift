#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHandlers
import FlaksHTTP
import Logging
import Synchronization
import FlaksAccess
import FlaksCompression
import FlaksProxy
import FlaksTLS

/// The Flaks server: N selector loops, a worker pool, the current site (swapped on reload).
///
/// Lifecycle: `init` (validates and builds the site) → `start` (binds, starts threads) →
/// `reload` any number of times → `shutdown` (drain) → `wait`.
public final class Server: Sendable {
    public let logger: Logger
    public let stats = ServerStats()
    let workers: WorkerPool
    let accessLog: AccessLog?
    let registry: HandlerRegistry
    private let site: Locked<Site>
    private let maxConnectionsValue: Atomic<Int>
    /// The current site's generation, readable without the site's lock (a prepared response is
    /// valid only for the generation that made it).
    private let generationValue = Atomic<Int>(1)
    var siteGeneration: Int { generationValue.load(ordering: .relaxed) }
    private let state = Locked(RunState())
    /// Monotonic time the server started, for uptime.
    public let startedAt = monotonicNanos()
    private let drainingFlag = Atomic<Bool>(false)
    /// CGI children alive now, all loops together (cgi.max_processes); see CGIProcess.
    let cgiChildren = CGIChildren()
    /// The programs of `services:` (docs/services.md): started before the listeners accept,
    /// rolled on reload, stopped after the drain.
    let services: ServiceSupervisor
    /// Connections to each upstream, all loops together, with the requests waiting for one
    /// (FastCGI's `max_connections`); see FastCGIRequest.
    let upstreamSlots = UpstreamSlots()
    /// Token buckets of every `rate` rule, all loops together (sharded locks, no global one).
    let rateLimiter = RateLimiter()
    /// Every upstream address of every proxy route (health, in-flight counts), kept across reloads.
    let upstreamRegistry = UpstreamRegistry()
    /// Per-upstream request counters.
    let proxyMetrics = ProxyMetrics()
    /// Session ticket keys shared by every loop and kept across reloads (rotated every 12 hours), so a
    /// client resumes its TLS session after a reload too.
    let ticketKeys: TicketKeyRing
    /// Active health checks of the current site's proxy routes (replaced on reload).
    private let healthCheckers = Locked<[HealthChecker]>([])
    /// Compressed forms of static files, by file identity, ETag and coding (bounded, LRU).
    let compressedFiles = CompressedFileCache(capacity: 32 << 20)
    /// Recent successful Basic auth checks (keyed by an HMAC of user, password and stored hash).
    let authCache = AuthCache()
    /// Certificates of the `tls: acme` hosts: ordered, renewed, installed; HTTP-01 answers.
    let acme: ACMEManager

    private struct RunState {
        var loops: [EventLoop] = []
        var threads: [OSThread] = []
        /// Listen address as configured -> actual bound address (port 0 resolved); plain and TLS.
        var bound: [ListenAddress: SocketAddress] = [:]
        var boundTLS: [ListenAddress: SocketAddress] = [:]
        var stopped = false
    }

    /// The loops while the server runs (tests).
    var runningLoops: [EventLoop] { state.withLock { $0.loops } }

    /// The current site; a request takes it once at dispatch.
    public var currentSite: Site { site.withLock { $0 } }
    var maxConnections: Int { maxConnectionsValue.load(ordering: .relaxed) }
    /// True once a drain has started (the `health` handler answers 503).
    public var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }

    /// Builds the first site from `config`. Throws when a route cannot be mounted.
    /// The time source of the loops (a test may drive timers with its own).
    let clock: any LoopClock

    /// `acmeClock`: the wall clock ACME schedules by (a test moves it to make a renewal due).
    public init(config: ServerConfig, registry: HandlerRegistry = HandlerRegistry(), logger: Logger? = nil,
                clock: any LoopClock = MonotonicClock(), acmeClock: any WallClock = SystemWallClock()) throws(SiteError) {
        self.clock = clock
        services = ServiceSupervisor(clock: clock)
        var log = logger ?? Logger(label: "flaks")
        if logger == nil { log.logLevel = Server.level(config.log.level) }
        self.logger = log
        var reg = registry
        let ref = ServerRef()
        BuiltinHandlers.register(into: &reg, ref: ref)
        self.registry = reg
        do { ticketKeys = try TicketKeyRing() } catch { throw SiteError(messages: ["tls: \(error)"]) }
        let first = try SiteBuilder.build(config, registry: reg, generation: 1, upstreams: upstreamRegistry, tickets: ticketKeys,
                                              services: services.directory)
        site = Locked(first)
        maxConnectionsValue = Atomic(config.server.maxConnections)
        workers = WorkerPool(count: config.server.threads)
        accessLog = AccessLog(settings: config.log)
        acme = ACMEManager(clock: acmeClock, logger: log, currentSite: { ref.server?.currentSite })
        ref.set(self)
    }

    static func level(_ l: LogSettings.Level) -> Logger.Level {
        switch l {
        case .debug: .debug
        case .info: .info
        case .warning: .warning
        case .error: .error
        }
    }

    /// Binds every listen address and starts the loops. Returns once the server accepts connections.
    public func start() throws(SystemError) {
        signal(SIGPIPE, SIG_IGN)
        let config = currentSite.config
        let loopCount = max(1, config.server.loops ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var loops: [EventLoop] = []
        for i in 0..<loopCount { loops.append(try EventLoop(index: i, server: self, clock: clock)) }
        var bound: [ListenAddress: SocketAddress] = [:], boundTLS: [ListenAddress: SocketAddress] = [:]
        for address in config.server.listen {
            let fds = try bindAll(address, loops: loopCount, backlog: config.server.backlog)
            bound[address] = fds.actual
            for (i, fd) in fds.fds.enumerated() { loops[i].addListener(fd: fd, address: fds.actual, tls: false) }
        }
        for address in config.server.tlsListen {
            let fds = try bindAll(address, loops: loopCount, backlog: config.server.backlog)
            boundTLS[address] = fds.actual
            for (i, fd) in fds.fds.enumerated() { loops[i].addListener(fd: fd, address: fds.actual, tls: true) }
        }
        // The services' processes are spawned before any listener accepts (not waited for: a
        // request for a service with no ready instance waits for one).
        services.apply(ServiceSpec.specs(from: config), server: self)
        var threads: [OSThread] = []
        for l in loops {
            threads.append(OSThread.start(name: "flaks-loop-\(l.index)") { l.run() })
        }
        state.withLock { $0.loops = loops; $0.threads = threads; $0.bound = bound; $0.boundTLS = boundTLS }
        if !config.server.tlsListen.isEmpty { logger.info("kernel TLS: \(KernelTLS.status())") }
        startHealthChecks(currentSite)
        if let first = loops.first { acme.attach(loop: first, workers: workers) }
        acme.siteChanged(currentSite)
        logger.info("flaks listening on \((bound.values.map(\.description) + boundTLS.values.map { $0.description + " (TLS)" }).sorted().joined(separator: ", ")) with \(loopCount) loop(s), \(config.server.threads) worker(s), generation \(currentSite.generation)")
    }

    /// One listening socket per address, duplicated once per loop: every loop watches it with
    /// EPOLLEXCLUSIVE, so a new connection wakes one loop. Port 0 is resolved by the bind.
    private func bindAll(_ address: ListenAddress, loops: Int, backlog: Int) throws(SystemError) -> (fds: [Int32], actual: SocketAddress) {
        let first = try Socket.listen(on: address, backlog: backlog)
        guard let actual = Socket.localAddress(first) else {
            close(first)
            throw SystemError("getsockname", errno: EINVAL)
        }
        var fds = [first]
        for _ in 1..<max(loops, 1) {
            let d = fcntl(first, F_DUPFD_CLOEXEC, 0)
            guard d >= 0 else {
                let e = errno
                for fd in fds { close(fd) }
                throw SystemError("fcntl(F_DUPFD_CLOEXEC)", errno: e)
            }
            fds.append(d)
        }
        return (fds, actual)
    }

    /// The addresses actually bound (ephemeral ports resolved), in configuration order.
    public var boundAddresses: [(configured: ListenAddress, host: String, port: Int)] {
        state.withLock { s in
            currentSite.config.server.listen.compactMap { a in s.bound[a].map { (a, $0.host, $0.port) } }
        }
    }

    /// The first bound port (tests start on port 0 and ask).
    public var port: Int? { boundAddresses.first?.port }

    /// The first bound TLS port.
    public var tlsPort: Int? {
        state.withLock { s in currentSite.config.server.tlsListen.compactMap { s.boundTLS[$0]?.port }.first }
    }

    /// Outcome of a reload.
    public enum ReloadOutcome: Sendable {
        /// The new generation and a summary of what changed (empty: nothing).
        case reloaded(generation: Int, changes: [String])
        /// Nothing changed; the old site keeps serving.
        case failed([String])
    }

    /// Swaps in a new configuration. On failure nothing changes. Runs on the calling thread (never a loop).
    @discardableResult
    public func reload(_ config: ServerConfig) -> ReloadOutcome {
        let old = currentSite
        let next: Site
        do { next = try SiteBuilder.build(config, registry: registry, generation: old.generation + 1, upstreams: upstreamRegistry, tickets: ticketKeys,
                                              services: services.directory) } catch {
            stats.reloadsFailed.add(1, ordering: .relaxed)
            logger.error("reload failed, generation \(old.generation) keeps serving:\n\(error.description)")
            return .failed(error.messages)
        }
        var changes = config.changes(from: old.config)
        // Listen addresses: bind the new ones before swapping, close the removed ones after.
        let loops = state.withLock { $0.loops }
        let plain = rebind(old: old.config.server.listen, new: config.server.listen, tls: false, loops: loops,
                           backlog: config.server.backlog)
        guard case .success(let plainBound) = plain else {
            if case .failure(let message) = plain { return failReload(message, old: old) }
            return .failed([])
        }
        let secure = rebind(old: old.config.server.tlsListen, new: config.server.tlsListen, tls: true, loops: loops,
                            backlog: config.server.backlog)
        guard case .success(let tlsBound) = secure else {
            for a in plainBound.keys { closeListeners(a, loops: loops, bound: plainBound) }
            if case .failure(let message) = secure { return failReload(message, old: old) }
            return .failed([])
        }
        let removedPlain = Set(old.config.server.listen).subtracting(config.server.listen)
        let removedTLS = Set(old.config.server.tlsListen).subtracting(config.server.tlsListen)
        let (bound, boundTLS) = state.withLock { ($0.bound, $0.boundTLS) }
        for address in removedPlain { closeListeners(address, loops: loops, bound: bound) }
        for address in removedTLS { closeListeners(address, loops: loops, bound: boundTLS) }
        state.withLock { s in
            for (a, b) in plainBound { s.bound[a] = b }
            for (a, b) in tlsBound { s.boundTLS[a] = b }
            for a in removedPlain { s.bound[a] = nil }
            for a in removedTLS { s.boundTLS[a] = nil }
        }
        maxConnectionsValue.store(config.server.maxConnections, ordering: .relaxed)
        // Services: added ones are known before the new routes can reach them; then the swap; then
        // added ones start, changed ones roll, removed ones stop (their requests in flight finish).
        let serviceSpecs = ServiceSpec.specs(from: config)
        services.register(serviceSpecs)
        site.withLock { $0 = next }
        generationValue.store(next.generation, ordering: .relaxed)
        acme.siteChanged(next)
        startHealthChecks(next)
        upstreamRegistry.retain(only: next.upstreamKeys)
        for l in loops { l.execute { $0.upstreamPool.closeAll { !$0.hasPrefix("service:") && !next.upstreamKeys.contains($0) } } }
        // (ConfigDiff already names the services added, removed and changed in `changes`.)
        services.apply(serviceSpecs, server: self)
        stats.reloadsSucceeded.add(1, ordering: .relaxed)
        if changes.isEmpty { changes = [] }
        logger.info("reloaded: generation \(next.generation); \(changes.isEmpty ? "nothing changed" : changes.joined(separator: "; "))")
        return .reloaded(generation: next.generation, changes: changes)
    }

    /// A message of a listen address that could not be bound.
    struct BindFailure: Error { let message: String }

    /// Binds the addresses of `new` that `old` did not have, on every loop. On a failure the ones just
    /// bound are closed again.
    private func rebind(old: [ListenAddress], new: [ListenAddress], tls: Bool, loops: [EventLoop],
                        backlog: Int) -> Result<[ListenAddress: SocketAddress], BindFailure> {
        var newlyBound: [ListenAddress: SocketAddress] = [:]
        for address in new where !old.contains(address) {
            do {
                let r = try bindAll(address, loops: loops.count, backlog: backlog)
                newlyBound[address] = r.actual
                for (i, fd) in r.fds.enumerated() {
                    let actual = r.actual
                    loops[i].execute { $0.addListener(fd: fd, address: actual, tls: tls) }
                }
            } catch {
                for a in newlyBound.keys { closeListeners(a, loops: loops, bound: newlyBound) }
                return .failure(BindFailure(message: "cannot listen on \(address): \(error)"))
            }
        }
        return .success(newlyBound)
    }

    private func failReload(_ failure: BindFailure, old: Site) -> ReloadOutcome {
        stats.reloadsFailed.add(1, ordering: .relaxed)
        logger.error("reload failed, \(failure.message); generation \(old.generation) keeps serving")
        return .failed([failure.message])
    }

    private func closeListeners(_ address: ListenAddress, loops: [EventLoop], bound: [ListenAddress: SocketAddress]) {
        guard let actual = bound[address]?.description else { return }
        for l in loops { l.execute { $0.removeListeners(matching: actual) } }
    }

    /// Loads the manifest file again and reloads; a manifest that fails changes nothing.
    @discardableResult
    public func reloadFromDisk(environment: [String: String] = ProcessEnvironment.current()) -> ReloadOutcome {
        guard let path = currentSite.config.sourceFile else {
            return .failed(["the configuration was not loaded from a file"])
        }
        do {
            let config = try ManifestLoader.load(path: path, environment: environment)
            let outcome = reload(config)
            if case .reloaded = outcome { for w in config.warnings { logger.warning("\(w.description)") } }
            return outcome
        } catch {
            stats.reloadsFailed.add(1, ordering: .relaxed)
            logger.error("reload failed, generation \(currentSite.generation) keeps serving:\n\(error.description)")
            return .failed(error.errors.map(\.description))
        }
    }

    /// Each upstream of the current proxy routes: counters, health, requests in flight.
    private func upstreamReport() -> [(address: String, counters: ProxyMetrics.Counters, health: String, inFlight: Int)] {
        let counters = proxyMetrics.snapshot
        let now = monotonicNanos()
        var seen: Set<String> = []
        var out: [(address: String, counters: ProxyMetrics.Counters, health: String, inFlight: Int)] = []
        for t in currentSite.proxyTargets {
            let m = t.members()  // a service route: its ready instances now
            for (i, e) in m.endpoints.enumerated() where seen.insert(e.key).inserted {
                let u = m.balancer.upstreams[i]
                let health: String = switch u.health.status(now: now) {
                case .up: "up"
                case .passivelyDown: "down"
                case .activelyDown: "checked down"
                }
                out.append((e.key, counters[e.key] ?? ProxyMetrics.Counters(), health, u.inFlight))
            }
        }
        return out.sorted { $0.address < $1.address }
    }

    /// Replaces the active health checks with those of `site`'s proxy routes (one per upstream and
    /// check settings), on the first loop.
    private func startHealthChecks(_ site: Site) {
        guard let loop = state.withLock({ $0.loops.first }) else { return }
        var checkers: [HealthChecker] = []
        var seen: Set<String> = []
        for route in site.proxyTargets {
            guard let check = route.route.health else { continue }
            for (i, e) in route.endpoints.enumerated() {
                let key = "\(e.key) \(check.path) \(check.interval) \(check.timeout) \(check.fails) \(check.passes)"
                guard seen.insert(key).inserted else { continue }
                checkers.append(HealthChecker(loop: loop, endpoint: e, upstream: route.balancer.upstreams[i], check: check))
            }
        }
        let old = healthCheckers.withLock { list -> [HealthChecker] in let o = list; list = checkers; return o }
        for c in old { c.stop() }
        for c in checkers { loop.execute { _ in c.start() } }
    }

    /// Stops accepting, lets requests in flight finish (up to `drainTimeout`), closes the rest.
    public func shutdown(drainTimeout: Duration? = nil) {
        guard !drainingFlag.exchange(true, ordering: .relaxed) else { return }
        let timeout = drainTimeout ?? currentSite.config.server.drainTimeout
        let deadline = monotonicNanos() &+ timeout.nanoseconds
        logger.info("draining: no new connections; waiting up to \(timeout) for requests in flight")
        acme.stop()
        for l in state.withLock({ $0.loops }) { l.execute { $0.beginDrain(deadline: deadline) } }
    }

    /// Waits until every loop has stopped, then stops every service (no process of theirs is
    /// left: bounded by the longest `stop_timeout`), then the workers, and flushes the access log.
    /// Safe to call more than once: the loop threads are joined by the first caller only.
    public func wait() {
        let threads = state.withLock { s -> [OSThread] in let t = s.threads; s.threads = []; return t }
        for t in threads { t.join() }
        acme.stop()
        cgiChildren.killAndReapAll()
        services.stopAll()
        // `flaks serve` is a child subreaper: whatever left a service's process group is ours.
        OrphanReaper.killAllOrphans()
        let first = state.withLock { s -> Bool in let f = !s.stopped; s.stopped = true; return f }
        if first {
            workers.stop()
            accessLog?.stop()
            logger.info("stopped")
        }
    }

    /// Each loop forgets its prepared responses and frees its idle FastCGI read buffers (idle: their
    /// bytes are better given back); waits (bounded, 1 s) until every loop did, so the heap trim
    /// that follows sees them freed.
    func dropPreparedResponses() {
        let loops = state.withLock { $0.loops }
        let left = Locked(loops.count)
        for l in loops {
            l.execute { loop in
                loop.prepared.removeAll()
                loop.fastcgiBuffers.removeAll()
                left.withLock { $0 -= 1 }
            }
        }
        let deadline = monotonicNanos() &+ 1_000_000_000
        while left.withLock({ $0 }) > 0 && monotonicNanos() < deadline { usleep(1000) }
    }

    /// Gives back what only loading used: freed heap (malloc_trim) and the resident clean pages of
    /// the executable and its libraries (MADV_PAGEOUT): YAML parsing, Foundation and start-up code are
    /// not needed to serve, and serving faults back in only the pages it runs. `flaks serve` calls it
    /// after starting and after each reload; it costs a few milliseconds of page faults afterwards.
    /// Returns the resident bytes before and after (0 where /proc is not readable).
    @discardableResult
    public static func releaseLoadingMemory() -> (before: Int, after: Int) {
        let before = cflaks_resident_bytes()
        _ = cflaks_malloc_trim()
        _ = cflaks_release_image_pages()
        return (max(before, 0), max(cflaks_resident_bytes(), 0))
    }

    /// Hits, misses and compressions of the compressed-file cache (the second request of a static
    /// file should cost no compression).
    public var compressedFileStatistics: CompressedFileCache.Statistics { compressedFiles.statistics }

    /// Each `tls: acme` host: names, issuer, expiry, next attempt, failures, last error.
    public func acmeReport() -> [ACMEHostReport] { acme.report() }

    /// Reopens the access log file (SIGUSR1).
    public func reopenLogs() {
        accessLog?.reopen()
        services.reopenLogs()
    }

    /// Where the proxy finds the ready instances of each service (see `ServiceDirectory`).
    public var serviceDirectory: ServiceDirectory { services.directory }

    /// The services and their instances now (what `status` and `metrics` show).
    public var serviceStatus: [ServiceStatus] { services.status }

    /// The loops (empty before `start`); for asking the other loops to let go of idle upstream connections.
    var loops: [EventLoop] { state.withLock { $0.loops } }

    /// Requests finished so far, all loops (the count alone: no snapshot of the per-host tables).
    var finishedRequests: Int {
        state.withLock { $0.loops }.reduce(0) { sum, l in sum + l.metrics.withLock { $0.count } }
    }

    /// Sums the per-loop request counters with the server-wide ones.
    public func metrics() -> MetricsSnapshot {
        var total = LoopMetrics()
        for l in state.withLock({ $0.loops }) { total.add(l.metrics.withLock { $0 }) }
        return MetricsSnapshot(requests: total,
                               openConnections: stats.openConnections.load(ordering: .relaxed),
                               rejectedConnections: stats.rejectedConnections.load(ordering: .relaxed),
                               reloadsSucceeded: stats.reloadsSucceeded.load(ordering: .relaxed),
                               reloadsFailed: stats.reloadsFailed.load(ordering: .relaxed),
                               cgiProcesses: stats.cgiProcesses.load(ordering: .relaxed),
                               generation: currentSite.generation,
                               uptimeSeconds: Double(monotonicNanos() &- startedAt) / 1e9,
                               draining: isDraining,
                               tlsHandshakes: stats.tlsHandshakes.load(ordering: .relaxed),
                               tlsHandshakeFailures: stats.tlsHandshakeFailures,
                               compressedFiles: compressedFiles.statistics, upstreams: upstreamReport(),
                               services: services.status, acme: acme.report())
    }
}
