import COpenSSL

/// The TLS side of one server connection, over two OpenSSL memory BIOs: the caller reads the
/// socket and `feed`s the ciphertext, sends what `takeOutput` returns, and in between calls
/// `handshake`, `readPlaintext`, `writePlaintext` and `shutdown`. The session never touches a
/// descriptor, a clock or the event loop, so the loop keeps its own readiness, timeouts (the
/// header timeout covers the handshake) and back-pressure, and tests drive it with bytes.
///
/// Protocol for the caller, after every call: if `pendingOutput > 0`, send `takeOutput()`.
/// - Handshake: `feed`, then `handshake()` until `.complete` or `.failed`. `.wantsInput` means
///   wait for the socket to be readable.
/// - After `.complete`, call `readPlaintext` at once: the client's first request often arrives in
///   the same read as its Finished message (`hasBufferedInput` says so). TLS 1.3 session tickets
///   are written right after the handshake: send them.
/// - Reads: `.bytes(n)`, `.wantsInput` (feed more), `.closed` (close_notify received: answer with
///   `shutdown()`, send, close), `.failed`.
/// - Writes: `.accepted(n)` with `n` possibly less than given, 0 when `maxBufferedOutput` of
///   ciphertext is waiting: send output first. Memory BIOs never block, so OpenSSL's
///   WANT_WRITE never occurs; the output bound is this one.
/// - Failure: send the pending output (the alert) if convenient, then close. Only this
///   connection is affected.
/// - Input bound: read at most `inputCapacity` bytes from the socket; 0 means stop reading until
///   plaintext has been read out (OpenSSL takes records from the input as it decrypts).
///
/// Memory (measured with OpenSSL 3.0, docs/tls.md): an idle keep-alive session holds about
/// 15 KiB (the `SSL` from `SSL_new` is 9.4 KiB of it; the rest is the negotiated session, cipher
/// contexts and BIO headers): SSL_MODE_RELEASE_BUFFERS frees the 16 KiB record buffers, reads
/// with nothing fed return before OpenSSL allocates one, and `releaseIdleBuffers` drops BIO
/// buffers that grew. During a transfer add what the BIOs hold (at most `maxBufferedInput` and
/// `maxBufferedOutput` plus one record's overhead) and a record buffer while one is in use.
///
/// Not Sendable: a session belongs to the loop thread that owns its connection.
public final class TLSSession {
    /// The context (policy, store, ticket keys) this session was made from; kept alive by it.
    public let context: TLSServerContext

    /// What `handshake()` reached.
    public enum HandshakeResult: Sendable, Hashable {
        /// Feed more ciphertext (after sending any pending output).
        case wantsInput
        case complete(TLSConnectionInfo)
        case failed(TLSFailure)
    }

    /// What `readPlaintext(into:)` produced.
    public enum ReadResult: Sendable, Hashable {
        /// This many plaintext bytes were written to the start of the buffer.
        case bytes(Int)
        case wantsInput
        /// The peer sent close_notify (RFC 8446 §6.1): no more data will come.
        case closed
        case failed(TLSFailure)
    }

    /// What `writePlaintext(_:)` took.
    public enum WriteResult: Sendable, Hashable {
        /// This many plaintext bytes were encrypted into the output (0: output is full).
        case accepted(Int)
        case failed(TLSFailure)
    }

    private let ssl: OpaquePointer
    /// Owned by `ssl` (SSL_set_bio); replaced by `releaseIdleBuffers`.
    private var rbio: OpaquePointer
    private var wbio: OpaquePointer

    // Set by TLSCallbacks during the handshake (same thread).
    var serverName: String?
    var selection: CertificateStore.Selection?
    /// The certificate this connection presented (the host's, or a TLS-ALPN-01 challenge
    /// certificate); nil before the ClientHello. A resumed session presents none but keeps the
    /// host's current one here.
    public internal(set) var certificate: ServerCertificate?
    var acme = false
    var callbackFailure: TLSFailure?

    /// Set once the handshake completed.
    public private(set) var info: TLSConnectionInfo?
    /// Set once the session failed; every later call returns it.
    public private(set) var failure: TLSFailure?
    private var peerClosed = false
    private var shutdownSent = false

    /// A BIO buffer larger than this is dropped when the session goes idle (the handshake flight
    /// alone leaves ~2 KiB in the output BIO; a fresh BIO costs ~200 bytes).
    /// Larger than one record's worth: a connection that reads a request now and then keeps its
    /// BIO buffers (replacing them after every request cost ~3,600 instructions: a BIO_new, a
    /// free and the buffer's growth again); a large transfer's buffers are still dropped.
    static let idleBufferLimit = 40 * 1024

