import COpenSSL

/// What a host serves: a leaf certificate, the intermediates sent with it, and the private key,
/// checked to belong together. Immutable; the `CertificateStore` swaps whole values.
///
/// `@unchecked Sendable`: `intermediates` is an owned `STACK_OF(X509)` built in `init` and only
/// read afterwards (`SSL_use_cert_and_key` takes its own references to the certificates in it);
/// the other stored properties are Sendable.
public final class ServerCertificate: @unchecked Sendable {
    /// Leaf first, then the intermediates in the order they are sent.
    public let chain: [X509Certificate]
    /// The leaf's private key.
    public let key: PrivateKey
    /// A DER OCSP response stapled to handshakes of clients that ask for one (RFC 6066 §8),
    /// or nil. Fetching it is the caller's job; `withOCSPResponse` makes the stapling copy.
    public let ocspResponse: [UInt8]?
    /// The leaf's description, computed once.
    public let info: CertificateInfo
    /// The chain without its leaf, as OpenSSL takes it.
    let intermediates: OpaquePointer

    /// The certificate for the host's names (`chain[0]`).
    public var leaf: X509Certificate { chain[0] }

    /// Pairs a chain (leaf first) with its key. Throws `.keyMismatch` when the key is not the
    /// leaf's, `.refusedByPolicy` when OpenSSL's security level would refuse to serve the pair
    /// (an RSA key under 2048 bits, an SHA-1 signature), so that this shows at load, not at the
    /// first handshake.
    public init(chain: [X509Certificate], key: PrivateKey, ocspResponse: [UInt8]? = nil,
                certificatePath: String = "<memory>", keyPath: String = "<memory>") throws(CertificateError) {
        guard let leaf = chain.first else { throw .noCertificate(path: certificatePath) }
        OpenSSLErrorQueue.clear()
        guard X509_check_private_key(leaf.pointer, key.pointer) == 1 else {
            OpenSSLErrorQueue.clear()
            throw .keyMismatch(certificate: certificatePath, key: keyPath)
        }
        guard let stack = copenssl_sk_x509_new() else { throw .openSSL("sk_X509_new_null") }
        for cert in chain.dropFirst() {
            X509_up_ref(cert.pointer)
            _ = copenssl_sk_x509_push(stack, cert.pointer)
        }
        self.chain = chain
        self.key = key
        self.ocspResponse = ocspResponse
        self.intermediates = stack
        self.info = leaf.info
        try Self.checkPolicy(self, path: certificatePath)
    }

    deinit { copenssl_sk_x509_pop_free(intermediates) }

    /// Reads a PEM chain file (leaf first, then intermediates) and a PEM key file. The two may be
    /// one file. Errors name the file and say what is wrong (see `CertificateError`).
    public static func loadPEM(certPath: String, keyPath: String) throws(CertificateError) -> ServerCertificate {
        let certBytes = try readSmallFile(certPath)
        let keyBytes = keyPath == certPath ? certBytes : try readSmallFile(keyPath)
        let chain = try X509Certificate.readPEM(certBytes, path: certPath)
        let key = try PrivateKey.readPEM(keyBytes, path: keyPath)
        return try ServerCertificate(chain: chain, key: key, certificatePath: certPath, keyPath: keyPath)
    }

    /// From PEM text in memory: what the ACME client has when a certificate was "issued now".
    public convenience init(certificatePEM: String, keyPEM: String) throws(CertificateError) {
        let chain = try X509Certificate.readPEM(Array(certificatePEM.utf8))
        let key = try PrivateKey.readPEM(Array(keyPEM.utf8))
        try self.init(chain: chain, key: key)
    }

    /// The same chain and key with `response` stapled (nil to stop stapling).
    public func withOCSPResponse(_ response: [UInt8]?) throws(CertificateError) -> ServerCertificate {
        try ServerCertificate(chain: chain, key: key, ocspResponse: response)
    }

    /// What `flaks check` and the reload log warn about: expiry (config-schema.md: a warning, not
    /// an error), a start date in the future, and host names the SANs do not cover. `names` are
    /// the host's manifest names; `*` is skipped.
    public func warnings(names: [String], now: Int64) -> [CertificateWarning] {
        var out: [CertificateWarning] = []
        if info.notAfter < now { out.append(.expired(notAfter: info.notAfter)) }
        if info.notBefore > now { out.append(.notYetValid(notBefore: info.notBefore)) }
        for name in names where name != "*" && !leaf.covers(name) { out.append(.nameNotCovered(name)) }
        return out
    }

    /// Installs the pair on a scratch server context at the same security level the server uses.
    private static func checkPolicy(_ cert: ServerCertificate, path: String) throws(CertificateError) {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw .openSSL("SSL_CTX_new") }
        defer { SSL_CTX_free(ctx) }
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_use_cert_and_key(ctx, cert.leaf.pointer, cert.key.pointer, cert.intermediates, 1) == 1 else {
            throw .refusedByPolicy(path: path, reason: OpenSSLErrorQueue.message("the certificate was not accepted"))
        }
    }
}
