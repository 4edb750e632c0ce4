#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksCompression
import FlaksConfig
import FlaksHandlers
import FlaksServer
import Foundation
import Testing

/// On-the-fly compression over real sockets: every coding decoded and compared, negotiation,
/// Vary/ETag/304/Range/HEAD, the compressed-file cache, and a streamed CGI body still streaming.
@Suite("Compression over real sockets")
struct CompressionServerTests {
    static let html: String = {
        var s = "<!DOCTYPE html><html><head><title>compress me</title></head><body>\n"
        for i in 0..<2000 { s += "<p class=\"row\">Row \(i): the quick brown fox jumps over the lazy dog.</p>\n" }
        return s + "</body></html>\n"
    }()

    static func site() throws -> (StaticFixture, ServerConfig) {
        let fx = try StaticFixture()
        try fx.write("root/page.html", html)
        try fx.write("root/tiny.html", "<p>tiny</p>")
        try fx.write("root/events.txt", html)
        let stat = Route(path: "/", kind: .staticFiles(StaticRoute(root: fx.root, types: ["txt": "text/event-stream"])))
        var plain = Route(path: "/plain/", kind: .staticFiles(StaticRoute(root: fx.root)))
        plain.compress = false
        return (fx, config([stat, plain, respond("/fixed", String(repeating: "fixed reply ", count: 200))]))
    }

    @Test(arguments: ["gzip", "br", "zstd"])
    func eachCodingDecodesToTheIdentityBody(coding: String) async throws {
        let (fx, cfg) = try Self.site()
        _ = fx
        try await withTestServer(cfg) { (server: Server, port: Int) async throws in
            let identity = try TestClient.get(port: port, "/page.html")
            #expect(identity.header("Content-Encoding") == nil)
            #expect(identity.header("Vary")?.contains("Accept-Encoding") == true, "could have been compressed")
            let r = try TestClient.get(port: port, "/page.html", headers: ["Accept-Encoding": coding])
            #expect(r.status == 200)
            #expect(r.header("Content-Encoding") == coding)
            #expect(r.header("Vary")?.contains("Accept-Encoding") == true)
            #expect(r.header("Accept-Ranges") == nil)
            let c = try #require(ContentCoding(token: coding))
            #expect(try decodeAll(c, r.body) == identity.body)
            #expect(r.body.count < identity.body.count / 3)
            // The compressed representation's ETag differs: the identity tag with the suffix inside the quotes.
            let tag = try #require(identity.header("ETag"))
            #expect(r.header("ETag") == String(tag.dropLast()) + c.etagSuffix + "\"")
            // The second request is a cache hit: no compression work.
            let before = server.compressedFileStatistics
            let again = try TestClient.get(port: port, "/page.html", headers: ["Accept-Encoding": coding])
            #expect(again.body == r.body)
            let after = server.compressedFileStatistics
            #expect(after.hits == before.hits + 1 && after.misses == before.misses)
            // If-None-Match with the compressed tag: 304 with that tag and Vary.
            let nm = try TestClient.get(port: port, "/page.html",
                                        headers: ["Accept-Encoding": coding, "If-None-Match": r.header("ETag") ?? ""])
            #expect(nm.status == 304 && nm.header("ETag") == r.header("ETag") && nm.header("Vary") != nil)
        }
    }

