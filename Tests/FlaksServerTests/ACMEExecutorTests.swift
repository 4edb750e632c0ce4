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

/// The executor's parts that need no CA: the HTTP-01 hook in the dispatch, the HTTPS client,
/// and the schedule of a failing CA under a fake clock.
@Suite("ACME executor", .serialized)
struct ACMEExecutorTests {
    // MARK: HTTP-01 before routing

    static func challengeSite(_ pki: ServerTestPKI, redirect: Bool, proxyPort: Int? = nil) -> ServerConfig {
        var a = HostConfig(names: ["a.test"], routes: [respond("/", "site a\n"),
                                                       respond("/.well-known/acme-challenge/", "webroot\n")])
        a.tls = pki.tls("a")
        var hosts = [a]
        if let proxyPort {
            hosts.append(HostConfig(names: ["proxied.test"], routes: [
                Route(path: "/", kind: .proxy(ProxyRoute(upstreams: .addresses([.tcp(host: "127.0.0.1", port: proxyPort)]))))]))
        }
        var cfg = ServerConfig(hosts: hosts)
        cfg.server.tlsListen = [ListenAddress(host: "127.0.0.1", port: 0)]
        cfg.tls.redirectHTTP = redirect
        return cfg
    }

    @Test("a published token is answered on plain listeners for any host, before redirect_http and routes",
          .timeLimit(.minutes(1)))
    func http01IsAnsweredBeforeRouting() async throws {
        let pki = try ServerTestPKI()
        let closed = try freeLoopbackPort()   // nothing listens: the proxy route would answer 502
        try await withTestServer(Self.challengeSite(pki, redirect: true, proxyPort: closed)) { server, port in
            let path = ACMEChallengeResponder.pathPrefix + "tok-123_abc"
            server.acme.responder.publish(token: "tok-123_abc", keyAuthorization: "tok-123_abc.thumb")
            for host in ["a.test", "unknown.test", "proxied.test"] {
                let c = try TestClient(port: port)
                try c.send("GET \(path) HTTP/1.1\r\nHost: \(host)\r\n\r\n")
                let r = try c.readResponse()
                #expect(r.status == 200, "\(host)")
                #expect(r.text == "tok-123_abc.thumb")
                #expect(r.header("Content-Type") == "application/octet-stream")
            }
            let head = try TestClient(port: port)
            try head.send("HEAD \(path) HTTP/1.1\r\nHost: a.test\r\n\r\n")
            let h = try head.readResponse(head: true)
            #expect(h.status == 200 && h.body.isEmpty && h.header("Content-Length") == "17")

            // Not ours: the routes answer (a site's own webroot), still exempt from redirect_http.
            let other = try TestClient(port: port)
            try other.send("GET \(ACMEChallengeResponder.pathPrefix)other HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try other.readResponse().text == "webroot\n")
            let post = try TestClient(port: port)
            try post.send("POST \(path) HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n")
            #expect(try post.readResponse().text == "webroot\n")
            let proxied = try TestClient(port: port)
            try proxied.send("GET \(ACMEChallengeResponder.pathPrefix)other HTTP/1.1\r\nHost: proxied.test\r\n\r\n")
            #expect(try proxied.readResponse().status == 502)
            let redirected = try TestClient(port: port)
            try redirected.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try redirected.readResponse().status == 308)

            // TLS listeners do not answer HTTP-01 (RFC 8555 §8.3: port 80).
            let tls = try TLSServerTests.tlsClient(server, pki, sni: "a.test")
            try tls.send("GET \(path) HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try tls.readResponse().text == "webroot\n")

            server.acme.responder.withdraw(token: "tok-123_abc")
            let after = try TestClient(port: port)
            try after.send("GET \(path) HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try after.readResponse().text == "webroot\n")
        }
    }

    // MARK: The HTTPS client on the loop

    @Test("CA client on the loop: GET, HEAD, POST, the body limit at its edge, trust, refused, silent and cancelled peers",
          .timeLimit(.minutes(1)))
    func caClientOnTheLoop() async throws {
        let dir = try TempDir()
        let pki = try LoopbackPKI(in: dir.path)
        var host = HostConfig(names: ["*"], routes: [respond("/dir", "0123456789"), respond("/empty", "", status: 204),
                                                             Route(path: "/echo", kind: .handler("echo"))])
        host.tls = .files(cert: pki.certFile, key: pki.keyFile)
        var cfg = ServerConfig(hosts: [host])
        cfg.server.tlsListen = [ListenAddress(host: "127.0.0.1", port: 0)]
        cfg.server.loops = 1   // the client's requests and the server's answers share the one loop
        var registry = HandlerRegistry()
        registry.register("echo", EchoHandler())
        try await withTestServer(cfg, registry: registry) { server, port in
            let tlsPort = try #require(server.tlsPort)
            let trusted = try TLSClientContext(extraRootsFile: pki.caFile)
            for base in ["https://127.0.0.1:\(tlsPort)", "https://localhost:\(tlsPort)", "http://127.0.0.1:\(port)"] {
                let get = try await server.caFetch(ACMEHTTPRequest(method: .get, url: base + "/dir"), tls: trusted, maxBody: 10).get()
                #expect(get.status == 200 && get.body == Array("0123456789".utf8), "\(base)")
                let head = try await server.caFetch(ACMEHTTPRequest(method: .head, url: base + "/dir"), tls: trusted, maxBody: 10).get()
                #expect(head.status == 200 && head.body.isEmpty && head.header("Content-Length") == "10")
                let post = try await server.caFetch(ACMEHTTPRequest(method: .post, url: base + "/echo",
                                                                    headers: [ACMEHeader("Content-Type", "application/jose+json")],
                                                                    body: Array("{}".utf8)), tls: trusted).get()
                #expect(post.status == 200 && post.body == Array("{}".utf8))
                #expect(post.header("X-Method") == "POST")
                #expect(try await server.caFetch(ACMEHTTPRequest(method: .get, url: base + "/empty"), tls: trusted).get().status == 204)
            }
            // The body limit: exactly 10 bytes pass (above), 9 do not.
            guard case .failure(let over) = await server.caFetch(ACMEHTTPRequest(method: .get, url: "https://127.0.0.1:\(tlsPort)/dir"),
                                                                 tls: trusted, maxBody: 9) else {
                Issue.record("a body over the limit was accepted"); return
            }
            #expect(over.description.contains("over 9 bytes"), "\(over)")
            // Without ca_roots the test CA is unknown.
            guard case .failure(let e) = await server.caFetch(ACMEHTTPRequest(method: .get, url: "https://127.0.0.1:\(tlsPort)/dir"),
                                                              tls: try TLSClientContext(extraRootsFile: nil)) else {
                Issue.record("an untrusted server was accepted"); return
            }
            #expect(e.description.contains("not trusted"), "\(e)")

            // Nothing listens: refused at once.
            let closed = try freeLoopbackPort()
            guard case .failure(let refused) = await server.caFetch(ACMEHTTPRequest(method: .get, url: "https://127.0.0.1:\(closed)/dir"),
                                                                    tls: trusted, timeout: 1) else {
                Issue.record("connected to a closed port"); return
            }
            #expect(refused.description.contains("refused"), "\(refused)")
            // A peer that accepts and never answers: the timeout ends it, and meanwhile the loop
            // goes on serving; cancelling ends it sooner.
            let silent = try ListeningSocket()
            async let waiting = server.caFetch(ACMEHTTPRequest(method: .get, url: "https://127.0.0.1:\(silent.port)/dir"),
                                               tls: trusted, timeout: 1)
            let c = try TestClient(port: port)
            try c.send("GET /dir HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().text == "0123456789")
            guard case .failure(let timedOut) = await waiting else { Issue.record("a silent peer answered"); return }
            #expect(timedOut.description.contains("timed out"), "\(timedOut)")
            // Timed alone: the fetch's 30 s timeout must not be what ended it (the whole section
            // since the section began took 10.98 s once under TSan on a loaded CI machine).
            let cancelStart = Date()
            guard case .failure(let cancelled) = await server.caFetch(ACMEHTTPRequest(method: .get, url: "https://127.0.0.1:\(silent.port)/dir"),
                                                                      tls: trusted, timeout: 30, cancelAfter: .milliseconds(200)) else {
                Issue.record("not cancelled"); return
            }
            #expect(cancelled.description.contains("cancelled"), "\(cancelled)")
            #expect(Date().timeIntervalSince(cancelStart) < 15)
            #expect(await server.caFetch(ACMEHTTPRequest(method: .get, url: "ftp://x/"), tls: trusted).isFailure)
            // An https URL with no TLS client, and a name that does not resolve.
            #expect(await server.caFetch(ACMEHTTPRequest(method: .get, url: "https://127.0.0.1:\(tlsPort)/dir"), tls: nil).isFailure)
            guard case .failure(let unknown) = await server.caFetch(ACMEHTTPRequest(method: .get, url: "https://no-such-host.invalid/dir"),
                                                                    tls: trusted) else {
                Issue.record("resolved .invalid"); return
            }
            // (A resolver that does not answer at all ends as the request's timeout instead.)
            #expect(unknown.description.contains("cannot resolve") || unknown.description.contains("timed out"), "\(unknown)")
        }
    }

    @Test("an order waiting on a silent CA leaves the one loop serving, runs on no thread of its own, and a reload ends it",
          .timeLimit(.minutes(1)))
    func anOrderInFlightNeverBlocksTheLoop() async throws {
        let storage = try TempDir()
        let silent = try ListeningSocket()
        var a = HostConfig(names: ["a.test"], routes: [respond("/", "a\n")])
        a.tls = .acme
        let plain = HostConfig(names: ["*"], routes: [respond("/", "plain\n"), Route(path: "/status", kind: .handler("status"))])
        var cfg = ServerConfig(hosts: [a, plain])
        cfg.tls.acme = ACMESettings(directory: "https://127.0.0.1:\(silent.port)/dir", storage: storage.path, challenges: [.http01])
        let server = try makeACMEServer(cfg, httpPort: 0, tlsPort: 0)
        server.acme.setLimits(ACMELimits(), requestTimeout: 30)
        try await withStarted(server) { server, port in
            // The directory request is in flight (the account key was made, the lock taken).
            #expect(try await eventually(within: 10) { server.acmeStatus("a.test")?.status.ordering == true })
            try await Task.sleep(for: .milliseconds(200))
            #expect(!threadNames().contains { $0.hasPrefix("flaks-acme") }, "\(threadNames())")
            for _ in 0..<20 {
                let c = try TestClient(port: port)
                try c.send("GET / HTTP/1.1\r\nHost: other\r\n\r\n")
                #expect(try c.readResponse().text == "plain\n")
            }
            #expect(server.acmeStatus("a.test")?.status.failures == 0)
            // A reload that removes the host ends the order now, not after the 30 s timeout: the
            // storage lock is free again.
            var without = cfg
            without.hosts = [plain]
            without.server = server.currentSite.config.server
            guard case .reloaded = server.reload(without) else { Issue.record("reload failed"); return }
            #expect(try await eventually(within: 5) {
                guard let l = try? ACMEStorage(root: storage.path).tryLock(name: "a.test", now: UnixTime.now()) else { return false }
                l.release()
                return true
            })
        }
    }

    // MARK: A CA that is down, under a fake clock

    @Test("CA unreachable: the stored certificate keeps serving, the error shows, retries back off (fake clock)",
          .timeLimit(.minutes(1)))
    func failuresBackOffUnderAFakeClock() async throws {
        let t0 = UnixTime.now()   // the TLS client checks validity against the real time
        let clock = MovableClock(fixedAt: t0)
        let storage = try TempDir()
        // 90 days of life, 10 left: due (renew_before 30 d).
        let old = try StoredCertificateFixture(storage: storage.path, names: ["a.test"], notBefore: t0 - 80 * 86400, notAfter: t0 + 10 * 86400)
        var a = HostConfig(names: ["a.test"], routes: [respond("/", "a\n")])
        a.tls = .acme
        let status = HostConfig(names: ["*"], routes: [Route(path: "/status", kind: .handler("status")),
                                                       Route(path: "/metrics", kind: .handler("metrics"))])
        var cfg = ServerConfig(hosts: [a, status])
        let caPort = try freeLoopbackPort()   // nothing listens there
        cfg.tls.acme = ACMESettings(directory: "https://127.0.0.1:\(caPort)/dir", storage: storage.path, challenges: [.http01])
        let server = try makeACMEServer(cfg, httpPort: 0, tlsPort: 0, clock: clock)
        try await withStarted(server) { server, port in
            #expect(try await eventually(within: 10) { server.acmeStatus("a.test")?.status.failures == 1 })
            let s1 = try #require(server.acmeStatus("a.test"))
            #expect(s1.status.nextAttempt == t0 + 60)
            #expect(s1.status.ordering == false)
            #expect(s1.failed == 1 && s1.issued == 0)
            #expect(s1.status.lastError?.contains("stage=directory") == true, "\(s1.status.lastError ?? "")")
            #expect(s1.status.lastError?.contains("transport") == true)
            #expect(s1.status.notAfter == old.certificate.info.notAfter)

            // The old certificate still serves.
            let tls = try TestClient(port: try #require(server.tlsPort), tls: .init(caFile: try pemFile(old.ca, in: storage), serverName: "a.test"))
            #expect(tls.peerCertificateFingerprint == old.certificate.leaf.fingerprintHex)

            // status and metrics.
            let c = try TestClient(port: port)
            try c.send("GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            let json = try c.readResponse().text
            #expect((try? JSONSerialization.jsonObject(with: Data(json.utf8))) != nil, "not JSON: \(json)")
            #expect(json.contains("\"acme\":{\"a.test\":{\"names\":[\"a.test\"]"), "\(json)")
            #expect(json.contains("\"failures\":1"))
            #expect(json.contains("\"next_attempt\":\(t0 + 60)"))
            #expect(json.contains("\"not_after\":\(t0 + 10 * 86400)"))
            #expect(json.contains("\"last_error\":\"stage=directory"))
            try c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            let metrics = try c.readResponse().text
            #expect(metrics.contains("flaks_acme_failures{host=\"a.test\"} 1\n"))
            #expect(metrics.contains("flaks_acme_certificate_not_after_seconds{host=\"a.test\"} \(t0 + 10 * 86400)\n"))
            #expect(metrics.contains("flaks_acme_next_attempt_seconds{host=\"a.test\"} \(t0 + 60)\n"))
            #expect(metrics.contains("flaks_acme_orders_total{host=\"a.test\",result=\"failed\"} 1\n"))

            // One second before the back-off ends: nothing; at its end: the second attempt,
            // then twice the back-off.
            clock.advance(by: 59)
            server.acme.wake()
            try await Task.sleep(for: .milliseconds(300))
            #expect(server.acmeStatus("a.test")?.status.failures == 1)
            clock.advance(by: 1)
            server.acme.wake()
            #expect(try await eventually(within: 10) { server.acmeStatus("a.test")?.status.failures == 2 })
            #expect(server.acmeStatus("a.test")?.status.nextAttempt == t0 + 60 + 120)
            // The storage still holds the old certificate.
            guard case .found(let stored) = try ACMEStorage(root: storage.path).loadCertificate(name: "a.test") else {
                Issue.record("storage lost the certificate"); return
            }
            #expect(stored.certificate.info.serial == old.certificate.info.serial)
        }
    }

    @Test("another process holds the storage lock: no order; its certificate is picked up from storage (fake clock)",
          .timeLimit(.minutes(1)))
    func aReplicaHoldingTheLockOrdersAndTheOthersPickItUp() async throws {
        let t0 = UnixTime.now()
        let clock = MovableClock(fixedAt: t0)
        let storage = try TempDir()
        // The "other replica" takes the lock before this server looks (a flock on another open
        // file description conflicts within one process too).
        let held = try #require(try ACMEStorage(root: storage.path).tryLock(name: "a.test", now: t0))
        var a = HostConfig(names: ["a.test"], routes: [respond("/", "a\n")])
        a.tls = .acme
        var cfg = ServerConfig(hosts: [a])
        cfg.tls.acme = ACMESettings(directory: "https://127.0.0.1:\(try freeLoopbackPort())/dir", storage: storage.path,
                                    challenges: [.http01])
        let server = try makeACMEServer(cfg, httpPort: 0, tlsPort: 0, clock: clock)
        try await withStarted(server) { server, _ in
            #expect(try await eventually(within: 10) { server.acmeStatus("a.test")?.status.nextAttempt == t0 + 60 })
            let waiting = try #require(server.acmeStatus("a.test"))
            #expect(waiting.failed == 0 && waiting.status.failures == 0 && waiting.status.lastError == nil)
            #expect(server.acme.currentSerial("a.test") == nil)

            // The other replica stores its certificate and lets go; a minute later this one serves it.
            let replica = try StoredCertificateFixture(storage: storage.path, names: ["a.test"], notBefore: t0 - 86400,
                                                       notAfter: t0 + 89 * 86400)
            held.release()
            clock.advance(by: 60)
            server.acme.wake()
            #expect(try await eventually(within: 10) { server.acme.currentSerial("a.test") == replica.certificate.info.serial })
            let r = try #require(server.acmeStatus("a.test"))
            #expect(r.issued == 0 && r.failed == 0)
            #expect(r.status.nextAttempt == t0 + 89 * 86400 - 30 * 86400)
            let tls = try TestClient(port: try #require(server.tlsPort),
                                     tls: .init(caFile: try pemFile(replica.ca, in: storage), serverName: "a.test"))
            #expect(tls.peerCertificateFingerprint == replica.certificate.leaf.fingerprintHex)
        }
    }

    @Test("a reload that removes the ACME host stops its attempts; one that adds it back orders", .timeLimit(.minutes(1)))
    func reloadAddsAndRemovesHosts() async throws {
        let t0 = UnixTime.now()
        let clock = MovableClock(fixedAt: t0)
        let storage = try TempDir()
        var a = HostConfig(names: ["a.test"], routes: [respond("/", "a\n")])
        a.tls = .acme
        let plain = HostConfig(names: ["*"], routes: [respond("/", "plain\n")])
        var cfg = ServerConfig(hosts: [a, plain])
        cfg.tls.acme = ACMESettings(directory: "https://127.0.0.1:\(try freeLoopbackPort())/dir", storage: storage.path, challenges: [.http01])
        let server = try makeACMEServer(cfg, httpPort: 0, tlsPort: 0, clock: clock)
        try await withStarted(server) { server, port in
            #expect(try await eventually(within: 10) { server.acmeStatus("a.test")?.status.failures == 1 })
            // No certificate yet: the host's handshakes fail, plain HTTP serves.
            let someCA = try CertificateFactory.makeCA(commonName: "any", key: try PrivateKey.generate(.ecdsaP256),
                                                       notBefore: t0 - 10, notAfter: t0 + 10)
            let caFile = try pemFile(someCA, in: storage)
            let tlsPort = try #require(server.tlsPort)
            do {
                _ = try TestClient(port: tlsPort, tls: .init(caFile: caFile, serverName: "a.test"))
                Issue.record("a handshake succeeded without a certificate")
            } catch {
                #expect("\(error)".contains("TLS handshake failed"), "\(error)")
            }
            let c = try TestClient(port: port)
            try c.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            #expect(try c.readResponse().text == "a\n")

            var without = cfg
            without.hosts = [plain]
            without.server = server.currentSite.config.server
            guard case .reloaded = server.reload(without) else { Issue.record("reload failed"); return }
            #expect(server.acmeReport().isEmpty)
            var back = cfg
            back.hosts = [a, plain]
            back.server = server.currentSite.config.server
            guard case .reloaded = server.reload(back) else { Issue.record("reload failed"); return }
            // A new record: ordered at once, not after the old back-off.
            #expect(try await eventually(within: 10) { server.acmeStatus("a.test")?.failed == 1 })
        }
    }
}

/// Writes `cert` as a PEM file in `dir` and returns its path.
func pemFile(_ cert: X509Certificate, in dir: TempDir) throws -> String {
    let path = dir.path + "/ca-\(UUID().uuidString).pem"
    try cert.pem.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A loopback socket that listens and never accepts (connections complete in the backlog and
/// then hear nothing).
final class ListeningSocket {
    let fd: Int32
    let port: Int
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }) == 0,
              listen(fd, 8) == 0 else { throw TestClient.Failure(description: "listen") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }
    deinit { close(fd) }
}

extension Result {
    var isFailure: Bool { if case .failure = self { return true } else { return false } }
}

extension X509Certificate {
    /// What `TestClient.peerFingerprint` gives: hex SHA-256 of the DER.
    var fingerprintHex: String { Digest.sha256(der).map { String(format: "%02x", $0) }.joined() }
}
