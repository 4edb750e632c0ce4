import COpenSSL

/// The server side of TLS for one manifest generation: the policy applied to one OpenSSL
/// `SSL_CTX`, the certificate store it selects from and the ticket key ring it seals
/// resumption tickets with. Built off the loops at start and at reload, shared by every loop,
/// never changed afterwards.
///
/// One `SSL_CTX` for all hosts (not one per certificate): the certificate is picked per
/// connection in the ClientHello callback (SNI, and ALPN for `acme-tls/1`) and installed on
/// that connection's `SSL` with `SSL_use_cert_and_key`. So the policy, callbacks and ticket keys
/// exist once, and a run-time certificate replacement is one store write instead of building
/// and swapping contexts. `SSL_set_SSL_CTX` switching (nginx's way) would need every callback
/// and option copied onto each per-host context.
///
/// Sessions hold a strong reference to their context: the callbacks reach it through the `SSL`,
/// so an old generation lives until its last connection closes.
///
/// `@unchecked Sendable`: `ctx` is configured in `init` and only read afterwards (`SSL_new`
/// takes a reference; OpenSSL documents an `SSL_CTX` as safe to share once set up); the other
/// stored properties are immutable and Sendable.
public final class TLSServerContext: @unchecked Sendable {
    let ctx: OpaquePointer
    public let policy: TLSPolicy
    public let store: CertificateStore
    public let tickets: TicketKeyRing
    /// `policy.alpn` as bytes, preferred first.
    let alpnPreference: [[UInt8]]

    /// Applies `policy` (see `TLSPolicy`) and installs the callbacks. Throws `.openSSL` only if
    /// OpenSSL refuses a fixed setting (a library built without ChaCha20, say).
    public init(policy: TLSPolicy = TLSPolicy(), store: CertificateStore, tickets: TicketKeyRing) throws(CertificateError) {
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw .openSSL(OpenSSLErrorQueue.message("SSL_CTX_new")) }
        self.ctx = ctx
        self.policy = policy
        self.store = store
        self.tickets = tickets
        self.alpnPreference = policy.alpn.map { Array($0.utf8) }
        try configure()
    }

    deinit { SSL_CTX_free(ctx) }

    /// A new session for an accepted connection.
    public func makeSession() throws(TLSFailure) -> TLSSession { try TLSSession(context: self) }

    private func configure() throws(CertificateError) {
        func check(_ ok: Bool, _ what: String) throws(CertificateError) {
            if !ok { throw .openSSL("\(what): \(OpenSSLErrorQueue.message("refused"))") }
        }
        let min = policy.minVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
        try check(copenssl_ctx_set_min_proto(ctx, min) == 1, "min protocol")
        try check(copenssl_ctx_set_max_proto(ctx, TLS1_3_VERSION) == 1, "max protocol")
        try check(SSL_CTX_set_ciphersuites(ctx, TLSPolicy.tls13Ciphersuites) == 1, "TLS 1.3 ciphersuites")
        try check(SSL_CTX_set_cipher_list(ctx, TLSPolicy.tls12Ciphers) == 1, "TLS 1.2 cipher list")
        try check(copenssl_ctx_set1_groups_list(ctx, TLSPolicy.groups) == 1, "groups")
        _ = copenssl_ctx_set_options(ctx, copenssl_server_options())
        // Idle keep-alive connections give their 16 KiB record buffers back; writes may come
        // from a different buffer address on retry (we never retry, but the mode is harmless).
        _ = copenssl_ctx_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        // Stateless tickets only: a server-side cache would be per process and per context, so
        // it would not survive a reload nor be shared with a replica; tickets do both.
        _ = copenssl_ctx_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_OFF))
        let sid: [UInt8] = Array("flaks".utf8)
        try check(SSL_CTX_set_session_id_context(ctx, sid, UInt32(sid.count)) == 1, "session id context")
        _ = SSL_CTX_set_timeout(ctx, Int(tickets.rotationInterval))
        try check(SSL_CTX_set_num_tickets(ctx, max(0, policy.ticketsPerHandshake)) == 1, "tickets")
        try check(SSL_CTX_set_max_early_data(ctx, 0) == 1, "early data")
        try check(copenssl_ctx_set_ticket_key_evp_cb(ctx, TLSCallbacks.ticketKey) == 1, "ticket key callback")
        try check(SSL_CTX_set_session_ticket_cb(ctx, TLSCallbacks.generateTicket, TLSCallbacks.decryptTicket, nil) == 1,
                  "ticket data callback")
        SSL_CTX_set_client_hello_cb(ctx, TLSCallbacks.clientHello, nil)
        _ = copenssl_ctx_set_servername_callback(ctx, TLSCallbacks.serverName, nil)
        SSL_CTX_set_alpn_select_cb(ctx, TLSCallbacks.selectALPN, nil)
        _ = copenssl_ctx_set_tlsext_status_cb(ctx, TLSCallbacks.stapleOCSP, nil)
        OpenSSLErrorQueue.clear()
    }
}
