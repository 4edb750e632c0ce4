import COpenSSL
import Testing
@testable import FlaksTLS

@Suite("Certificate factory and descriptions")
struct CertificateFactoryTests {
    let pki = TestPKI.shared

    @Test func describesALeaf() throws {
        let key = try PrivateKey.generate()
        let cert = try CertificateFactory.makeCertificate(commonName: "d.test", names: ["d.test", "*.d.test", "127.0.0.1", "::1"],
                                                          key: key, issuer: (pki.ca, pki.caKey),
                                                          notBefore: testNow, notAfter: testNow + 90 * 86400)
        let info = cert.info
        #expect(info.subject == "CN=d.test")
        #expect(info.issuer == "CN=Flaks Test CA")
        #expect(info.dnsNames == ["d.test", "*.d.test"])
        #expect(info.ipAddresses == ["127.0.0.1", "::1"])
        #expect(info.notBefore == testNow)
        #expect(info.notAfter == testNow + 90 * 86400)
        #expect(info.keyType == "ECDSA P-256")
        #expect(info.serial.count == 32)
        #expect(info.ocspURLs == [])
        #expect(info.description == """
            subject: CN=d.test
            SANs: d.test, *.d.test, 127.0.0.1, ::1
            issuer: CN=Flaks Test CA
            valid: 2026-01-01T00:00:00Z to 2026-04-01T00:00:00Z
            key: ECDSA P-256, serial \(info.serial)
            """)
        #expect(cert.covers("x.d.test"))
        #expect(cert.covers("::1"))
    }

    @Test func coverage() throws {
        let key = try PrivateKey.generate()
        let cert = try CertificateFactory.makeCertificate(commonName: "d.test", names: ["d.test", "*.w.test", "10.0.0.1"],
                                                          key: key, notBefore: testNow, notAfter: testNow + 86400)
        #expect(cert.covers("d.test"))
        #expect(cert.covers("D.TEST"))
        #expect(cert.covers("x.w.test"))
        #expect(!cert.covers("a.b.w.test"))   // RFC 6125: one label
        #expect(cert.covers("*.w.test"))      // a wildcard host name needs a wildcard certificate
        #expect(!cert.covers("*.d.test"))
        #expect(cert.covers("10.0.0.1"))
        #expect(!cert.covers("10.0.0.2"))
    }

    @Test func keysAndPEMRoundTrip() throws {
        for (kind, text) in [(PrivateKey.Kind.ecdsaP256, "ECDSA P-256"), (.ecdsaP384, "ECDSA P-384"), (.rsa(bits: 2048), "RSA 2048")] {
            let key = try PrivateKey.generate(kind)
            #expect(key.kindDescription == text)
            #expect(key.pem.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
            let again = try PrivateKey.readPEM(Array(key.pem.utf8))
            #expect(EVP_PKEY_eq(key.pointer, again.pointer) == 1)
        }
        let pem = pki.a.leaf.pem
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----\n"))
        #expect(try X509Certificate.readPEM(Array(pem.utf8)).first?.der == pki.a.leaf.der)
    }

    @Test func selfSignedForLocalDevelopment() throws {
        let (cert, key) = try CertificateFactory.makeSelfSigned(names: ["localhost", "127.0.0.1", "::1"], now: testNow, days: 30)
        #expect(cert.info.subject == "CN=localhost")
        #expect(cert.info.issuer == "CN=localhost")
        #expect(cert.info.notAfter == testNow + 30 * 86400)
        #expect(cert.info.notBefore == testNow - 3600)
        let served = try ServerCertificate(chain: [cert], key: key)
        #expect(served.warnings(names: ["localhost", "127.0.0.1"], now: testNow) == [])
        // A client that trusts the certificate itself accepts it.
        let store = try CertificateStore(hosts: [.init(index: 0, names: ["localhost"], certificate: served)])
        let ctx = try pki.context(store: store)
        let client = TestTLSClient(.init(serverName: "localhost", verifyName: "localhost", ca: cert))
        #expect(pumpHandshake(client, try ctx.makeSession()).ok)
        #expect(client.verifyResult == Int(X509_V_OK))
    }

    @Test func csrForACME() throws {
        let key = try PrivateKey.generate()
        let csr = try CertificateFactory.makeCSR(names: ["a.test", "www.a.test"], key: key)
        #expect(csr.pem.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----\n"))
        let req = try #require(csr.der.withUnsafeBufferPointer { buf -> OpaquePointer? in
            var p = buf.baseAddress
            return d2i_X509_REQ(nil, &p, buf.count)
        })
        defer { X509_REQ_free(req) }
        // Signed by the key it carries.
        #expect(X509_REQ_verify(req, key.pointer) == 1)
        #expect(CertificateInfo.name(X509_REQ_get_subject_name(req)) == "CN=a.test")
        let exts = try #require(X509_REQ_get_extensions(req))
        defer { copenssl_sk_ext_pop_free(exts) }
        let sans = try #require(X509V3_get_d2i(exts, NID_subject_alt_name, nil, nil)).assumingMemoryBound(to: Void.self)
        let gens = OpaquePointer(sans)
        defer { copenssl_sans_free(gens) }
        var names: [String] = []
        for i in 0..<copenssl_sans_num(gens) {
            var data: UnsafePointer<UInt8>?
            var len: Int32 = 0
            if copenssl_san_get(gens, i, &data, &len) == 1, let data {
                names.append(String(decoding: UnsafeBufferPointer(start: data, count: Int(len)), as: UTF8.self))
            }
        }
        #expect(names == ["a.test", "www.a.test"])
        // A long first name is left out of the CN (64-character limit) but stays in the SANs.
        let long = String(repeating: "x", count: 60) + ".test"
        let csr2 = try CertificateFactory.makeCSR(names: [long], key: key)
        #expect(!csr2.der.isEmpty)
    }

    @Test func challengeCertificateNeedsADigest() throws {
        let key = try PrivateKey.generate()
        #expect(throws: CertificateError.self) {
            try CertificateFactory.makeACMEChallengeCertificate(name: "a.test", keyAuthorizationDigest: [1, 2], key: key, now: testNow)
        }
    }
}
