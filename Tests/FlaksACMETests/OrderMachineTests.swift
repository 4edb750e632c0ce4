import Testing
@testable import FlaksACME
@testable import FlaksTLS

/// The order machine against the fake CA: every step, the retries and the failures.
@Suite("ACME order machine")
struct OrderMachineTests {
    func paths(_ ca: FakeCA) -> [String] { ca.requests.map { "\($0.method.rawValue) \($0.path)" } }

    @Test("new account, two names, http-01: the whole exchange, in order")
    func happyPathHTTP01() throws {
        let ca = try FakeCA()
        var m = try makeMachine(ca)
        let t = drive(&m, ca)
        let issued = try #require(t.issued, "\(String(describing: t.error))")
        #expect(ca.violations == [])
        #expect(paths(ca) == [
            "GET /dir", "HEAD /nonce",
            "POST /account", "POST /account",              // onlyReturnExisting, then create
            "POST /order",
            "POST /authz/0", "POST /chall/0/0", "POST /authz/0",
            "POST /authz/1", "POST /chall/1/0", "POST /authz/1",
            "POST /order/1", "POST /finalize", "POST /cert",
        ])
        // The create request: terms agreed, mailto contact; the lookup: onlyReturnExisting only.
        #expect(ca.payloads[2] == .object(["onlyReturnExisting": .bool(true)]))
        #expect(ca.payloads[3]?["termsOfServiceAgreed"] == .bool(true))
        #expect(ca.payloads[3]?["contact"] == .array([.string("mailto:ops@a.test")]))
        #expect(ca.payloads[4] == .object(["identifiers": .array([
            .object(["type": .string("dns"), "value": .string("a.test")]),
            .object(["type": .string("dns"), "value": .string("www.a.test")])])]))
        // POST-as-GET bodies have an empty payload; the certificate is asked for as a PEM chain.
        #expect(ca.requests.last?.header("Accept") == "application/pem-certificate-chain")
        // Effects: account, then publish/withdraw per authorization, nothing left served.
        var served = Set<String>()
        var sawAccount = false
        for e in t.effects {
            switch e {
            case .accountReady(let url): sawAccount = true; #expect(url == "https://ca.test/acct/1")
            case .serveHTTP01(let token, let ka):
                served.insert(token)
                #expect(ka == token + "." + (ca.thumbprint ?? ""))
            case .withdrawHTTP01(let token): #expect(served.remove(token) != nil)
            default: Issue.record("unexpected effect \(e)")
            }
        }
        #expect(sawAccount)
        #expect(served.isEmpty)
        #expect(ca.responder.count == 0)
        #expect(issued.names == ["a.test", "www.a.test"])
        #expect(issued.certificate.leaf.covers("a.test") && issued.certificate.leaf.covers("www.a.test"))
        #expect(issued.certificate.chain.count == 2)
        #expect(issued.accountURL == "https://ca.test/acct/1")
        #expect(issued.orderURL == "https://ca.test/order/1")
        // The key PEM is the key of the issued certificate.
        let reread = try ServerCertificate(certificatePEM: issued.chainPEM, keyPEM: issued.keyPEM)
        #expect(reread.info.serial == issued.certificate.info.serial)
        #expect(reread.key.kindDescription == "ECDSA P-256")
        #expect(t.jobs.filter { $0 == "csr" }.count == 1)
        #expect(t.jobs.filter { $0 == "checkChain" }.count == 1)
        // Every POST was signed on a worker job.
        #expect(t.jobs.filter { $0 == "sign" }.count == ca.requests.filter { $0.method == .post }.count)
    }

    @Test("an existing account is found with onlyReturnExisting and not created again")
    func existingAccount() throws {
        let ca = try FakeCA()
        ca.accountExists = true
        var m = try makeMachine(ca, names: ["a.test"])
        let t = drive(&m, ca)
        #expect(t.issued != nil)
        #expect(paths(ca).filter { $0 == "POST /account" }.count == 1)
        #expect(m.accountURL == "https://ca.test/acct/1")
    }

    @Test("no email: the account is created without contact")
    func noContact() throws {
        let ca = try FakeCA()
        var m = try makeMachine(ca, names: ["a.test"], email: nil)
        #expect(drive(&m, ca).issued != nil)
        #expect(ca.payloads[3] == .object(["termsOfServiceAgreed": .bool(true)]))
    }

    @Test("tls-alpn-01 only: the challenge certificate is made on a worker, served, then withdrawn")
    func tlsALPN01() throws {
        let ca = try FakeCA()
        var m = try makeMachine(ca, challenges: [.tlsALPN01])
        let t = drive(&m, ca)
        #expect(t.issued != nil, "\(String(describing: t.error))")
        #expect(ca.violations == [])
        #expect(t.jobs.filter { $0 == "challengeCertificate" }.count == 2)
        var names: [String] = []
        for e in t.effects {
            if case .serveTLSALPN01(let name, let cert) = e {
                names.append(name)
                // RFC 8737 §3: exactly that name, and the acmeIdentifier extension.
                #expect(cert.info.dnsNames == [name])
            }
            if case .serveHTTP01 = e { Issue.record("http-01 was not allowed") }
        }
        #expect(names == ["a.test", "www.a.test"])
        #expect(ca.alpnCertificates.isEmpty)
        #expect(paths(ca).contains("POST /chall/0/1"))
    }

    @Test("both allowed and offered: http-01 is preferred; only tls-alpn-01 offered: it is used")
    func challengePreference() throws {
        let ca = try FakeCA()
        ca.challengeTypes = ["tls-alpn-01", "http-01"]
        var m = try makeMachine(ca, names: ["a.test"])
        #expect(drive(&m, ca).issued != nil)
        #expect(paths(ca).contains("POST /chall/0/1"))   // index 1 is http-01 here

        let ca2 = try FakeCA()
        ca2.challengeTypes = ["dns-01", "tls-alpn-01"]
        var m2 = try makeMachine(ca2, names: ["a.test"])
        #expect(drive(&m2, ca2).issued != nil)
        #expect(paths(ca2).contains("POST /chall/0/1"))
    }

    @Test("no allowed challenge offered: fails naming what was offered")
    func noAllowedChallenge() throws {
        let ca = try FakeCA()
        ca.challengeTypes = ["dns-01", "tls-alpn-01"]
        var m = try makeMachine(ca, names: ["a.test"], challenges: [.http01])
        let t = drive(&m, ca)
        let e = try #require(t.error)
        #expect(e.reason == .noAllowedChallenge(name: "a.test", offered: ["dns-01", "tls-alpn-01"]))
        #expect(e.stage == .challenge)
    }

    @Test("badNonce: retried with the new nonce, up to the limit exactly", arguments: [0, 1, 5])
    func badNonceWithinLimit(count: Int) throws {
        let ca = try FakeCA()
        ca.badNonces = count
        var m = try makeMachine(ca, names: ["a.test"])
        let t = drive(&m, ca)
        #expect(t.issued != nil, "\(String(describing: t.error))")
        #expect(ca.violations == [])
        // The first signed request was sent count+1 times, and no extra newNonce was needed:
        // the error response's Replay-Nonce is used.
        #expect(Array(paths(ca).prefix(3 + count)) == ["GET /dir", "HEAD /nonce"] + Array(repeating: "POST /account", count: count + 1))
        #expect(paths(ca).filter { $0 == "HEAD /nonce" }.count == 1)
    }

    @Test("badNonce one more time than the limit fails with the problem")
    func badNonceOverLimit() throws {
        let ca = try FakeCA()
        var limits = ACMELimits()
        limits.maxBadNonceRetries = 5
        ca.badNonces = 6
        var m = try makeMachine(ca, names: ["a.test"], limits: limits)
        let e = try #require(drive(&m, ca).error)
        #expect(e.problem?.kind == .badNonce)
        #expect(e.stage == .account)
        #expect(e.httpStatus == 400)
        #expect(ca.requests.count == 2 + 6)
    }

    @Test("a response without a Replay-Nonce: the next request fetches one from newNonce")
    func missingNonceFetchesNew() throws {
        let ca = try FakeCA()
        ca.override = { req, _ in
            if req.path == "/order" { return nil }
            return nil
        }
        var m = try makeMachine(ca, names: ["a.test"])
        // Strip the nonce from the newAccount answers.
        let base = ca.override
        ca.override = { [unowned ca] req, n in
            if req.path == "/account" {
                guard var r = ca.route(req.path, payload: (try? JSONParser.parse(Array(req.body)))
                    .flatMap { $0["payload"]?.stringValue }.flatMap(Base64URL.decode).flatMap { try? JSONParser.parse($0) },
                                        payload64: "x") as ACMEHTTPResponse? else { return nil }
                r.headers.removeAll { $0.name == "Replay-Nonce" }
                return .response(r)
            }
            return base?(req, n)
        }
        let t = drive(&m, ca)
        #expect(t.issued != nil, "\(String(describing: t.error))")
        // newNonce before the order (after the account answers had none).
        let p = paths(ca)
        let order = try #require(p.firstIndex(of: "POST /order"))
        #expect(p[order - 1] == "HEAD /nonce")
    }

    @Test("newNonce without a usable nonce fails cleanly")
    func newNonceWithoutNonce() throws {
        let ca = try FakeCA()
        ca.override = { req, _ in
            req.method == .head ? .response(ACMEHTTPResponse(status: 200, headers: [ACMEHeader("Replay-Nonce", "not a \"nonce\"")])) : nil
        }
        var m = try makeMachine(ca, names: ["a.test"])
        let e = try #require(drive(&m, ca).error)
        #expect(e.stage == .nonce)
        #expect(e.reason == .badResponse("no usable Replay-Nonce from newNonce"))
    }

    @Test("problem document with subproblems and Retry-After on newOrder")
    func problemDocument() throws {
        let ca = try FakeCA()
        ca.newOrderError = (400, .object([
            "type": .string("urn:ietf:params:acme:error:compound"),
            "detail": .string("Errors for some identifiers"),
            "status": .int(400),
            "subproblems": .array([
                .object(["type": .string("urn:ietf:params:acme:error:rejectedIdentifier"),
                         "detail": .string("policy forbids issuing for \"www.a.test\""),
                         "identifier": .object(["type": .string("dns"), "value": .string("www.a.test")])]),
                .object(["type": .string("urn:ietf:params:acme:error:caa"), "detail": .string("CAA forbids"),
                         "identifier": .object(["type": .string("dns"), "value": .string("a.test")])]),
            ]),
        ]), [ACMEHeader("Retry-After", "120")])
        var m = try makeMachine(ca)
        let t = drive(&m, ca)
        let e = try #require(t.error)
        let p = try #require(e.problem)
        #expect(p.kind == .compound)
        #expect(p.subproblems.map(\.kind) == [.rejectedIdentifier, .caa])
        #expect(p.subproblems.map(\.identifier) == ["dns:www.a.test", "dns:a.test"])
        #expect(e.retryAfter == testNow + 120)
        #expect(e.stage == .order)
        #expect(e.description.contains("dns:www.a.test: urn:ietf:params:acme:error:rejectedIdentifier: policy forbids"))
        #expect(e.description.contains("status=400"))
    }

    @Test("rate limited with an HTTP-date Retry-After")
    func rateLimitedDate() throws {
        let ca = try FakeCA()
        ca.newOrderError = (429, .object(["type": .string("urn:ietf:params:acme:error:rateLimited"), "detail": .string("too many")]),
                            [ACMEHeader("Retry-After", "Thu, 01 Jan 2026 01:00:00 GMT")])
        var m = try makeMachine(ca, names: ["a.test"])
        let e = try #require(drive(&m, ca).error)
        #expect(e.problem?.kind == .rateLimited)
        #expect(e.retryAfter == testNow + 3600)
        #expect(e.httpStatus == 429)
    }

    @Test("an error status without a problem document")
    func plainErrorStatus() throws {
        let ca = try FakeCA()
        ca.override = { req, _ in req.path == "/order" ? .response(ACMEHTTPResponse(status: 502, body: Array("<html>bad gateway".utf8))) : nil }
        var m = try makeMachine(ca, names: ["a.test"])
        let e = try #require(drive(&m, ca).error)
        #expect(e.reason == .httpStatus(502))
    }

    @Test("polls honour Retry-After (delta-seconds and HTTP-date) and the default interval")
    func pollingRetryAfter() throws {
        for (header, expected) in [(nil, Int64(2)), ("7", 7), ("Thu, 01 Jan 2026 00:00:30 GMT", 30)] as [(String?, Int64)] {
            let ca = try FakeCA()
            ca.pendingPolls = 2
            ca.pollRetryAfter = header
            var m = try makeMachine(ca, names: ["a.test"])
            let t = drive(&m, ca)
            #expect(t.issued != nil, "\(String(describing: t.error))")
            // Every wait is the Retry-After or the default; an HTTP-date counts from the response's now.
            #expect(t.sleeps.first == expected)
            if header != "Thu, 01 Jan 2026 00:00:30 GMT" { #expect(t.sleeps.allSatisfy { $0 == expected }) }
            #expect(t.sleeps.count == 3)   // challenge → poll, two pending polls → poll
        }
    }

    @Test("authorization polls: exactly maxPolls polls may end valid; one pending more fails")
    func pollingBound() throws {
        var limits = ACMELimits()
        limits.maxPolls = 4
        let ok = try FakeCA()
        ok.pendingPolls = 3          // polls 1-3 pending, poll 4 valid
        var m = try makeMachine(ok, names: ["a.test"], limits: limits)
        #expect(drive(&m, ok).issued != nil)
        #expect(ok.requests.filter { $0.path == "/authz/0" }.count == 1 + 4)

        let late = try FakeCA()
        late.pendingPolls = 4        // poll 4 still pending
        var m2 = try makeMachine(late, names: ["a.test"], limits: limits)
        let e = try #require(drive(&m2, late).error)
        #expect(e.stage == .authorization)
        if case .pollingExhausted = e.reason {} else { Issue.record("\(e)") }
        #expect(late.requests.filter { $0.path == "/authz/0" }.count == 1 + 4)
        #expect(late.responder.count == 0)   // withdrawn
    }

    @Test("order polls after finalize: processing until valid, bounded the same way")
    func orderPolling() throws {
        var limits = ACMELimits()
        limits.maxPolls = 3
        let ok = try FakeCA()
        ok.processingPolls = 2
        var m = try makeMachine(ok, names: ["a.test"], limits: limits)
        #expect(drive(&m, ok).issued != nil)

        let late = try FakeCA()
        late.processingPolls = 10
        var m2 = try makeMachine(late, names: ["a.test"], limits: limits)
        let e = try #require(drive(&m2, late).error)
        #expect(e.stage == .order)
        if case .pollingExhausted = e.reason {} else { Issue.record("\(e)") }
    }

    @Test("a Retry-After beyond maxPollDelay ends the attempt with that time")
    func retryLater() throws {
        let ca = try FakeCA()
        ca.pollRetryAfter = "601"
        var m = try makeMachine(ca, names: ["a.test"])
        let e = try #require(drive(&m, ca).error)
        #expect(e.reason == .retryLater)
        #expect(e.retryAfter == testNow + 601)
        #expect(ca.responder.count == 0)

        let edge = try FakeCA()
        edge.pollRetryAfter = "600"
        var m2 = try makeMachine(edge, names: ["a.test"])
        #expect(drive(&m2, edge).issued != nil)
    }

    @Test("the challenge fails: the authorization is invalid, with the challenge's problem")
    func authorizationInvalid() throws {
        let ca = try FakeCA()
        ca.failChallenge = .object(["type": .string("urn:ietf:params:acme:error:connection"),
                                    "detail": .string("Connection refused"), "status": .int(400)])
        var m = try makeMachine(ca, names: ["a.test"])
        let t = drive(&m, ca)
        let e = try #require(t.error)
        guard case .authorizationInvalid(let name, let p) = e.reason else { Issue.record("\(e)"); return }
        #expect(name == "a.test")
        #expect(p?.kind == .connection)
        #expect(p?.detail == "Connection refused")
        // The published response is withdrawn in the failing step.
        if case .withdrawHTTP01? = t.effects.last {} else { Issue.record("no withdrawal: \(t.effects)") }
        #expect(ca.responder.count == 0)
    }

    @Test("order invalid after finalize fails with the order's error")
    func orderInvalid() throws {
        let ca = try FakeCA()
        ca.invalidAtFinalize = .object(["type": .string("urn:ietf:params:acme:error:badCSR"), "detail": .string("key too weak")])
        var m = try makeMachine(ca, names: ["a.test"])
        let e = try #require(drive(&m, ca).error)
        guard case .orderInvalid(let p) = e.reason else { Issue.record("\(e)"); return }
        #expect(p?.kind == .badCSR)
        #expect(e.stage == .finalize)
    }

    @Test("transport failure mid-order: the attempt fails at that stage and withdraws")
    func transportFailure() throws {
        let ca = try FakeCA()
        ca.override = { req, _ in req.path.hasPrefix("/chall/") ? .transportFailure : nil }
        var m = try makeMachine(ca, names: ["a.test"])
        let t = drive(&m, ca)
        let e = try #require(t.error)
        #expect(e.stage == .challenge)
        #expect(e.reason == .transport("connection refused"))
        #expect(ca.responder.count == 0)
    }

    @Test("unusable directories", arguments: [
        ("not json", "<html>"),
        ("no newOrder", #"{"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/account"}"#),
        ("http URL", #"{"newNonce":"http://ca.test/nonce","newAccount":"https://ca.test/account","newOrder":"https://ca.test/order"}"#),
        ("array", "[]"),
    ])
    func badDirectory(name: String, body: String) throws {
        let ca = try FakeCA()
        ca.override = { req, _ in req.path == "/dir" ? .response(ACMEHTTPResponse(status: 200, body: Array(body.utf8))) : nil }
        var m = try makeMachine(ca)
        let e = try #require(drive(&m, ca).error)
        #expect(e.stage == .directory)
        if case .badResponse = e.reason {} else { Issue.record("\(name): \(e)") }
    }

    @Test("external account binding required: a configuration failure, not a loop")
    func externalAccountRequired() throws {
        let ca = try FakeCA()
        ca.externalAccountRequired = true
        var m = try makeMachine(ca)
        let e = try #require(drive(&m, ca).error)
        if case .configuration = e.reason {} else { Issue.record("\(e)") }
    }

    @Test("renewal with ARI: replaces is sent when the CA has renewalInfo; alreadyReplaced drops it")
    func replaces() throws {
        let ca = try FakeCA()
        ca.offerRenewalInfo = true
        var m = try makeMachine(ca, names: ["a.test"], replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        #expect(drive(&m, ca).issued != nil)
        #expect(ca.orderPayload?["replaces"] == .string("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"))

        let noARI = try FakeCA()
        var m2 = try makeMachine(noARI, names: ["a.test"], replaces: "x.y")
        #expect(drive(&m2, noARI).issued != nil)
        #expect(noARI.orderPayload?["replaces"] == nil)

        let refusing = try FakeCA()
        refusing.offerRenewalInfo = true
        refusing.refuseReplaces = true
        var m3 = try makeMachine(refusing, names: ["a.test"], replaces: "x.y")
        #expect(drive(&m3, refusing).issued != nil)
        #expect(refusing.requests.filter { $0.path == "/order" }.count == 2)
        #expect(refusing.orderPayload?["replaces"] == nil)
    }

    @Test("names: wildcards, IPs and junk are refused at init; duplicates and case folded")
    func names() throws {
        let ca = try FakeCA()
        for bad in [["*.a.test"], ["192.0.2.1"], [], ["a..test"], ["-a.test"], ["a_b.test"], ["localhost"]] {
            #expect(throws: ACMEError.self) { try makeMachine(ca, names: bad) }
        }
        let m = try makeMachine(ca, names: ["A.test", "a.TEST", "b.test"])
        #expect(m.names == ["a.test", "b.test"])
    }

    @Test("events the machine is not waiting for end it as an executor bug; after the end, the outcome repeats")
    func unexpectedEvents() throws {
        let ca = try FakeCA()
        var m = try makeMachine(ca)
        _ = m.start(now: testNow)
        let step = m.cryptoFinished(.failed("x"), now: testNow)
        guard case .failed(let e) = step.next, case .unexpectedEvent = e.reason else { Issue.record("\(step.next)"); return }
        let again = m.received(ACMEHTTPResponse(status: 200), now: testNow)
        guard case .failed(let e2) = again.next else { Issue.record("\(again.next)"); return }
        #expect(e2 == e)
        var fresh = try makeMachine(ca)
        let early = fresh.timerFired(now: testNow)
        guard case .failed = early.next else { Issue.record("\(early.next)"); return }
    }

    @Test("a timer fired early sleeps again until the deadline")
    func earlyTimer() throws {
        let ca = try FakeCA()
        ca.pollRetryAfter = "30"
        var m = try makeMachine(ca, names: ["a.test"])
        var step = m.start(now: testNow)
        var now = testNow
        for _ in 0..<100 {
            switch step.next {
            case .send(let r): step = m.received(try #require(ca.handle(r)), now: now)
            case .run(let j):
                for e in step.effects { ca.responder.perform(e) }
                step = m.cryptoFinished(j.run(now: now), now: now)
            case .sleep(let until):
                for e in step.effects { ca.responder.perform(e) }
                let early = m.timerFired(now: until - 1)
                guard case .sleep(let again) = early.next else { Issue.record("\(early.next)"); return }
                #expect(again == until)
                now = until
                step = m.timerFired(now: now)
                guard case .run = step.next else { Issue.record("\(step.next)"); return }
                return
            default: Issue.record("\(step.next)"); return
            }
        }
    }

    @Test("the issued chain must cover the names and match the key")
    func chainChecked() throws {
        let ca = try FakeCA()
        var m = try makeMachine(ca, names: ["a.test"])
        // Serve a certificate for another name.
        ca.override = { [unowned ca] req, _ in
            guard req.path == "/cert" else { return nil }
            guard let other = try? TestLeaf.make(["other.test"], ca: ca) else { return nil }
            return .response(ACMEHTTPResponse(status: 200, headers: [ACMEHeader("Replay-Nonce", ca.freshNonce())],
                                              body: Array(other.utf8)))
        }
        let e = try #require(drive(&m, ca).error)
        #expect(e.stage == .certificate)
        if case .crypto = e.reason {} else { Issue.record("\(e)") }
    }

    @Test("an authorization for a name that was not ordered is refused")
    func foreignAuthorization() throws {
        let ca = try FakeCA()
        ca.override = { [unowned ca] req, _ in
            guard req.path == "/authz/0" else { return nil }
            return .response(ca.json(200, .object(["status": .string("pending"),
                                                   "identifier": .object(["type": .string("dns"), "value": .string("evil.test")]),
                                                   "challenges": .array([])])))
        }
        var m = try makeMachine(ca, names: ["a.test"])
        let e = try #require(drive(&m, ca).error)
        #expect(e.stage == .authorization)
        if case .badResponse = e.reason {} else { Issue.record("\(e)") }
    }
}

enum TestLeaf {
    /// A leaf for `names` from the fake CA, with its own key: leaf + CA PEM.
    static func make(_ names: [String], ca: FakeCA) throws -> String {
        let key = try PrivateKey.generate(.ecdsaP256)
        let leaf = try CertificateFactory.makeCertificate(commonName: names[0], names: names, key: key, issuer: (ca.caCert, ca.caKey),
                                                          notBefore: testNow - 60, notAfter: testNow + 86400)
        return leaf.pem + ca.caCert.pem
    }
}
