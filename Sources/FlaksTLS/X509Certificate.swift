import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One X.509 certificate (an OpenSSL `X509`), immutable once made.
///
/// `@unchecked Sendable`: `pointer` holds one reference that this object owns and frees in
/// `deinit`; after `init` nothing mutates the certificate. OpenSSL reads it from several
/// threads (`SSL_use_cert_and_key` takes its own references atomically; the lazily cached
/// extension data is computed under the X509's own lock).
public final class X509Certificate: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Takes ownership of one reference to `x509`.
    init(taking x509: OpaquePointer) { pointer = x509 }

    deinit { X509_free(pointer) }

    /// Every PEM `CERTIFICATE` block in `pem`, in file order (leaf first in a chain file).
    /// Throws `.malformed` when a block is present but broken, `.noCertificate` when there is none.
    public static func readPEM(_ pem: [UInt8], path: String = "<memory>") throws(CertificateError) -> [X509Certificate] {
        guard let bio = pem.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw .openSSL("BIO_new_mem_buf")
        }
        defer { BIO_free(bio) }
        OpenSSLErrorQueue.clear()
        var out: [X509Certificate] = []
        while out.count < 64, let x = PEM_read_bio_X509(bio, nil, nil, nil) {
            out.append(X509Certificate(taking: x))
        }
        // The loop ends on "no start line" (no further block): expected. Anything else is a broken block.
        let err = OpenSSLErrorQueue.drain()
        if let err, err.lib == ERR_LIB_PEM, err.reasonCode == PEM_R_NO_START_LINE {
            guard !out.isEmpty else { throw .noCertificate(path: path) }
            return out
        }
        if let err { throw .malformed(path: path, reason: err.reason) }
        guard !out.isEmpty else { throw .noCertificate(path: path) }
        return out
    }

    /// PEM text (`-----BEGIN CERTIFICATE-----`...).
    public var pem: String {
        let bytes = withMemoryBIO { PEM_write_bio_X509($0, pointer) == 1 } ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    /// DER bytes (what ACME's `certificate` chain and OCSP requests use).
    public var der: [UInt8] {
        let n = i2d_X509(pointer, nil)
        guard n > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: Int(n))
        out.withUnsafeMutableBufferPointer { buf in
            var p = buf.baseAddress
            _ = i2d_X509(pointer, &p)
        }
        return out
    }

    /// Subject, issuer, names, validity and key of this certificate.
    public var info: CertificateInfo { CertificateInfo(pointer) }

    /// Whether the certificate's SANs (or CN when it has none) cover `name`, the way a client
    /// checks (RFC 6125 §6.4: a `*` matches one whole left-most label). An IP literal is
    /// checked against the IP SANs. A host name `*.suffix` is covered only by a wildcard
    /// certificate for the same suffix.
    public func covers(_ name: String) -> Bool {
        if isIPLiteral(name) { return X509_check_ip_asc(pointer, name, 0) == 1 }
        let probe = name.hasPrefix("*.") ? "flaks-wildcard-probe" + name.dropFirst() : Substring(name)
        let s = String(probe)
        return X509_check_host(pointer, s, s.utf8.count, 0, nil) == 1
    }
}

/// `127.0.0.1`, `::1`: what inet_pton takes.
func isIPLiteral(_ s: String) -> Bool {
    var v4 = in_addr(), v6 = in6_addr()
    return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
}

/// What `flaks check` prints for a certificate, and what `status` shows. Times are Unix seconds.
public struct CertificateInfo: Sendable, Hashable, CustomStringConvertible {
    /// RFC 2253 form: `CN=example.test,O=Flaks`.
    public var subject: String
    public var issuer: String
    /// subjectAltName DNS entries, in certificate order.
    public var dnsNames: [String]
    /// subjectAltName IP entries, printed (`127.0.0.1`, `::1`).
    public var ipAddresses: [String]
    public var notBefore: Int64
    public var notAfter: Int64
    /// Hex, uppercase, no separators.
    public var serial: String
    /// `ECDSA P-256`, `RSA 2048`, ...
    public var keyType: String
    /// The OCSP responder URLs of the Authority Information Access extension (for stapling).
    public var ocspURLs: [String]

    init(_ x: OpaquePointer) {
        subject = Self.name(X509_get_subject_name(x))
        issuer = Self.name(X509_get_issuer_name(x))
        notBefore = Self.time(X509_get0_notBefore(x))
        notAfter = Self.time(X509_get0_notAfter(x))
        serial = Self.serial(X509_get_serialNumber(x))
        dnsNames = []
        ipAddresses = []
        if let sans = copenssl_sans(x) {
            for i in 0..<copenssl_sans_num(sans) {
                var data: UnsafePointer<UInt8>?
                var len: Int32 = 0
                let kind = copenssl_san_get(sans, i, &data, &len)
                guard let data, len >= 0 else { continue }
                let bytes = UnsafeBufferPointer(start: data, count: Int(len))
                if kind == 1 { dnsNames.append(String(decoding: bytes, as: UTF8.self)) }
                if kind == 2 { ipAddresses.append(Self.ip(bytes)) }
            }
            copenssl_sans_free(sans)
        }
        ocspURLs = []
        if let urls = X509_get1_ocsp(x) {
            for i in 0..<copenssl_sk_string_num(urls) {
                if let s = copenssl_sk_string_value(urls, i) { ocspURLs.append(String(cString: s)) }
            }
            copenssl_sk_string_free(urls)
        }
        keyType = X509_get0_pubkey(x).map(PrivateKey.describe) ?? "unknown"
        OpenSSLErrorQueue.clear()
    }

    /// Multi-line, for `flaks check`.
    public var description: String {
        var names = dnsNames + ipAddresses
        if names.isEmpty { names = ["(none)"] }
        return """
            subject: \(subject)
            SANs: \(names.joined(separator: ", "))
            issuer: \(issuer)
            valid: \(UnixTime.iso8601(notBefore)) to \(UnixTime.iso8601(notAfter))
            key: \(keyType), serial \(serial)
            """
    }

    static func name(_ n: OpaquePointer?) -> String {
        guard let n else { return "" }
        let bytes = withMemoryBIO { X509_NAME_print_ex($0, n, 0, copenssl_xn_flag_rfc2253()) >= 0 } ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    static func time(_ t: UnsafePointer<ASN1_TIME>?) -> Int64 {
        guard let t else { return 0 }
        var parts = tm()
        guard ASN1_TIME_to_tm(t, &parts) == 1 else { return 0 }
        return Int64(timegm(&parts))
    }

    static func serial(_ s: UnsafePointer<ASN1_INTEGER>?) -> String {
        guard let s, let bn = ASN1_INTEGER_to_BN(s, nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { copenssl_free(hex) }
        return String(cString: hex)
    }

    static func ip(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var text = [CChar](repeating: 0, count: 64)
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return bytes.map { String($0) }.joined(separator: ".")
        }
        guard inet_ntop(family, bytes.baseAddress, &text, socklen_t(text.count)) != nil else { return "?" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
