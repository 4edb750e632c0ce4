import COpenSSL

/// ES256 (ECDSA P-256 with SHA-256) as JOSE uses it: the ACME client signs its JWS requests with
/// the account key (RFC 8555 §6.2) and publishes the key as a JWK (RFC 7518 §6.2.1).
extension PrivateKey {
    /// True for an ECDSA key on P-256, the only kind `signES256` and `p256PublicCoordinates` take.
    public var isP256: Bool {
        EVP_PKEY_get_base_id(pointer) == EVP_PKEY_EC && EVP_PKEY_get_bits(pointer) == 256
    }

    /// The JWS signature of `message` (RFC 7518 §3.4): ECDSA P-256 over SHA-256, returned as
    /// the 64 bytes R || S (each big-endian, left-padded to 32), not OpenSSL's DER ECDSA-Sig-Value.
    public func signES256(_ message: [UInt8]) throws(CertificateError) -> [UInt8] {
        guard isP256 else { throw .openSSL("ES256 needs an ECDSA P-256 key, not \(kindDescription)") }
        OpenSSLErrorQueue.clear()
        guard let ctx = EVP_MD_CTX_new() else { throw .openSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, pointer) == 1 else {
            throw .openSSL("EVP_DigestSignInit: \(OpenSSLErrorQueue.message("failed"))")
        }
        var derLength = 0
        let sized = message.withUnsafeBufferPointer { EVP_DigestSign(ctx, nil, &derLength, $0.baseAddress, $0.count) }
        guard sized == 1, derLength > 0 else { throw .openSSL("EVP_DigestSign: \(OpenSSLErrorQueue.message("failed"))") }
        var der = [UInt8](repeating: 0, count: derLength)
        let signed = message.withUnsafeBufferPointer { m in
            der.withUnsafeMutableBufferPointer { EVP_DigestSign(ctx, $0.baseAddress, &derLength, m.baseAddress, m.count) }
        }
        guard signed == 1 else { throw .openSSL("EVP_DigestSign: \(OpenSSLErrorQueue.message("failed"))") }
        let sig: OpaquePointer? = der.withUnsafeBufferPointer { buf in
            var p = buf.baseAddress
            return d2i_ECDSA_SIG(nil, &p, derLength)
        }
        guard let sig else { throw .openSSL("d2i_ECDSA_SIG: \(OpenSSLErrorQueue.message("failed"))") }
        defer { ECDSA_SIG_free(sig) }
        var out = [UInt8](repeating: 0, count: 64)
        let ok = out.withUnsafeMutableBufferPointer { buf -> Bool in
            guard let base = buf.baseAddress else { return false }
            return BN_bn2binpad(ECDSA_SIG_get0_r(sig), base, 32) == 32
                && BN_bn2binpad(ECDSA_SIG_get0_s(sig), base + 32, 32) == 32
        }
        guard ok else { throw .openSSL("ES256 signature does not fit 64 bytes") }
        return out
    }

    /// The public point of a P-256 key as the JWK `x` and `y` members take it (RFC 7518
    /// §6.2.1.2-3): each coordinate big-endian, left-padded to 32 bytes.
    public func p256PublicCoordinates() throws(CertificateError) -> (x: [UInt8], y: [UInt8]) {
        guard isP256 else { throw .openSSL("a P-256 JWK needs an ECDSA P-256 key, not \(kindDescription)") }
        func coordinate(_ name: String) throws(CertificateError) -> [UInt8] {
            var bn: OpaquePointer?
            guard EVP_PKEY_get_bn_param(pointer, name, &bn) == 1, let bn else {
                throw .openSSL("public key \(name): \(OpenSSLErrorQueue.message("failed"))")
            }
            defer { BN_free(bn) }
            var out = [UInt8](repeating: 0, count: 32)
            guard out.withUnsafeMutableBufferPointer({ BN_bn2binpad(bn, $0.baseAddress, 32) }) == 32 else {
                throw .openSSL("public key \(name) does not fit 32 bytes")
            }
            return out
        }
        OpenSSLErrorQueue.clear()
        return (try coordinate("qx"), try coordinate("qy"))
    }

    /// Whether `signature` (R || S, 64 bytes) is a valid ES256 signature of `message` by this
    /// key's public half. Used by tests and by a fake CA; a real CA checks our signatures.
    public func verifyES256(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        guard isP256, signature.count == 64, let sig = ECDSA_SIG_new() else { return false }
        defer { ECDSA_SIG_free(sig) }
        let r = BN_bin2bn(signature, 32, nil)
        let s = signature.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress.map { $0 + 32 }, 32, nil) }
        guard let r, let s, ECDSA_SIG_set0(sig, r, s) == 1 else { BN_free(r); BN_free(s); return false }
        let derLength = i2d_ECDSA_SIG(sig, nil)
        guard derLength > 0 else { return false }
        var der = [UInt8](repeating: 0, count: Int(derLength))
        der.withUnsafeMutableBufferPointer { buf in
            var p = buf.baseAddress
            _ = i2d_ECDSA_SIG(sig, &p)
        }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        OpenSSLErrorQueue.clear()
        defer { OpenSSLErrorQueue.clear() }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, pointer) == 1 else { return false }
        return message.withUnsafeBufferPointer { EVP_DigestVerify(ctx, der, der.count, $0.baseAddress, $0.count) } == 1
    }
}
