import Foundation
import Testing
import FlaksTestSupport
@testable import FlaksACME
@testable import FlaksTLS

/// Real issuance against Debian's pebble (RFC 8555 test CA) on loopback ports. Skipped when
/// pebble, pebble-challtestsrv or curl is not installed (apt-get install pebble curl).
@Suite("ACME against pebble", .serialized, .enabled(if: pebbleAndCurlAvailable, "pebble, pebble-challtestsrv or curl not installed: skipped"))
struct PebbleTests {
    func verifyChain(_ issued: ACMEIssuedCertificate, pebble: Pebble) throws {
        let transport = CurlTransport(caFile: pebble.caFile, workDir: pebble.dir)
        let root = try #require(transport.perform(ACMEHTTPRequest(method: .get, url: "https://127.0.0.1:\(pebble.managementPort)/roots/0")))
        #expect(root.status == 200)
        let rootFile = pebble.dir + "/root.pem", chainFile = pebble.dir + "/chain.pem", leafFile = pebble.dir + "/leaf.pem"
        try Data(root.body).write(to: URL(fileURLWithPath: rootFile))
        try issued.chainPEM.write(toFile: chainFile, atomically: true, encoding: .utf8)
        try issued.certificate.leaf.pem.write(toFile: leafFile, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["verify", "-CAfile", rootFile, "-untrusted", chainFile, leafFile]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "openssl verify: \(text)")
        #expect(text.contains(": OK"))
    }

    @Test("HTTP-01: a certificate for two names, verified against pebble's root, stored and loaded", .timeLimit(.minutes(2)))
    func http01() throws {
        let pebble = try Pebble(nonceReject: 0)
        defer { pebble.stop() }
        let responder = ACMEChallengeResponder()
        let server = try BlockingResponder(port: pebble.httpPort, handle: BlockingResponder.http01(responder))
        defer { server.stop() }
        let storage = ACMEStorage(root: pebble.dir + "/acme")
        let key = try storage.loadOrCreateAccountKey(directoryURL: pebble.directoryURL)
        var limits = ACMELimits()
        limits.pollInterval = 1
        var machine = try ACMEOrderMachine(configuration: ACMEOrderConfiguration(
            directoryURL: pebble.directoryURL, names: ["flaks-http.example.com", "www.flaks-http.example.com"],
            contactEmail: "ops@example.com", challenges: [.http01], limits: limits), accountKey: key)
        var log: [String] = []
        let outcome = driveBlocking(&machine, transport: CurlTransport(caFile: pebble.caFile, workDir: pebble.dir),
                                    responder: responder, store: nil, log: &log)
        guard case .finished(let issued) = outcome else {
            Issue.record("no certificate: \(outcome)\n\(log.joined(separator: "\n"))\n\(pebble.log.suffix(3000))")
            return
        }
        #expect(issued.certificate.info.dnsNames.sorted() == ["flaks-http.example.com", "www.flaks-http.example.com"])
        #expect(issued.certificate.chain.count >= 2)
        #expect(server.served.withLock { $0 }.contains { $0.contains("/.well-known/acme-challenge/") && $0.hasSuffix("200 OK") })
        #expect(responder.count == 0)
        try verifyChain(issued, pebble: pebble)

        // Stored, then loaded as a restart would; the account key is reused (found, not created).
        try storage.saveCertificate(issued, directoryURL: pebble.directoryURL, now: UnixTime.now())
        guard case .found(let stored) = try storage.loadCertificate(name: "flaks-http.example.com") else {
            Issue.record("not stored"); return
        }
        #expect(stored.certificate.info.serial == issued.certificate.info.serial)
        var state = ACMECertificateState(names: ["flaks-http.example.com", "www.flaks-http.example.com"], schedule: RenewalSchedule())
        state.serving(stored.certificate)
        #expect(state.nextAttempt(now: UnixTime.now()) > UnixTime.now() + 86400)   // not due: no order at start

        // A second order with the same stored key finds the account (onlyReturnExisting).
        var again = try ACMEOrderMachine(configuration: ACMEOrderConfiguration(
            directoryURL: pebble.directoryURL, names: ["flaks-http.example.com"], challenges: [.http01], limits: limits),
            accountKey: storage.loadOrCreateAccountKey(directoryURL: pebble.directoryURL))
        var log2: [String] = []
        guard case .finished = driveBlocking(&again, transport: CurlTransport(caFile: pebble.caFile, workDir: pebble.dir),
                                             responder: responder, store: nil, log: &log2) else {
            Issue.record("second order failed\n\(log2.joined(separator: "\n"))"); return
        }
        #expect(again.accountURL == machine.accountURL)
        #expect(log2.filter { $0.contains("newAccount") || $0.hasSuffix("/sign-me-up") }.count <= 1)

        // ARI where pebble offers it.
        var ari = ACMERenewalInfoMachine(directoryURL: pebble.directoryURL, certificateID: ARIWindow.certificateID(issued.certificate.leaf) ?? "x.y")
        var next = ari.start(now: UnixTime.now())
        let transport = CurlTransport(caFile: pebble.caFile, workDir: pebble.dir)
        for _ in 0..<3 {
            guard case .send(let r) = next else { break }
            next = transport.perform(r).map { ari.received($0, now: UnixTime.now()) } ?? ari.transportFailed("curl", now: UnixTime.now())
        }
        switch next {
        case .done(let w?): #expect(w.start < w.end); print("pebble offers ARI: window \(w.start)-\(w.end)")
        case .done(nil): print("pebble \(ari.directory?.renewalInfo == nil ? "has no renewalInfo" : "?"): ARI not exercised against it")
        case .failed(let e): Issue.record("ARI: \(e)")
        case .send: Issue.record("ARI did not finish")
        }
    }

