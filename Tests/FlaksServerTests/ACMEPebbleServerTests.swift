#if canImport(Glibc)
import Glibc
#endif
import FlaksACME
import FlaksConfig
import FlaksTestSupport
import FlaksTLS
import Foundation
import Testing
@testable import FlaksServer

/// The running server against a real ACME CA: Debian's pebble, validating against Flaks' own
/// listeners on 127.0.0.1 (its httpPort and tlsPort are Flaks' plain and TLS ports; every name
/// resolves to 127.0.0.1 through pebble-challtestsrv). Skipped when pebble is not installed.
@Suite("ACME executor against pebble", .serialized, .enabled(if: Pebble.available, "pebble or pebble-challtestsrv not installed: skipped"))
struct ACMEPebbleServerTests {
    static let names = ["flaks-acme.example.com", "www.flaks-acme.example.com"]

    /// An ACME host, and a plain host with status and metrics.
    static func config(_ pebble: Pebble, storage: String, names: [String] = names,
                       challenges: [ACMESettings.Challenge] = [.http01], redirect: Bool = true) -> ServerConfig {
        var site = HostConfig(names: names, routes: [respond("/", "acme site\n")])
        site.tls = .acme
        let admin = HostConfig(names: ["admin.test"], routes: [Route(path: "/status", kind: .handler("status")),
                                                              Route(path: "/metrics", kind: .handler("metrics"))])
        var cfg = ServerConfig(hosts: [site, admin])
        cfg.tls.redirectHTTP = redirect
        cfg.tls.acme = ACMESettings(email: "ops@example.com", directory: pebble.directoryURL, caRoots: pebble.caFile,
                                    storage: storage, challenges: challenges)
        return cfg
    }

