import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The C callbacks OpenSSL calls during a handshake. Each finds its `TLSSession` through the
/// `SSL`'s app data (set in `TLSSession.init`); they run on the thread driving that session.
enum TLSCallbacks {
    /// First look at the ClientHello: pick the certificate by SNI (and answer TLS-ALPN-01 with
    /// the challenge certificate when `acme-tls/1` is offered for a name that has one). Runs
    /// before OpenSSL chooses a cipher (which depends on the key type) and before tickets are
    /// opened (which check the host). Called again for the second ClientHello after a
    /// HelloRetryRequest; the choice is made afresh and is the same.
    static let clientHello: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = { ssl, alert, _ in
        guard let ssl, let session = TLSSession.owning(ssl) else { return SSL_CLIENT_HELLO_ERROR }
        var data: UnsafePointer<UInt8>?
        var length = 0
        var name: String?
        if SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_server_name), &data, &length) == 1 {
            switch ClientHelloExtensions.serverName(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : length)) {
            case .absent: name = nil
            case .name(let n): name = n
            case .malformed:
                session.callbackFailure = TLSFailure(kind: .malformed, reason: "malformed server_name extension")
                alert?.pointee = SSL_AD_DECODE_ERROR
                return SSL_CLIENT_HELLO_ERROR
            }
        }
        session.serverName = name
        session.acme = false
        let store = session.context.store
        var certificate: ServerCertificate?
        if SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_application_layer_protocol_negotiation), &data, &length) == 1,
           ClientHelloExtensions.offers(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : length), ALPN.acmeTLS),
           let challenge = store.challengeCertificate(forName: name) {
            certificate = challenge
            session.acme = true
        }
        guard let selection = store.select(serverName: name) else {
            session.callbackFailure = TLSFailure(kind: .noCertificate, reason: "no host has a certificate")
            alert?.pointee = SSL_AD_UNRECOGNIZED_NAME
            return SSL_CLIENT_HELLO_ERROR
        }
        session.selection = selection
        if certificate == nil { certificate = selection.certificate }
        guard let certificate else {
            session.callbackFailure = TLSFailure(kind: .noCertificate,
                                                 reason: "host \"\(selection.identity)\" has no certificate yet")
            alert?.pointee = SSL_AD_UNRECOGNIZED_NAME
            return SSL_CLIENT_HELLO_ERROR
        }
        session.certificate = certificate
        guard SSL_use_cert_and_key(ssl, certificate.leaf.pointer, certificate.key.pointer, certificate.intermediates, 1) == 1 else {
            session.callbackFailure = TLSFailure(kind: .internal, reason: OpenSSLErrorQueue.message("SSL_use_cert_and_key failed"))
            alert?.pointee = SSL_AD_INTERNAL_ERROR
            return SSL_CLIENT_HELLO_ERROR
        }
        return SSL_CLIENT_HELLO_SUCCESS
    }

    /// Acknowledges SNI (RFC 6066 §3: the server sends an empty server_name extension when it
    /// used the name); the choice itself was made in `clientHello`.
    static let serverName: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = { _, _, _ in
        SSL_TLSEXT_ERR_OK
    }

    /// RFC 7301 §3.2: the server's preference among the client's protocols; no overlap is a
    /// fatal no_application_protocol alert. A TLS-ALPN-01 handshake answers `acme-tls/1` only
    /// (RFC 8737 §3).
    static let selectALPN: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                                           UnsafeMutablePointer<UInt8>?, UnsafePointer<UInt8>?, UInt32,
                                           UnsafeMutableRawPointer?) -> Int32 = { ssl, out, outLength, input, inputLength, _ in
        guard let ssl, let session = TLSSession.owning(ssl), let out, let outLength, let input else {
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
        let offered = UnsafeRawBufferPointer(start: input, count: Int(inputLength))
        guard let ranges = ClientHelloExtensions.protocolList(offered) else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        let wanted = session.acme ? [Array(ALPN.acmeTLS.utf8)] : session.context.alpnPreference
        for proto in wanted {
            if let r = ranges.first(where: { offered[$0].elementsEqual(proto) }) {
                out.pointee = input + r.lowerBound
                outLength.pointee = UInt8(r.count)
                return SSL_TLSEXT_ERR_OK
            }
        }
        session.callbackFailure = TLSFailure(kind: .noApplicationProtocol, reason: "no application protocol in common")
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }

    /// Seals (`enc == 1`) or opens a session ticket with the shared key ring: AES-256-CBC plus
    /// HMAC-SHA256 in OpenSSL's ticket format. Returns 1 (ok), 2 (ok, send a fresh ticket: it was
    /// sealed with the previous key), 0 (unknown key: full handshake) or -1 (error).
    static let ticketKey: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?,
                                          OpaquePointer?, OpaquePointer?, Int32) -> Int32 = { ssl, name, iv, cipher, mac, enc in
        guard let ssl, let session = TLSSession.owning(ssl), let name, let iv, let cipher, let mac else { return -1 }
        let ring = session.context.tickets
        if enc == 1 {
            guard let key = ring.encryptionKey(), RAND_bytes(iv, 16) == 1 else { return -1 }
            key.name.withUnsafeBufferPointer { src in
                for i in 0..<16 { name[i] = src[i] }
            }
            let ok = key.aes.withUnsafeBufferPointer { copenssl_ticket_cipher_init(cipher, $0.baseAddress, iv, 1) } == 1
                && key.hmac.withUnsafeBufferPointer { copenssl_ticket_mac_init(mac, $0.baseAddress, $0.count) } == 1
            return ok ? 1 : -1
        }
        guard let (key, renew) = ring.decryptionKey(name: UnsafeRawBufferPointer(start: name, count: 16)) else { return 0 }
        let ok = key.hmac.withUnsafeBufferPointer { copenssl_ticket_mac_init(mac, $0.baseAddress, $0.count) } == 1
            && key.aes.withUnsafeBufferPointer { copenssl_ticket_cipher_init(cipher, $0.baseAddress, iv, 0) } == 1
        return ok ? (renew ? 2 : 1) : -1
    }

    /// Puts the chosen host's identity into each ticket it issues.
    static let generateTicket: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _ in
        guard let ssl, let session = TLSSession.owning(ssl), let selection = session.selection,
              let sslSession = SSL_get_session(ssl) else { return 1 }
        let identity = Array(selection.identity.utf8)
        return identity.withUnsafeBytes { SSL_SESSION_set1_ticket_appdata(sslSession, $0.baseAddress, $0.count) }
    }

    /// Resumes a ticket only on the host it was issued for: a ticket from another host's
    /// connection (the client resuming across names) gets a full handshake, so the certificate
    /// the client verified always belongs to the host the connection is bound to (the 421 rule).
    static let decryptTicket: @convention(c) (OpaquePointer?, OpaquePointer?, UnsafePointer<UInt8>?, Int,
                                              Int32, UnsafeMutableRawPointer?) -> Int32 = { ssl, sslSession, _, _, status, _ in
        switch status {
        case SSL_TICKET_SUCCESS, SSL_TICKET_SUCCESS_RENEW:
            guard let ssl, let sslSession, let session = TLSSession.owning(ssl), let selection = session.selection else {
                return SSL_TICKET_RETURN_IGNORE_RENEW
            }
            var data: UnsafeMutableRawPointer?
            var length = 0
            guard SSL_SESSION_get0_ticket_appdata(sslSession, &data, &length) == 1, let data,
                  UnsafeRawBufferPointer(start: data, count: length).elementsEqual(selection.identity.utf8)
            else { return SSL_TICKET_RETURN_IGNORE_RENEW }
            return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW
        case SSL_TICKET_EMPTY, SSL_TICKET_NO_DECRYPT, SSL_TICKET_NONE:
            return SSL_TICKET_RETURN_IGNORE_RENEW
        default:
            return SSL_TICKET_RETURN_ABORT
        }
    }

    /// Staples the chosen certificate's OCSP response when the client asked (RFC 6066 §8).
    static let stapleOCSP: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _ in
        guard let ssl, let session = TLSSession.owning(ssl), let response = session.certificate?.ocspResponse,
              !response.isEmpty, let copy = CRYPTO_malloc(response.count, #fileID, #line) else {
            return SSL_TLSEXT_ERR_NOACK
        }
        response.withUnsafeBytes { if let b = $0.baseAddress { _ = memcpy(copy, b, $0.count) } }
        // OpenSSL owns `copy` from here.
        guard copenssl_set_tlsext_status_ocsp_resp(ssl, copy.assumingMemoryBound(to: UInt8.self), response.count) == 1 else {
            copenssl_free(copy)
            return SSL_TLSEXT_ERR_NOACK
        }
        return SSL_TLSEXT_ERR_OK
    }
}
