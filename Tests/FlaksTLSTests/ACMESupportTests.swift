import COpenSSL
import Testing
@testable import FlaksTLS

/// What FlaksTLS adds for the ACME client: SHA-256, ES256 as raw R||S, the P-256 JWK
/// coordinates, and the AKI / serial bytes of the ARI certificate ID.
@Suite("ACME support in FlaksTLS")
struct ACMESupportTests {
    @Test("SHA-256 known answer")
    func sha256() {
        let d = Digest.sha256("abc")
        let hex: String = d.map { (b: UInt8) -> String in b < 16 ? "0" + String(b, radix: 16) : String(b, radix: 16) }.joined()
        #expect(hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("ES256 signatures are 64 bytes and verify; other key types are refused")
    func es256() throws {
        let key = try PrivateKey.generate(.ecdsaP256)
        #expect(key.isP256)
        let sig = try key.signES256([1, 2, 3])
        #expect(sig.count == 64)
        #expect(key.verifyES256(sig, of: [1, 2, 3]))
        #expect(!key.verifyES256(sig, of: [1, 2, 4]))
        #expect(!key.verifyES256(Array(sig.prefix(63)), of: [1, 2, 3]))
        let p384 = try PrivateKey.generate(.ecdsaP384)
        #expect(!p384.isP256)
        #expect(throws: CertificateError.self) { try p384.signES256([1]) }
        #expect(throws: CertificateError.self) { try p384.p256PublicCoordinates() }
    }

    @Test("the coordinates are the key's public point")
    func coordinates() throws {
        let key = try PrivateKey.generate(.ecdsaP256)
        let (x, y) = try key.p256PublicCoordinates()
        #expect(x.count == 32 && y.count == 32)
        // Compare with the encoded public key OpenSSL exports (04 || X || Y).
        var buf = [UInt8](repeating: 0, count: 65)
        var len = 0
        #expect(EVP_PKEY_get_octet_string_param(key.pointer, "encoded-pub-key", &buf, 65, &len) == 1)
        #expect(len == 65 && buf[0] == 4)
        #expect(Array(buf[1...32]) == x && Array(buf[33...64]) == y)
    }

    @Test("AKI is the issuer's SKI; serial bytes are the DER INTEGER content")
    func akiAndSerial() throws {
        let pki = TestPKI.shared
        let leaf = pki.a.leaf
        let aki = try #require(leaf.authorityKeyIdentifier)
        let ski = try #require(X509_get0_subject_key_id(pki.ca.pointer))
        #expect(aki == Array(UnsafeBufferPointer(start: ASN1_STRING_get0_data(ski), count: Int(ASN1_STRING_length(ski)))))
        let serial = leaf.serialNumberBytes
        #expect(serial.count == 16)   // CertificateFactory makes 16-byte positive serials
        #expect(serial[0] & 0x80 == 0)
        let hex: String = serial.map { (b: UInt8) -> String in (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true) }.joined()
        #expect(hex == leaf.info.serial)
        #expect(pki.ca.authorityKeyIdentifier == nil)   // self-signed, made without AKI
    }
}
