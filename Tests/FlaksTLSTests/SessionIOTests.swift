import COpenSSL
import Testing
@testable import FlaksTLS

@Suite("TLS session data, close and limits")
struct SessionIOTests {
    let pki = TestPKI.shared

    func connected(_ version: Int32 = TLS1_3_VERSION, policy: TLSPolicy = TLSPolicy()) throws -> (TestTLSClient, TLSSession) {
        let ctx = try pki.context(policy: policy)
        let client = TestTLSClient(.init(serverName: "a.test", minVersion: version, maxVersion: version))
        let session = try ctx.makeSession()
        let out = pumpHandshake(client, session)
        try #require(out.ok)
        deliverPostHandshake(client, session)
        return (client, session)
    }

    /// Reads all plaintext the session has.
    func drain(_ session: TLSSession) -> (bytes: [UInt8], last: TLSSession.ReadResult) {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            let r = buf.withUnsafeMutableBytes { session.readPlaintext(into: $0) }
            guard case .bytes(let n) = r else { return (out, r) }
            out += buf[0..<n]
        }
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func oneMebibyteRoundTrip(version: Int32) throws {
        let (client, session) = try connected(version)
        var rng = SplitMix64(seed: 0x5EED)
        let payload = rng.bytes(1 << 20)
        // Client -> server, fed in pieces no larger than the session takes.
        client.write(payload)
        var wire = client.takeOutput()
        var received: [UInt8] = []
        var maxInput = 0
        while !wire.isEmpty {
            let cap = session.inputCapacity
            #expect(cap <= session.context.policy.maxBufferedInput)
            let taken = session.feed(Array(wire.prefix(cap)))
            maxInput = max(maxInput, taken)
            wire.removeFirst(taken)
            let (bytes, last) = drain(session)
            received += bytes
            #expect(last == .wantsInput)
        }
        #expect(received == payload)
        #expect(maxInput <= session.context.policy.maxBufferedInput)
        // Server -> client with the output bound respected.
        var offset = 0
        var echoed: [UInt8] = []
        var maxPending = 0
        var stalls = 0
        while offset < payload.count {
            let r = payload[offset...].withUnsafeBytes { session.writePlaintext($0) }
            guard case .accepted(let n) = r else { Issue.record("write failed: \(r)"); return }
            if n == 0 { stalls += 1 }
            offset += n
            maxPending = max(maxPending, session.pendingOutput)
            client.feed(session.takeOutput())
            if case .data(let d) = client.read() { echoed += d }
        }
        #expect(echoed == payload)
        // 64 KiB of plaintext in at most 4 full records: 22 bytes of overhead each (TLS 1.3) or 29 (TLS 1.2 GCM).
        #expect(maxPending <= session.context.policy.maxBufferedOutput + 5 * 29)
        #expect(maxPending >= session.context.policy.maxBufferedOutput)
        #expect(stalls == 0)   // we drained after every write
    }

    @Test func writeStopsAtTheOutputBound() throws {
        let (_, session) = try connected()
        let max = session.context.policy.maxBufferedOutput
        let big = [UInt8](repeating: 0x41, count: max + 1)
        #expect(session.outputCapacity == max)
        #expect(session.writePlaintext(big) == .accepted(max))   // exactly the limit goes in
        #expect(session.writePlaintext([0x42]) == .accepted(0))   // one more does not
        _ = session.takeOutput()
        #expect(session.writePlaintext([0x42]) == .accepted(1))
    }

