/// The challenge types Flaks answers (config-schema.md `tls.acme.challenges`).
public enum ACMEChallengeType: String, Sendable, Hashable, CaseIterable {
    /// RFC 8555 §8.3: a token served at `/.well-known/acme-challenge/TOKEN` on port 80.
    case http01 = "http-01"
    /// RFC 8737: a self-signed certificate served on port 443 to ALPN `acme-tls/1`.
    case tlsALPN01 = "tls-alpn-01"
}

/// Bounds on one order: how often the machine retries, polls and waits.
public struct ACMELimits: Sendable, Hashable {
    /// badNonce answers (RFC 8555 §6.5) retried per request, each with the fresh nonce. Default 5.
    public var maxBadNonceRetries: Int = 5
    /// Polls of one authorization, and of the order, before the attempt fails. Default 30.
    public var maxPolls: Int = 30
    /// Seconds between polls when the CA sends no Retry-After. Default 2.
    public var pollInterval: Int64 = 2
    /// A Retry-After further ahead than this (seconds) while polling ends the attempt instead of
    /// waiting in it; the failure carries the time, which the renewal schedule honours. Default 600.
    public var maxPollDelay: Int64 = 600
    /// Largest response body (bytes) the executor reads and the machine accepts. Default 1 MiB.
    public var maxResponseBody: Int = 1 << 20
    /// Most authorizations one order may list (Let's Encrypt allows 100 names). Default 100.
    public var maxAuthorizations: Int = 100
    /// finalize requests per order (a CA answering `ready` again is retried this often). Default 3.
    public var maxFinalizeAttempts: Int = 3

    public init() {}
}

/// What one order is for: the CA, the host's names and the challenge types allowed.
public struct ACMEOrderConfiguration: Sendable, Hashable {
    /// The CA's directory URL (`tls.acme.directory`). https; http is accepted for tests only
    /// when `allowPlainHTTP` is set.
    public var directoryURL: String
    /// The host's exact names (manifest order); the first is the certificate's CN.
    public var names: [String]
    /// `tls.acme.email`: sent as `mailto:` contact when the account is created.
    public var contactEmail: String?
    /// `tls.acme.challenges`; http-01 is preferred when both are allowed and offered.
    public var challenges: [ACMEChallengeType]
    /// RFC 9773 §5: the ARI certificate ID of the certificate this order replaces; sent in the
    /// newOrder request when the directory has `renewalInfo`.
    public var replaces: String?
    public var limits: ACMELimits
    /// RFC 8555 §6.1: clients must send a User-Agent.
    public var userAgent: String
    /// Accept http:// URLs (a test CA without TLS). Never from the manifest.
    public var allowPlainHTTP: Bool

    public init(directoryURL: String, names: [String], contactEmail: String? = nil,
                challenges: [ACMEChallengeType] = [.http01, .tlsALPN01], replaces: String? = nil,
                limits: ACMELimits = ACMELimits(), userAgent: String = "flaks-acme/1", allowPlainHTTP: Bool = false) {
        self.directoryURL = directoryURL; self.names = names; self.contactEmail = contactEmail
        self.challenges = challenges; self.replaces = replaces; self.limits = limits
        self.userAgent = userAgent; self.allowPlainHTTP = allowPlainHTTP
    }

    /// The names lowercased and de-duplicated, or why they cannot be ordered: a wildcard needs
    /// DNS-01 (config-schema.md), IP identifiers (RFC 8738) are not supported, and a name must
    /// be a DNS name of letters, digits, `-` and `.` (IDNs in their A-label form).
    public static func checkedNames(_ names: [String]) -> Result<[String], ACMEError> {
        var out: [String] = []
        func bad(_ why: String) -> Result<[String], ACMEError> {
            .failure(ACMEError(stage: .configuration, reason: .configuration(why)))
        }
        guard !names.isEmpty else { return bad("no names to order") }
        guard names.count <= 100 else { return bad("more than 100 names in one certificate") }
        for raw in names {
            let n = raw.lowercased()
            if n.contains("*") { return bad("\(raw): a wildcard name needs the DNS-01 challenge, which Flaks does not answer") }
            let labels = n.split(separator: ".", omittingEmptySubsequences: false)
            guard !n.isEmpty, n.utf8.count <= 253, labels.count >= 2,
                  labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 && !$0.hasPrefix("-") && !$0.hasSuffix("-")
                      && $0.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D } })
            else { return bad("\(raw): not a DNS name an ACME CA can validate") }
            if labels.allSatisfy({ $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }) {
                return bad("\(raw): IP address identifiers are not supported")
            }
            if !out.contains(n) { out.append(n) }
        }
        return .success(out)
    }

    /// The challenge types to try, in preference order: http-01 first (RFC 8555 §8.3 needs only
    /// the plain listener), then tls-alpn-01.
    var preference: [ACMEChallengeType] { ACMEChallengeType.allCases.filter { challenges.contains($0) } }
}
