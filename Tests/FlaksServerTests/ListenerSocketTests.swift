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
        _ = client
        guard case .done(let (cfd, _)) = try Socket.accept(lfd) else {
            Issue.record("no connection to accept"); return
        }
        defer { close(cfd) }
        #expect(Self.option(cfd, TCP_NODELAY) == 1)
        #expect(Self.option(cfd, TCP_NOTSENT_LOWAT) == Socket.unsentLowWater)
    }

    /// With at most 128 KiB unsent in the socket, an 8 MiB file goes out in many turns of the loop;
    /// a client that reads it in small pieces with pauses still gets every byte, in order, and the
    /// next request on the same connection is answered.
    @Test func aLargeFileToASlowReaderArrivesWholeInManyTurns() async throws {
        let fx = try StaticFixture()
        var big = [UInt8](repeating: 0, count: 8 << 20)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 7 &+ i >> 13) }
        try Data(big).write(to: URL(fileURLWithPath: fx.root + "/big.bin"))
        let route = Route(path: "/", kind: .staticFiles(StaticRoute(root: fx.root)))
        try await withTestServer(config([route])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            usleep(200_000)  // the client's receive buffer fills; the server waits for room
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
