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
    struct Counts: Sendable {
        var afterPut = 0, afterTake = 0, afterNewKey = 0, afterClose = 0
        var took = false, foundGone = true
    }

    @Test("a key whose connections are gone is dropped when a new key comes, and a closed idle one at once")
    func noEmptyKeysPileUp() async throws {
        let upstream = try ListeningSocket()   // accepts in its backlog: the connects complete
        let server = try startedOneLoopServer(config([respond("/", "x")]))
        defer { server.shutdown(drainTimeout: .milliseconds(100)); server.wait() }
        let loop = try #require(server.loops.first)
        let address = try #require(SocketAddress(host: "127.0.0.1", port: upstream.port))
        let counts: Counts = await withCheckedContinuation { continuation in
            loop.execute { loop in
                let user = User()
                let a: UpstreamConnection, b: UpstreamConnection
                do {
                    a = try UpstreamConnection(connectingTo: address, key: "service:php#7", loop: loop, timeout: 2_000_000_000, user: user)
                    b = try UpstreamConnection(connectingTo: address, key: "service:php#8", loop: loop, timeout: 2_000_000_000, user: user)
                } catch {
                    continuation.resume(returning: Counts())
                    return
                }
                var open = 0
                user.connected = {
                    open += 1
                    guard open == 2 else { return }
                    user.connected = nil
                    var n = Counts()
                    let pool = loop.upstreamPool
                    pool.put(a, max: 4, idleTimeout: 10_000_000_000)
                    n.afterPut = pool.keyCount
                    n.took = pool.take("service:php#7", for: user) === a
                    n.afterTake = pool.keyCount          // emptied, kept for the next put
                    a.close()                            // closed in use: the pool is not told
                    pool.put(b, max: 4, idleTimeout: 10_000_000_000)   // a new key: the empty one goes
                    n.afterNewKey = pool.keyCount
                    n.foundGone = pool.take("service:php#7", for: user) == nil
                    b.close()                            // idle: the pool hears of it
                    n.afterClose = pool.keyCount
                    continuation.resume(returning: n)
                }
            }
        }
        #expect(counts.took && counts.foundGone)
        #expect(counts.afterPut == 1 && counts.afterTake == 1)
        #expect(counts.afterNewKey == 1 && counts.afterClose == 0)
    }
}
