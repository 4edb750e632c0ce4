import CCrypt
import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// Computes crypt(3) hashes: the seam between `Htpasswd` and libxcrypt, so a test can count the
/// checks (and see the dummy one) without timing anything.
///
/// Implementations block for as long as the hash takes (bcrypt cost 10: ~40 ms; cost 14: ~0.7 s):
/// call them on the worker pool, never on an event loop.
public protocol PasswordHasher: Sendable {
    /// The crypt(3) string of `password` under `setting` (a full stored hash, or just its
    /// algorithm/cost/salt part), or nil when the setting is not one the library can use.
    func hash(password: [UInt8], setting: String) -> [UInt8]?
}

/// libxcrypt's `crypt_rn`: bcrypt (`$2b$`, `$2y$`, `$2a$`) and SHA-512-crypt (`$6$`), among others.
/// Thread-safe: each call has its own `struct crypt_data` (32 KiB, zeroed, freed after).
public struct Crypt: PasswordHasher {
    public init() {}

    public func hash(password: [UInt8], setting: String) -> [UInt8]? {
        guard !password.contains(0) else { return nil }  // C strings: a NUL would cut the password short
        let size = MemoryLayout<crypt_data>.size
        guard let data = calloc(1, size) else { return nil }
        defer {
            memset(data, 0, size)  // the work area held password-derived state
            free(data)
        }
        var phrase = password.map { CChar(bitPattern: $0) }
        phrase.append(0)
        guard let out = crypt_rn(phrase, setting, data, Int32(size)) else { return nil }
        let result = Array(UnsafeBufferPointer(start: UnsafeRawPointer(out).assumingMemoryBound(to: UInt8.self),
                                               count: strlen(out)))
        // libxcrypt returns a string starting with '*' for an unusable setting when the "fail
        // closed" mode is off; treat it as a failure too.
        guard result.first != 0x2A else { return nil }
        return result
    }

    /// A setting (algorithm, cost, salt) for `prefix` and `count` with a salt made from `saltBytes`,
    /// via `crypt_gensalt_rn`: deterministic for fixed bytes. Nil if the library refuses.
    public static func setting(prefix: String, count: Int, saltBytes: [UInt8]) -> String? {
        var output = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        let made = saltBytes.map { CChar(bitPattern: $0) }.withUnsafeBufferPointer { rb in
            crypt_gensalt_rn(prefix, UInt(count), rb.baseAddress, Int32(rb.count), &output, Int32(output.count))
        }
        guard made != nil else { return nil }
        return String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether two byte strings are equal, in time that depends only on their lengths
    /// (OpenSSL's CRYPTO_memcmp). The lengths of crypt strings are public (fixed per algorithm).
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, pa.count) == 0 }
        }
    }
}
