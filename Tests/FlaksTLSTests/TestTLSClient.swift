import COpenSSL
@testable import FlaksTLS

/// A TLS client made with OpenSSL directly, over memory BIOs, standing in for a browser: it
/// verifies the server against the test CA (and the name, when given), sends SNI and ALPN, and
/// can be limited to versions and ciphers.
final class TestTLSClient {
    let ctx: OpaquePointer
    let ssl: OpaquePointer
    let rbio: OpaquePointer
    let wbio: OpaquePointer
    private(set) var handshakeDone = false
    private(set) var failed: String?

    struct Options {
        var serverName: String?
        /// Hostname checked against the certificate (nil: chain only).
        var verifyName: String?
        var ca: X509Certificate? = TestPKI.shared.ca
        var alpn: [String] = []
        var minVersion: Int32 = TLS1_VERSION
        var maxVersion: Int32 = TLS1_3_VERSION
        /// TLS 1.2 and older cipher list (OpenSSL syntax).
        var ciphers: String?
        var ciphersuites: String?
        var session: OpaquePointer?
        var requestOCSP = false
        var checkTime: Int64? = testNow
    }

    init(_ o: Options) {
        ctx = SSL_CTX_new(TLS_client_method())!
        _ = copenssl_ctx_set_min_proto(ctx, o.minVersion)
        _ = copenssl_ctx_set_max_proto(ctx, o.maxVersion)
        if let c = o.ciphers { _ = SSL_CTX_set_cipher_list(ctx, c) }
        if let c = o.ciphersuites { _ = SSL_CTX_set_ciphersuites(ctx, c) }
        if let ca = o.ca {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca.pointer)
        }
        // Client-side caching so TLS 1.3 tickets land in the session, but no internal store: freeing
        // this client's SSL_CTX would flush the store and mark its sessions not resumable.
        _ = copenssl_ctx_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE))
        ssl = SSL_new(ctx)!
        rbio = BIO_new(BIO_s_mem())!
        wbio = BIO_new(BIO_s_mem())!
        SSL_set_bio(ssl, rbio, wbio)
        SSL_set_connect_state(ssl)
        if let t = o.checkTime {
            X509_VERIFY_PARAM_set_time(SSL_get0_param(ssl), time_t(t))
        }
        if let n = o.serverName { _ = copenssl_set_tlsext_host_name(ssl, n) }
        if let v = o.verifyName { _ = SSL_set1_host(ssl, v) }
        if !o.alpn.isEmpty {
            var wire: [UInt8] = []
            for p in o.alpn { wire.append(UInt8(p.utf8.count)); wire += Array(p.utf8) }
            _ = SSL_set_alpn_protos(ssl, wire, UInt32(wire.count))
        }
        if let s = o.session { _ = SSL_set_session(ssl, s) }
        if o.requestOCSP { _ = copenssl_set_tlsext_status_type_ocsp(ssl) }
    }

    deinit {
        // Marked as shut down, else SSL_free marks the session not resumable (a "bad" session),
        // and the resumption tests reuse sessions of clients that are gone.
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN)
        SSL_free(ssl)
        SSL_CTX_free(ctx)
    }

    /// One handshake step: true when done.
    func step() -> Bool {
        if handshakeDone || failed != nil { return handshakeDone }
        ERR_clear_error()
        let r = SSL_do_handshake(ssl)
        if r == 1 { handshakeDone = true; return true }
        let e = SSL_get_error(ssl, r)
        if e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE {
            failed = OpenSSLErrorQueue.message("client error \(e)")
        }
        ERR_clear_error()
        return false
    }

    func takeOutput() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buf.withUnsafeMutableBytes { BIO_read(wbio, $0.baseAddress, Int32($0.count)) }
            if n <= 0 { break }
            out += buf[0..<Int(n)]
        }
        return out
    }

    func feed(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        _ = bytes.withUnsafeBytes { BIO_write(rbio, $0.baseAddress, Int32($0.count)) }
    }

    enum ReadOutcome: Equatable { case data([UInt8]), wantsInput, closed, error(String) }

    /// Reads what plaintext is available (also processes post-handshake tickets).
    func read() -> ReadOutcome {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            ERR_clear_error()
            var n = 0
            let ok = buf.withUnsafeMutableBytes { SSL_read_ex(ssl, $0.baseAddress, $0.count, &n) }
            if ok == 1 { out += buf[0..<n]; continue }
            let e = SSL_get_error(ssl, 0)
            if !out.isEmpty { return .data(out) }
            switch e {
            case SSL_ERROR_WANT_READ: return .wantsInput
            case SSL_ERROR_ZERO_RETURN: return .closed
            default: return .error(OpenSSLErrorQueue.message("read error \(e)"))
            }
        }
    }

    /// Encrypts all of `bytes` into the output.
    func write(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            var n = 0
            let ok = bytes[off...].withUnsafeBytes { SSL_write_ex(ssl, $0.baseAddress, $0.count, &n) }
            precondition(ok == 1, "client write failed")
            off += n
        }
    }

    var peerCertificate: X509Certificate? { SSL_get1_peer_certificate(ssl).map { X509Certificate(taking: $0) } }
    var verifyResult: Int { SSL_get_verify_result(ssl) }
    var version: String { String(cString: SSL_get_version(ssl)) }
    var resumed: Bool { SSL_session_reused(ssl) == 1 }
    /// A new reference to the session; free with SSL_SESSION_free.
    var session: OpaquePointer? { SSL_get1_session(ssl) }
    var alpn: String? {
        var p: UnsafePointer<UInt8>?
        var n: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &p, &n)
        return p.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(n)), as: UTF8.self) }
    }
    var stapledOCSP: [UInt8]? {
        var p: UnsafePointer<UInt8>?
        let n = copenssl_get_tlsext_status_ocsp_resp(ssl, &p)
        guard let p, n > 0 else { return nil }
        return Array(UnsafeBufferPointer(start: p, count: n))
    }
}

