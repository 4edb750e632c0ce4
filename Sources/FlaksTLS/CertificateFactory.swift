import COpenSSL

/// Makes keys, certificates and certificate requests with OpenSSL: a test CA and leaves signed by
/// it (tests), a self-signed certificate (`flaks cert`, local development), a CSR (RFC 8555 §7.4
/// finalize) and a TLS-ALPN-01 challenge certificate (RFC 8737 §3) for the ACME client.
/// Times are Unix seconds; the caller passes `now`.
public enum CertificateFactory {
    /// An extension given as its DER value (what goes inside extnValue).
    public struct RawExtension: Sendable, Hashable {
        /// Dotted OID, e.g. `1.3.6.1.5.5.7.1.31`.
        public var oid: String
        public var critical: Bool
        public var der: [UInt8]
        public init(oid: String, critical: Bool, der: [UInt8]) { self.oid = oid; self.critical = critical; self.der = der }
    }

    /// Issues a certificate for `key`'s public key.
    /// - Parameters:
    ///   - commonName: the subject CN (clients ignore it when SANs are present: RFC 6125 §6.4.4).
    ///   - names: subjectAltName entries; IP literals become IP entries, the rest DNS entries
    ///     (`*.example.test` allowed). Empty for a CA.
    ///   - issuer: the signing CA's certificate and key; nil signs with `key` (self-signed).
    ///   - isCA: basicConstraints CA:TRUE with keyCertSign, else an end-entity TLS server
    ///     certificate (digitalSignature, plus keyEncipherment for RSA; EKU serverAuth).
    public static func makeCertificate(commonName: String, names: [String], key: PrivateKey,
                                       issuer: (certificate: X509Certificate, key: PrivateKey)? = nil,
                                       isCA: Bool = false, notBefore: Int64, notAfter: Int64,
                                       extensions extra: [RawExtension] = []) throws(CertificateError) -> X509Certificate {
        OpenSSLErrorQueue.clear()
        guard let x = X509_new() else { throw .openSSL("X509_new") }
        let cert = X509Certificate(taking: x)   // frees `x` if a step below throws
        func check(_ ok: Bool, _ what: String) throws(CertificateError) {
            if !ok { throw .openSSL("\(what): \(OpenSSLErrorQueue.message("failed"))") }
        }
        try check(X509_set_version(x, Int(X509_VERSION_3)) == 1, "version")
        try check(setRandomSerial(x), "serial")
        try check(ASN1_TIME_set(X509_getm_notBefore(x), time_t(notBefore)) != nil, "notBefore")
        try check(ASN1_TIME_set(X509_getm_notAfter(x), time_t(notAfter)) != nil, "notAfter")
        try check(X509_set_pubkey(x, key.pointer) == 1, "public key")
        guard let subject = X509_NAME_new() else { throw .openSSL("X509_NAME_new") }
        defer { X509_NAME_free(subject) }
        try check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1, "subject CN")
        try check(X509_set_subject_name(x, subject) == 1, "subject")
        let issuerName = issuer.map { X509_get_subject_name($0.certificate.pointer) } ?? subject
        try check(X509_set_issuer_name(x, issuerName) == 1, "issuer")

        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, issuer?.certificate.pointer ?? x, x, nil, nil, 0)
        let isRSA = EVP_PKEY_get_base_id(key.pointer) == EVP_PKEY_RSA
        var confs: [(Int32, String)] = [(NID_subject_key_identifier, "hash")]
        if issuer != nil { confs.append((NID_authority_key_identifier, "keyid:always")) }
        if isCA {
            confs += [(NID_basic_constraints, "critical,CA:TRUE"), (NID_key_usage, "critical,keyCertSign,cRLSign")]
        } else {
            confs += [(NID_basic_constraints, "critical,CA:FALSE"),
                      (NID_key_usage, isRSA ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"),
                      (NID_ext_key_usage, "serverAuth")]
        }
        for (nid, value) in confs {
            guard let ext = X509V3_EXT_nconf_nid(nil, &v3, nid, value) else {
                throw .openSSL("extension \(nid): \(OpenSSLErrorQueue.message("failed"))")
            }
            defer { X509_EXTENSION_free(ext) }
            try check(X509_add_ext(x, ext, -1) == 1, "add extension")
        }
        if !names.isEmpty {
            let ext = try subjectAltName(names)
            defer { X509_EXTENSION_free(ext) }
            try check(X509_add_ext(x, ext, -1) == 1, "subjectAltName")
        }
        for e in extra {
            guard let ext = e.der.withUnsafeBufferPointer({ copenssl_raw_extension(e.oid, e.critical ? 1 : 0, $0.baseAddress, Int32($0.count)) })
            else { throw .openSSL("extension \(e.oid): \(OpenSSLErrorQueue.message("failed"))") }
            defer { X509_EXTENSION_free(ext) }
            try check(X509_add_ext(x, ext, -1) == 1, "add extension \(e.oid)")
        }
        let signer = issuer?.key ?? key
        try check(X509_sign(x, signer.pointer, EVP_sha256()) > 0, "sign")
        return cert
    }

    /// A CA certificate for tests (and a local development CA).
    public static func makeCA(commonName: String, key: PrivateKey, notBefore: Int64, notAfter: Int64) throws(CertificateError) -> X509Certificate {
        try makeCertificate(commonName: commonName, names: [], key: key, isCA: true, notBefore: notBefore, notAfter: notAfter)
    }

    /// A self-signed server certificate and a new key for local development (`flaks cert`):
    /// valid from an hour ago for `days` days, CN = the first name, SANs = `names`.
    public static func makeSelfSigned(names: [String], now: Int64, days: Int = 365,
                                      keyKind: PrivateKey.Kind = .ecdsaP256) throws(CertificateError) -> (certificate: X509Certificate, key: PrivateKey) {
        guard let first = names.first else { throw .openSSL("a certificate needs at least one name") }
        let key = try PrivateKey.generate(keyKind)
        let cert = try makeCertificate(commonName: first, names: names, key: key,
                                       notBefore: now - 3600, notAfter: now + Int64(days) * 86400)
        return (cert, key)
    }

    /// A PKCS#10 request for `names` (RFC 2986; RFC 8555 §7.4: every identifier in the
    /// subjectAltName, the first also as CN when it fits the 64-character limit).
    public static func makeCSR(names: [String], key: PrivateKey) throws(CertificateError) -> CertificateSigningRequest {
        guard let first = names.first else { throw .openSSL("a request needs at least one name") }
        OpenSSLErrorQueue.clear()
        guard let req = X509_REQ_new() else { throw .openSSL("X509_REQ_new") }
        defer { X509_REQ_free(req) }
        func check(_ ok: Bool, _ what: String) throws(CertificateError) {
            if !ok { throw .openSSL("\(what): \(OpenSSLErrorQueue.message("failed"))") }
        }
        try check(X509_REQ_set_version(req, 0) == 1, "version")
        if first.utf8.count <= 64 {
            guard let subject = X509_NAME_new() else { throw .openSSL("X509_NAME_new") }
            defer { X509_NAME_free(subject) }
            try check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, first, -1, -1, 0) == 1, "subject CN")
            try check(X509_REQ_set_subject_name(req, subject) == 1, "subject")
        }
        try check(X509_REQ_set_pubkey(req, key.pointer) == 1, "public key")
        guard let exts = copenssl_sk_ext_new() else { throw .openSSL("sk_X509_EXTENSION_new_null") }
        defer { copenssl_sk_ext_pop_free(exts) }
        let san = try subjectAltName(names)
        guard copenssl_sk_ext_push(exts, san) > 0 else { X509_EXTENSION_free(san); throw .openSSL("push extension") }
        try check(X509_REQ_add_extensions(req, exts) == 1, "extensions")
        try check(X509_REQ_sign(req, key.pointer, EVP_sha256()) > 0, "sign")
        let n = i2d_X509_REQ(req, nil)
        guard n > 0 else { throw .openSSL("i2d_X509_REQ") }
        var der = [UInt8](repeating: 0, count: Int(n))
        der.withUnsafeMutableBufferPointer { buf in
            var p = buf.baseAddress
            _ = i2d_X509_REQ(req, &p)
        }
        let pem = withMemoryBIO { PEM_write_bio_X509_REQ($0, req) == 1 } ?? []
        return CertificateSigningRequest(der: der, pem: String(decoding: pem, as: UTF8.self))
    }

    /// RFC 8737 §3: the self-signed certificate a TLS-ALPN-01 validation gets for `name`: that
    /// one DNS SAN and the critical acmeIdentifier extension holding the SHA-256 digest of the
    /// key authorization. Serve it with `CertificateStore.setChallengeCertificate`.
    public static func makeACMEChallengeCertificate(name: String, keyAuthorizationDigest digest: [UInt8],
                                                    key: PrivateKey, now: Int64) throws(CertificateError) -> X509Certificate {
        guard digest.count == 32 else { throw .openSSL("the key authorization digest must be 32 bytes (SHA-256)") }
        let value = RawExtension(oid: acmeIdentifierOID, critical: true, der: [0x04, 0x20] + digest)   // OCTET STRING (SIZE (32))
        return try makeCertificate(commonName: name, names: [name], key: key, notBefore: now - 3600,
                                   notAfter: now + 7 * 86400, extensions: [value])
    }

    /// id-pe-acmeIdentifier (RFC 8737 §6.1).
    public static let acmeIdentifierOID = "1.3.6.1.5.5.7.1.31"

    private static func subjectAltName(_ names: [String]) throws(CertificateError) -> OpaquePointer {
        guard let gens = copenssl_gens_new() else { throw .openSSL("GENERAL_NAMES") }
        defer { GENERAL_NAMES_free(gens) }
        for name in names {
            let ok = isIPLiteral(name) ? copenssl_gens_push_ip(gens, name) : copenssl_gens_push_dns(gens, name)
            guard ok == 1 else { throw .openSSL("subjectAltName entry \"\(name)\"") }
        }
        guard let ext = copenssl_gens_extension(gens) else { throw .openSSL("subjectAltName: \(OpenSSLErrorQueue.message("failed"))") }
        return ext
    }

    private static func setRandomSerial(_ x: OpaquePointer) -> Bool {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard bytes.withUnsafeMutableBytes({ RAND_bytes($0.baseAddress, 16) }) == 1 else { return false }
        bytes[0] &= 0x7F   // positive (RFC 5280 §4.1.2.2)
        bytes[0] |= 0x01   // and a full 16 bytes, so no leading zero is stripped
        guard let bn = BN_bin2bn(bytes, 16, nil) else { return false }
        defer { BN_free(bn) }
        return BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nil
    }
}

/// A certificate signing request: DER (base64url of it goes into an ACME finalize request) and PEM.
public struct CertificateSigningRequest: Sendable, Hashable {
    public let der: [UInt8]
    public let pem: String
}
