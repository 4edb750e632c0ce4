#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksConfig
@testable import FlaksServer
import Foundation
import Testing

/// The listening socket's options reach every accepted connection: the loop sets none per
/// connection (TCP_NODELAY and TCP_NOTSENT_LOWAT are inherited from the listener), so this checks
/// the kernel really hands them down.
struct ListenerSocketTests {
    static func option(_ fd: Int32, _ name: Int32) -> Int32 {
        var v: Int32 = -1
        var len = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, Int32(IPPROTO_TCP), name, &v, &len)
        return v
    }

    @Test func acceptedConnectionsInheritNoDelayAndTheUnsentLowWater() throws {
        let lfd = try Socket.listen(on: ListenAddress(host: "127.0.0.1", port: 0), backlog: 8)
        defer { close(lfd) }
        #expect(Self.option(lfd, TCP_NOTSENT_LOWAT) == Socket.unsentLowWater)
        let port = try #require(Socket.localAddress(lfd)).port
        let client = try TestClient(port: port)
        try withExtendedLifetime(client) {
            var p = pollfd(fd: lfd, events: Int16(POLLIN), revents: 0)
            #expect(poll(&p, 1, 10_000) == 1, "the connection reaches the accept queue")
            guard case .done(let (cfd, _)) = try Socket.accept(lfd) else {
                Issue.record("no connection to accept"); return
            }
            defer { close(cfd) }
            #expect(Self.option(cfd, TCP_NODELAY) == 1)
            #expect(Self.option(cfd, TCP_NOTSENT_LOWAT) == Socket.unsentLowWater)
        }
    }

    /// With about 128 KiB unsent allowed in the socket, an 8 MiB file to a client that lets it
    /// pile up before reading goes out in many writes; every byte arrives, in order, and the next
    /// request on the same connection is answered.
    @Test func aLargeFileToASlowReaderArrivesWholeInManyTurns() async throws {
        let fx = try StaticFixture()
        let big = try fx.patternFile("big.bin", size: 8 << 20, salt: 7)
        try await withStaticClient(fx, get: "/big.bin") { c in
            // The socket fills; the server waits for room. A blocking pause, not `Task.sleep`: a
            // task that suspends here can wait long for a thread in a fully parallel sanitizer run
            // (CI saw ~100 s), while the server rightly closes a client that reads nothing for
            // its send timeout.
            usleep(200_000)
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.body.count == big.count)
            #expect(r.body == big)
            try c.send("GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n")
            let second = try c.readResponse()
            #expect(second.status == 206)
            #expect(second.body == Array(big[0..<10]))
        }
    }
}
