/// The top-level `tls` section: applies to every TLS listener (`server.tls_listen`), and the
/// account settings for hosts with `tls: acme` (config-schema.md, "tls" and "Automatic
/// certificates (ACME)").
public struct TLSSettings: Sendable, Equatable {
    /// `min_version`: older protocol versions are refused (TLS 1.1 and older always are).
    public enum Version: String, Sendable, Hashable, CaseIterable {
        case tls12 = "1.2"
        case tls13 = "1.3"
    }

    /// Default `.tls12`.
    public var minVersion: Version
    /// `redirect_http`: a plain-HTTP request for a host that has `tls` gets a 308 to https.
    /// Default false.
    public var redirectHTTP: Bool
    /// `hsts`: above zero, `Strict-Transport-Security: max-age=<seconds>` on every TLS response
    /// (whole seconds). Default zero = not sent.
    public var hsts: Duration
    /// `acme`: the CA account; nil when the manifest has no `tls.acme` block (then no host has
    /// `tls: acme`: the loader refuses that without `tls.acme.storage`).
    public var acme: ACMESettings?

    public init(minVersion: Version = .tls12, redirectHTTP: Bool = false, hsts: Duration = .zero,
                acme: ACMESettings? = nil) {
        self.minVersion = minVersion; self.redirectHTTP = redirectHTTP; self.hsts = hsts; self.acme = acme
    }
}

/// `tls.acme`: how certificates are ordered for hosts with `tls: acme` (RFC 8555).
public struct ACMESettings: Sendable, Equatable {
    /// A challenge type Flaks can answer.
    public enum Challenge: String, Sendable, Hashable, CaseIterable {
        /// RFC 8555 §8.3, on the plain listeners at `/.well-known/acme-challenge/TOKEN`.
        case http01 = "http-01"
        /// RFC 8737, on the TLS listeners (ALPN `acme-tls/1`).
        case tlsALPN01 = "tls-alpn-01"
    }

    /// Let's Encrypt's production directory, the default `directory`.
    public static let letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

    /// `email`: the account contact (sent as `mailto:`); nil (default) = none.
    public var email: String?
    /// `directory`: the CA's directory URL, https. Default `letsEncrypt`.
    public var directory: String
    /// `ca_roots`: absolute path of a PEM file of extra roots for reaching the CA (a private CA,
    /// pebble); nil (default) = the system's roots only. Read by the runtime.
    public var caRoots: String?
    /// `storage`: absolute directory for the account key, certificates and keys. Required when a
    /// host has `tls: acme` (the loader checks); nil otherwise when not given.
    public var storage: String?
    /// `challenges`: the types answered, in manifest order, each once, never empty.
    /// Default `[.http01, .tlsALPN01]`.
    public var challenges: [Challenge]
    /// `renew_before`: renew when the certificate expires within this. Default 30 days.
    public var renewBefore: Duration

    public init(email: String? = nil, directory: String = ACMESettings.letsEncrypt, caRoots: String? = nil,
                storage: String? = nil, challenges: [Challenge] = [.http01, .tlsALPN01],
                renewBefore: Duration = .seconds(30 * 86_400)) {
        self.email = email; self.directory = directory; self.caRoots = caRoots; self.storage = storage
        self.challenges = challenges; self.renewBefore = renewBefore
    }
}

/// A host's `tls`: its certificate for the TLS listeners (chosen by SNI).
public enum HostTLS: Sendable, Hashable {
    /// `tls: {cert, key}`: absolute paths of the PEM chain and key, read (and checked to match)
    /// by the runtime at start and on every reload.
    case files(cert: String, key: String)
    /// `tls: acme`: ordered and renewed from `tls.acme` for the host's exact names.
    case acme
}
