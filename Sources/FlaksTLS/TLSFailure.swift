/// Why a TLS session failed. The connection is closed (after sending any alert in the output);
/// the server logs `kind` and `reason` at debug level and counts failures by `kind`.
public struct TLSFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// Grouping for metrics (`rawValue` is the label).
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A plain HTTP request on the TLS port (OpenSSL recognises GET/POST/HEAD/PUT/CONNECT).
        case plainHTTP = "plain_http"
        /// A protocol version the policy refuses (TLS 1.1 and older; 1.2 under `min_version: "1.3"`).
        case protocolVersion = "protocol_version"
        /// No cipher suite, group or signature algorithm in common.
        case noSharedCipher = "no_shared_cipher"
        /// ALPN offered, none of it spoken here (RFC 7301 §3.2 no_application_protocol).
        case noApplicationProtocol = "no_application_protocol"
        /// The name's host has no certificate (yet): an ACME host before its first issue.
        case noCertificate = "no_certificate"
        /// The client sent a fatal alert (it refused our certificate, for instance).
        case peerAlert = "peer_alert"
        /// Client side (`TLSClientSession`): the server's certificate did not verify (unknown
        /// issuer, expired, or not for the name asked for).
        case untrustedPeer = "untrusted_peer"
        /// Bytes that are not TLS, or a broken record or message.
        case malformed = "malformed"
        /// An OpenSSL failure not caused by the peer (memory), or the session misused.
        case `internal` = "internal"
    }

    /// The metrics label.
    public var kind: Kind
    /// OpenSSL's reason text ("http request", "unsupported protocol") or ours.
    public var reason: String

    public init(kind: Kind, reason: String) { self.kind = kind; self.reason = reason }

    public var description: String { "\(kind.rawValue): \(reason)" }
}

/// What a completed handshake agreed; the access log's `tls_version`, `tls_cipher` and `sni`.
public struct TLSConnectionInfo: Sendable, Hashable {
    /// `TLSv1.2` or `TLSv1.3`.
    public var version: String
    /// OpenSSL's name: `TLS_AES_128_GCM_SHA256`, `ECDHE-ECDSA-AES128-GCM-SHA256`.
    public var cipher: String
    /// The SNI the client sent, lowercased; nil when it sent none.
    public var serverName: String?
    /// The ALPN protocol chosen; nil when the client offered none (HTTP/1.1 then).
    public var alpn: String?
    /// Manifest index of the host whose certificate was chosen (for the 421 rule).
    public var host: Int
    /// Whether the session was resumed from a ticket (no certificate was sent).
    public var resumed: Bool

    /// RFC 8737: a TLS-ALPN-01 validation handshake. Nothing follows it; close the connection.
    public var isACMEChallenge: Bool { alpn == ALPN.acmeTLS }
}