    /// pebble's current root (it makes a new one at every start), as a PEM file for TLS clients.
    static func pebbleRoot(_ pebble: Pebble, _ server: Server, in dir: TempDir) async throws -> String {
        let r = try await server.caFetch(ACMEHTTPRequest(method: .get, url: "https://127.0.0.1:\(pebble.managementPort)/roots/0"),
                                         tls: try TLSClientContext(extraRootsFile: pebble.caFile)).get()
        #expect(r.status == 200)
        let path = dir.path + "/pebble-root-\(UUID().uuidString).pem"
        try Data(r.body).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Waits (bounded) for `host` to be served a certificate other than `previous` (by serial).
    static func waitForCertificate(_ server: Server, _ host: String, other previous: String? = nil,
                                   seconds: Double = 60) async throws -> ACMEHostReport? {
        _ = try await eventually(within: seconds) {
            guard let r = server.acmeStatus(host), r.status.notAfter != nil else { return false }
            return previous == nil || server.acme.currentSerial(host) != previous
        }
        return server.acmeStatus(host)
    }

    /// A TLS client verifying against `root` for `name`; returns the served certificate's fingerprint.
    static func handshake(_ server: Server, root: String, name: String) throws -> TestClient {
        try TestClient(port: try #require(server.tlsPort), tls: .init(caFile: root, serverName: name))
    }

    @Test("HTTP-01: issued for both names, verified against pebble's root, stored 0600, in status; a restart reuses it",
          .timeLimit(.minutes(3)))
    func http01IssuesAndARestartReusesTheCertificate() async throws {
        let httpPort = try freeLoopbackPort(), tlsPort = try freeLoopbackPort()
        let pebble = try Pebble(httpPort: httpPort, tlsPort: tlsPort)
        defer { pebble.stop() }
        let dir = try TempDir()
        let storage = dir.path + "/acme"
        let cfg = Self.config(pebble, storage: storage)
        var serial = ""
        var fingerprint = ""
        try await withStarted(try makeACMEServer(cfg, httpPort: httpPort, tlsPort: tlsPort)) { server, port in
            // Plain HTTP serves meanwhile (and redirect_http is on: the challenge must pass it).
            let plain = try TestClient(port: port)
            try plain.send("GET / HTTP/1.1\r\nHost: flaks-acme.example.com\r\n\r\n")
            #expect(try plain.readResponse().status == 308)

            guard let report = try await Self.waitForCertificate(server, Self.names[0]) else {
                Issue.record("no certificate: \(server.acmeReport())\n\(pebble.log.suffix(2000))"); return
            }
            #expect(report.issued == 1 && report.failed == 0, "\(report)")
            #expect(report.status.names == Self.names)
            #expect(report.status.issuer?.contains("Pebble Intermediate CA") == true, "\(report.status.issuer ?? "")")
            #expect(server.acme.responder.count == 0)   // withdrawn

            let root = try await Self.pebbleRoot(pebble, server, in: dir)
            for name in Self.names {
                let c = try Self.handshake(server, root: root, name: name)
                try c.send("GET / HTTP/1.1\r\nHost: \(name)\r\n\r\n")
                #expect(try c.readResponse().text == "acme site\n")
                fingerprint = c.peerCertificateFingerprint ?? ""
            }
            serial = server.acme.currentSerial(Self.names[0]) ?? ""

            // Storage: the files and their modes.
            let certDir = storage + "/certificates/" + Self.names[0]
            #expect(fileMode(storage) == 0o700)
            for f in ["key.pem", "chain.pem", "meta.json"] { #expect(fileMode(certDir + "/" + f) == 0o600, "\(f)") }
            let accounts = try FileManager.default.contentsOfDirectory(atPath: storage + "/accounts")
            #expect(accounts.count == 1)
            #expect(fileMode(storage + "/accounts/" + accounts[0] + "/account.key") == 0o600)

            let s = try TestClient(port: port)
            try s.send("GET /status HTTP/1.1\r\nHost: admin.test\r\n\r\n")
            let json = try s.readResponse().text
            #expect(json.contains("\"acme\":{\"flaks-acme.example.com\":{\"names\":[\"flaks-acme.example.com\",\"www.flaks-acme.example.com\"]"), "\(json)")
            #expect(json.contains("\"orders\":{\"issued\":1,\"failed\":0}"))
            #expect(json.contains("\"last_error\":null"))
        }

        // A restart: the stored certificate serves at once, and no order is made.
        try await withStarted(try makeACMEServer(cfg, httpPort: httpPort, tlsPort: tlsPort)) { server, _ in
            let root = try await Self.pebbleRoot(pebble, server, in: dir)
            let c = try Self.handshake(server, root: root, name: Self.names[1])
            #expect(c.peerCertificateFingerprint == fingerprint)
            #expect(server.acme.currentSerial(Self.names[0]) == serial)
            try await Task.sleep(for: .milliseconds(500))
            let r = try #require(server.acmeStatus(Self.names[0]))
            #expect(r.issued == 0 && r.failed == 0 && !r.status.ordering)
            #expect(r.status.nextAttempt > UnixTime.now() + 86_400)
        }
    }

    @Test("renewal when due (moved clock) without a restart; a CA that is down keeps the old certificate, then comes back",
          .timeLimit(.minutes(3)))
    func renewalThroughACAOutage() async throws {
        let httpPort = try freeLoopbackPort(), tlsPort = try freeLoopbackPort()
        // One-hour certificates: renew_before (30 d) is capped at a third of the life, so due at 40 min.
        let pebble = try Pebble(httpPort: httpPort, tlsPort: tlsPort, validitySeconds: 3600)
        defer { pebble.stop() }
        let dir = try TempDir()
        let clock = MovableClock()
        let cfg = Self.config(pebble, storage: dir.path + "/acme", names: ["renew.example.com"], redirect: false)
        try await withStarted(try makeACMEServer(cfg, httpPort: httpPort, tlsPort: tlsPort, clock: clock)) { server, _ in
            guard let first = try await Self.waitForCertificate(server, "renew.example.com"),
                  let firstSerial = server.acme.currentSerial("renew.example.com"),
                  let notBefore = first.status.notBefore, let notAfter = first.status.notAfter else {
                Issue.record("no certificate: \(server.acmeReport())"); return
            }
            #expect(notAfter - notBefore <= 3600)
            #expect(first.status.nextAttempt == notAfter - (notAfter - notBefore) / 3)

            // The CA goes away; the clock reaches the due time.
            pebble.stopCA()
            let due = first.status.nextAttempt
            clock.advance(by: due - clock.now())
            server.acme.wake()
            #expect(try await eventually(within: 20) { server.acmeStatus("renew.example.com")?.failed == 1 })
            let failing = try #require(server.acmeStatus("renew.example.com"))
            #expect(failing.status.lastError?.contains("transport") == true, "\(failing.status.lastError ?? "")")
            // The failure happened at some moment between the due time and now (this clock runs).
            #expect((due...clock.now()).contains(failing.status.nextAttempt - 60), "\(failing.status.nextAttempt)")
            #expect(server.acme.currentSerial("renew.example.com") == firstSerial)   // still served

            // The CA comes back (with a new root); the retry after the back-off renews.
            try pebble.startCA()
            clock.advance(by: 60)
            server.acme.wake()
            guard let renewed = try await Self.waitForCertificate(server, "renew.example.com", other: firstSerial) else {
                Issue.record("not renewed: \(server.acmeReport())\n\(pebble.log.suffix(2000))"); return
            }
            // The clock runs 40 minutes ahead of pebble's, so the new one-hour certificate is due at once;
            // the next order still waits `minimumReorderInterval` (before it did not, and under load the
            // test once saw a third certificate).
            #expect(renewed.issued == 2 && renewed.failed == 1 && renewed.status.failures == 0 && renewed.status.lastError == nil,
                    "\(renewed)")
            #expect(renewed.status.nextAttempt >= clock.now() + RenewalSchedule.minimumReorderInterval - 120)
            let root = try await Self.pebbleRoot(pebble, server, in: dir)
            let c = try Self.handshake(server, root: root, name: "renew.example.com")   // verifies against the new root
            #expect(c.peerCommonName == "renew.example.com" || c.peerCommonName == nil)
            guard case .found(let stored) = try ACMEStorage(root: dir.path + "/acme").loadCertificate(name: "renew.example.com") else {
                Issue.record("not stored"); return
            }
            #expect(stored.certificate.info.serial == server.acme.currentSerial("renew.example.com"))
        }
    }

    @Test("TLS-ALPN-01 on the TLS listener; a reload that adds a name orders a certificate covering it",
          .timeLimit(.minutes(3)))
    func tlsALPN01AndAReloadAddingAName() async throws {
        let httpPort = try freeLoopbackPort(), tlsPort = try freeLoopbackPort()
        let pebble = try Pebble(httpPort: httpPort, tlsPort: tlsPort)
        defer { pebble.stop() }
        let dir = try TempDir()
        let cfg = Self.config(pebble, storage: dir.path + "/acme", names: ["alpn.example.com"], challenges: [.tlsALPN01])
        try await withStarted(try makeACMEServer(cfg, httpPort: httpPort, tlsPort: tlsPort)) { server, _ in
            guard let first = try await Self.waitForCertificate(server, "alpn.example.com"),
                  let firstSerial = server.acme.currentSerial("alpn.example.com") else {
                Issue.record("no certificate: \(server.acmeReport())\n\(pebble.log.suffix(2000))"); return
            }
            #expect(first.issued == 1)
            let root = try await Self.pebbleRoot(pebble, server, in: dir)
            _ = try Self.handshake(server, root: root, name: "alpn.example.com")
            #expect(server.acme.challengeCount == 0)   // the challenge certificate was withdrawn

            var grown = cfg
            grown.hosts[0].names = ["alpn.example.com", "more.example.com"]
            grown.server = server.currentSite.config.server
            guard case .reloaded = server.reload(grown) else { Issue.record("reload failed"); return }
            guard let second = try await Self.waitForCertificate(server, "alpn.example.com", other: firstSerial) else {
                Issue.record("no new certificate: \(server.acmeReport())"); return
            }
            #expect(second.issued == 2)
            let c = try Self.handshake(server, root: root, name: "more.example.com")
            try c.send("GET / HTTP/1.1\r\nHost: more.example.com\r\n\r\n")
            #expect(try c.readResponse().text == "acme site\n")
        }
    }
}

extension ACMEManager {
    /// The serial of the certificate served for `host` (tests).
    func currentSerial(_ host: String) -> String? {
        let site = currentSite()
        return site.flatMap { s in ACMEManager.hostIndex(host, in: s.config).flatMap { s.tls?.store.certificate(host: $0)?.info.serial } }
    }
}
