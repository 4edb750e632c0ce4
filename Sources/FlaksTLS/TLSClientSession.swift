import COpenSSL

/// The client side of one TLS connection, over two OpenSSL memory BIOs, the mirror of
/// `TLSSession`: the caller connects the socket, sends `takeOutput()` whenever `pendingOutput > 0`,
/// `feed`s what the socket returns, and calls `handshake()`, then `writePlaintext` and
/// `readPlaintext`. It never touches a descriptor or a clock, so the tests drive it against a
/// server `TLSSession` with bytes, and the ACME client (`ACMEExchange`) drives it over a loop's
/// upstream connection.
///
/// Verification (RFC 6125 §6): the chain must lead to a root of the context (system roots plus
/// `ca_roots`) and the leaf must cover `host` (DNS SAN, one-label wildcards only; an IP literal
/// against the IP SANs). A failure is `.untrustedPeer` with OpenSSL's verify reason.
///
/// Not Sendable: one thread drives a session.
public final class TLSClientSession {
    /// What `handshake()` reached.
    public enum HandshakeResult: Sendable, Hashable {
        /// Send the pending output, feed more input, call again.
        case wantsInput
        /// Verified and established; the negotiated version (`TLSv1.3`).
        case complete(version: String)
        case failed(TLSFailure)
    }

    /// What `readPlaintext(into:)` produced: bytes, wants input, closed (close_notify), failed;
    /// the same as the server side's.
    public typealias ReadResult = TLSSession.ReadResult

    public let context: TLSClientContext
    /// The name connected to (SNI unless an IP literal).
    public let host: String
    private let ssl: OpaquePointer
    private let rbio: OpaquePointer
    private let wbio: OpaquePointer
    public private(set) var isHandshakeComplete = false
    public private(set) var failure: TLSFailure?

