import FlaksTLS

/// What a machine event returns: side effects to perform at once, in order, then the one thing
/// the machine waits for.
public struct ACMEStep: Sendable {
    public var effects: [ACMEEffect]
    public var next: ACMENext
    public init(effects: [ACMEEffect] = [], next: ACMENext) { self.effects = effects; self.next = next }
}

/// A side effect the executor performs immediately (no reply to the machine).
public enum ACMEEffect: Sendable {
    /// HTTP-01 (RFC 8555 §8.3): answer `GET /.well-known/acme-challenge/TOKEN` on the plain
    /// listeners with 200, `Content-Type: application/octet-stream`, body `keyAuthorization`
    /// (`ACMEChallengeResponder.publish`).
    case serveHTTP01(token: String, keyAuthorization: String)
    /// Stop answering that token.
    case withdrawHTTP01(token: String)
    /// TLS-ALPN-01 (RFC 8737): `CertificateStore.setChallengeCertificate(certificate, forName: name)`
    /// on every TLS context that serves `name`.
    case serveTLSALPN01(name: String, certificate: ServerCertificate)
    /// `setChallengeCertificate(nil, forName: name)`.
    case withdrawTLSALPN01(name: String)
    /// The account's URL is known (found or created): `ACMEStorage.saveAccountURL` (on a worker).
    case accountReady(url: String)
}

/// What the machine waits for next.
public enum ACMENext: Sendable {
    /// Send this request; then call `received(_:now:)`, or `transportFailed(_:now:)`.
    case send(ACMEHTTPRequest)
    /// Run `job.run(now:)` on a worker; then call `cryptoFinished(_:now:)`.
    case run(ACMECryptoJob)
    /// Call `timerFired(now:)` at this Unix time (a poll interval or Retry-After).
    case sleep(until: Int64)
    /// Done: store the chain and key, serve the certificate (`CertificateStore.replace`).
    case finished(ACMEIssuedCertificate)
    /// The attempt failed; the effects of this step withdrew any challenge responses. Log it,
    /// record it in the renewal state, keep serving the current certificate.
    case failed(ACMEError)
}

/// A certificate issued by the CA, checked against the order's key and names.
public struct ACMEIssuedCertificate: Sendable {
    /// Ready to serve (`CertificateStore.replace(host:with:)`).
    public var certificate: ServerCertificate
    /// The chain as the CA sent it (leaf first): write to `chain.pem`.
    public var chainPEM: String
    /// The certificate's new private key (PKCS#8): write to `key.pem` (0600).
    public var keyPEM: String
    public var names: [String]
    public var accountURL: String
    public var orderURL: String
}
