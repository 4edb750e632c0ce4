import COpenSSL
import Testing
@testable import FlaksTLS

@Suite("Loading certificates and keys")
struct CertificateLoadingTests {
    let pki = TestPKI.shared

    func chainPEM(_ c: ServerCertificate) -> String { c.chain.map(\.pem).joined() }

    @Test func loadsAChainAndKey() throws {
        let dir = try TempDir()
        let cert = try dir.write("a.pem", chainPEM(pki.a))
        let key = try dir.write("a.key", pki.a.key.pem)
        let loaded = try ServerCertificate.loadPEM(certPath: cert, keyPath: key)
        #expect(loaded.chain.count == 2)
        #expect(loaded.info == pki.a.info)
        #expect(loaded.chain[1].info.subject == "CN=Flaks Test CA")
        // Certificate and key in one file, key first.
        let both = try dir.write("both.pem", pki.a.key.pem + chainPEM(pki.a))
        #expect(try ServerCertificate.loadPEM(certPath: both, keyPath: both).info.serial == pki.a.info.serial)
    }

    @Test func keyThatDoesNotMatch() throws {
        let dir = try TempDir()
        let cert = try dir.write("a.pem", chainPEM(pki.a))
        let key = try dir.write("c.key", pki.c.key.pem)
        #expect(throws: CertificateError.keyMismatch(certificate: cert, key: key)) {
            try ServerCertificate.loadPEM(certPath: cert, keyPath: key)
        }
        let message = CertificateError.keyMismatch(certificate: cert, key: key).description
        #expect(message == "the key in \(key) does not match the certificate in \(cert)")
    }

    @Test func missingFiles() throws {
        let dir = try TempDir()
        let key = try dir.write("a.key", pki.a.key.pem)
        let missing = dir.path + "/nope.pem"
        #expect(throws: CertificateError.unreadable(path: missing, reason: "No such file or directory")) {
            try ServerCertificate.loadPEM(certPath: missing, keyPath: key)
        }
        let cert = try dir.write("a.pem", chainPEM(pki.a))
        #expect(throws: CertificateError.unreadable(path: missing, reason: "No such file or directory")) {
            try ServerCertificate.loadPEM(certPath: cert, keyPath: missing)
        }
        // A directory is not readable as a file.
        #expect(throws: CertificateError.unreadable(path: dir.path, reason: "Is a directory")) {
            try ServerCertificate.loadPEM(certPath: dir.path, keyPath: key)
        }
    }

    @Test func noCertificateInTheFile() throws {
        let dir = try TempDir()
        let key = try dir.write("a.key", pki.a.key.pem)
        #expect(throws: CertificateError.noCertificate(path: key)) {
            try ServerCertificate.loadPEM(certPath: key, keyPath: key)
        }
        let empty = try dir.write("empty.pem", "")
        #expect(throws: CertificateError.noCertificate(path: empty)) {
            try ServerCertificate.loadPEM(certPath: empty, keyPath: key)
        }
        let broken = try dir.write("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        #expect(throws: CertificateError.self) { try ServerCertificate.loadPEM(certPath: broken, keyPath: key) }
        do {
            _ = try ServerCertificate.loadPEM(certPath: broken, keyPath: key)
        } catch {
            guard case .malformed(let path, _) = error else { Issue.record("\(error)"); return }
            #expect(path == broken)
        }
    }

    @Test func noKeyInTheFile() throws {
        let dir = try TempDir()
        let cert = try dir.write("a.pem", chainPEM(pki.a))
        #expect(throws: CertificateError.noKey(path: cert, reason: "no BEGIN PRIVATE KEY block")) {
            try ServerCertificate.loadPEM(certPath: cert, keyPath: cert)
        }
    }

    @Test func encryptedKeyIsRefusedWithoutPrompting() throws {
        let dir = try TempDir()
        let cert = try dir.write("a.pem", chainPEM(pki.a))
        let pem = withMemoryBIO { bio in
            PEM_write_bio_PKCS8PrivateKey(bio, pki.a.key.pointer, EVP_aes_256_cbc(), "secret", 6, nil, nil) == 1
        } ?? []
        let key = try dir.write("enc.key", bytes: pem)
        #expect(throws: CertificateError.noKey(path: key, reason: "the key is encrypted; give the server an unencrypted key")) {
            try ServerCertificate.loadPEM(certPath: cert, keyPath: key)
        }
    }

    @Test func weakKeyIsRefusedAtLoad() throws {
        do {
            _ = try TestPKI.leaf(["w.test"], ca: pki.ca, caKey: pki.caKey, kind: .rsa(bits: 1024))
            Issue.record("a 1024-bit RSA certificate was accepted")
        } catch let e as CertificateError {
            guard case .refusedByPolicy(_, let reason) = e else { Issue.record("\(e)"); return }
            #expect(reason == "ee key too small")
        }
    }

    @Test func fileSizeLimit() throws {
        let dir = try TempDir()
        let exact = try dir.write("exact", bytes: [UInt8](repeating: 0x20, count: 100))
        #expect(try readSmallFile(exact, limit: 100).count == 100)
        let over = try dir.write("over", bytes: [UInt8](repeating: 0x20, count: 101))
        #expect(throws: CertificateError.unreadable(path: over, reason: "larger than 100 bytes")) {
            try readSmallFile(over, limit: 100)
        }
    }

    @Test func expiryIsAWarningAtItsEdge() throws {
        let leaf = try TestPKI.leaf(["e.test"], ca: pki.ca, caKey: pki.caKey, notBefore: testNow - 10 * 86400, notAfter: testNow - 86400)
        let notAfter = leaf.info.notAfter
        #expect(notAfter == testNow - 86400)
        #expect(leaf.warnings(names: ["e.test"], now: notAfter) == [])          // the last valid second
        #expect(leaf.warnings(names: ["e.test"], now: notAfter + 1) == [.expired(notAfter: notAfter)])
        #expect(leaf.warnings(names: ["e.test"], now: leaf.info.notBefore - 1) == [.notYetValid(notBefore: leaf.info.notBefore)])
        // An expired certificate still loads and is served.
        let store = try CertificateStore(hosts: [.init(index: 0, names: ["e.test"], certificate: leaf)])
        let report = store.report(now: testNow)
        #expect(report.first?.warnings == [.expired(notAfter: notAfter)])
        #expect(CertificateWarning.expired(notAfter: 0).description == "certificate expired at 1970-01-01T00:00:00Z")
    }

    @Test func namesNotCoveredAreWarnings() throws {
        let w = pki.wild.warnings(names: ["*.wild.test", "x.wild.test", "wild.test", "*"], now: testNow)
        #expect(w == [.nameNotCovered("wild.test")])
        let a = pki.a.warnings(names: ["a.test", "*.a.test", "127.0.0.1"], now: testNow)
        #expect(a == [.nameNotCovered("*.a.test"), .nameNotCovered("127.0.0.1")])
    }
}

@Suite("The documented openssl command for a development certificate")
struct DevelopmentCertificateCommandTests {
    /// docs/tls.md gives this command; what it makes must load, cover its names, and serve.
    @Test func makesALoadablePair() throws {
        let dir = try TempDir()
        let (status, _, err) = try run(["/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                        "-nodes", "-days", "365", "-keyout", dir.path + "/localhost.key",
                                        "-out", dir.path + "/localhost.pem", "-subj", "/CN=localhost",
                                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"])
        try #require(status == 0, "\(err)")
        let cert = try ServerCertificate.loadPEM(certPath: dir.path + "/localhost.pem", keyPath: dir.path + "/localhost.key")
        #expect(cert.info.dnsNames == ["localhost"])
        #expect(cert.info.ipAddresses == ["127.0.0.1", "::1"])
        #expect(cert.warnings(names: ["localhost", "127.0.0.1", "::1"], now: UnixTime.now()) == [])
        #expect(cert.info.keyType == "ECDSA P-256")
    }
}
