import FlaksTLS

/// The executor's record of one ACME certificate (one host): what is served, the CA's ARI
/// window, the failures, and from them the next attempt and the status/metrics line. A value;
/// the executor keeps one per host on its loop and updates it from the machines' outcomes.
public struct ACMECertificateState: Sendable {
    /// The host's names (what the order asks for).
    public var names: [String]
    public var schedule: RenewalSchedule
    /// The certificate being served (nil until the first is issued or loaded).
    public private(set) var current: CertificateInfo?
    /// RFC 9773 certificate ID of `current`, when it has an AKI.
    public private(set) var certificateID: String?
    public private(set) var ari: ARIWindow?
    /// Consecutive failed attempts since the last success.
    public private(set) var failures = 0
    public private(set) var lastFailure: Int64?
    public private(set) var lastError: ACMEError?
    /// The CA's Retry-After from the last failure.
    public private(set) var retryAfter: Int64?
    /// Where in the ARI window this certificate renews, fixed per certificate (from its serial).
    public private(set) var jitter = 0.5
    /// An attempt is under way (set by `attemptStarted`, cleared by its outcome).
    public private(set) var ordering = false
    /// When the last order succeeded (`RenewalSchedule.minimumReorderInterval`).
    public private(set) var lastIssued: Int64?

    public init(names: [String], schedule: RenewalSchedule) { self.names = names; self.schedule = schedule }

    /// Whether `current` covers every name (a reload may have added one: then order at once,
    /// while the current certificate keeps serving the others).
    public var coversNames: Bool {
        guard let current else { return false }
        let have = Set(current.dnsNames.map { $0.lowercased() })
        return names.allSatisfy { have.contains($0.lowercased()) }
    }

    /// A certificate is being served: issued now, or found in storage at start.
    public mutating func serving(_ certificate: ServerCertificate) {
        current = certificate.info
        certificateID = ARIWindow.certificateID(certificate.leaf)
        ari = nil
        var h: UInt64 = 0xcbf29ce484222325   // FNV-1a of the serial: a stable point in the ARI window
        for b in certificate.leaf.serialNumberBytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        jitter = Double(h % 1000) / 1000
    }

    public mutating func attemptStarted() { ordering = true }

    /// An order finished (at `now`): serve it, reset the failures.
    public mutating func issued(_ certificate: ServerCertificate, now: Int64? = nil) {
        serving(certificate)
        if let now { lastIssued = now }
        ordering = false
        failures = 0; lastFailure = nil; lastError = nil; retryAfter = nil
    }

    /// An order failed: count it for the back-off; keep serving `current`.
    public mutating func failed(_ error: ACMEError, now: Int64) {
        ordering = false
        failures += 1
        lastFailure = now
        lastError = error
        retryAfter = error.retryAfter
    }

    /// Another replica holds the lock: look at the storage again in `lockRetryInterval`.
    public mutating func lockBusy(now: Int64) {
        ordering = false
        retryAfter = max(retryAfter ?? 0, now + RenewalSchedule.lockRetryInterval)
    }

    public mutating func renewalInfoReceived(_ window: ARIWindow?) { ari = window }

    /// When to attempt an order (now or later).
    public func nextAttempt(now: Int64) -> Int64 {
        let validity = coversNames ? current.map { ($0.notBefore, $0.notAfter) } : nil
        return schedule.nextAttempt(now: now, validity: validity, ari: ari, jitter: jitter, failures: failures,
                                    lastFailure: lastFailure, retryAfter: retryAfter, lastIssued: lastIssued)
    }

    /// When to ask the CA for the ARI window again (nil: no certificate or no cert ID).
    public var nextRenewalInfoCheck: Int64? {
        guard current != nil, certificateID != nil else { return nil }
        return ari?.nextCheck ?? 0
    }

    /// The status/metrics view.
    public func status(now: Int64) -> ACMECertificateStatus {
        ACMECertificateStatus(names: names, issuer: current?.issuer, notBefore: current?.notBefore, notAfter: current?.notAfter,
                              nextAttempt: nextAttempt(now: now), ordering: ordering, failures: failures,
                              lastError: lastError?.description, ariWindow: ari.map { ($0.start, $0.end) })
    }
}

/// One ACME certificate as `status` and `metrics` show it (config-schema.md: names, issuer,
/// expiry, next renewal). Times are Unix seconds.
public struct ACMECertificateStatus: Sendable, Hashable, CustomStringConvertible {
    public var names: [String]
    /// nil: no certificate yet.
    public var issuer: String?
    public var notBefore: Int64?
    public var notAfter: Int64?
    public var nextAttempt: Int64
    public var ordering: Bool
    public var failures: Int
    /// The last failure, with the CA's problem document.
    public var lastError: String?
    public var ariStart: Int64?
    public var ariEnd: Int64?

    init(names: [String], issuer: String?, notBefore: Int64?, notAfter: Int64?, nextAttempt: Int64, ordering: Bool,
         failures: Int, lastError: String?, ariWindow: (Int64, Int64)?) {
        self.names = names; self.issuer = issuer; self.notBefore = notBefore; self.notAfter = notAfter
        self.nextAttempt = nextAttempt; self.ordering = ordering; self.failures = failures; self.lastError = lastError
        ariStart = ariWindow?.0; ariEnd = ariWindow?.1
    }

    /// `acme names=a.test,www.a.test issuer="CN=…" not_after=… next_attempt=… failures=0`.
    public var description: String {
        var s = "acme names=\(names.joined(separator: ","))"
        s += " issuer=\"\(issuer ?? "none")\""
        if let notAfter { s += " not_after=\(UnixTime.iso8601(notAfter))" }
        s += " next_attempt=\(UnixTime.iso8601(nextAttempt)) ordering=\(ordering) failures=\(failures)"
        if let lastError { s += " last_error=\"\(lastError)\"" }
        return s
    }
}
