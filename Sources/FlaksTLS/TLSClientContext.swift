import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The client side of TLS for Flaks' own outgoing HTTPS (the ACME client talking to its CA): one
/// OpenSSL `SSL_CTX` that verifies the server's chain against the system's roots plus extra roots
/// (`tls.acme.ca_roots`: a private CA, or a test CA such as pebble's) and refuses anything older
/// than TLS 1.2. Sessions are made per connection (`makeSession`) and driven over memory BIOs
/// like the server's, so the caller owns the socket, its timeouts and its thread.
///
/// `@unchecked Sendable`: `ctx` is configured in `init` and only read afterwards (`SSL_new`
/// takes its own reference and is thread-safe on a configured context); freed in `deinit`.
public final class TLSClientContext: @unchecked Sendable {
    let ctx: OpaquePointer
    /// How many extra roots were added (for logs and tests).
    public let extraRootCount: Int

    /// `extraRootsPEM`: PEM `CERTIFICATE` blocks to trust besides (or, with `systemRoots: false`,
    /// instead of) the system's. `path` names the source in errors.
    public init(extraRootsPEM: [UInt8]? = nil, path: String = "<memory>", systemRoots: Bool = true) throws(CertificateError) {
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw .openSSL(OpenSSLErrorQueue.message("SSL_CTX_new")) }
        // RFC 8996: TLS 1.0 and 1.1 are deprecated; every ACME CA speaks 1.2 or 1.3.
        _ = copenssl_ctx_set_min_proto(ctx, TLS1_2_VERSION)
        _ = copenssl_ctx_set_options(ctx, copenssl_server_options())
        _ = copenssl_ctx_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        if systemRoots {
            // The distribution's bundle and hashed directory (Debian: /usr/lib/ssl -> /etc/ssl/certs),
            // or SSL_CERT_FILE / SSL_CERT_DIR when set. A machine without them can still reach a CA
            // whose root is in ca_roots.
            _ = SSL_CTX_set_default_verify_paths(ctx)
            // OPENSSLDIR's certs link belongs to Debian's `openssl` package, which a slim runtime
            // image (and the static binary's build-time OPENSSLDIR) may not have: also load the
            // distribution's bundle from where ca-certificates puts it.
            for bundle in Self.systemBundles where access(bundle, R_OK) == 0 {
                _ = SSL_CTX_load_verify_locations(ctx, bundle, nil)
                break
            }
            OpenSSLErrorQueue.clear()
        }
        var added = 0
        if let pem = extraRootsPEM {
            let roots: [X509Certificate]
            do { roots = try X509Certificate.readPEM(pem, path: path) } catch {
                SSL_CTX_free(ctx)
                throw error
            }
            let store = SSL_CTX_get_cert_store(ctx)
            for root in roots {
                OpenSSLErrorQueue.clear()
                // A root that is already there (the system bundle has it) is not an error.
                if X509_STORE_add_cert(store, root.pointer) == 1 { added += 1 }
                OpenSSLErrorQueue.clear()
            }
        }
        self.ctx = ctx
        extraRootCount = added
    }

    /// Reads the extra roots from a PEM file (at most 1 MiB).
    public convenience init(extraRootsFile: String?, systemRoots: Bool = true) throws(CertificateError) {
        guard let extraRootsFile else { try self.init(systemRoots: systemRoots); return }
        let bytes = try readSmallFile(extraRootsFile)
        try self.init(extraRootsPEM: bytes, path: extraRootsFile, systemRoots: systemRoots)
    }

    deinit { SSL_CTX_free(ctx) }

    /// Certificates in the context's trust store now (system bundle plus extra roots; a hashed
    /// directory's certificates are read only when a handshake looks for them).
    var loadedRootCount: Int {
        guard let objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx)) else { return 0 }
        return Int(OPENSSL_sk_num(objects))
    }

    /// Where distributions keep the system's root bundle: Debian/Ubuntu/Alpine (ca-certificates),
    /// Fedora/RHEL, then the BSD/Alpine link.
    static let systemBundles = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]

    /// A session for a connection to `host` (a DNS name or an IP literal, without brackets): the
    /// name is sent as SNI (not for an IP literal, RFC 6066 §3) and the certificate must cover it
    /// (RFC 6125 §6; an IP literal is checked against the IP SANs). `alpn`: protocols to offer.
    /// `verificationTime`: check validity at this Unix time instead of now (tests).
    public func makeSession(host: String, alpn: [String] = ["http/1.1"],
                            verificationTime: Int64? = nil) throws(TLSFailure) -> TLSClientSession {
        try TLSClientSession(context: self, host: host, alpn: alpn, verificationTime: verificationTime)
    }
}
