import FlaksTLS

/// A JWS request to sign (RFC 8555 §6.2): the account key, the request URL, the nonce and the
/// payload (nil: POST-as-GET).
public struct ACMESigningJob: Sendable {
    public var accountKey: ACMEAccountKey
    public var url: String
    public var nonce: String
    public var signer: ACMEAccountKey.Signer
    public var payload: JSONValue?
    /// Fields for the request besides Content-Type (User-Agent, Accept).
    public var headers: [ACMEHeader]
}

/// Crypto the machine needs done; the executor runs `run(now:)` on a worker thread (keys,
/// signatures and certificate parsing never run on a loop) and hands the result back with
/// `cryptoFinished`. Each job is independent and Sendable.
public enum ACMECryptoJob: Sendable {
    /// Sign a request; the result is the request to send.
    case sign(ACMESigningJob)
    /// A new ECDSA P-256 certificate key and a CSR for `names` (RFC 8555 §7.4).
    case makeCertificateRequest(names: [String])
    /// The TLS-ALPN-01 certificate for `name` (RFC 8737 §3), with a fresh key.
    case makeChallengeCertificate(name: String, keyAuthorizationDigest: [UInt8])
    /// Parse the downloaded PEM chain, pair it with the certificate key and check that it covers
    /// every name and has not expired.
    case checkChain(pem: [UInt8], key: PrivateKey, names: [String])

    /// Does the work. Blocking (OpenSSL), bounded, no I/O.
    public func run(now: Int64) -> ACMECryptoResult {
        do {
            switch self {
            case .sign(let job):
                let body = try job.accountKey.signedBody(url: job.url, nonce: job.nonce, signer: job.signer, payload: job.payload)
                return .signed(ACMEHTTPRequest(method: .post, url: job.url,
                                               headers: [ACMEHeader("Content-Type", "application/jose+json")] + job.headers,
                                               body: body))
            case .makeCertificateRequest(let names):
                let key = try PrivateKey.generate(.ecdsaP256)
                let csr = try CertificateFactory.makeCSR(names: names, key: key)
                return .certificateRequest(key: key, der: csr.der)
            case .makeChallengeCertificate(let name, let digest):
                let key = try PrivateKey.generate(.ecdsaP256)
                let cert = try CertificateFactory.makeACMEChallengeCertificate(name: name, keyAuthorizationDigest: digest,
                                                                               key: key, now: now)
                return .challengeCertificate(try ServerCertificate(chain: [cert], key: key))
            case .checkChain(let pem, let key, let names):
                let chain = try X509Certificate.readPEM(pem, path: "<certificate from the CA>")
                let certificate = try ServerCertificate(chain: chain, key: key, certificatePath: "<certificate from the CA>",
                                                        keyPath: "<the order's key>")
                for name in names where !certificate.leaf.covers(name) {
                    return .failed("the issued certificate does not cover \(name)")
                }
                if certificate.info.notAfter <= now { return .failed("the issued certificate has already expired") }
                return .chain(certificate, pem: String(decoding: pem, as: UTF8.self))
            }
        } catch {
            return .failed(error.description)
        }
    }
}

/// The outcome of an `ACMECryptoJob`.
public enum ACMECryptoResult: Sendable {
    case signed(ACMEHTTPRequest)
    case certificateRequest(key: PrivateKey, der: [UInt8])
    case challengeCertificate(ServerCertificate)
    case chain(ServerCertificate, pem: String)
    case failed(String)
}
