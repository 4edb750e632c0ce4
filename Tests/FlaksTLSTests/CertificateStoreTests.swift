import COpenSSL
import Foundation
import Testing
@testable import FlaksTLS

@Suite("Certificate store: replacement, 421, ACME hooks, OCSP")
struct CertificateStoreTests {
    let pki = TestPKI.shared

    func handshake(_ ctx: TLSServerContext, _ name: String?, alpn: [String] = [], ocsp: Bool = false) throws -> (HandshakeOutcome, TestTLSClient) {
        let client = TestTLSClient(.init(serverName: name, alpn: alpn, requestOCSP: ocsp))
        return (pumpHandshake(client, try ctx.makeSession()), client)
    }

    @Test func replacementServesNewHandshakesOnly() throws {
        let store = try pki.standardStore()
        let ctx = try pki.context(store: store)
        let client = TestTLSClient(.init(serverName: "a.test"))
        let open = try ctx.makeSession()
        #expect(pumpHandshake(client, open).ok)
        #expect(store.replace(host: 0, with: pki.a2))
        #expect(!store.replace(host: 9, with: pki.a2))
        #expect(store.certificate(host: 0)?.info.serial == pki.a2.info.serial)
        // New handshakes get the new certificate, no new context needed.
        let (out, fresh) = try handshake(ctx, "a.test")
        #expect(out.ok)
        #expect(fresh.peerCertificate?.info.serial == pki.a2.info.serial)
        // The open connection keeps working.
        client.write(Array("ping".utf8))
        open.feed(client.takeOutput())
        var buf = [UInt8](repeating: 0, count: 16)
        #expect(buf.withUnsafeMutableBytes { open.readPlaintext(into: $0) } == .bytes(4))
        #expect(open.writePlaintext(Array("pong".utf8)) == .accepted(4))
        client.feed(open.takeOutput())
        #expect(client.read() == .data(Array("pong".utf8)))
    }

    @Test(.timeLimit(.minutes(2)))
    func replacementWhileAnotherThreadHandshakes() async throws {
        let store = try pki.standardStore()
        let ctx = try pki.context(store: store)
        let serials: Set<String> = [pki.a.info.serial, pki.a2.info.serial]
        let pki = self.pki
        // One thread handshakes over and over while another swaps host 0's certificate.
        async let handshakes: [String?] = Task.detached {
            var seen: [String?] = []
            for _ in 0..<60 {
                let client = TestTLSClient(.init(serverName: "a.test"))
                guard let s = try? ctx.makeSession() else { seen.append(nil); continue }
                let out = pumpHandshake(client, s)
                seen.append(out.ok ? client.peerCertificate?.info.serial : nil)
            }
            return seen
        }.value
        async let swaps: Void = Task.detached {
            for i in 0..<400 { store.replace(host: 0, with: i % 2 == 0 ? pki.a2 : pki.a) }
        }.value
        let seen = await handshakes
        await swaps
        #expect(seen.allSatisfy { $0.map(serials.contains) ?? false })
        let (out, last) = try handshake(ctx, "a.test")
        #expect(out.ok && last.peerCertificate?.info.serial == pki.a.info.serial)   // the last swap
    }

    @Test func misdirectedRequests() throws {
        // Hosts 0, 1 and 2 have tls; host 4 (say a plain-HTTP-only site) does not.
        let store = try pki.standardStore()
        #expect(!store.isMisdirected(requestHost: 0, connectionHost: 0))
        #expect(store.isMisdirected(requestHost: 2, connectionHost: 0))   // another TLS host: 421
        #expect(!store.isMisdirected(requestHost: 4, connectionHost: 0))  // a host without tls
        #expect(store.hostIndexes == [0, 1, 2])
    }

    @Test func aHostWithoutACertificateYetFailsCleanly() throws {
        // An ACME host before its first certificate: its names get no other host's certificate.
        let store = try CertificateStore(hosts: [.init(index: 0, names: ["a.test"], certificate: pki.a),
                                                 .init(index: 1, names: ["new.test"], certificate: nil)])
        let ctx = try pki.context(store: store)
        let (pending, client) = try handshake(ctx, "new.test")
        #expect(pending.failure == TLSFailure(kind: .noCertificate, reason: "host \"new.test\" has no certificate yet"))
        #expect(client.peerCertificate == nil)
        #expect(try handshake(ctx, "a.test").0.ok)
        // Issued now: served from the next handshake, with no reload.
        let issued = try TestPKI.leaf(["new.test"], ca: pki.ca, caKey: pki.caKey)
        let fromPEM = try ServerCertificate(certificatePEM: issued.chain.map(\.pem).joined(), keyPEM: issued.key.pem)
        store.replace(host: 1, with: fromPEM)
        let (now, c2) = try handshake(ctx, "new.test")
        #expect(now.ok && c2.peerCertificate?.info.serial == issued.info.serial)
    }

