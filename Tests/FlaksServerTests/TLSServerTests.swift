#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import COpenSSL
import FlaksConfig
import FlaksServer
import FlaksTLS
import Foundation
import Testing

/// A test CA and certificates for a.test, b.test and *.wild.test, written as PEM files.
final class ServerTestPKI: @unchecked Sendable {  // immutable after init
    let dir: String
    var caFile: String { dir + "/ca.pem" }

    init() throws {
        dir = NSTemporaryDirectory() + "flaks-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let now = Int64(Date().timeIntervalSince1970)
        let caKey = try PrivateKey.generate(.ecdsaP256)
        let ca = try CertificateFactory.makeCA(commonName: "Flaks Server Test CA", key: caKey, notBefore: now - 3600,
                                               notAfter: now + 30 * 86400)
        try ca.pem.write(toFile: caFile, atomically: true, encoding: .utf8)
        for (name, names) in [("a", ["a.test"]), ("a2", ["a.test"]), ("b", ["b.test", "www.b.test"]), ("wild", ["*.wild.test"])] {
            let key = try PrivateKey.generate(.ecdsaP256)
            let cert = try CertificateFactory.makeCertificate(commonName: names[0], names: names, key: key,
                                                              issuer: (ca, caKey), notBefore: now - 3600, notAfter: now + 30 * 86400)
            try (cert.pem + ca.pem).write(toFile: "\(dir)/\(name).pem", atomically: true, encoding: .utf8)
            try key.pem.write(toFile: "\(dir)/\(name).key", atomically: true, encoding: .utf8)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func tls(_ name: String) -> HostTLS { .files(cert: "\(dir)/\(name).pem", key: "\(dir)/\(name).key") }
}

@Suite("HTTPS over real sockets", .serialized)
struct TLSServerTests {
    static func site(_ pki: ServerTestPKI, hsts: Bool = false, redirect: Bool = false, min13: Bool = false) throws -> ServerConfig {
        var a = HostConfig(names: ["a.test"], routes: [respond("/", "site a\n"), respond("/fail", "no", status: 403)])
        a.tls = pki.tls("a")
        var b = HostConfig(names: ["b.test", "www.b.test"], routes: [respond("/", "site b\n")])
        b.tls = pki.tls("b")
        var wild = HostConfig(names: ["*.wild.test"], routes: [respond("/", "wild\n")])
        wild.tls = pki.tls("wild")
        let plain = HostConfig(names: ["plain.test"], routes: [respond("/", "plain\n")])
        var cfg = ServerConfig(hosts: [a, b, wild, plain])
        cfg.server.tlsListen = [ListenAddress(host: "127.0.0.1", port: 0)]
        if hsts { cfg.tls.hsts = .seconds(31_536_000) }
        cfg.tls.redirectHTTP = redirect
        if min13 { cfg.tls.minVersion = .tls13 }
        return cfg
    }

    static func tlsClient(_ server: Server, _ pki: ServerTestPKI, sni: String?, min: Int32 = TLS1_2_VERSION,
                          max: Int32 = TLS1_3_VERSION) throws -> TestClient {
        try TestClient(port: try #require(server.tlsPort),
                       tls: .init(caFile: pki.caFile, serverName: sni, minVersion: min, maxVersion: max))
    }

    @Test func certificatesAreChosenBySNI() async throws {
        let pki = try ServerTestPKI()
        try await withTestServer(try Self.site(pki)) { (server: Server, _: Int) async throws in
            for (sni, cn, body) in [("a.test", "a.test", "site a\n"), ("www.b.test", "b.test", "site b\n"),
                                    ("x.wild.test", "*.wild.test", "wild\n")] {
                let c = try Self.tlsClient(server, pki, sni: sni)
                #expect(c.peerCommonName == cn)
                #expect(c.alpnProtocol == "http/1.1")
                try c.send("GET / HTTP/1.1\r\nHost: \(sni)\r\n\r\n")
                #expect(try c.readResponse().text == body)
            }
            // No SNI, or an unknown name: the first host with tls.
            let none = try TestClient(port: try #require(server.tlsPort), tls: .init(caFile: pki.caFile))
            #expect(none.peerCommonName == "a.test")
            #expect(try Self.tlsClient(server, pki, sni: nil).peerCommonName == "a.test")
        }
    }

    @Test func keepAlivePipeliningMisdirectedAndHSTS() async throws {
        let pki = try ServerTestPKI()
        try await withTestServer(try Self.site(pki, hsts: true)) { (server: Server, _: Int) async throws in
            let c = try Self.tlsClient(server, pki, sni: "a.test")
            try c.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET /fail HTTP/1.1\r\nHost: a.test\r\n\r\n")
            let first = try c.readResponse(), second = try c.readResponse()
            #expect(first.text == "site a\n" && first.header("Strict-Transport-Security") == "max-age=31536000")
            #expect(second.status == 403 && second.header("Strict-Transport-Security") == "max-age=31536000", "errors too")
            // The connection's certificate is a.test's: a request for b.test on it is misdirected.
            try c.send("GET / HTTP/1.1\r\nHost: b.test\r\n\r\n")
            #expect(try c.readResponse().status == 421)
            // Plain HTTP gets no HSTS.
            #expect(try TestClient.get(port: try #require(server.port), "/", host: "a.test").header("Strict-Transport-Security") == nil)
        }
    }

    @Test func versionsAreEnforced() async throws {
        let pki = try ServerTestPKI()
        try await withTestServer(try Self.site(pki)) { (server: Server, _: Int) async throws in
            #expect(try Self.tlsClient(server, pki, sni: "a.test", max: TLS1_2_VERSION).tlsVersion == "TLSv1.2")
            #expect(throws: (any Error).self) { _ = try Self.tlsClient(server, pki, sni: "a.test", min: TLS1_VERSION, max: TLS1_1_VERSION) }
        }
        try await withTestServer(try Self.site(pki, min13: true)) { (server: Server, _: Int) async throws in
            #expect(throws: (any Error).self) { _ = try Self.tlsClient(server, pki, sni: "a.test", max: TLS1_2_VERSION) }
            #expect(try Self.tlsClient(server, pki, sni: "a.test").tlsVersion == "TLSv1.3")
        }
    }

    @Test func plainHTTPIsRedirectedForTLSHostsButNotChallenges() async throws {
        let pki = try ServerTestPKI()
        try await withTestServer(try Self.site(pki, redirect: true)) { (server: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/page?x=1", host: "a.test")
            #expect(r.status == 308)
            #expect(r.header("Location") == "https://a.test:\(try #require(server.tlsPort))/page?x=1")
            #expect(try TestClient.get(port: port, "/.well-known/acme-challenge/token", host: "a.test").status != 308)
            #expect(try TestClient.get(port: port, "/", host: "plain.test").text == "plain\n", "hosts without tls stay plain")
        }
    }

    @Test func garbageOnTheTLSPortClosesOnlyThatConnection() async throws {
        let pki = try ServerTestPKI()
        try await withTestServer(try Self.site(pki)) { (server: Server, _: Int) async throws in
            let plain = try TestClient(port: try #require(server.tlsPort), timeout: 5)
            try plain.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            let start = Date()
            #expect(plain.isClosedByPeer(), "a plain request to the TLS port is refused")
            #expect(Date().timeIntervalSince(start) < 2, "quickly")
            let junk = try TestClient(port: try #require(server.tlsPort), timeout: 5)
            try junk.send([UInt8](repeating: 0x16, count: 5) + [UInt8](repeating: 0xAB, count: 300))
            #expect(junk.isClosedByPeer())
            let good = try Self.tlsClient(server, pki, sni: "a.test")
            try good.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try good.readResponse().text == "site a\n")
        }
    }

    @Test func aLargeFileOverTLSArrivesWhole() async throws {
        let pki = try ServerTestPKI()
        let fx = try StaticFixture()
        let size = 64 << 20
        var big = [UInt8](repeating: 0, count: size)
        for i in stride(from: 0, to: size, by: 4096) { big[i] = UInt8(truncatingIfNeeded: i >> 12); big[i + 7] = 0x5A }
        try Data(big).write(to: URL(fileURLWithPath: fx.root + "/big.bin"))
        var cfg = try Self.site(pki)
        cfg.hosts[0].routes = [Route(path: "/", kind: .staticFiles(StaticRoute(root: fx.root)))]
        try await withTestServer(cfg) { (server: Server, _: Int) async throws in
            let c = try Self.tlsClient(server, pki, sni: "a.test")
            try c.send("GET /big.bin HTTP/1.1\r\nHost: a.test\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.body.count == size)
            #expect(Digest.sha256(r.body) == Digest.sha256(big))
            // A range on the same connection.
            try c.send("GET /big.bin HTTP/1.1\r\nHost: a.test\r\nRange: bytes=4096-8191\r\n\r\n")
            let part = try c.readResponse()
            #expect(part.status == 206 && part.body == Array(big[4096..<8192]))
        }
    }

    /// A large answer on a connection that closes after it, to a client that starts reading late:
    /// the socket may be full when the last bytes go in and refuse the close_notify alert at first
    /// (whether it does on a given run depends on where the last write ends); the write side is
    /// shut only once the alert has left, so the client always sees a clean end of the stream.
    @Test func aClosingConnectionEndsWithCloseNotifyEvenWhenTheSocketIsFull() async throws {
        let pki = try ServerTestPKI()
        let fx = try StaticFixture()
        let big = try fx.patternFile("big.bin", size: 8 << 20, salt: 13)
        var cfg = try Self.site(pki)
        cfg.hosts[0].routes = [Route(path: "/", kind: .staticFiles(StaticRoute(root: fx.root)))]
        try await withTestServer(cfg) { (server: Server, _: Int) async throws in
            for _ in 0..<3 {
                let c = try Self.tlsClient(server, pki, sni: "a.test")
                try c.send("GET /big.bin HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
                usleep(300_000)  // blocking, as in ListenerSocketTests: no suspension before the reads
                let r = try c.readResponse()
                #expect(r.status == 200 && r.body == big)
                #expect(!(try c.fill()), "the stream ends after the answer")
                #expect(c.sawCloseNotify, "close_notify before the end of the stream")
            }
        }
    }

    @Test func aReloadChangesCertificatesForNewHandshakesOnly() async throws {
        let pki = try ServerTestPKI()
        let cfg = try Self.site(pki)
        try await withTestServer(cfg) { (server: Server, _: Int) async throws in
            let old = try Self.tlsClient(server, pki, sni: "a.test")
            try old.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            _ = try old.readResponse()
            let before = try Self.tlsClient(server, pki, sni: "a.test").peerSerialDescription
            var next = cfg
            next.hosts[0].tls = pki.tls("a2")
            guard case .reloaded = server.reload(next) else { Issue.record("reload failed"); return }
            let after = try Self.tlsClient(server, pki, sni: "a.test").peerSerialDescription
            #expect(before != after, "new handshakes get the new certificate")
            try old.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try old.readResponse().text == "site a\n", "the old connection keeps working")
            // A certificate that does not load keeps the old ones.
            var broken = next
            broken.hosts[0].tls = .files(cert: pki.dir + "/a.pem", key: pki.dir + "/b.key")
            guard case .failed(let errors) = server.reload(broken) else { Issue.record("a mismatched key loaded"); return }
            #expect(errors.joined().contains("a.test"))
            #expect(try Self.tlsClient(server, pki, sni: "a.test").peerSerialDescription == after)
        }
    }
}

extension TestClient {
    /// A fingerprint of the server's certificate (its DER's SHA-256), to tell two certificates apart.
    var peerSerialDescription: String { peerCertificateFingerprint ?? "" }
}
