import COpenSSL

/// The two fields that name a certificate to a CA's ACME Renewal Information endpoint
/// (RFC 9773 §4.1: certID = base64url(AKI keyIdentifier) "." base64url(serial)).
extension X509Certificate {
    /// The keyIdentifier of the Authority Key Identifier extension (RFC 5280 §4.2.1.1), or nil
    /// when the certificate has none (self-signed certificates often do not).
    public var authorityKeyIdentifier: [UInt8]? {
        guard let akid = X509_get0_authority_key_id(pointer) else { return nil }
        let count = Int(ASN1_STRING_length(akid))
        guard count > 0, let data = ASN1_STRING_get0_data(akid) else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: count))
    }

    /// The serial number as the content octets of its DER INTEGER (two's complement, with the
    /// leading zero byte a positive number whose top bit is set needs), without tag and length.
    public var serialNumberBytes: [UInt8] {
        guard let serial = X509_get0_serialNumber(pointer) else { return [] }
        let n = i2d_ASN1_INTEGER(serial, nil)
        guard n > 2 else { return [] }
        var der = [UInt8](repeating: 0, count: Int(n))
        der.withUnsafeMutableBufferPointer { buf in
            var p = buf.baseAddress
            _ = i2d_ASN1_INTEGER(serial, &p)
        }
        // Tag 0x02, then a short (< 0x80) or long length form.
        guard der.count >= 2 else { return [] }
        let lengthByte = Int(der[1])
        let header = lengthByte < 0x80 ? 2 : 2 + (lengthByte & 0x7F)
        guard header <= der.count else { return [] }
        return Array(der[header...])
    }
}
