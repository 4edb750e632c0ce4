import COpenSSL
import Foundation
import Testing
@testable import FlaksTLS

/// Moves bytes between a `TLSClientSession` and a server `TLSSession` until the client's
/// handshake ends (bounded rounds), the server getting its input `step` bytes at a time.
func pumpClientHandshake(_ client: TLSClientSession, _ server: TLSSession, step: Int = Int.max) -> TLSClientSession.HandshakeResult {
    var result = client.handshake()
    for _ in 0..<1000 {
        if case .wantsInput = result {} else { break }
        var toServer = client.takeOutput()
        while !toServer.isEmpty {
            let piece = Array(toServer.prefix(step))
            let taken = server.feed(piece)
            toServer.removeFirst(taken)
            _ = server.handshake()
            if taken == 0 { break }
        }
        _ = server.handshake()
        client.feed(server.takeOutput())
        result = client.handshake()
    }
    // The client's Finished (TLS 1.3) and the server's tickets.
    _ = server.feed(client.takeOutput())
    _ = server.handshake()
    client.feed(server.takeOutput())
    return result
}

@Suite("TLS client sessions in memory")
struct ClientSessionTests {
    let pki = TestPKI.shared

    func clientContext(systemRoots: Bool = false, roots: [X509Certificate]? = nil) throws -> TLSClientContext {
        let pem = (roots ?? [pki.ca]).map(\.pem).joined()
        return try TLSClientContext(extraRootsPEM: Array(pem.utf8), systemRoots: systemRoots)
    }

