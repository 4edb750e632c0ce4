import COpenSSL
import Testing
@testable import FlaksTLS

/// Handshakes between an OpenSSL client and `TLSSession`, in memory.
@Suite("TLS handshakes in memory")
struct HandshakeTests {
    let pki = TestPKI.shared

    /// SNI -> (manifest host, the certificate the client must receive).
    @Test(arguments: [
        ("a.test", 0),
        ("A.Test", 0),            // SNI is matched without regard to case, like Host
        ("x.wild.test", 1),
        ("deep.x.wild.test", 1),  // the HostTable's wildcard covers deeper names too, as for Host
        ("b.test", 2),
        ("www.b.test", 2),
        ("wild.test", 0),         // "*.wild.test" needs a label before the suffix: unknown -> first host
        ("unknown.test", 0),      // unknown name -> the first host with tls
    ])
    func sniPicksTheHostsCertificate(name: String, host: Int) throws {
        let ctx = try pki.context()
        let expected = [pki.a, pki.wild, pki.bRSA][host]
        for step in [Int.max, 1] {
            let client = TestTLSClient(.init(serverName: name))
            let session = try ctx.makeSession()
            let out = pumpHandshake(client, session, step: step)
            #expect(out.ok, "\(name) step \(step): \(String(describing: out.failure)) \(client.failed ?? "")")
            #expect(out.info?.host == host)
            #expect(out.info?.serverName == name.lowercased())
            #expect(client.peerCertificate?.info.serial == expected.info.serial)
            #expect(client.verifyResult == Int(X509_V_OK))
        }
    }

    @Test func noSNIGetsTheFirstHost() throws {
        let ctx = try pki.context()
        let client = TestTLSClient(.init(serverName: nil))
        let session = try ctx.makeSession()
        let out = pumpHandshake(client, session)
        #expect(out.ok)
        #expect(out.info?.host == 0)
        #expect(out.info?.serverName == nil)
        #expect(client.peerCertificate?.info.serial == pki.a.info.serial)
    }

    @Test func aStarHostIsTheDefault() throws {
        let store = try CertificateStore(hosts: [.init(index: 3, names: ["a.test"], certificate: pki.a),
                                                 .init(index: 5, names: ["*", "c.test"], certificate: pki.c)])
        let ctx = try pki.context(store: store)
        for (name, host) in [("a.test", 3), ("other.test", 5), (nil, 5)] as [(String?, Int)] {
            let client = TestTLSClient(.init(serverName: name))
            let out = pumpHandshake(client, try ctx.makeSession())
            #expect(out.info?.host == host, "\(name ?? "no SNI")")
        }
    }

