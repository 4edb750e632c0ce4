import Testing
@testable import FlaksACME
@testable import FlaksTLS

@Suite("renewal schedule, ARI and certificate state (fake clock)")
struct ScheduleTests {
    let day: Int64 = 86400

    @Test("back-off: 1 min doubling to 1 h")
    func backoff() {
        #expect((0...9).map { RenewalSchedule.backoff(failures: $0) } == [0, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600])
        #expect(RenewalSchedule.backoff(failures: 1000) == 3600)
    }

    @Test("due renew_before ahead of expiry; capped at a third of the lifetime")
    func due() {
        let s = RenewalSchedule(renewBefore: 30 * day)
        #expect(s.dueTime(notBefore: testNow, notAfter: testNow + 90 * day) == testNow + 60 * day)
        // A 6-day certificate with renew_before 30d renews after 4 days, not at once.
        #expect(s.dueTime(notBefore: testNow, notAfter: testNow + 6 * day) == testNow + 4 * day)
        #expect(RenewalSchedule(renewBefore: day).dueTime(notBefore: testNow, notAfter: testNow + 6 * day) == testNow + 5 * day)
    }

    @Test("next attempt with a fake clock: not before due, back-off after failures, Retry-After wins when later")
    func nextAttempt() {
        let s = RenewalSchedule(renewBefore: 30 * day)
        let validity = (notBefore: testNow - 80 * day, notAfter: testNow + 10 * day)   // due 20 days ago
        #expect(s.nextAttempt(now: testNow, validity: validity) == testNow)
        #expect(s.nextAttempt(now: testNow, validity: nil) == testNow)
        #expect(s.nextAttempt(now: testNow, validity: validity, failures: 1, lastFailure: testNow) == testNow + 60)
        #expect(s.nextAttempt(now: testNow, validity: validity, failures: 3, lastFailure: testNow) == testNow + 240)
        #expect(s.nextAttempt(now: testNow, validity: validity, failures: 9, lastFailure: testNow) == testNow + 3600)
        #expect(s.nextAttempt(now: testNow, validity: validity, failures: 1, lastFailure: testNow, retryAfter: testNow + 7200)
                == testNow + 7200)
        #expect(s.nextAttempt(now: testNow, validity: validity, failures: 3, lastFailure: testNow, retryAfter: testNow + 10)
                == testNow + 240)
        let fresh = (notBefore: testNow, notAfter: testNow + 90 * day)
        #expect(s.nextAttempt(now: testNow, validity: fresh, failures: 0) == testNow + 60 * day)
    }

    @Test("ARI window earlier than renew_before wins; the point in the window follows the jitter")
    func ariWindow() {
        let s = RenewalSchedule(renewBefore: 30 * day)
        let w = ARIWindow(start: testNow + 10 * day, end: testNow + 12 * day, nextCheck: testNow + 3600)
        #expect(s.dueTime(notBefore: testNow, notAfter: testNow + 90 * day, ari: w, jitter: 0) == testNow + 10 * day)
        #expect(s.dueTime(notBefore: testNow, notAfter: testNow + 90 * day, ari: w, jitter: 0.5) == testNow + 11 * day)
        let late = ARIWindow(start: testNow + 70 * day, end: testNow + 75 * day, nextCheck: testNow)
        #expect(s.dueTime(notBefore: testNow, notAfter: testNow + 90 * day, ari: late, jitter: 0) == testNow + 60 * day)
        #expect(s.dueTime(notBefore: testNow, notAfter: testNow + 90 * day, ari: w, jitter: .nan) == testNow + 11 * day)
    }

    @Test("ARI certificate ID: the RFC 9773 §4.1 example, and a real certificate's AKI and serial")
    func certificateID() throws {
        // AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4, serial 00:87:65:43:21.
        let aki: [UInt8] = [0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4]
        #expect(Base64URL.encode(aki) + "." + Base64URL.encode([0x00, 0x87, 0x65, 0x43, 0x21]) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        let ca = try FakeCA()
        let leafPEM = try TestLeaf.make(["a.test"], ca: ca)
        let leaf = try X509Certificate.readPEM(Array(leafPEM.utf8))[0]
        let id = try #require(ARIWindow.certificateID(leaf))
        let parts = id.split(separator: ".").map(String.init)
        #expect(parts.count == 2)
        // The AKI is the issuer's subject key identifier; the serial matches the hex serial.
        #expect(Base64URL.decode(parts[0])?.count == 20)
        let serial = try #require(Base64URL.decode(parts[1]))
        let hex = serial.drop { $0 == 0 }.map { String($0, radix: 16, uppercase: true).count == 1 ? "0" + String($0, radix: 16, uppercase: true) : String($0, radix: 16, uppercase: true) }.joined()
        #expect(hex == leaf.info.serial)
        #expect(serial.first.map { $0 & 0x80 == 0 } == true)   // DER: positive
        // A self-signed CA without AKI has no ID.
        #expect(ARIWindow.certificateID(ca.caCert) == nil)
    }

    @Test("ARI response: window, Retry-After clamped, bad windows refused")
    func ariParse() {
        let body = Array(#"{"suggestedWindow":{"start":"2026-01-10T00:00:00Z","end":"2026-01-12T00:00:00Z"},"explanationURL":"https://ca/why"}"#.utf8)
        guard case .success(let w) = ARIWindow.parse(ACMEHTTPResponse(status: 200, headers: [ACMEHeader("Retry-After", "21600")], body: body), now: testNow)
        else { Issue.record("not parsed"); return }
        #expect(w.start == testNow + 9 * day && w.end == testNow + 11 * day && w.nextCheck == testNow + 21600)
        #expect(w.explanationURL == "https://ca/why")
        for (header, next) in [("1", testNow + 60), ("999999", testNow + 86400)] {
            guard case .success(let c) = ARIWindow.parse(ACMEHTTPResponse(status: 200, headers: [ACMEHeader("Retry-After", header)], body: body), now: testNow)
            else { Issue.record("not parsed"); return }
            #expect(c.nextCheck == next)
        }
        guard case .success(let d) = ARIWindow.parse(ACMEHTTPResponse(status: 200, body: body), now: testNow) else { return }
        #expect(d.nextCheck == testNow + ARIWindow.defaultCheckInterval)
        let reversed = Array(#"{"suggestedWindow":{"start":"2026-01-12T00:00:00Z","end":"2026-01-10T00:00:00Z"}}"#.utf8)
        for r in [ACMEHTTPResponse(status: 200, body: reversed), ACMEHTTPResponse(status: 200, body: Array("{}".utf8)),
                  ACMEHTTPResponse(status: 404, body: Array(#"{"type":"urn:ietf:params:acme:error:malformed"}"#.utf8))] {
            guard case .failure(let e) = ARIWindow.parse(r, now: testNow) else { Issue.record("accepted \(r)"); continue }
            #expect(e.stage == .renewalInfo)
        }
    }

    @Test("ARI fetch machine: directory then renewalInfo; none offered → nil; transport failure")
    func ariMachine() throws {
        let ca = try FakeCA()
        ca.offerRenewalInfo = true
        var m = ACMERenewalInfoMachine(directoryURL: ca.directoryURL, certificateID: "abc.def")
        guard case .send(let r1) = m.start(now: testNow) else { Issue.record("no request"); return }
        #expect(r1.method == .get && r1.url == ca.directoryURL)
        guard case .send(let r2) = m.received(try #require(ca.handle(r1)), now: testNow) else { Issue.record("no ARI request"); return }
        #expect(r2.url == "https://ca.test/ari/abc.def" && r2.method == .get)
        let body = Array(#"{"suggestedWindow":{"start":"2026-01-10T00:00:00Z","end":"2026-01-12T00:00:00Z"}}"#.utf8)
        guard case .done(let w?) = m.received(ACMEHTTPResponse(status: 200, body: body), now: testNow) else { Issue.record("no window"); return }
        #expect(w.start == testNow + 9 * day)

        let plain = try FakeCA()
        var m2 = ACMERenewalInfoMachine(directoryURL: plain.directoryURL, certificateID: "abc.def")
        guard case .send(let r) = m2.start(now: testNow) else { return }
        guard case .done(nil) = m2.received(try #require(plain.handle(r)), now: testNow) else { Issue.record("expected no ARI"); return }

        var m3 = ACMERenewalInfoMachine(directoryURL: plain.directoryURL, certificateID: "x.y")
        _ = m3.start(now: testNow)
        guard case .failed(let e) = m3.transportFailed("timeout", now: testNow) else { return }
        #expect(e.stage == .directory)
    }

    @Test("certificate state: issued, failures with back-off, Retry-After, names added, status line")
    func state() throws {
        let ca = try FakeCA()
        var state = ACMECertificateState(names: ["a.test", "www.a.test"], schedule: RenewalSchedule(renewBefore: 30 * day))
        #expect(state.nextAttempt(now: testNow) == testNow)            // nothing yet: order now
        #expect(state.status(now: testNow).issuer == nil)
        state.attemptStarted()
        state.failed(ACMEError(stage: .order, reason: .httpStatus(503)), now: testNow)
        #expect(state.nextAttempt(now: testNow) == testNow + 60)
        state.failed(ACMEError(stage: .order, reason: .httpStatus(503), retryAfter: testNow + 900), now: testNow + 60)
        #expect(state.nextAttempt(now: testNow + 60) == testNow + 900)
        #expect(state.status(now: testNow).failures == 2)
        #expect(state.status(now: testNow).description.contains("last_error=\"stage=order"))

        let pem = try TestLeaf.make(["a.test", "www.a.test"], ca: ca)   // valid testNow-60 … testNow+1 day
        _ = pem
        let key = try PrivateKey.generate(.ecdsaP256)
        let leaf = try CertificateFactory.makeCertificate(commonName: "a.test", names: ["a.test", "www.a.test"], key: key,
                                                          issuer: (ca.caCert, ca.caKey), notBefore: testNow, notAfter: testNow + 90 * day)
        let cert = try ServerCertificate(chain: [leaf, ca.caCert], key: key)
        state.issued(cert)
        #expect(state.failures == 0 && state.lastError == nil)
        #expect(state.coversNames)
        #expect(state.nextAttempt(now: testNow) == testNow + 60 * day)
        #expect(state.certificateID != nil)
        #expect(state.nextRenewalInfoCheck == 0)
        state.renewalInfoReceived(ARIWindow(start: testNow + 5 * day, end: testNow + 5 * day + 1, nextCheck: testNow + 3600))
        #expect(state.nextAttempt(now: testNow) == testNow + 5 * day)
        #expect(state.nextRenewalInfoCheck == testNow + 3600)
        // An order that just succeeded holds the next one off for `minimumReorderInterval`, even
        // for a certificate that is due at once (a clock ahead of the CA's); names added do not wait.
        var early = ACMECertificateState(names: ["a.test", "www.a.test"], schedule: RenewalSchedule())
        early.issued(cert, now: testNow + 89 * day)
        #expect(early.nextAttempt(now: testNow + 89 * day) == testNow + 89 * day + RenewalSchedule.minimumReorderInterval)
        #expect(early.nextAttempt(now: testNow + 89 * day + 600) == testNow + 89 * day + 600)
        early.names.append("new.a.test")
        #expect(early.nextAttempt(now: testNow + 89 * day) == testNow + 89 * day)
        let line = state.status(now: testNow).description
        #expect(line.contains("names=a.test,www.a.test") && line.contains("issuer=\"CN=Fake ACME CA\"") && line.contains("next_attempt=2026-01-06T00:00:00Z"))

        // A reload adds a name: due now, the current certificate still served.
        state.names.append("new.a.test")
        #expect(!state.coversNames)
        #expect(state.nextAttempt(now: testNow) == testNow)
        // Another replica holds the lock: look again in a minute.
        state.lockBusy(now: testNow)
        #expect(state.nextAttempt(now: testNow) == testNow + RenewalSchedule.lockRetryInterval)
    }
}
