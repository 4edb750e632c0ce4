import FlaksTestSupport
import FlaksConfig
import FlaksHTTP
import Foundation
import Testing
@testable import FlaksHandlers
#if canImport(Glibc)
import Glibc
#endif

/// The handler called directly with `Request` values (no sockets), so paths that the current
/// placeholder normaliser would reject still reach the handler's own checks.
@Suite("StaticFile handler without sockets")
struct StaticFileHandlerTests {
    let fx: StaticFixture
    init() throws { fx = try StaticFixture() }

    func handler(_ f: (inout StaticRoute) -> Void = { _ in }, forceFallback: Bool = false) -> StaticFileHandler {
        var r = StaticRoute(root: fx.root)
        f(&r)
        return StaticFileHandler(r, root: StaticRoot(path: fx.root, forceFallback: forceFallback))
    }

    /// Runs the handler; a `.blocking` outcome is run inline.
    func run(_ h: StaticFileHandler, _ remainder: String, method: HTTPMethod = .GET, headers: [(String, String)] = [],
             routePath: String = "/", query: String? = nil) -> Response {
        var hf = HeaderFields()
        for (k, v) in headers { hf.add(k, v) }
        let path = routePath.hasSuffix("/") ? routePath + remainder : routePath
        let head = RequestHead(method: method, target: path + (query.map { "?" + $0 } ?? ""), version: .http1_1, headers: hf)
        let req = Request(head: head, path: path, routePath: routePath, remainder: routePath.hasSuffix("/") ? remainder : "")
        switch h.handle(req) {
        case .response(let r): return r
        case .blocking(let job): return job()
        case .async, .cgi, .fastcgi: Issue.record("unexpected outcome"); return Response(status: .internalServerError)
        }
    }

    @Test func servesAFileAsARegionOfAnOpenDescriptor() throws {
        let r = run(handler(), "assets/big.bin")
        #expect(r.status == .ok)
        guard case .file(let region) = r.body else { Issue.record("expected a file body"); return }
        #expect(region.offset == 0 && region.length == fx.big.count)
        #expect(body(r) == fx.big)
        #expect(r.headers["Accept-Ranges"] == "bytes")
        #expect(r.headers["ETag"]?.hasPrefix("\"") == true)
    }

    @Test(arguments: [
        "../outside/secret.txt", "a/../../outside/secret.txt", "..\\outside\\secret.txt", "..", "../",
        "assets/../../outside/secret.txt", "./../outside/secret.txt", "secret.txt\u{0}.html",
        "link-out.txt", "abs-out.txt", "dir-out/secret.txt", "dir-out/inner/secret.txt", "docs/link-out.txt",
        "%2e%2e/outside/secret.txt", "\u{FF0E}\u{FF0E}/outside/secret.txt", "/..//outside/secret.txt",
        "//" + "outside/secret.txt", "dir-out/", "dir-out",
    ])
    func traversalNeverLeavesTheRoot(path: String) {
        for force in [false, true] {
            let h = handler({ $0.listing = true; $0.dotfiles = true }, forceFallback: force)
            let r = run(h, path)
            #expect([400, 403, 404].contains(r.status.code), "\(path) (fallback: \(force)) -> \(r.status)")
            #expect(!String(decoding: body(r), as: UTF8.self).contains(StaticFixture.marker))
        }
    }

    @Test func symlinksInsideTheRootWorkWithBothOpenPaths() {
        for force in [false, true] {
            let h = handler(forceFallback: force)
            #expect(text(run(h, "link-in.html")) == "<h1>home</h1>\n")
            #expect(text(run(h, "assets/up-link.html")) == "<h1>about</h1>\n")
            #expect(text(run(h, "docs/link-in.txt")) == "<h1>about</h1>\n")
            #expect(text(run(h, "assets/style.css")) == "body { color: red }\n")
            #expect(run(h, "nope.txt").status == .notFound)
            #expect(run(h, "pipe").status == .notFound)
        }
    }

    @Test func literalPercentNamesAreJustNames() {
        // A double-encoded "%252e%252e" decodes once to "%2e%2e": a file name, not a dot-segment.
        #expect(text(run(handler(), "%2e%2e")) == "file literally named %2e%2e")
    }

    @Test func fifoIsNeverOpenedForServing() {
        let r = run(handler(), "pipe")
        #expect(r.status == .notFound)
    }

    @Test func dotfilesHiddenExceptWellKnown() {
        #expect(run(handler(), ".env").status == .notFound)
        #expect(run(handler(), ".git/config").status == .notFound)
        #expect(run(handler(), ".git/").status == .notFound)
        #expect(text(run(handler(), ".well-known/security.txt")).hasPrefix("Contact:"))
        #expect(text(run(handler({ $0.dotfiles = true }), ".env")) == "DOTENV=1\n")
    }

    @Test func exactMountUsesTheWholePath() {
        let r = run(handler(), "", routePath: "/about.html")
        #expect(text(r) == "<h1>about</h1>\n")
    }

    @Test func prefixMountStripsThePrefix() {
        #expect(run(handler(), "style.css", routePath: "/static/").status == .notFound)
        #expect(text(run(handler(), "assets/style.css", routePath: "/static/")) == "body { color: red }\n")
    }

    @Test func directoryRedirectKeepsQueryAndEncodes() {
        let r = run(handler(), "my dir", query: "a=1&b")
        #expect(r.status == .movedPermanently)
        #expect(r.headers["Location"] == "/my%20dir/?a=1&b")
        let d = run(handler(), "docs", routePath: "/site/")
        #expect(d.headers["Location"] == "/site/docs/")
    }