    @Test func clientVerifiesTheName() throws {
        let ctx = try pki.context()
        let good = TestTLSClient(.init(serverName: "www.b.test", verifyName: "www.b.test"))
        #expect(pumpHandshake(good, try ctx.makeSession()).ok)
        // The client asks for a name no host covers: it gets host 0's certificate and refuses it;
        // the server sees the client's alert.
        let bad = TestTLSClient(.init(serverName: "nobody.test", verifyName: "nobody.test"))
        let out = pumpHandshake(bad, try ctx.makeSession())
        #expect(!out.clientDone)
        #expect(out.failure?.kind == .peerAlert)
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func defaultPolicyAcceptsTLS12And13(version: Int32) throws {
        let ctx = try pki.context()
        for step in [Int.max, 1] {
            let client = TestTLSClient(.init(serverName: "a.test", minVersion: version, maxVersion: version))
            let out = pumpHandshake(client, try ctx.makeSession(), step: step)
            #expect(out.ok)
            #expect(out.info?.version == (version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2"))
            #expect(client.version == out.info?.version)
        }
    }

    @Test func minVersion13RefusesTLS12() throws {
        let ctx = try pki.context(policy: TLSPolicy(minVersion: .tls13))
        let old = TestTLSClient(.init(serverName: "a.test", maxVersion: TLS1_2_VERSION))
        let refused = pumpHandshake(old, try ctx.makeSession())
        #expect(refused.failure?.kind == .protocolVersion)
        #expect(!refused.clientDone)
        let new = TestTLSClient(.init(serverName: "a.test"))
        #expect(pumpHandshake(new, try ctx.makeSession()).info?.version == "TLSv1.3")
    }

    @Test(arguments: [TLS1_VERSION, TLS1_1_VERSION])
    func tls11AndOlderAreAlwaysRefused(version: Int32) throws {
        for policy in [TLSPolicy(), TLSPolicy(minVersion: .tls13)] {
            let ctx = try pki.context(policy: policy)
            // SECLEVEL=0 so the client itself is willing to speak the old version.
            let client = TestTLSClient(.init(serverName: "a.test", minVersion: version, maxVersion: version,
                                             ciphers: "DEFAULT:@SECLEVEL=0"))
            let out = pumpHandshake(client, try ctx.makeSession())
            #expect(out.failure?.kind == .protocolVersion, "\(String(describing: out.failure))")
            #expect(!out.clientDone)
        }
    }

    /// TLS 1.2 clients limited to one cipher: only ECDHE + AEAD succeed.
    @Test(arguments: [
        ("b.test", "ECDHE-RSA-AES128-GCM-SHA256", true),      // control: allowed
        ("a.test", "ECDHE-ECDSA-CHACHA20-POLY1305", true),    // control: allowed
        ("b.test", "AES128-GCM-SHA256", false),               // RSA key exchange: no forward secrecy
        ("b.test", "DHE-RSA-AES128-GCM-SHA256", false),       // finite-field DHE
        ("b.test", "ECDHE-RSA-AES128-SHA256", false),         // CBC, not AEAD
        ("a.test", "ECDHE-ECDSA-AES128-SHA", false),          // CBC with SHA-1
        ("b.test", "AES256-SHA", false),
    ])
    func tls12CipherPolicy(name: String, cipher: String, accepted: Bool) throws {
        let ctx = try pki.context()
        let client = TestTLSClient(.init(serverName: name, maxVersion: TLS1_2_VERSION, ciphers: cipher))
        let out = pumpHandshake(client, try ctx.makeSession())
        #expect(out.ok == accepted, "\(cipher): \(String(describing: out.failure))")
        if accepted { #expect(out.info?.cipher == cipher) } else { #expect(out.failure?.kind == .noSharedCipher) }
    }

    @Test func tls13SuitesAreAEAD() throws {
        let ctx = try pki.context()
        for suite in ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] {
            let client = TestTLSClient(.init(serverName: "a.test", ciphersuites: suite))
            #expect(pumpHandshake(client, try ctx.makeSession()).info?.cipher == suite)
        }
        // TLS_AES_128_CCM_8_SHA256 is not in the policy.
        let ccm = TestTLSClient(.init(serverName: "a.test", minVersion: TLS1_3_VERSION, ciphersuites: "TLS_AES_128_CCM_8_SHA256"))
        #expect(pumpHandshake(ccm, try ctx.makeSession()).failure?.kind == .noSharedCipher)
    }

    @Test(arguments: [
        ([String](), String?.none),
        (["http/1.1"], "http/1.1"),
        (["h2", "http/1.1"], "http/1.1"),
        (["spdy/3", "http/1.1", "h2"], "http/1.1"),
    ])
    func alpnChoosesHTTP11(offered: [String], chosen: String?) throws {
        let ctx = try pki.context()
        let client = TestTLSClient(.init(serverName: "a.test", alpn: offered))
        let out = pumpHandshake(client, try ctx.makeSession())
        #expect(out.ok)
        #expect(out.info?.alpn == chosen)
        #expect(client.alpn == chosen)
    }

    @Test func alpnWithNothingInCommonIsRefused() throws {
        let ctx = try pki.context()
        let client = TestTLSClient(.init(serverName: "a.test", alpn: ["h2"]))
        let out = pumpHandshake(client, try ctx.makeSession())
        #expect(out.failure?.kind == .noApplicationProtocol)
        #expect(!out.clientDone)
    }

    @Test func alpnPreferenceIsTheServers() throws {
        // Room for h2: a policy listing it first picks it over http/1.1 whatever the client's order.
        let ctx = try pki.context(policy: TLSPolicy(alpn: ["h2", "http/1.1"]))
        let client = TestTLSClient(.init(serverName: "a.test", alpn: ["http/1.1", "h2"]))
        #expect(pumpHandshake(client, try ctx.makeSession()).info?.alpn == "h2")
    }

    @Test func handshakeThenRequestInTheSameFeed() throws {
        // The client's Finished and its first request arrive in one read.
        let ctx = try pki.context()
        let client = TestTLSClient(.init(serverName: "a.test", minVersion: TLS1_3_VERSION))
        let session = try ctx.makeSession()
        _ = client.step()
        session.feed(client.takeOutput())
        #expect(session.handshake() == .wantsInput)
        client.feed(session.takeOutput())
        #expect(client.step())
        client.write(Array("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n".utf8))
        session.feed(client.takeOutput())
        guard case .complete = session.handshake() else { Issue.record("no handshake"); return }
        #expect(session.hasBufferedInput)
        #expect(session.pendingOutput > 0)   // the TLS 1.3 tickets
        var buf = [UInt8](repeating: 0, count: 4096)
        let r = buf.withUnsafeMutableBytes { session.readPlaintext(into: $0) }
        #expect(r == .bytes(32))
        #expect(String(decoding: buf[0..<32], as: UTF8.self).hasPrefix("GET / HTTP/1.1"))
    }

    @Test func earlyDataIsNotOffered() throws {
        let ctx = try pki.context()
        let client = TestTLSClient(.init(serverName: "a.test", minVersion: TLS1_3_VERSION))
        let session = try ctx.makeSession()
        #expect(pumpHandshake(client, session).ok)
        deliverPostHandshake(client, session)
        let s = try #require(client.session)
        defer { SSL_SESSION_free(s) }
        #expect(SSL_SESSION_get_max_early_data(s) == 0)
    }
}
