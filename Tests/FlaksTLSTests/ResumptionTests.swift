import COpenSSL
import Synchronization
import Testing
@testable import FlaksTLS

/// A clock tests move by hand.
final class FakeClock: Sendable {
    private let now = Atomic<Int64>(1000)
    func read() -> Int64 { now.load(ordering: .relaxed) }
    func advance(_ s: Int64) { now.add(s, ordering: .relaxed) }
    var function: @Sendable () -> Int64 { { [self] in read() } }
}

@Suite("Session resumption by ticket")
struct ResumptionTests {
    let pki = TestPKI.shared

    /// A full handshake on `ctx`, returning the client's session (with its tickets processed).
    func firstSession(_ ctx: TLSServerContext, name: String = "a.test", version: Int32) throws -> OpaquePointer {
        let client = TestTLSClient(.init(serverName: name, minVersion: version, maxVersion: version))
        let session = try ctx.makeSession()
        let out = pumpHandshake(client, session)
        #expect(out.ok && out.info?.resumed == false)
        deliverPostHandshake(client, session)
        return try #require(client.session)
    }

    func resume(_ ctx: TLSServerContext, _ saved: OpaquePointer, name: String = "a.test", version: Int32) throws -> HandshakeOutcome {
        let client = TestTLSClient(.init(serverName: name, minVersion: version, maxVersion: version, session: saved))
        let session = try ctx.makeSession()
        let out = pumpHandshake(client, session)
        #expect(out.ok)
        #expect(client.resumed == (out.info?.resumed ?? false))
        return out
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func resumesAcrossAReload(version: Int32) throws {
        let ring = try TicketKeyRing()
        let before = try pki.context(tickets: ring)
        let saved = try firstSession(before, version: version)
        defer { SSL_SESSION_free(saved) }
        // A reload: new store (certificates read again), new context, the same ring.
        let after = try pki.context(store: try pki.standardStore(), tickets: ring)
        #expect(try resume(after, saved, version: version).info?.resumed == true)
        // A context with another ring cannot open the ticket: full handshake.
        let stranger = try pki.context(tickets: try TicketKeyRing())
        #expect(try resume(stranger, saved, version: version).info?.resumed == false)
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func ticketsSurviveOneRotationNotTwo(version: Int32) throws {
        let ring = try TicketKeyRing()
        let ctx = try pki.context(tickets: ring)
        let saved = try firstSession(ctx, version: version)
        defer { SSL_SESSION_free(saved) }
        try ring.rotate()
        #expect(try resume(ctx, saved, version: version).info?.resumed == true)   // previous key still opens it
        try ring.rotate()
        #expect(try resume(ctx, saved, version: version).info?.resumed == false)  // gone
        #expect(ring.rotations == 2)
    }

    @Test func rotationFollowsTheClock() throws {
        let clock = FakeClock()
        let ring = try TicketKeyRing(rotationInterval: 100, clock: clock.function)
        let ctx = try pki.context(tickets: ring)
        let saved = try firstSession(ctx, version: TLS1_3_VERSION)
        defer { SSL_SESSION_free(saved) }
        clock.advance(99)
        ring.rotateIfDue(now: clock.read())
        #expect(ring.rotations == 0)
        clock.advance(1)   // exactly one interval: rotates
        #expect(try resume(ctx, saved, version: TLS1_3_VERSION).info?.resumed == true)
        #expect(ring.rotations == 1)
        // The key that sealed `saved` decrypts until it is two intervals old (t = 1200), exclusive.
        // Session lifetime is one interval, so move the ring without aging the session much:
        // a second ticket issued now, then age the original key past two intervals.
        clock.advance(100)   // t = 1200: the original key (made at 1000) is dropped
        #expect(try resume(ctx, saved, version: TLS1_3_VERSION).info?.resumed == false)
    }

    @Test func ringEdges() throws {
        let clock = FakeClock()
        let ring = try TicketKeyRing(rotationInterval: 10, clock: clock.function)
        let first = try #require(ring.encryptionKey())
        clock.advance(9)
        #expect(ring.encryptionKey()?.name == first.name)
        clock.advance(1)
        let second = try #require(ring.encryptionKey())
        #expect(second.name != first.name)
        let renew = first.name.withUnsafeBytes { ring.decryptionKey(name: $0) }
        #expect(renew?.renew == true)
        clock.advance(9)   // first key is 19 old: still decrypts
        #expect(first.name.withUnsafeBytes { ring.decryptionKey(name: $0) } != nil)
        clock.advance(1)   // 20 = two intervals: the third key is made and the first is gone
        #expect(first.name.withUnsafeBytes { ring.decryptionKey(name: $0) } == nil)
        #expect(second.name.withUnsafeBytes { ring.decryptionKey(name: $0) }?.renew == true)
    }

    @Test func aTicketResumesOnlyOnItsHost() throws {
        let ctx = try pki.context()
        let saved = try firstSession(ctx, name: "a.test", version: TLS1_3_VERSION)
        defer { SSL_SESSION_free(saved) }
        // The same ticket offered with the SNI of another host: full handshake with b.test's certificate.
        let out = try resume(ctx, saved, name: "b.test", version: TLS1_3_VERSION)
        #expect(out.info?.resumed == false)
        #expect(out.info?.host == 2)
    }
}
