/// The protocol policy of every TLS listener (the manifest's `tls:` block plus fixed choices).
///
/// Fixed, following Mozilla's "intermediate" server-side TLS configuration without DHE:
/// TLS 1.2 and 1.3 only; AEAD ciphers only (AES-GCM, ChaCha20-Poly1305); forward secrecy by
/// ECDHE only (X25519, P-256, P-384); no compression, no renegotiation; 0-RTT early data off
/// (RFC 8446 §2.3, config-schema.md); session resumption by tickets only.
public struct TLSPolicy: Sendable, Hashable {
    /// `tls.min_version`.
    public enum Version: String, Sendable, Hashable, CaseIterable {
        case tls12 = "1.2"
        case tls13 = "1.3"
    }

    /// `tls.min_version` (default "1.2"). "1.3" refuses TLS 1.2 clients.
    public var minVersion: Version
    /// ALPN protocols the server speaks, preferred first (RFC 7301 §3.2: the server chooses).
    /// Default `["http/1.1"]`; put `"h2"` first once HTTP/2 exists. `acme-tls/1` is not listed
    /// here: it is answered only for names with a challenge certificate.
    public var alpn: [String]
    /// TLS 1.3 NewSessionTicket messages sent after each full handshake (default 2, OpenSSL's:
    /// a browser opening parallel connections can resume each).
    public var ticketsPerHandshake: Int
    /// Ciphertext a session buffers before `feed` takes no more (default 34 KiB: two full
    /// records, so one record can be decrypted while the next arrives).
    public var maxBufferedInput: Int
    /// Ciphertext a session buffers before `writePlaintext` takes no more (default 64 KiB, four
    /// full records); the caller drains it with `takeOutput`.
    public var maxBufferedOutput: Int

    public init(minVersion: Version = .tls12, alpn: [String] = [ALPN.http11], ticketsPerHandshake: Int = 2,
                maxBufferedInput: Int = 2 * TLSPolicy.maxRecordSize, maxBufferedOutput: Int = 64 * 1024) {
        self.minVersion = minVersion
        self.alpn = alpn
        self.ticketsPerHandshake = ticketsPerHandshake
        self.maxBufferedInput = maxBufferedInput
        self.maxBufferedOutput = maxBufferedOutput
    }

    /// TLS 1.3 suites (RFC 8446 §9.1 plus ChaCha20 for clients without AES hardware).
    public static let tls13Ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    /// TLS 1.2 suites: ECDHE key exchange, ECDSA or RSA certificates, AEAD only (RFC 7525 §4.2).
    public static let tls12Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        + "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        + "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    /// Key exchange groups, preferred first.
    public static let groups = "X25519:P-256:P-384"
    /// The largest TLS record on the wire: 2^14 plaintext + 256 expansion allowance + 5 header
    /// (RFC 8446 §5.2 allows TLS 1.3 ciphertext up to 2^14 + 256).
    public static let maxRecordSize = 16384 + 256 + 5
}

/// ALPN protocol ids (IANA "TLS Application-Layer Protocol Negotiation (ALPN) Protocol IDs").
public enum ALPN {
    public static let http11 = "http/1.1"
    public static let h2 = "h2"
    /// RFC 8737 §6.2.
    public static let acmeTLS = "acme-tls/1"
}