    @Test("TLS-ALPN-01 with nonce rejects: a certificate through FlaksTLS's challenge path", .timeLimit(.minutes(2)))
    func tlsALPN01() throws {
        let pebble = try Pebble(nonceReject: 30)
        defer { pebble.stop() }
        let name = "flaks-alpn.example.com"
        let store = try CertificateStore(hosts: [.init(index: 0, names: [name], certificate: nil)])
        let context = try TLSServerContext(policy: TLSPolicy(), store: store, tickets: TicketKeyRing())
        let server = try BlockingResponder(port: pebble.tlsPort, handle: BlockingResponder.tlsALPN01(context))
        defer { server.stop() }
        var limits = ACMELimits()
        limits.pollInterval = 1
        limits.maxBadNonceRetries = 10
        var machine = try ACMEOrderMachine(configuration: ACMEOrderConfiguration(
            directoryURL: pebble.directoryURL, names: [name], challenges: [.tlsALPN01], limits: limits),
            accountKey: ACMEAccountKey(PrivateKey.generate(.ecdsaP256)))
        var log: [String] = []
        let outcome = driveBlocking(&machine, transport: CurlTransport(caFile: pebble.caFile, workDir: pebble.dir),
                                    responder: ACMEChallengeResponder(), store: store, log: &log)
        guard case .finished(let issued) = outcome else {
            Issue.record("no certificate: \(outcome)\n\(log.joined(separator: "\n"))\n\(server.served.withLock { $0 })\n\(pebble.log.suffix(3000))")
            return
        }
        #expect(issued.certificate.info.dnsNames == [name])
        let handshakes = server.served.withLock { $0 }
        #expect(handshakes.contains("handshake sni=\(name) alpn=acme-tls/1 acme=true"), "\(handshakes)")
        #expect(store.challengeCertificate(forName: name) == nil)   // withdrawn
        try verifyChain(issued, pebble: pebble)
        // Serve it: the host's certificate is replaced without a reload.
        #expect(store.replace(host: 0, with: issued.certificate))
        #expect(store.certificate(host: 0)?.info.serial == issued.certificate.info.serial)
        print("pebble tls-alpn-01: \(log.filter { $0.contains("badNonce") }.count) badNonce answers retried")
    }
}
