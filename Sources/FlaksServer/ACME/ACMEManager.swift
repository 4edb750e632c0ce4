#if canImport(Glibc)
import Glibc
#endif
import FlaksACME
import FlaksConfig
import FlaksTLS
import Logging

/// The ACME executor: gets and renews the certificates of the hosts with `tls: acme`
/// (config-schema.md "Automatic certificates (ACME)", docs/acme.md "The executor").
///
/// It lives on the first loop and never blocks it. A loop timer wakes it at the earliest moment
/// some host is due (`ACMECertificateState`: `renew_before`, the CA's ARI window, back-off after
/// failures, Retry-After), at least once a day, and `wake`, a reload or `stop` post to the loop.
/// One host is worked on at a time: on a worker, the host is looked up in `storage` (another
/// replica may have renewed it), the storage lock taken, the account key read and the roots
/// loaded; then an `ACMEOrderRun` drives the `ACMEOrderMachine` on the loop, its HTTPS requests
/// on the loop's upstream connections (`ACMECARequest`), its crypto on workers; the certificate is
/// stored on a worker. The loops' request handling only reads what it installs:
/// - HTTP-01 answers in `responder` (the plain listeners ask it before routing);
/// - TLS-ALPN-01 certificates and issued certificates in the current site's `CertificateStore`,
///   which takes effect for the next handshake. A reload builds a new store; `siteChanged` puts
///   the current certificates and published challenges into it.
///
/// Failures never stop anything: they are logged with the CA's problem document, counted, shown
/// in `status` and `metrics`, and retried with back-off; the certificate being served stays.
final class ACMEManager: @unchecked Sendable {
    // Everything in `state` is protected by `lock`. Certificates and challenges are installed into
    // a `CertificateStore` while holding it, so that a reload's `siteChanged` and the executor's
    // installs (from a worker or the loop) are ordered: the store's own locks are leaves (one
    // assignment each), so this nesting cannot deadlock.
    private let lock = ConditionLock()
    private var state = State()

    /// HTTP-01 answers, shared by every plain listener (RFC 8555 §8.3).
    let responder = ACMEChallengeResponder()
    let clock: any WallClock
    let logger: Logger
    /// The server's current site (nil once the server is gone).
    let currentSite: @Sendable () -> Site?

    /// One `tls: acme` host, keyed by its first name lowercased (its storage name).
    struct Host {
        var key: String
        var names: [String]
        var state: ACMECertificateState
        /// What is served (and installed in every new store).
        var certificate: ServerCertificate?
        /// When to ask the CA for the ARI window (RFC 9773); nil: not planned.
        var nextARICheck: Int64?
        /// Orders that ended with a certificate, and that failed, since the server started.
        var issuedCount = 0
        var failedCount = 0
    }

    struct State {
        var settings: ACMESettings?
        var hosts: [String: Host] = [:]
        /// TLS-ALPN-01 certificates published, by name (put into every new store).
        var challenges: [String: ServerCertificate] = [:]
        /// The loop the executor runs on and the workers it uses (set by `attach` at start).
        var loop: EventLoop?
        var workers: WorkerPool?
        var stopping = false
        /// Directories that have no renewalInfo (no ARI checks against them).
        var withoutARI: Set<String> = []
        var limits = ACMELimits()
        /// Per request to the CA, seconds.
        var requestTimeout: Int64 = 30
    }

    /// How often the executor looks at the hosts even when nothing is due (a changed clock, a
    /// replica that renewed into the shared storage).
    static let maxSleep: Int64 = 86_400

    // Loop-confined (the attached loop): the work in progress and the wake-up timer.
    private var inFlight: InFlight?
    private lazy var timer = ACMEWakeTimer(manager: self)

    init(clock: any WallClock, logger: Logger, currentSite: @escaping @Sendable () -> Site?) {
        self.clock = clock
        self.logger = logger
        self.currentSite = currentSite
    }