    init(context: TLSServerContext) throws(TLSFailure) {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.ctx) else {
            throw TLSFailure(kind: .internal, reason: OpenSSLErrorQueue.message("SSL_new failed"))
        }
        guard let r = BIO_new(BIO_s_mem()), let w = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSFailure(kind: .internal, reason: "BIO_new failed")
        }
        self.context = context
        self.ssl = ssl
        rbio = r
        wbio = w
        SSL_set_bio(ssl, r, w)
        SSL_set_accept_state(ssl)
        _ = copenssl_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { SSL_free(ssl) }   // frees both BIOs

    /// The session an OpenSSL callback is running for.
    static func owning(_ ssl: OpaquePointer) -> TLSSession? {
        guard let p = copenssl_get_app_data(ssl) else { return nil }
        return Unmanaged<TLSSession>.fromOpaque(p).takeUnretainedValue()
    }

    // MARK: Input

    /// How many more ciphertext bytes `feed` takes now (`maxBufferedInput` minus what waits).
    public var inputCapacity: Int { max(0, context.policy.maxBufferedInput - Int(BIO_ctrl_pending(rbio))) }

    /// Appends ciphertext read from the socket; returns how many bytes were taken (at most
    /// `inputCapacity`; the caller keeps the rest, or better reads no more than that).
    @discardableResult
    public func feed(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = min(bytes.count, inputCapacity)
        guard n > 0, let base = bytes.baseAddress else { return 0 }
        let written = BIO_write(rbio, base, Int32(n))
        return max(0, Int(written))
    }

    /// `feed` for an array.
    @discardableResult
    public func feed(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBytes { feed($0) } }

    /// Whether plaintext may be readable without new input (buffered records or decrypted bytes).
    public var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(rbio) > 0 }

    // MARK: Handshake

    /// Advances the handshake with the input fed so far.
    public func handshake() -> HandshakeResult {
        if let failure { return .failed(failure) }
        if let info { return .complete(info) }
        OpenSSLErrorQueue.clear()
        let r = SSL_do_handshake(ssl)
        if r == 1 {
            let done = makeInfo()
            info = done
            OpenSSLErrorQueue.clear()
            return .complete(done)
        }
        switch SSL_get_error(ssl, r) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            OpenSSLErrorQueue.clear()
            return .wantsInput
        case let code:
            return .failed(fail(code))
        }
    }

    /// Whether `handshake()` has returned `.complete`.
    public var isHandshakeComplete: Bool { info != nil }

    private func makeInfo() -> TLSConnectionInfo {
        var alpnData: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnData, &alpnLength)
        let alpn = alpnData.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self) }
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
        return TLSConnectionInfo(version: String(cString: SSL_get_version(ssl)), cipher: cipher,
                                 serverName: serverName, alpn: alpn, host: selection?.host ?? -1,
                                 resumed: SSL_session_reused(ssl) == 1)
    }

    // MARK: Application data

    /// Decrypts into `buffer` (which must not be empty). Before the handshake completed this is a
    /// misuse and fails the session.
    public func readPlaintext(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        if let failure { return .failed(failure) }
        guard info != nil else { return .failed(misuse("read before the handshake completed")) }
        if peerClosed { return .closed }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .failed(misuse("empty read buffer")) }
        // Nothing fed and nothing buffered: SSL_read could only say WANT_READ, and would first
        // allocate its 16 KiB record buffer and keep it while the connection sits idle.
        if BIO_ctrl_pending(rbio) == 0 && SSL_has_pending(ssl) == 0 {
            releaseIdleBuffers()
            return .wantsInput
        }
        OpenSSLErrorQueue.clear()
        var n = 0
        if SSL_read_ex(ssl, base, buffer.count, &n) == 1 { return .bytes(n) }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            // (The queue is cleared before each call, not after a WANT_READ too: ~500 instructions.)
            releaseIdleBuffers()
            return .wantsInput
        case SSL_ERROR_ZERO_RETURN:
            OpenSSLErrorQueue.clear()
            peerClosed = true
            return .closed
        case let code:
            return .failed(fail(code))
        }
    }

    /// Encrypts up to `maxBufferedOutput - pendingOutput` bytes of `bytes` into the output
    /// (in records of at most 16 KiB). Before the handshake, or after `shutdown`, fails.
    public func writePlaintext(_ bytes: UnsafeRawBufferPointer) -> WriteResult {
        if let failure { return .failed(failure) }
        guard info != nil else { return .failed(misuse("write before the handshake completed")) }
        guard !shutdownSent else { return .failed(misuse("write after shutdown")) }
        let n = min(bytes.count, outputCapacity)
        guard n > 0, let base = bytes.baseAddress else { return .accepted(0) }
        OpenSSLErrorQueue.clear()
        var written = 0
        if SSL_write_ex(ssl, base, n, &written) == 1 { return .accepted(written) }
        return .failed(fail(SSL_get_error(ssl, 0)))
    }

    /// `writePlaintext` for an array.
    public func writePlaintext(_ bytes: [UInt8]) -> WriteResult { bytes.withUnsafeBytes { writePlaintext($0) } }

    /// Plaintext bytes `writePlaintext` takes now.
    public var outputCapacity: Int { max(0, context.policy.maxBufferedOutput - pendingOutput) }

    // MARK: Output

    /// Ciphertext waiting to be sent (handshake flights, records, alerts, tickets).
    public var pendingOutput: Int { Int(BIO_ctrl_pending(wbio)) }

    /// Moves up to `buffer.count` bytes of pending ciphertext into `buffer`; returns the count.
    public func takeOutput(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0, pendingOutput > 0 else { return 0 }
        let n = BIO_read(wbio, base, Int32(min(buffer.count, Int(Int32.max))))
        return max(0, Int(n))
    }

    /// All pending ciphertext.
    public func takeOutput() -> [UInt8] {
        let count = pendingOutput
        guard count > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: count)
        let n = out.withUnsafeMutableBytes { takeOutput(into: $0) }
        out.removeLast(count - n)
        return out
    }

    // MARK: Closing

    /// Queues close_notify (RFC 8446 §6.1) once the handshake completed; the caller sends it and
    /// closes without waiting for the peer's (HTTP knows where its messages end). Idempotent.
    public func shutdown() {
        guard failure == nil, info != nil, !shutdownSent else { return }
        shutdownSent = true
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    /// Whether the peer's close_notify arrived.
    public var isClosedByPeer: Bool { peerClosed }

    // MARK: Memory

    /// Drops BIO buffers that grew past `idleBufferLimit` (a transfer), when nothing is buffered.
    /// `readPlaintext` calls it whenever it runs out of input; the loop may call it when a
    /// connection becomes idle. OpenSSL's own record buffers go by SSL_MODE_RELEASE_BUFFERS.
    public func releaseIdleBuffers() {
        guard BIO_ctrl_pending(rbio) == 0, BIO_ctrl_pending(wbio) == 0 else { return }
        if copenssl_bio_mem_capacity(rbio) > Self.idleBufferLimit, let fresh = BIO_new(BIO_s_mem()) {
            SSL_set0_rbio(ssl, fresh)   // frees the old one
            rbio = fresh
        }
        if copenssl_bio_mem_capacity(wbio) > Self.idleBufferLimit, let fresh = BIO_new(BIO_s_mem()) {
            SSL_set0_wbio(ssl, fresh)
            wbio = fresh
        }
    }

    /// Bytes the two BIOs keep allocated (their capacity, not their contents).
    public var bufferCapacity: Int { copenssl_bio_mem_capacity(rbio) + copenssl_bio_mem_capacity(wbio) }

    // MARK: Failure

    private func misuse(_ reason: String) -> TLSFailure {
        let f = TLSFailure(kind: .internal, reason: reason)
        failure = f
        return f
    }

    /// Records the failure behind an SSL_get_error code and empties the error queue.
    private func fail(_ code: Int32) -> TLSFailure {
        let entry = OpenSSLErrorQueue.drain()
        let f: TLSFailure
        if let own = callbackFailure {
            f = own
        } else if let entry {
            f = TLSFailure(kind: Self.classify(entry), reason: entry.reason)
        } else {
            f = TLSFailure(kind: .internal, reason: "SSL error \(code) with an empty error queue")
        }
        failure = f
        return f
    }

    static func classify(_ e: OpenSSLErrorQueue.Entry) -> TLSFailure.Kind {
        guard e.lib == ERR_LIB_SSL else { return .malformed }
        let r = e.reasonCode
        if r >= SSL_AD_REASON_OFFSET && r < SSL_AD_REASON_OFFSET + 256 {
            return r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ? .protocolVersion : .peerAlert
        }
        switch r {
        case SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST:
            return .plainHTTP
        case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_VERSION_TOO_LOW, SSL_R_NO_PROTOCOLS_AVAILABLE, SSL_R_UNSUPPORTED_SSL_VERSION:
            return .protocolVersion
        case SSL_R_NO_SHARED_CIPHER, SSL_R_NO_SUITABLE_KEY_SHARE, SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS,
             SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM, SSL_R_NO_SHARED_GROUPS:
            return .noSharedCipher
        case SSL_R_NO_APPLICATION_PROTOCOL:
            return .noApplicationProtocol
        default:
            return .malformed
        }
    }
}