    init(context: TLSClientContext, host: String, alpn: [String], verificationTime: Int64?) throws(TLSFailure) {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.ctx) else {
            throw TLSFailure(kind: .internal, reason: OpenSSLErrorQueue.message("SSL_new failed"))
        }
        guard let r = BIO_new(BIO_s_mem()), let w = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSFailure(kind: .internal, reason: "BIO_new failed")
        }
        SSL_set_bio(ssl, r, w)
        SSL_set_connect_state(ssl)
        let param = SSL_get0_param(ssl)
        if let t = verificationTime { X509_VERIFY_PARAM_set_time(param, time_t(t)) }
        if isIPLiteral(host) {
            guard X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 else {
                SSL_free(ssl)
                throw TLSFailure(kind: .internal, reason: "cannot verify against the address \(host)")
            }
        } else {
            X509_VERIFY_PARAM_set_hostflags(param, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            guard copenssl_set_tlsext_host_name(ssl, host) == 1, SSL_set1_host(ssl, host) == 1 else {
                SSL_free(ssl)
                throw TLSFailure(kind: .internal, reason: OpenSSLErrorQueue.message("cannot verify against the name \(host)"))
            }
        }
        if !alpn.isEmpty {
            var wire: [UInt8] = []
            for p in alpn where !p.isEmpty && p.utf8.count < 256 { wire.append(UInt8(p.utf8.count)); wire += Array(p.utf8) }
            _ = SSL_set_alpn_protos(ssl, wire, UInt32(wire.count))
        }
        OpenSSLErrorQueue.clear()
        self.context = context
        self.host = host
        self.ssl = ssl
        rbio = r
        wbio = w
    }

    deinit { SSL_free(ssl) }   // frees both BIOs

    // MARK: Bytes in and out

    /// Appends ciphertext read from the socket.
    public func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        _ = BIO_write(rbio, base, Int32(clamping: bytes.count))
    }

    /// `feed` for an array.
    public func feed(_ bytes: [UInt8]) { bytes.withUnsafeBytes { feed($0) } }

    /// Ciphertext waiting to be sent.
    public var pendingOutput: Int { Int(BIO_ctrl_pending(wbio)) }

    /// All pending ciphertext.
    public func takeOutput() -> [UInt8] { drainMemoryBIO(wbio) }

    // MARK: Handshake

    /// Advances the handshake with the input fed so far.
    public func handshake() -> HandshakeResult {
        if let failure { return .failed(failure) }
        if isHandshakeComplete { return .complete(version: version) }
        OpenSSLErrorQueue.clear()
        let r = SSL_do_handshake(ssl)
        if r == 1 {
            isHandshakeComplete = true
            OpenSSLErrorQueue.clear()
            return .complete(version: version)
        }
        switch SSL_get_error(ssl, r) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            OpenSSLErrorQueue.clear()
            return .wantsInput
        case let code:
            return .failed(fail(code))
        }
    }

    /// The negotiated protocol version, once the handshake completed.
    public var version: String { String(cString: SSL_get_version(ssl)) }

    /// The ALPN protocol the server chose, if any.
    public var alpn: String? {
        var p: UnsafePointer<UInt8>?
        var n: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &p, &n)
        return p.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(n)), as: UTF8.self) }
    }

    /// The server's leaf certificate (after the handshake).
    public var peerCertificate: X509Certificate? { SSL_get1_peer_certificate(ssl).map { X509Certificate(taking: $0) } }

    // MARK: Application data

    /// Encrypts all of `bytes` into the output (the memory BIO grows; the caller sends it).
    public func writePlaintext(_ bytes: [UInt8]) -> TLSFailure? {
        if let failure { return failure }
        guard isHandshakeComplete else { return misuse("write before the handshake completed") }
        var offset = 0
        while offset < bytes.count {
            OpenSSLErrorQueue.clear()
            var written = 0
            let ok = bytes[offset...].withUnsafeBytes { SSL_write_ex(ssl, $0.baseAddress, $0.count, &written) }
            guard ok == 1 else { return fail(SSL_get_error(ssl, 0)) }
            offset += written
        }
        return nil
    }

    /// Decrypts into `buffer` (not empty).
    public func readPlaintext(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        if let failure { return .failed(failure) }
        guard isHandshakeComplete else { return .failed(misuse("read before the handshake completed")) }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .failed(misuse("empty read buffer")) }
        OpenSSLErrorQueue.clear()
        var n = 0
        if SSL_read_ex(ssl, base, buffer.count, &n) == 1 { return .bytes(n) }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            OpenSSLErrorQueue.clear()
            return .wantsInput
        case SSL_ERROR_ZERO_RETURN:
            OpenSSLErrorQueue.clear()
            return .closed
        case let code:
            return .failed(fail(code))
        }
    }

    /// Queues close_notify.
    public func shutdown() {
        guard failure == nil, isHandshakeComplete else { return }
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    // MARK: Failure

    private func misuse(_ reason: String) -> TLSFailure {
        let f = TLSFailure(kind: .internal, reason: reason)
        failure = f
        return f
    }

    /// The failure behind an SSL_get_error code: a verification failure says why (OpenSSL's
    /// verify result text), anything else is classified as for the server side.
    private func fail(_ code: Int32) -> TLSFailure {
        let entry = OpenSSLErrorQueue.drain()
        let verify = SSL_get_verify_result(ssl)
        let f: TLSFailure
        if verify != X509_V_OK {
            let why = X509_verify_cert_error_string(verify).map { String(cString: $0) } ?? "error \(verify)"
            f = TLSFailure(kind: .untrustedPeer, reason: "certificate of \(host) not trusted: \(why)")
        } else if let entry {
            f = TLSFailure(kind: TLSSession.classify(entry), reason: entry.reason)
        } else if code == SSL_ERROR_SYSCALL {
            f = TLSFailure(kind: .malformed, reason: "the connection ended inside the TLS exchange")
        } else {
            f = TLSFailure(kind: .internal, reason: "SSL error \(code) with an empty error queue")
        }
        failure = f
        return f
    }
}
