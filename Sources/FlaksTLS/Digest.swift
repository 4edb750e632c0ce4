import COpenSSL

/// Message digests from OpenSSL (`EVP_Digest`), for callers outside FlaksTLS that must not
/// hand-write one: the ACME client's JWK thumbprint (RFC 7638) and TLS-ALPN-01 key
/// authorization digest (RFC 8737 §3).
public enum Digest {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { EVP_Digest(input.baseAddress, input.count, $0.baseAddress, &len, EVP_sha256(), nil) }
        }
        // EVP_Digest with SHA-256 fails only when OpenSSL cannot allocate its context.
        precondition(ok == 1 && len == 32, "EVP_Digest(SHA-256) failed")
        return out
    }

    /// SHA-256 of the UTF-8 bytes of `text`.
    public static func sha256(_ text: String) -> [UInt8] { sha256(Array(text.utf8)) }
}