    private func withLock<T>(_ body: (inout State) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&state)
    }

    /// Order limits (tests shorten the poll interval). Applies to the next order.
    func setLimits(_ limits: ACMELimits, requestTimeout: Int64? = nil) {
        withLock { s in
            s.limits = limits
            if let requestTimeout { s.requestTimeout = requestTimeout }
        }
    }

    // MARK: Site changes

    /// A site was installed (start or reload): take its ACME hosts (new ones ordered when due,
    /// removed ones dropped, names updated: a grown host no longer covered is due now), the
    /// certificates `SiteTLS.build` found in storage (the newer of those and ours is served), and
    /// put our certificates and published TLS-ALPN-01 answers into its store. Wakes the executor
    /// (a removed host's order in progress ends).
    func siteChanged(_ site: Site) {
        let config = site.config
        var wanted: [(key: String, names: [String], index: Int)] = []
        for (i, h) in config.hosts.enumerated() where h.tls == .acme {
            guard let first = h.names.first else { continue }
            wanted.append((Self.key(first), h.names, i))
        }
        let now = clock.now()
        var removed: [String] = []
        withLock { s in
            s.settings = config.tls.acme
            let schedule = RenewalSchedule(renewBefore: config.tls.acme.map { Int64($0.renewBefore.components.seconds) } ?? 30 * 86_400)
            var next: [String: Host] = [:]
            for w in wanted {
                var h = s.hosts[w.key] ?? Host(key: w.key, names: w.names, state: ACMECertificateState(names: w.names, schedule: schedule))
                h.names = w.names
                h.state.names = w.names
                h.state.schedule = schedule
                let store = site.tls?.store
                let loaded = store?.certificate(host: w.index)
                if let loaded, Self.isNewer(loaded, than: h.certificate) {
                    h.certificate = loaded
                    h.state.serving(loaded)
                    h.nextARICheck = now
                } else if let mine = h.certificate, loaded !== mine {
                    store?.replace(host: w.index, with: mine)
                }
                next[w.key] = h
            }
            removed = s.hosts.keys.filter { next[$0] == nil }.sorted()
            s.hosts = next
            if let store = site.tls?.store {
                for (name, cert) in s.challenges { store.setChallengeCertificate(cert, forName: name) }
            }
        }
        for key in removed { logger.info("acme: \(key) is no longer an ACME host: its renewals stop") }
        wake()
    }

    /// Runs the executor on `loop` with `workers` (the server's first loop, at start).
    func attach(loop: EventLoop, workers: WorkerPool) {
        withLock { s in
            s.loop = loop
            s.workers = workers
        }
    }

    /// Stops the executor: an order in progress ends at once (its request closed, its challenge
    /// answers withdrawn, its storage lock released); nothing new starts.
    func stop() {
        let loop = withLock { s -> EventLoop? in
            s.stopping = true
            return s.loop
        }
        loop?.execute { [self] loop in
            loop.removeTimer(timer)
            inFlight?.cancel()
        }
    }

    /// Looks at the hosts now, on the loop (tests call it after moving the clock; a reload does).
    func wake() {
        guard let loop = withLock({ $0.loop }) else { return }
        loop.execute { [self] _ in evaluate() }
    }

    /// The storage name of a host: its first name, lowercased.
    static func key(_ firstName: String) -> String { firstName.lowercased() }

    /// Whether `a` should replace `b`: there is no `b`, or `a` expires later.
    static func isNewer(_ a: ServerCertificate, than b: ServerCertificate?) -> Bool {
        guard let b else { return true }
        return a.info.notAfter > b.info.notAfter
    }

    // MARK: Status

    /// Every ACME host's certificate and schedule, by first name.
    func report() -> [ACMEHostReport] {
        let now = clock.now()
        return withLock { s in
            s.hosts.values.sorted { $0.key < $1.key }.map {
                ACMEHostReport(host: $0.key, status: $0.state.status(now: now), issued: $0.issuedCount, failed: $0.failedCount)
            }
        }
    }

    // MARK: Scheduling (on the loop)

    /// What the executor does next.
    enum Work {
        case order(Host, ACMESettings, ACMELimits, Int64)
        case renewalInfo(key: String, certificateID: String, ACMESettings, timeout: Int64)
    }

    /// The work in progress: its key (a reload that removes the host cancels it) and how to end it.
    final class InFlight: @unchecked Sendable {   // loop-confined
        let key: String
        var cancel: () -> Void = {}
        init(key: String) { self.key = key }
    }

    /// On the loop: unless something is in progress, starts the first due work, or sets the timer
    /// for the earliest moment something is due. A removed host's work in progress is cancelled.
    func evaluate() {
        if let current = inFlight {
            if !shouldContinue(current.key) { current.cancel() }
            return
        }
        let now = clock.now()
        let (work, wakeAt, loop, workers) = withLock { s -> (Work?, Int64, EventLoop?, WorkerPool?) in
            var wakeAt = now + Self.maxSleep
            guard !s.stopping else { return (nil, wakeAt, nil, nil) }
            if let settings = s.settings, settings.storage != nil {
                for key in s.hosts.keys.sorted() {
                    guard let h = s.hosts[key] else { continue }
                    let due = h.state.nextAttempt(now: now)
                    if due <= now { return (.order(h, settings, s.limits, s.requestTimeout), wakeAt, s.loop, s.workers) }
                    wakeAt = min(wakeAt, due)
                    // ARI only for a certificate whose orders are not failing (the retry comes
                    // anyway, and a CA that is down fails both).
                    if let ari = h.nextARICheck, let id = h.state.certificateID, h.state.failures == 0,
                       !s.withoutARI.contains(settings.directory) {
                        if ari <= now {
                            return (.renewalInfo(key: key, certificateID: id, settings, timeout: s.requestTimeout), wakeAt, s.loop, s.workers)
                        }
                        wakeAt = min(wakeAt, ari)
                    }
                }
            }
            return (nil, wakeAt, s.loop, s.workers)
        }
        guard let loop, let workers else { return }
        guard let work else {
            if !withLock({ $0.hosts.isEmpty }) {
                loop.schedule(timer, at: loop.now &+ UInt64(max(wakeAt - now, 1)) * 1_000_000_000)
            } else {
                loop.removeTimer(timer)
            }
            return
        }
        loop.removeTimer(timer)
        let key: String
        switch work {
        case .order(let h, _, _, _): key = h.key
        case .renewalInfo(let k, _, _, _): key = k
        }
        let current = InFlight(key: key)
        inFlight = current
        let done: @Sendable () -> Void = { [self] in
            loop.execute { [self] _ in
                if inFlight === current { inFlight = nil }
                evaluate()
            }
        }
        switch work {
        case .order(let host, let settings, let limits, let timeout):
            attempt(host, settings: settings, limits: limits, timeout: timeout, loop: loop, workers: workers, inFlight: current, done: done)
        case .renewalInfo(let key, let id, let settings, let timeout):
            checkRenewalInfo(key: key, certificateID: id, settings: settings, timeout: timeout, loop: loop, workers: workers,
                             inFlight: current, done: done)
        }
    }

    /// Whether work for `key` should go on (not stopping, the host still there).
    func shouldContinue(_ key: String) -> Bool {
        withLock { !$0.stopping && $0.hosts[key] != nil }
    }

    // MARK: Installing (a worker or the loop)

    /// Records and serves `certificate` for `key` (into the current store, at once).
    func install(_ certificate: ServerCertificate, key: String, issued: Bool) {
        let now = clock.now()
        let site = currentSite()
        withLock { s in
            guard var h = s.hosts[key] else { return }
            h.certificate = certificate
            if issued {
                h.state.issued(certificate, now: now)
                h.issuedCount += 1
            } else {
                h.state.serving(certificate)
            }
            h.nextARICheck = now
            s.hosts[key] = h
            if let site, let index = Self.hostIndex(key, in: site.config) {
                site.tls?.store.replace(host: index, with: certificate)
            }
        }
    }

    /// Index of the ACME host `key` in `config`.
    static func hostIndex(_ key: String, in config: ServerConfig) -> Int? {
        config.hosts.firstIndex { $0.tls == .acme && $0.names.first.map(Self.key) == key }
    }

    /// Publishes (or, with nil, withdraws) a TLS-ALPN-01 certificate on the current store.
    func setChallenge(_ certificate: ServerCertificate?, name: String) {
        let site = currentSite()
        withLock { s in
            s.challenges[name] = certificate
            site?.tls?.store.setChallengeCertificate(certificate, forName: name)
        }
    }

    /// Updates one host's record (if it is still there).
    func update(_ key: String, _ body: (inout Host) -> Void) {
        _ = withState(key, body)
    }

    /// Runs `body` on one host's record under the lock; nil when the host is gone.
    func withState<T>(_ key: String, _ body: (inout Host) -> T) -> T? {
        withLock { s in
            guard var h = s.hosts[key] else { return nil }
            let r = body(&h)
            s.hosts[key] = h
            return r
        }
    }

    /// TLS-ALPN-01 certificates published now.
    var challengeCount: Int { withLock { $0.challenges.count } }

    func markWithoutARI(_ directory: String) {
        withLock { _ = $0.withoutARI.insert(directory) }
    }
}

/// One ACME host as `status` and `metrics` show it.
public struct ACMEHostReport: Sendable {
    /// The host's first name (its storage name).
    public var host: String
    public var status: ACMECertificateStatus
    /// Orders that ended with a certificate, and that failed, since the server started.
    public var issued: Int
    public var failed: Int
}

/// The executor's wake-up: a loop timer at the earliest moment some host is due.
final class ACMEWakeTimer: TimerTarget {
    unowned let manager: ACMEManager
    var timerSlot = TimerSlot()
    init(manager: ACMEManager) { self.manager = manager }
    func timerFired(now: UInt64) { manager.evaluate() }
}