    @Test func feedStopsAtTheInputBound() throws {
        let policy = TLSPolicy(maxBufferedInput: 1000)
        let (_, session) = try connected(policy: policy)
        let junk = [UInt8](repeating: 0x17, count: 1001)
        #expect(session.inputCapacity == 1000)
        #expect(session.feed(Array(junk.prefix(999))) == 999)
        #expect(session.feed(junk) == 1)      // exactly up to the limit
        #expect(session.inputCapacity == 0)
        #expect(session.feed(junk) == 0)      // one more byte is refused
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func serverCloseNotify(version: Int32) throws {
        let (client, session) = try connected(version)
        session.shutdown()
        session.shutdown()   // idempotent
        let alert = session.takeOutput()
        #expect(alert.count > 0 && alert.count < 64)
        client.feed(alert)
        #expect(client.read() == .closed)
        #expect(session.writePlaintext([1]) == .failed(TLSFailure(kind: .internal, reason: "write after shutdown")))
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func clientCloseNotify(version: Int32) throws {
        let (client, session) = try connected(version)
        client.write(Array("last words".utf8))
        _ = SSL_shutdown(client.ssl)
        session.feed(client.takeOutput())
        let (bytes, last) = drain(session)
        #expect(String(decoding: bytes, as: UTF8.self) == "last words")
        #expect(last == .closed)
        #expect(session.isClosedByPeer)
        session.shutdown()
        client.feed(session.takeOutput())
        #expect(SSL_shutdown(client.ssl) == 1)   // both close_notify seen
    }

    @Test func plainHTTPOnTheTLSPortFailsAtOnce() throws {
        let ctx = try pki.context()
        let request = Array("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n".utf8)
        // Whole.
        let whole = try ctx.makeSession()
        whole.feed(request)
        #expect(whole.handshake() == .failed(TLSFailure(kind: .plainHTTP, reason: "http request")))
        // One byte at a time: it fails as soon as the five bytes of a record header are in.
        let bytewise = try ctx.makeSession()
        var failedAt: Int?
        for (i, b) in request.enumerated() {
            bytewise.feed([b])
            if case .failed(let f) = bytewise.handshake() { failedAt = i + 1; #expect(f.kind == .plainHTTP); break }
        }
        #expect(failedAt == 5)
        // Later calls keep answering the failure.
        #expect(bytewise.handshake() == .failed(TLSFailure(kind: .plainHTTP, reason: "http request")))
        var buf = [UInt8](repeating: 0, count: 16)
        #expect(buf.withUnsafeMutableBytes { bytewise.readPlaintext(into: $0) } == .failed(TLSFailure(kind: .plainHTTP, reason: "http request")))
    }

    @Test func garbageFailsWithinOneRecordHeader() throws {
        let ctx = try pki.context()
        var rng = SplitMix64(seed: 42)
        for _ in 0..<300 {
            var junk = rng.bytes(Int.random(in: 5...600, using: &rng))
            // 0x16 starts a real handshake record and a set top bit an SSLv2-format hello: both
            // wait for their announced length, which the header timeout bounds. Everything else
            // is refused on the first header.
            // So does a second byte of 3 (the major version TLS records carry): OpenSSL reads the
            // record body before it looks at the content type.
            if junk[0] == 0x16 || junk[0] >= 0x80 { junk[0] = 0x42 }
            if junk[1] == 0x03 { junk[1] = 0x42 }
            let s = try ctx.makeSession()
            var failedAt: Int?
            for (i, b) in junk.prefix(5).enumerated() {
                s.feed([b])
                if case .failed = s.handshake() { failedAt = i + 1; break }
            }
            #expect(failedAt != nil && failedAt! <= 5, "\(junk.prefix(8))")
            #expect(s.pendingOutput < 64)   // at most an alert
        }
    }

    @Test func randomBytesNeverCrash() throws {
        let ctx = try pki.context()
        var rng = SplitMix64(seed: 7)
        for round in 0..<200 {
            var input = rng.bytes(Int.random(in: 0...3000, using: &rng))
            if round % 3 == 0, input.count >= 5 { input[0] = 0x16; input[1] = 3; input[2] = UInt8(round % 5) }  // plausible headers
            let s = try ctx.makeSession()
            var offset = 0
            var result = TLSSession.HandshakeResult.wantsInput
            while offset < input.count {
                let n = s.feed(Array(input[offset..<min(input.count, offset + 97)]))
                offset += n
                result = s.handshake()
                if case .failed = result { break }
                if n == 0 { break }
            }
            if case .complete = result { Issue.record("random bytes completed a handshake") }
            #expect(s.pendingOutput < 64)
        }
    }

    @Test func misuseFailsTheSessionNotTheProcess() throws {
        let ctx = try pki.context()
        let s = try ctx.makeSession()
        #expect(s.writePlaintext([1]) == .failed(TLSFailure(kind: .internal, reason: "write before the handshake completed")))
        let t = try ctx.makeSession()
        var buf = [UInt8](repeating: 0, count: 4)
        guard case .failed(let f) = buf.withUnsafeMutableBytes({ t.readPlaintext(into: $0) }) else { Issue.record("read worked"); return }
        #expect(f.kind == .internal)
        t.shutdown()   // before the handshake: nothing to send
        #expect(t.pendingOutput == 0)
    }

    @Test func idleSessionsDropGrownBuffers() throws {
        let (client, session) = try connected()
        var rng = SplitMix64(seed: 1)
        client.write(rng.bytes(60_000))
        var wire = client.takeOutput()
        while !wire.isEmpty {
            wire.removeFirst(session.feed(Array(wire.prefix(session.inputCapacity))))
            _ = drain(session)   // ends with .wantsInput, which releases what grew
        }
        #expect(session.bufferCapacity <= 2 * TLSSession.idleBufferLimit)
        #expect(session.writePlaintext(rng.bytes(50_000)) == .accepted(50_000))
        #expect(session.bufferCapacity > 50_000)
        client.feed(session.takeOutput())
        session.releaseIdleBuffers()
        #expect(session.bufferCapacity <= 2 * TLSSession.idleBufferLimit)
        // Still works after the BIOs were swapped.
        guard case .data(let d) = client.read() else { Issue.record("client read"); return }
        #expect(d.count == 50_000)
        client.write([1, 2, 3])
        session.feed(client.takeOutput())
        #expect(drain(session).bytes == [1, 2, 3])
    }

    @Test func aSessionKeepsItsContextAlive() throws {
        weak var weakContext: TLSServerContext?
        let client = TestTLSClient(.init(serverName: "a.test"))
        var session: TLSSession?
        do {
            let ctx = try pki.context()
            weakContext = ctx
            session = try ctx.makeSession()
        }
        #expect(weakContext != nil)   // the reload dropped the context; the connection still has it
        #expect(pumpHandshake(client, try #require(session)).ok)
        session = nil
        #expect(weakContext == nil)
    }
}