    @Test func negotiationRules() async throws {
        let (fx, cfg) = try Self.site()
        _ = fx
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            func coding(_ ae: String) throws -> String? {
                try TestClient.get(port: port, "/page.html", headers: ["Accept-Encoding": ae]).header("Content-Encoding")
            }
            #expect(try coding("gzip;q=0.5, br;q=1") == "br")
            #expect(try coding("gzip, br, zstd") == "zstd", "ties: the server's order (zstd, br, gzip)")
            #expect(try coding("*") == "zstd")
            #expect(try coding("gzip;q=0, br;q=0, zstd;q=0") == nil)
            #expect(try coding("*;q=0, gzip") == "gzip")
            #expect(try coding("x-gzip") == "gzip")
            #expect(try coding("identity") == nil)
            #expect(try coding("nonsense;;;q=abc") == nil)
        }
    }

    @Test func rangeHeadSmallNoTransformEventStreamAndRouteSwitch() async throws {
        let (fx, cfg) = try Self.site()
        _ = fx
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            let ranged = try TestClient.get(port: port, "/page.html", headers: ["Accept-Encoding": "gzip", "Range": "bytes=0-99"])
            #expect(ranged.status == 206 && ranged.header("Content-Encoding") == nil && ranged.body.count == 100)
            let c = try TestClient(port: port)
            try c.send("HEAD /page.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
            let head = try c.readResponse(head: true)
            let get = try TestClient.get(port: port, "/page.html", headers: ["Accept-Encoding": "gzip"])
            #expect(head.header("Content-Encoding") == "gzip" && head.header("ETag") == get.header("ETag"))
            let tiny = try TestClient.get(port: port, "/tiny.html", headers: ["Accept-Encoding": "gzip"])
            #expect(tiny.header("Content-Encoding") == nil, "under min_size")
            let events = try TestClient.get(port: port, "/events.txt", headers: ["Accept-Encoding": "gzip"])
            #expect(events.header("Content-Encoding") == nil, "never text/event-stream")
            let off = try TestClient.get(port: port, "/plain/page.html", headers: ["Accept-Encoding": "gzip"])
            #expect(off.header("Content-Encoding") == nil, "compress: false on the route")
            // A respond: route's fixed answer of 2,400 bytes is compressed like any other.
            let fixed = try TestClient.get(port: port, "/fixed", headers: ["Accept-Encoding": "gzip"])
            #expect(fixed.header("Content-Encoding") == "gzip")
            #expect(try decodeAll(.gzip, fixed.body).count == 2400)
        }
    }

    @Test func aHeldCGIAnswerIsCompressedWhole() async throws {
        let f = try CGIFixture()
        let body = String(repeating: "a short page, held and sent whole. ", count: 60)
        try f.script("page.sh", "#!/bin/sh\nprintf 'Content-Type: text/html\\n\\n'\nprintf '%s' '\(body)'\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            // Held (it ends at once), the answer goes through the whole-response path: compressed,
            // with Vary, and a Content-Length for the coded bytes.
            var sawLength = false
            for _ in 0..<5 where !sawLength {
                let r = try TestClient.get(port: port, "/cgi-bin/page.sh", headers: ["Accept-Encoding": "gzip"])
                #expect(r.status == 200)
                #expect(r.header("Content-Encoding") == "gzip")
                #expect(r.header("Vary") == "Accept-Encoding")
                #expect(String(decoding: try decodeAll(.gzip, r.body), as: UTF8.self) == body)
                if let n = r.header("Content-Length") { sawLength = Int(n) == r.body.count }
            }
            #expect(sawLength, "a held answer is framed by its length (five tries: a loaded machine may miss the hold)")
            let plain = try TestClient.get(port: port, "/cgi-bin/page.sh")
            #expect(plain.header("Content-Encoding") == nil && plain.text == body)
        }
    }

    @Test func aStreamedCGIBodyIsCompressedAndStillArrivesInPieces() async throws {
        let f = try CGIFixture()
        let gate = f.path("gate")
        let body = String(repeating: "first part of the page ", count: 100)
        try f.script("stream.sh", """
            #!/bin/sh
            printf 'Content-Type: text/html\\n\\n'
            printf '%s' '\(body)'
            while [ ! -e '\(gate)' ]; do sleep 0.05; done
            printf 'second part'
            """)
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /cgi-bin/stream.sh HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
            // Read until the first part can be decoded, while the script still waits for the gate.
            let decoder = try GzipDecoder()
            var decoded: [UInt8] = []
            var raw: [UInt8] = []
            for _ in 0..<200 where decoded.count < body.utf8.count {
                guard try c.fill() else { break }
                raw = c.leftover
                if let end = raw.firstRange(of: Array("\r\n\r\n".utf8)) {
                    let chunks = try Self.dechunk(Array(raw[end.upperBound...]))
                    decoded = try GzipDecoder().feed(chunks)
                }
            }
            #expect(String(decoding: decoded, as: UTF8.self) == body, "the first part arrived before the script finished")
            FileManager.default.createFile(atPath: gate, contents: nil)
            while try c.fill() {}
            let all = try Self.dechunk(Array(c.leftover[(c.leftover.firstRange(of: Array("\r\n\r\n".utf8))!.upperBound)...]))
            #expect(String(decoding: try decoder.feed(all), as: UTF8.self) == body + "second part")
        }
    }

    /// The data of a chunked body received so far (complete chunks only).
    static func dechunk(_ b: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while let lineEnd = b[i...].firstRange(of: [13, 10]) {
            guard let size = Int(String(decoding: b[i..<lineEnd.lowerBound], as: UTF8.self), radix: 16) else { break }
            let start = lineEnd.upperBound
            if size == 0 || start + size > b.count { break }
            out += b[start..<(start + size)]
            i = start + size + 2
            if i > b.count { break }
        }
        return out
    }
}