    @Test func directoryWithoutIndexIs403UnlessListing() {
        #expect(run(handler(), "docs/").status == .forbidden)
        let r = run(handler({ $0.listing = true }), "docs/")
        #expect(r.status == .ok)
        let html = text(r)
        #expect(html.contains("Index of /docs/"))
        #expect(html.contains("href=\"sub/\""))
        #expect(html.contains("href=\"%3Cweird%3E%26name.txt\">&lt;weird&gt;&amp;name.txt</a>"))
        #expect(html.contains("href=\"link-in.txt\""))
        #expect(!html.contains("link-out.txt"))       // leads outside: not listed
        #expect(!html.contains(".hidden"))
        let sub = html.firstRange(of: "sub/")!.lowerBound
        let a = html.firstRange(of: "A.txt")!.lowerBound
        let b = html.firstRange(of: "b.txt")!.lowerBound
        #expect(sub < a && a < b)
    }

    @Test func indexNamesAreTriedInOrder() {
        try? fx.write("root/docs/default.htm", "default")
        let r = run(handler({ $0.index = ["index.html", "default.htm"] }), "docs/")
        #expect(text(r) == "default")
        #expect(r.headers["Content-Type"] == "text/html; charset=utf-8")
    }

    @Test func fallbackServesTheAppForMissingPaths() {
        let h = handler({ $0.fallback = "/index.html" })
        let r = run(h, "some/client/route")
        #expect(r.status == .ok)
        #expect(text(r) == "<h1>home</h1>\n")
        #expect(text(run(h, "about.html")) == "<h1>about</h1>\n")
        #expect(run(h, ".env").status == .notFound)
        #expect(run(handler({ $0.fallback = "/missing.html" }), "x").status == .notFound)
        #expect(run(handler({ $0.fallback = "../outside/secret.txt" }), "x").status == .notFound)
    }

    @Test func methodsOtherThanGetAndHead() {
        for m in [HTTPMethod.POST, .PUT, .DELETE, .OPTIONS, .PATCH] {
            let r = run(handler(), "index.html", method: m)
            #expect(r.status == .methodNotAllowed)
            #expect(r.headers["Allow"] == "GET, HEAD")
        }
    }

    @Test func precompressedSiblings() {
        let h = handler()
        let br = run(h, "assets/style.css", headers: [("Accept-Encoding", "gzip, deflate, br")])
        #expect(text(br) == "BROTLI-REPRESENTATION")
        #expect(br.headers["Content-Encoding"] == "br")
        #expect(br.headers["Content-Type"] == "text/css; charset=utf-8")
        #expect(br.headers["Vary"] == "Accept-Encoding")
        let gz = run(h, "assets/style.css", headers: [("Accept-Encoding", "gzip, br;q=0")])
        #expect(text(gz) == "GZIP-REPRESENTATION")
        #expect(gz.headers["Content-Encoding"] == "gzip")
        #expect(gz.headers["ETag"] != br.headers["ETag"])
        let plain = run(h, "assets/style.css")
        #expect(text(plain) == "body { color: red }\n")
        #expect(plain.headers["Content-Encoding"] == nil)
        #expect(plain.headers["Vary"] == "Accept-Encoding")
        let onlyGz = run(h, "assets/only-gz.js", headers: [("Accept-Encoding", "br, gzip")])
        #expect(text(onlyGz) == "GZ-ONLY")
        let png = run(h, "assets/photo.png", headers: [("Accept-Encoding", "gzip")])
        #expect(text(png) == "PNGDATA")
        #expect(png.headers["Vary"] == nil)
    }

    @Test func rangesOnTheFile() {
        let h = handler()
        let r = run(h, "assets/big.bin", headers: [("Range", "bytes=100-199")])
        #expect(r.status == .partialContent)
        #expect(r.headers["Content-Range"] == "bytes 100-199/100000")
        #expect(body(r) == Array(fx.big[100..<200]))
        let m = run(h, "assets/big.bin", headers: [("Range", "bytes=0-9, 50-59")])
        #expect(m.status == .partialContent)
        #expect(m.headers["Content-Type"]?.hasPrefix("multipart/byteranges; boundary=") == true)
        let u = run(h, "assets/big.bin", headers: [("Range", "bytes=200000-")])
        #expect(u.status == .rangeNotSatisfiable)
        #expect(u.headers["Content-Range"] == "bytes */100000")
        let head = run(h, "assets/big.bin", method: .HEAD, headers: [("Range", "bytes=0-9")])
        #expect(head.status == .ok)
    }

    @Test func missingRootAnswers500() {
        var r = StaticRoute(root: fx.base + "/does-not-exist")
        r.index = ["index.html"]
        let h = StaticFileHandler(r)
        #expect(run(h, "index.html").status == .internalServerError)
    }

    /// Skipped when running as root, which reads any file (EACCES cannot happen).
    @Test(.enabled(if: getuid() != 0)) func unreadableFileIs403() throws {
        try fx.write("root/noperm.txt", "no")
        chmod(fx.root + "/noperm.txt", 0)
        #expect(run(handler(), "noperm.txt").status == .forbidden)
    }

    // MARK: helpers

    func body(_ r: Response) -> [UInt8] {
        guard let b = bodyBytes(r) else { Issue.record("a static response is never a stream"); return [] }
        return b
    }

    func text(_ r: Response) -> String { String(decoding: body(r), as: UTF8.self) }
}
