/// Why a certificate or key could not be used. At start and at reload these are manifest errors
/// (the loader adds the `tls` key's file:line:col); the server keeps its old certificates.
public enum CertificateError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file could not be opened or read (`reason` is the errno text).
    case unreadable(path: String, reason: String)
    /// The file has no PEM `CERTIFICATE` block.
    case noCertificate(path: String)
    /// The file has no PEM private key (or only an encrypted one, which a server cannot unlock).
    case noKey(path: String, reason: String)
    /// A PEM block was found but did not parse.
    case malformed(path: String, reason: String)
    /// The private key is not the one the leaf certificate was issued for (X509_check_private_key).
    case keyMismatch(certificate: String, key: String)
    /// OpenSSL's security policy refuses the pair (a key too small, a weak signature digest).
    case refusedByPolicy(path: String, reason: String)
    /// Making a key, certificate or request failed inside OpenSSL.
    case openSSL(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .noCertificate(let path): return "\(path): no PEM certificate (BEGIN CERTIFICATE) in the file"
        case .noKey(let path, let reason): return "\(path): no usable PEM private key (\(reason))"
        case .malformed(let path, let reason): return "\(path): malformed PEM: \(reason)"
        case .keyMismatch(let cert, let key): return "the key in \(key) does not match the certificate in \(cert)"
        case .refusedByPolicy(let path, let reason): return "\(path): refused by the TLS security policy: \(reason)"
        case .openSSL(let reason): return "OpenSSL: \(reason)"
        }
    }
}

/// Something wrong with a certificate that does not stop it being served: `flaks check` and the
/// reload log print these (an expired certificate is a warning, not an error: config-schema.md).
public enum CertificateWarning: Sendable, Hashable, CustomStringConvertible {
    /// notAfter is in the past (Unix seconds).
    case expired(notAfter: Int64)
    /// notBefore is in the future (Unix seconds).
    case notYetValid(notBefore: Int64)
    /// A name of the host that the certificate's SANs do not cover; clients will refuse it.
    case nameNotCovered(String)

    public var description: String {
        switch self {
        case .expired(let t): return "certificate expired at \(UnixTime.iso8601(t))"
        case .notYetValid(let t): return "certificate not valid before \(UnixTime.iso8601(t))"
        case .nameNotCovered(let n): return "certificate does not cover host name \"\(n)\""
        }
    }
}
