import FlaksACME
import FlaksTLS
import FlaksTestSupport
import Testing

/// `ACMEExchange`, the pure core of the executor's client to the CA, fed bytes: plain HTTP a byte
/// at a time, and HTTPS against a server `TLSSession` in memory (no socket, no clock).
@Suite("ACME exchange: one request to the CA as bytes")
struct ExchangeTests {
    static let ua = "flaks-test/1"

    static func plain(_ request: ACMEHTTPRequest, maxBody: Int = 1 << 20) throws -> ACMEExchange {
        let url = try #require(ACMEURL(request.url))
        return ACMEExchange(request: request, url: url, tls: nil, maxResponseBody: maxBody, userAgent: ua)
    }

    /// Feeds `bytes` one at a time; the outcome once there is one (no output to send for plain HTTP).
    static func feedByteByByte(_ x: inout ACMEExchange, _ bytes: String) -> ACMEExchange.Outcome? {
        for b in Array(bytes.utf8) {
            let out = x.received([b])
            #expect(out.send.isEmpty)
            if let o = out.outcome { return o }
        }
        return nil
    }

    @Test("the request on the wire: Host, the machine's fields, User-Agent, Content-Length for POST, Connection: close")
    func requestBytes() throws {
        var post = try Self.plain(ACMEHTTPRequest(method: .post, url: "http://CA.test:8080/acme/new-order?x=1#frag",
                                                  headers: [ACMEHeader("Content-Type", "application/jose+json"),
                                                            ACMEHeader("Content-Length", "999"), ACMEHeader("Host", "evil"),
                                                            ACMEHeader("Transfer-Encoding", "chunked")],
                                                  body: Array("{}".utf8)))
        #expect(String(decoding: post.start().send, as: UTF8.self) ==
                "POST /acme/new-order?x=1 HTTP/1.1\r\nHost: ca.test:8080\r\nContent-Type: application/jose+json\r\n"
                + "User-Agent: flaks-test/1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        var get = try Self.plain(ACMEHTTPRequest(method: .get, url: "http://ca.test/dir", headers: [ACMEHeader("User-Agent", "mine")]))
        #expect(String(decoding: get.start().send, as: UTF8.self) ==
                "GET /dir HTTP/1.1\r\nHost: ca.test\r\nUser-Agent: mine\r\nConnection: close\r\n\r\n")
    }

    @Test("answers framed by the parser, fed a byte at a time: Content-Length, chunked after a 100, until close, HEAD")
    func framing() throws {
        var a = try Self.plain(ACMEHTTPRequest(method: .get, url: "http://ca.test/dir"))
        _ = a.start()
        guard case .response(let r)? = Self.feedByteByByte(&a, "HTTP/1.1 200 OK\r\nReplay-Nonce: n1\r\nContent-Length: 5\r\n\r\nhello") else {
            Issue.record("no response"); return
        }
        #expect(r.status == 200 && r.body == Array("hello".utf8) && r.header("replay-nonce") == "n1")

        var b = try Self.plain(ACMEHTTPRequest(method: .post, url: "http://ca.test/x", body: [1]))
        _ = b.start()
        let chunked = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nLink: <a>\r\nLink: <b>\r\n\r\n"
            + "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        guard case .response(let rb)? = Self.feedByteByByte(&b, chunked) else { Issue.record("no response"); return }
        #expect(rb.status == 201 && rb.body == Array("abcde".utf8))
        #expect(rb.headers.filter { $0.name.lowercased() == "link" }.map(\.value) == ["<a>", "<b>"])

        var c = try Self.plain(ACMEHTTPRequest(method: .get, url: "http://ca.test/cert"))
        _ = c.start()
        #expect(Self.feedByteByByte(&c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n-----BEGIN") == nil)
        guard case .response(let rc)? = c.inputEnded().outcome else { Issue.record("no response at close"); return }
        #expect(rc.body == Array("-----BEGIN".utf8))

        var d = try Self.plain(ACMEHTTPRequest(method: .head, url: "http://ca.test/new-nonce"))
        _ = d.start()
        guard case .response(let rd)? = Self.feedByteByByte(&d, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nReplay-Nonce: n2\r\n\r\n") else {
            Issue.record("no HEAD response"); return
        }
        #expect(rd.body.isEmpty && rd.header("Replay-Nonce") == "n2")
        // Nothing more is taken after the end.
        #expect(d.received(Array("junk".utf8)).outcome == nil)
    }

    @Test("the body limit at its edge; early close; garbage; 101")
    func failures() throws {
        for (limit, ok) in [(10, true), (9, false)] {
            var x = try Self.plain(ACMEHTTPRequest(method: .get, url: "http://ca.test/dir"), maxBody: limit)
            _ = x.start()
            let o = Self.feedByteByByte(&x, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
            switch o {
            case .response(let r)?: #expect(ok && r.body.count == 10)
            case .failed(let why)?: #expect(!ok && why.contains("over 9 bytes"), "\(why)")
            case nil: Issue.record("no outcome at limit \(limit)")
            }
        }
        var early = try Self.plain(ACMEHTTPRequest(method: .get, url: "http://ca.test/dir"))
        _ = early.start()
        #expect(Self.feedByteByByte(&early, "HTTP/1.1 200 OK\r\nContent-Le") == nil)
        guard case .failed(let e1)? = early.inputEnded().outcome else { Issue.record("accepted a cut head"); return }
        #expect(e1.contains("closed"), "\(e1)")

        var short = try Self.plain(ACMEHTTPRequest(method: .get, url: "http://ca.test/dir"))
        _ = short.start()
        #expect(Self.feedByteByByte(&short, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234") == nil)
        #expect(short.inputEnded().outcome.map { if case .failed = $0 { true } else { false } } == true)

        var garbage = try Self.plain(ACMEHTTPRequest(method: .get, url: "http://ca.test/dir"))
        _ = garbage.start()
        guard case .failed? = Self.feedByteByByte(&garbage, "SMTP ready\r\n\r\n") else { Issue.record("garbage accepted"); return }

        var upgrade = try Self.plain(ACMEHTTPRequest(method: .get, url: "http://ca.test/dir"))
        _ = upgrade.start()
        guard case .failed(let e2)? = Self.feedByteByByte(&upgrade, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n") else {
            Issue.record("101 accepted"); return
        }
        #expect(e2.contains("101"))
    }

    @Test("a hostile CA's bytes: mutated answers in random pieces always end in an outcome, never past the limit")
    func hostileBytes() throws {
        var rng = SplitMix64(seed: 0xACE)
        let seeds = ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                     "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad\r\nContent-Type: application/problem+json\r\n\r\n{}"]
        var outcomes = 0
        for round in 0..<2_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                default: if bytes.count > 1 { bytes.remove(at: i) }
                }
            }
            var x = try Self.plain(ACMEHTTPRequest(method: .get, url: "http://ca.test/dir"), maxBody: 8)
            _ = x.start()
            var outcome: ACMEExchange.Outcome?
            var i = 0
            while i < bytes.count, outcome == nil {
                let n = Int.random(in: 1...7, using: &rng)
                outcome = x.received(Array(bytes[i..<min(i + n, bytes.count)])).outcome
                i += n
            }
            if outcome == nil { outcome = x.inputEnded().outcome }
            switch outcome {
            case .response(let r)?: #expect(r.body.count <= 8 && (100...999).contains(r.status))
            case .failed(let why)?: #expect(!why.isEmpty)
            case nil: Issue.record("no outcome for \(bytes)")
            }
            outcomes += 1
        }
        #expect(outcomes == 2_000)
    }

    // MARK: HTTPS in memory

    struct PKI {
        let ca: X509Certificate
        let server: TLSServerContext
        init(name: String) throws {
            let now = UnixTime.now()
            let caKey = try PrivateKey.generate(.ecdsaP256)
            ca = try CertificateFactory.makeCA(commonName: "exchange test CA", key: caKey, notBefore: now - 3600, notAfter: now + 86400)
            let key = try PrivateKey.generate(.ecdsaP256)
            let leaf = try CertificateFactory.makeCertificate(commonName: name, names: [name], key: key, issuer: (ca, caKey),
                                                              notBefore: now - 3600, notAfter: now + 86400)
            let store = try CertificateStore(hosts: [.init(index: 0, names: [name], certificate: try ServerCertificate(chain: [leaf, ca], key: key))])
            server = try TLSServerContext(store: store, tickets: try TicketKeyRing())
        }
        func client(trusting: Bool) throws -> TLSClientContext {
            try TLSClientContext(extraRootsPEM: trusting ? Array(ca.pem.utf8) : nil, systemRoots: false)
        }
    }

    /// Runs an exchange against a server session, moving the ciphertext `step` bytes at a time
    /// towards the client; the server answers `answer` to the first request it reads.
    static func run(_ x: inout ACMEExchange, against session: TLSSession, answer: String, step: Int) -> (ACMEExchange.Outcome?, request: [UInt8]) {
        var toServer = x.start().send
        var request: [UInt8] = []
        var answered = false
        var buf = [UInt8](repeating: 0, count: 16 * 1024)
        for _ in 0..<10_000 {
            while !toServer.isEmpty {
                let n = session.feed(toServer)
                toServer.removeFirst(n)
                if n == 0 { break }
            }
            if case .complete = session.handshake() {
                while case .bytes(let n) = buf.withUnsafeMutableBytes({ session.readPlaintext(into: $0) }) { request += buf[0..<n] }
                if !answered, request.count > 4, request.suffix(4) == Array("\r\n\r\n".utf8) {
                    answered = true
                    _ = session.writePlaintext(Array(answer.utf8))
                    session.shutdown()
                }
            }
            let fromServer = session.takeOutput()
            if fromServer.isEmpty && toServer.isEmpty { return (nil, request) }
            var i = 0
            while i < fromServer.count {
                let out = x.received(Array(fromServer[i..<min(i + step, fromServer.count)]))
                toServer += out.send
                if let o = out.outcome { return (o, request) }
                i += step
            }
        }
        return (nil, request)
    }

    @Test("HTTPS: handshake, verified name, the request encrypted, the answer read; whole records and a byte at a time",
          arguments: [Int.max, 1])
    func https(step: Int) throws {
        let pki = try PKI(name: "ca.test")
        let request = ACMEHTTPRequest(method: .get, url: "https://ca.test/dir")
        let session = try pki.client(trusting: true).makeSession(host: "ca.test")
        var x = ACMEExchange(request: request, url: try #require(ACMEURL(request.url)), tls: session, maxResponseBody: 100, userAgent: Self.ua)
        let (outcome, seen) = Self.run(&x, against: try pki.server.makeSession(),
                                       answer: "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"a\":1}", step: step)
        #expect(String(decoding: seen, as: UTF8.self) == "GET /dir HTTP/1.1\r\nHost: ca.test\r\nUser-Agent: flaks-test/1\r\nConnection: close\r\n\r\n")
        guard case .response(let r)? = outcome else { Issue.record("no response: \(String(describing: outcome))"); return }
        #expect(r.status == 200 && r.body == Array("{\"a\":1}".utf8))
    }

    @Test("HTTPS: an unknown issuer or another name is refused before any request is sent; a close mid-handshake fails")
    func httpsRefused() throws {
        let pki = try PKI(name: "ca.test")
        for (trusting, host) in [(false, "ca.test"), (true, "other.test")] {
            let request = ACMEHTTPRequest(method: .get, url: "https://\(host)/dir")
            let session = try pki.client(trusting: trusting).makeSession(host: host)
            var x = ACMEExchange(request: request, url: try #require(ACMEURL(request.url)), tls: session, maxResponseBody: 100, userAgent: Self.ua)
            let (outcome, seen) = Self.run(&x, against: try pki.server.makeSession(), answer: "HTTP/1.1 200 OK\r\n\r\n", step: .max)
            guard case .failed(let why)? = outcome else { Issue.record("accepted \(host)"); continue }
            #expect(why.hasPrefix("TLS with \(host): ") && why.contains("not trusted"), "\(why)")
            #expect(seen.isEmpty)
        }
        let request = ACMEHTTPRequest(method: .get, url: "https://ca.test/dir")
        var cut = ACMEExchange(request: request, url: try #require(ACMEURL(request.url)),
                               tls: try pki.client(trusting: true).makeSession(host: "ca.test"), maxResponseBody: 100, userAgent: Self.ua)
        #expect(!cut.start().send.isEmpty)   // the ClientHello
        guard case .failed(let why)? = cut.inputEnded().outcome else { Issue.record("no failure"); return }
        #expect(why.contains("closed during the TLS handshake"))
    }
}
