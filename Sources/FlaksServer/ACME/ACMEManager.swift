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
/// One thread (`flaks-acme`, started when the first ACME host appears) does all of it, one host
/// at a time: it sleeps until the earliest moment some host is due (`ACMECertificateState`:
/// `renew_before`, the CA's ARI window, back-off after failures, Retry-After), at least once a
/// day, or until woken (a reload, the server stopping). A due host is first looked up in
/// `storage` (another replica may have renewed it); if still due, the storage lock is taken and
/// an `ACMEOrderMachine` is driven with blocking HTTPS (`ACMEHTTPSClient`) and inline crypto. The
/// loops never wait for any of it; they only read what it installs:
/// - HTTP-01 answers in `responder` (the plain listeners ask it before routing);
/// - TLS-ALPN-01 certificates and issued certificates in the current site's `CertificateStore`,
///   which takes effect for the next handshake. A reload builds a new store; `siteChanged` puts
///   the current certificates and published challenges into it.
///
/// Failures never stop anything: they are logged with the CA's problem document, counted, shown
/// in `status` and `metrics`, and retried with back-off; the certificate being served stays.
final class ACMEManager: @unchecked Sendable {
    // Everything in `state` is protected by `lock` (a mutex with the condition the ACME thread
    // sleeps on). Certificates and challenges are installed into a `CertificateStore` while
    // holding it, so that a reload's `siteChanged` and the thread's installs are ordered: the
    // store's own locks are leaves (one assignment each), so this nesting cannot deadlock.
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
        var thread: OSThread?
        var stopping = false
        var woken = false
        /// Directories that have no renewalInfo (no ARI checks against them).
        var withoutARI: Set<String> = []
        var limits = ACMELimits()
        /// Per request to the CA, seconds.
        var requestTimeout: Int64 = 30
    }

    /// How often the thread looks at the hosts even when nothing is due (a changed clock, a
    /// replica that renewed into the shared storage).
    static let maxSleep: Int64 = 86_400

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
    /// put our certificates and published TLS-ALPN-01 answers into its store. Starts the thread
    /// when the first ACME host appears; wakes it.
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
            if s.thread == nil, !s.hosts.isEmpty, !s.stopping {
                // Started under the lock (its first act is to take it), so that `stop` sees it.
                s.thread = OSThread.start(name: "flaks-acme") { [self] in run() }
            }
            s.woken = true
        }
        for key in removed { logger.info("acme: \(key) is no longer an ACME host: its renewals stop") }
        lock.broadcast()
    }

    /// Stops the thread: an order in progress ends at its next step or poll slice (its challenge
    /// answers withdrawn, its storage lock released). `join`: wait for the thread.
    func stop(join: Bool) {
        let thread = withLock { s -> OSThread? in
            s.stopping = true
            s.woken = true
            let t = s.thread
            if join { s.thread = nil }
            return t
        }
        lock.broadcast()
        if join { thread?.join() }
    }

    /// Looks at the hosts now (tests call it after moving the clock).
    func wake() {
        withLock { $0.woken = true }
        lock.broadcast()
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

    // MARK: The thread

    /// What the thread does next.
    private enum Work {
        case order(Host, ACMESettings, ACMELimits, Int64)
        case renewalInfo(key: String, certificateID: String, ACMESettings, timeout: Int64)
    }

    private func run() {
        while true {
            lock.lock()
            var work: Work?
            while work == nil && !state.stopping {
                state.woken = false
                let now = clock.now()
                var wakeAt = now + Self.maxSleep
                if let settings = state.settings, settings.storage != nil {
                    for key in state.hosts.keys.sorted() {
                        guard let h = state.hosts[key] else { continue }
                        let due = h.state.nextAttempt(now: now)
                        if due <= now {
                            work = .order(h, settings, state.limits, state.requestTimeout)
                            break
                        }
                        wakeAt = min(wakeAt, due)
                        // ARI only for a certificate whose orders are not failing (the retry
                        // comes anyway, and a CA that is down fails both).
                        if let ari = h.nextARICheck, let id = h.state.certificateID, h.state.failures == 0,
                           !state.withoutARI.contains(settings.directory) {
                            if ari <= now {
                                work = .renewalInfo(key: key, certificateID: id, settings, timeout: state.requestTimeout)
                                break
                            }
                            wakeAt = min(wakeAt, ari)
                        }
                    }
                }
                if work != nil || state.woken { continue }
                var deadline = timespec()
                clock_gettime(CLOCK_REALTIME, &deadline)
                deadline.tv_sec += Int(max(wakeAt - now, 1))
                while !state.woken && !state.stopping {
                    var probe = timespec()
                    clock_gettime(CLOCK_REALTIME, &probe)
                    if probe.tv_sec > deadline.tv_sec || (probe.tv_sec == deadline.tv_sec && probe.tv_nsec >= deadline.tv_nsec) { break }
                    lock.timedWait(&deadline)
                }
            }
            let stopping = state.stopping
            lock.unlock()
            guard !stopping, let work else { return }
            switch work {
            case .order(let host, let settings, let limits, let timeout):
                attempt(host, settings: settings, limits: limits, timeout: timeout)
            case .renewalInfo(let key, let id, let settings, let timeout):
                checkRenewalInfo(key: key, certificateID: id, settings: settings, timeout: timeout)
            }
        }
    }

    /// Whether the thread should go on working for `key` (not stopping, the host still there).
    func shouldContinue(_ key: String) -> Bool {
        withLock { !$0.stopping && $0.hosts[key] != nil }
    }

    /// Sleeps `seconds` of real time, or less when stopped or the host removed.
    func pause(seconds: Int64, key: String) {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += Int(max(seconds, 0))
        lock.lock()
        defer { lock.unlock() }
        while !state.stopping && state.hosts[key] != nil {
            var probe = timespec()
            clock_gettime(CLOCK_REALTIME, &probe)
            if probe.tv_sec > deadline.tv_sec || (probe.tv_sec == deadline.tv_sec && probe.tv_nsec >= deadline.tv_nsec) { return }
            lock.timedWait(&deadline)
        }
    }

    // MARK: Installing (ACME thread)

    /// Records and serves `certificate` for `key` (into the current store, at once).
    func install(_ certificate: ServerCertificate, key: String, issued: Bool) {
        let now = clock.now()
        let site = currentSite()
        withLock { s in
            guard var h = s.hosts[key] else { return }
            h.certificate = certificate
            if issued {
                h.state.issued(certificate)
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