/// How a pumped handshake ended.
struct HandshakeOutcome {
    var server: TLSSession.HandshakeResult
    var clientDone: Bool
    var clientError: String?
    var info: TLSConnectionInfo? { if case .complete(let i) = server { return i }; return nil }
    var failure: TLSFailure? { if case .failed(let f) = server { return f }; return nil }
    var ok: Bool { info != nil && clientDone }
}

/// Moves bytes between client and server until both finish or one fails; the server gets its
/// input `step` bytes at a time and runs `handshake()` after each piece.
@discardableResult
func pumpHandshake(_ client: TestTLSClient, _ server: TLSSession, step: Int = Int.max) -> HandshakeOutcome {
    var serverResult = TLSSession.HandshakeResult.wantsInput
    for _ in 0..<10_000 {
        let clientDone = client.step()
        if client.failed != nil {
            _ = server.feed(client.takeOutput())   // the client's alert
            serverResult = server.handshake()
            break
        }
        var toServer = client.takeOutput()
        if toServer.isEmpty, case .complete = serverResult, clientDone { break }
        var progressed = !toServer.isEmpty
        while !toServer.isEmpty {
            let piece = Array(toServer.prefix(step))
            let taken = server.feed(piece)
            toServer.removeFirst(taken)
            serverResult = server.handshake()
            if case .failed = serverResult { break }
            if taken == 0 { break }
        }
        if case .failed = serverResult {
            client.feed(server.takeOutput())   // the alert
            _ = client.step()
            break
        }
        if toServer.isEmpty, case .wantsInput = serverResult { serverResult = server.handshake() }
        let toClient = server.takeOutput()
        progressed = progressed || !toClient.isEmpty
        client.feed(toClient)
        if !progressed && clientDone { break }
        if !progressed, case .complete = serverResult { _ = client.step(); break }
    }
    return HandshakeOutcome(server: serverResult, clientDone: client.handshakeDone, clientError: client.failed)
}

/// Lets the client process whatever the server sent after the handshake (TLS 1.3 tickets).
func deliverPostHandshake(_ client: TestTLSClient, _ server: TLSSession) {
    client.feed(server.takeOutput())
    _ = client.read()
}
