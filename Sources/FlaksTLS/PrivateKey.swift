import COpenSSL

/// A private key (an OpenSSL `EVP_PKEY`): ECDSA P-256 for new certificates (what ACME orders
/// use), RSA for compatibility.
///
/// `@unchecked Sendable`: `pointer` is one owned reference, freed in `deinit`, never mutated
/// after `init`; OpenSSL signs with a shared key from several threads.
public final class PrivateKey: @unchecked Sendable {
    let pointer: OpaquePointer

    init(taking pkey: OpaquePointer) { pointer = pkey }

    deinit { EVP_PKEY_free(pointer) }

    /// Key types `generate` makes.
    public enum Kind: Sendable, Hashable {
        /// ECDSA on P-256 (prime256v1): the default, and the ACME account/certificate key type.
        case ecdsaP256
        /// ECDSA on P-384.
        case ecdsaP384
        /// RSA with this many bits (2048 or more at OpenSSL's security level 2).
        case rsa(bits: Int)
    }

    /// A fresh key from OpenSSL's CSPRNG (EVP_PKEY_Q_keygen).
    public static func generate(_ kind: Kind = .ecdsaP256) throws(CertificateError) -> PrivateKey {
        OpenSSLErrorQueue.clear()
        let made: OpaquePointer?
        switch kind {
        case .ecdsaP256: made = copenssl_ec_gen("P-256")
        case .ecdsaP384: made = copenssl_ec_gen("P-384")
        case .rsa(let bits): made = copenssl_rsa_gen(bits)
        }
        guard let made else { throw .openSSL(OpenSSLErrorQueue.message("key generation failed")) }
        return PrivateKey(taking: made)
    }

    /// The first private key in `pem` (PKCS#8, or the traditional EC/RSA forms). Encrypted keys
    /// are refused rather than prompting on the terminal (OpenSSL's default password callback).
    public static func readPEM(_ pem: [UInt8], path: String = "<memory>") throws(CertificateError) -> PrivateKey {
        guard let bio = pem.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw .openSSL("BIO_new_mem_buf")
        }
        defer { BIO_free(bio) }
        OpenSSLErrorQueue.clear()
        let noPassword: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in 0 }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, noPassword, nil) else {
            let err = OpenSSLErrorQueue.drain()
            let text = String(decoding: pem, as: UTF8.self)
            let reason: String
            if text.contains("ENCRYPTED") { reason = "the key is encrypted; give the server an unencrypted key" }
            else if !text.contains("PRIVATE KEY-----") { reason = "no BEGIN PRIVATE KEY block" }
            else { reason = err?.reason ?? "unreadable key" }
            throw .noKey(path: path, reason: reason)
        }
        OpenSSLErrorQueue.clear()
        return PrivateKey(taking: key)
    }

    /// Unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). Write it to a 0600 file.
    public var pem: String {
        let bytes = withMemoryBIO { PEM_write_bio_PrivateKey($0, pointer, nil, nil, 0, nil, nil) == 1 } ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `ECDSA P-256`, `RSA 2048`.
    public var kindDescription: String { Self.describe(pointer) }

    static func describe(_ key: OpaquePointer) -> String {
        let bits = EVP_PKEY_get_bits(key)
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: return "RSA \(bits)"
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var len = 0
            let curve = EVP_PKEY_get_utf8_string_param(key, "group", &name, name.count, &len) == 1
                ? String(decoding: name.prefix(len).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
            switch curve {
            case "prime256v1", "P-256": return "ECDSA P-256"
            case "secp384r1", "P-384": return "ECDSA P-384"
            default: return "ECDSA \(curve)"
            }
        case EVP_PKEY_ED25519: return "Ed25519"
        default: return "key type \(EVP_PKEY_get_base_id(key)) (\(bits) bits)"
        }
    }
}