    @Test func tlsALPN01AnswersWithTheChallengeCertificate() throws {
        let store = try pki.standardStore()
        let ctx = try pki.context(store: store)
        let key = try PrivateKey.generate()
        let digest = [UInt8](repeating: 0xAB, count: 32)
        let challenge = try CertificateFactory.makeACMEChallengeCertificate(name: "a.test", keyAuthorizationDigest: digest,
                                                                           key: key, now: testNow)
        store.setChallengeCertificate(try ServerCertificate(chain: [challenge], key: key), forName: "A.test")
        // The validator: ALPN acme-tls/1 only, SNI the name, no chain verification (self-signed).
        let validator = TestTLSClient(.init(serverName: "a.test", ca: nil, alpn: [ALPN.acmeTLS]))
        let out = pumpHandshake(validator, try ctx.makeSession())
        #expect(out.ok)
        #expect(out.info?.isACMEChallenge == true)
        let got = try #require(validator.peerCertificate)
        #expect(got.info.serial == challenge.info.serial)
        // The acmeIdentifier extension, critical, holding OCTET STRING(digest).
        let obj = OBJ_txt2obj(CertificateFactory.acmeIdentifierOID, 1)
        defer { ASN1_OBJECT_free(obj) }
        let index = X509_get_ext_by_OBJ(got.pointer, obj, -1)
        #expect(index >= 0)
        let ext = X509_get_ext(got.pointer, index)
        #expect(X509_EXTENSION_get_critical(ext) == 1)
        let data = X509_EXTENSION_get_data(ext)
        let bytes = Array(UnsafeBufferPointer(start: ASN1_STRING_get0_data(data), count: Int(ASN1_STRING_length(data))))
        #expect(bytes == [0x04, 0x20] + digest)
        // A browser on the same name still gets the host's certificate and http/1.1.
        let (browser, b) = try handshake(ctx, "a.test", alpn: ["h2", "http/1.1"])
        #expect(browser.info?.alpn == "http/1.1" && b.peerCertificate?.info.serial == pki.a.info.serial)
        // acme-tls/1 for a name without a challenge: nothing in common.
        let (other, _) = try handshake(ctx, "b.test", alpn: [ALPN.acmeTLS])
        #expect(other.failure?.kind == .noApplicationProtocol)
        // Removed: the name is back to normal.
        store.setChallengeCertificate(nil, forName: "a.test")
        let (after, _) = try handshake(ctx, "a.test", alpn: [ALPN.acmeTLS])
        #expect(after.failure?.kind == .noApplicationProtocol)
    }

    @Test func ocspStaplingWhenAResponseIsSet() throws {
        let store = try pki.standardStore()
        let ctx = try pki.context(store: store)
        let (before, c0) = try handshake(ctx, "a.test", ocsp: true)
        #expect(before.ok && c0.stapledOCSP == nil)
        let response: [UInt8] = [0x30, 0x03, 0x0A, 0x01, 0x06]   // opaque to the server
        store.replace(host: 0, with: try pki.a.withOCSPResponse(response))
        let (asked, c1) = try handshake(ctx, "a.test", ocsp: true)
        #expect(asked.ok && c1.stapledOCSP == response)
        let (notAsked, c2) = try handshake(ctx, "a.test", ocsp: false)
        #expect(notAsked.ok && c2.stapledOCSP == nil)
    }

    @Test func reportForCheck() throws {
        let store = try pki.standardStore()
        let report = store.report(now: testNow)
        #expect(report.map(\.host) == [0, 1, 2])
        #expect(report[2].names == ["b.test", "www.b.test"])
        #expect(report[2].info?.dnsNames == ["b.test", "www.b.test"])
        #expect(report[2].info?.keyType == "RSA 2048")
        #expect(report.allSatisfy { $0.warnings.isEmpty })
    }

    @Test func badNamesAreRefused() throws {
        #expect(throws: (any Error).self) { try CertificateStore(hosts: [.init(index: 0, names: ["a b"], certificate: pki.a)]) }
        #expect(throws: (any Error).self) {
            try CertificateStore(hosts: [.init(index: 0, names: ["a.test"], certificate: pki.a),
                                         .init(index: 1, names: ["A.test"], certificate: pki.c)])
        }
        let empty = try CertificateStore(hosts: [])
        #expect(empty.select(serverName: "a.test") == nil)
    }
}
