/// When to order next: a pure function of the certificate's validity, `renew_before`, the CA's
/// ARI window and the failures so far (config-schema.md "Automatic certificates"). The caller
/// passes `now`; nothing here reads a clock.
public struct RenewalSchedule: Sendable, Hashable {
    /// `tls.acme.renew_before`, seconds (default 30 days).
    public var renewBefore: Int64

    /// Back-off after the first failure: 1 minute, doubling per failure, at most 1 hour.
    public static let firstBackoff: Int64 = 60
    public static let maxBackoff: Int64 = 3600
    /// How soon a replica that found the lock taken looks at the storage again.
    public static let lockRetryInterval: Int64 = 60
    /// The least time between two orders for the same names after one succeeded: a clock running
    /// ahead of the CA's (or a CA issuing certificates that are due at once) would otherwise order
    /// back to back, into the CA's rate limits (Let's Encrypt: 5 identical certificates a week).
    public static let minimumReorderInterval: Int64 = 600

    public init(renewBefore: Int64 = 30 * 86400) { self.renewBefore = renewBefore }

    /// 60, 120, 240, …, 3600 seconds for 1, 2, 3, … failures; 0 for none.
    public static func backoff(failures: Int) -> Int64 {
        guard failures > 0 else { return 0 }
        let shift = min(failures - 1, 10)
        return min(firstBackoff << Int64(shift), maxBackoff)
    }

    /// When a certificate valid from `notBefore` to `notAfter` becomes due: `renew_before` ahead
    /// of expiry (but never later than two thirds into its life, so a short-lived certificate is
    /// not due the moment it is issued: `renew_before` is capped at a third of the lifetime), or
    /// earlier when the CA's ARI window says so (RFC 9773 §4.2: a point in the window, chosen by
    /// `jitter` in [0, 1), so that many certificates do not renew at the same second).
    public func dueTime(notBefore: Int64, notAfter: Int64, ari: ARIWindow? = nil, jitter: Double = 0.5) -> Int64 {
        let lifetime = max(notAfter - notBefore, 0)
        let before = min(max(renewBefore, 0), lifetime / 3)
        var due = notAfter - before
        if let ari {
            let j = jitter.isFinite ? min(max(jitter, 0), 0.999) : 0.5
            let point = ari.start + Int64(Double(ari.end - ari.start) * j)
            due = min(due, point)
        }
        return due
    }

    /// The next attempt: when due (now if there is no usable certificate), but not before the
    /// back-off after the last failure, not before the CA's Retry-After (which wins when later), and,
    /// for a usable certificate, not within `minimumReorderInterval` of the last order that succeeded.
    public func nextAttempt(now: Int64, validity: (notBefore: Int64, notAfter: Int64)?, ari: ARIWindow? = nil,
                            jitter: Double = 0.5, failures: Int = 0, lastFailure: Int64? = nil, retryAfter: Int64? = nil,
                            lastIssued: Int64? = nil) -> Int64 {
        var t = validity.map { dueTime(notBefore: $0.notBefore, notAfter: $0.notAfter, ari: ari, jitter: jitter) } ?? now
        if validity != nil, let lastIssued { t = max(t, lastIssued + Self.minimumReorderInterval) }
        if failures > 0, let lastFailure { t = max(t, lastFailure + Self.backoff(failures: failures)) }
        if let retryAfter { t = max(t, retryAfter) }
        return max(t, now)
    }
}
