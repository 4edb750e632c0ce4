#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksConfig
@testable import FlaksServer
import Foundation
import Testing

/// Files are sent in sendfile slices of `Connection.sendfileSlice` bytes (a turn each): files one
/// byte under, exactly at, and one byte over a slice (and two slices and a byte), one after the
/// other on one keep-alive connection, each arrive whole and in order.
struct SendfileSliceTests {
    @Test func filesAtTheSliceEdgesArriveWhole() async throws {
        let fx = try StaticFixture()
        let slice = Connection.sendfileSlice
        let sizes = [slice - 1, slice, slice + 1, 2 * slice + 1]
        var contents: [[UInt8]] = []
        for (n, size) in sizes.enumerated() {
            var b = [UInt8](repeating: 0, count: size)
            for i in b.indices { b[i] = UInt8(truncatingIfNeeded: i &* 131 &+ i >> 11 &+ n) }
            try Data(b).write(to: URL(fileURLWithPath: fx.root + "/f\(n).bin"))
            contents.append(b)
        }
        let route = Route(path: "/", kind: .staticFiles(StaticRoute(root: fx.root)))
        try await withTestServer(config([route])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for n in sizes.indices {
                try c.send("GET /f\(n).bin HTTP/1.1\r\nHost: x\r\n\r\n")
                let r = try c.readResponse()
                #expect(r.status == 200)
                #expect(r.body.count == sizes[n], "file \(n): \(r.body.count) of \(sizes[n]) bytes")
                #expect(r.body == contents[n], "file \(n)")
            }
        }
    }
}
