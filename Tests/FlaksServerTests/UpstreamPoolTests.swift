#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig
@testable import FlaksServer
import Logging
import Testing

/// A loop's pool of idle upstream connections keeps no key without connections: keys of service
/// instances (`service:NAME#ID`) come and go with every roll, and each key left behind would be
/// scanned by every later request.
struct UpstreamPoolTests {
    /// Tells the test when the connection is open (on the loop).
    final class User: UpstreamUser, @unchecked Sendable {   // loop-confined
        var connected: (() -> Void)?
        func upstreamConnected(_ c: UpstreamConnection) { connected?() }
        func upstreamFailed(_ c: UpstreamConnection, _ failure: UpstreamFailure) { connected?() }
        func upstreamReadable(_ c: UpstreamConnection) {}
        func upstreamDrained(_ c: UpstreamConnection) {}
        func upstreamTimedOut(_ c: UpstreamConnection) {}
    }

    /// What the loop saw, handed back to the test.
    struct Counts: Sendable { var afterPut = 0, afterTake = 0, afterPutAgain = 0, afterClose = 0; var took = false }

    @Test("the key of a taken last connection, and of a closed idle one, is gone from the pool")
    func noEmptyKeysAreKept() async throws {
        let upstream = try ListeningSocket()   // accepts in its backlog: the connect completes
        var cfg = config([respond("/", "x")])
        cfg.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        cfg.server.loops = 1
        var logger = Logger(label: "flaks-test")
        logger.logLevel = .critical
        let server = try Server(config: cfg, logger: logger)
        try server.start()
        defer { server.shutdown(drainTimeout: .milliseconds(100)); server.wait() }
        let loop = try #require(server.loops.first)
        let address = try #require(SocketAddress(host: "127.0.0.1", port: upstream.port))
        let counts: Counts = await withCheckedContinuation { continuation in
            loop.execute { loop in
                let user = User()
                let c: UpstreamConnection
                do {
                    c = try UpstreamConnection(connectingTo: address, key: "service:php#7", loop: loop,
                                               timeout: 2_000_000_000, user: user)
                } catch {
                    continuation.resume(returning: Counts())
                    return
                }
                user.connected = {
                    user.connected = nil
                    var n = Counts()
                    let pool = loop.upstreamPool
                    pool.put(c, max: 4, idleTimeout: 10_000_000_000)
                    n.afterPut = pool.keyCount
                    n.took = pool.take("service:php#7", for: user) === c
                    n.afterTake = pool.keyCount
                    // Closed while in use (not idle): nothing in the pool to tell.
                    pool.put(c, max: 4, idleTimeout: 10_000_000_000)
                    n.afterPutAgain = pool.keyCount
                    c.close()                  // idle: the pool hears of it
                    n.afterClose = pool.keyCount
                    continuation.resume(returning: n)
                }
            }
        }
        #expect(counts.took)
        #expect(counts.afterPut == 1 && counts.afterTake == 0)
        #expect(counts.afterPutAgain == 1 && counts.afterClose == 0)
    }
}