    @Test func verifiesTheChainAndTheNameAndCarriesData() throws {
        let server = try pki.context()
        let ctx = try clientContext()
        #expect(ctx.extraRootCount == 1)
        for step in [Int.max, 1] {
            let client = try ctx.makeSession(host: "www.b.test", verificationTime: testNow)
            let session = try server.makeSession()
            guard case .complete(let version) = pumpClientHandshake(client, session, step: step) else {
                Issue.record("handshake failed: \(String(describing: client.failure)) server \(String(describing: session.failure))")
                continue
            }
            #expect(version == "TLSv1.3")
            #expect(client.alpn == "http/1.1")
            #expect(client.peerCertificate?.info.serial == pki.bRSA.info.serial)
            if case .complete(let info) = session.handshake() { #expect(info.serverName == "www.b.test") } else { Issue.record("server") }

            // Application data both ways.
            #expect(client.writePlaintext(Array("GET / HTTP/1.1\r\n\r\n".utf8)) == nil)
            _ = session.feed(client.takeOutput())
            var buf = [UInt8](repeating: 0, count: 1024)
            let got = buf.withUnsafeMutableBytes { session.readPlaintext(into: $0) }
            #expect(got == .bytes(18))
            _ = session.writePlaintext(Array("hello".utf8))
            session.shutdown()
            client.feed(session.takeOutput())
            #expect(buf.withUnsafeMutableBytes { client.readPlaintext(into: $0) } == .bytes(5))
            #expect(buf.withUnsafeMutableBytes { client.readPlaintext(into: $0) } == .closed)
        }
    }

    @Test func aNameTheCertificateDoesNotCoverIsRefused() throws {
        // SNI picks a.test's certificate for an unknown name; the client asked for other.test.
        let client = try clientContext().makeSession(host: "other.test", verificationTime: testNow)
        let result = pumpClientHandshake(client, try pki.context().makeSession())
        guard case .failed(let f) = result else { Issue.record("accepted: \(result)"); return }
        #expect(f.kind == .untrustedPeer)
        #expect(f.reason.contains("hostname mismatch"), "\(f.reason)")
    }

    @Test func anUnknownIssuerIsRefused() throws {
        let otherKey = try PrivateKey.generate(.ecdsaP256)
        let other = try CertificateFactory.makeCA(commonName: "Other CA", key: otherKey, notBefore: testNow - 10, notAfter: testNow + 86400)
        let client = try clientContext(roots: [other]).makeSession(host: "a.test", verificationTime: testNow)
        guard case .failed(let f) = pumpClientHandshake(client, try pki.context().makeSession()) else {
            Issue.record("accepted"); return
        }
        #expect(f.kind == .untrustedPeer)
        // The server sends its CA too: OpenSSL reports the self-signed root it does not trust.
        #expect(f.reason.contains("self-signed certificate in certificate chain"), "\(f.reason)")
    }

    @Test func anExpiredCertificateIsRefused() throws {
        let client = try clientContext().makeSession(host: "a.test", verificationTime: testNow + 400 * 86400)
        guard case .failed(let f) = pumpClientHandshake(client, try pki.context().makeSession()) else {
            Issue.record("accepted"); return
        }
        #expect(f.kind == .untrustedPeer)
        #expect(f.reason.contains("expired"), "\(f.reason)")
    }

    @Test func anIPLiteralIsCheckedAgainstTheIPSANsAndSendsNoSNI() throws {
        let key = try PrivateKey.generate(.ecdsaP256)
        let cert = try CertificateFactory.makeCertificate(commonName: "localhost", names: ["localhost", "127.0.0.1"], key: key,
                                                          issuer: (pki.ca, pki.caKey), notBefore: testNow - 10, notAfter: testNow + 86400)
        let store = try CertificateStore(hosts: [.init(index: 0, names: ["localhost"], certificate: try ServerCertificate(chain: [cert], key: key))])
        let server = try pki.context(store: store)
        let ok = try clientContext().makeSession(host: "127.0.0.1", verificationTime: testNow)
        let session = try server.makeSession()
        guard case .complete = pumpClientHandshake(ok, session) else { Issue.record("refused: \(String(describing: ok.failure))"); return }
        if case .complete(let info) = session.handshake() { #expect(info.serverName == nil) }
        let wrong = try clientContext().makeSession(host: "127.0.0.2", verificationTime: testNow)
        guard case .failed(let f) = pumpClientHandshake(wrong, try server.makeSession()) else { Issue.record("accepted"); return }
        #expect(f.kind == .untrustedPeer)
    }

    @Test func extraRootsFromAFile() throws {
        #expect(throws: CertificateError.self) { try TLSClientContext(extraRootsFile: "/nonexistent/roots.pem") }
        #expect(throws: CertificateError.self) { try TLSClientContext(extraRootsPEM: Array("not a certificate".utf8)) }
        // The system roots alone do not know the test CA.
        let client = try TLSClientContext(extraRootsFile: nil).makeSession(host: "a.test", verificationTime: testNow)
        guard case .failed(let f) = pumpClientHandshake(client, try pki.context().makeSession()) else { Issue.record("accepted"); return }
        #expect(f.kind == .untrustedPeer)
    }

    @Test(.enabled(if: TLSClientContext.systemBundles.contains { FileManager.default.fileExists(atPath: $0) }, "no system root bundle"))
    func systemRootsAreLoadedFromTheDistributionsBundle() throws {
        let system = try TLSClientContext(extraRootsFile: nil)
        #expect(system.loadedRootCount > 20)
        let none = try TLSClientContext(extraRootsPEM: Array(pki.ca.pem.utf8), systemRoots: false)
        #expect(none.loadedRootCount == 1)
    }

    @Test func misuseFailsCleanly() throws {
        let client = try clientContext().makeSession(host: "a.test")
        #expect(client.writePlaintext([1, 2, 3])?.kind == .internal)
        var buf = [UInt8](repeating: 0, count: 8)
        if case .failed = buf.withUnsafeMutableBytes({ client.readPlaintext(into: $0) }) {} else { Issue.record("read before handshake") }
    }

    @Test func theServerClosingMidHandshakeFails() throws {
        let client = try clientContext().makeSession(host: "a.test", verificationTime: testNow)
        #expect(client.handshake() == .wantsInput)
        _ = client.takeOutput()
        client.feed(Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))   // not TLS
        guard case .failed(let f) = client.handshake() else { Issue.record("accepted garbage"); return }
        #expect(f.kind != .untrustedPeer)
    }
}
