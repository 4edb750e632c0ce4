import FlaksConfig
@testable import FlaksHandlers
import FlaksHTTP
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What a `fastcgi:` route does with a path, without a responder: which file runs, which is
/// served, where the front controller takes over, and the params a script gets.
@Suite("FastCGIHandler: which file runs, which is served, and the params")
final class FastCGIHandlerTests {
    let base: String
    var root: String { base + "/root" }

    init() throws {
        var template = Array((NSTemporaryDirectory() + "flaks-fcgi-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        base = String(cString: p)
        let fm = FileManager.default
        for d in ["root/app", "root/docs", "root/noindex", "root/dir.php", "root/html", "root/.git", "outside"] {
            try fm.createDirectory(atPath: base + "/" + d, withIntermediateDirectories: true)
        }
        for (name, text) in [
            ("root/index.php", "<?php echo 'index';"), ("root/app/x.php", "<?php echo 'x';"),
            ("root/app/UPPER.PHP", "<?php echo 'upper';"), ("root/docs/readme.txt", "read me"),
            ("root/style.css", "body{}"), ("root/dir.php/index.php", "<?php"), ("root/html/index.html", "<h1>html</h1>"),
            ("root/.env", "SECRET=1"), ("root/.git/config", "[core]"), ("root/evil.jpg", "<?php system('id');"),
            ("outside/out.php", "<?php echo 'outside';"), ("root/front.php", "<?php echo 'front';"),
        ] { try text.write(toFile: base + "/" + name, atomically: true, encoding: .utf8) }
        symlink(base + "/outside/out.php", root + "/abs-link.php")          // absolute: leads outside
        symlink("../outside/out.php", root + "/rel-out.php")                // relative, outside
        symlink("app/x.php", root + "/inside-link.php")                     // relative, inside
        mkfifo(root + "/pipe.php", 0o600)
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    func handler(front: String? = nil, index: [String] = ["index.php"], extensions: [String] = [".php"],
                 env: [String: String] = [:]) -> FastCGIHandler {
        FastCGIHandler(route: FastCGIRoute(responder: .address(.unix(path: "/run/php.sock")), root: root, index: index,
                                           extensions: extensions, frontController: front, env: env))
    }

    @Test(arguments: [
        ("index.php", FastCGIHandler.Resolution.script("index.php", pathInfo: "")),
        ("", .script("index.php", pathInfo: "")),
        ("app/x.php", .script("app/x.php", pathInfo: "")),
        ("app/x.php/extra/more", .script("app/x.php", pathInfo: "/extra/more")),
        ("app/x.php/", .script("app/x.php", pathInfo: "/")),
        ("app/UPPER.PHP", .script("app/UPPER.PHP", pathInfo: "")),          // extensions match without case
        ("app/X.PHP", .notFound),                                            // no such file: never x.php's source
        ("app/x.php.", .notFound),
        ("app/x.phps", .notFound),
        ("app/x.php~", .notFound),
        ("app/x.PhP/extra", .notFound),
        ("style.css", .file("style.css")),
        ("docs/readme.txt", .file("docs/readme.txt")),
        ("docs/readme.txt/x.php", .notFound),                               // a file is no directory
        ("evil.jpg", .file("evil.jpg")),                                    // served as what it is, never run
        ("evil.jpg/x.php", .notFound),                                      // never runs evil.jpg
        ("app", .directoryWithoutSlash),
        ("app/", .forbidden),                                               // no index
        ("noindex/", .forbidden),
        ("dir.php/", .script("dir.php/index.php", pathInfo: "")),           // a directory named like a script
        ("dir.php", .directoryWithoutSlash),
        ("html/", .forbidden),                                               // index.php only
        ("missing.php", .notFound),
        ("missing/page", .notFound),
        (".env", .notFound),
        (".git/config", .notFound),
        ("abs-link.php", .notFound),                                        // openat2 refuses absolute symlinks
        ("rel-out.php", .notFound),                                         // and ones leading outside
        ("inside-link.php", .script("inside-link.php", pathInfo: "")),
        ("pipe.php", .forbidden),
        ("a\\b.php", .badRequest),
    ])
    func resolves(_ rel: String, _ expected: FastCGIHandler.Resolution) {
        #expect(handler().resolve(rel) == expected, "\(rel)")
    }

    @Test func indexListMayNameFiles() {
        let h = handler(index: ["index.php", "index.html"])
        #expect(h.resolve("html/") == .file("html/index.html"))
        #expect(h.resolve("") == .script("index.php", pathInfo: ""))
    }

    @Test func otherExtensions() {
        let h = handler(extensions: [".php", ".phtml"])
        #expect(h.resolve("style.css") == .file("style.css"))
        let only = handler(extensions: [".css"])
        #expect(only.resolve("style.css") == .script("style.css", pathInfo: ""))
        #expect(only.resolve("index.php") == .file("index.php"), "with .php not listed, a .php file is just a file")
    }

    @Test("script names: the last extension, without regard to ASCII case, never a bare dot-name")
    func scriptNames() {
        let h = handler(extensions: [".php", ".PHTML"])
        for (name, expected) in [("x.php", true), ("x.PhP", true), ("a.b.php", true), ("x.phtml", true), ("x.pHtMl", true),
                                 ("x.php5", false), ("x.ph", false), ("x.php.txt", false), (".php", false), ("php", false),
                                 ("x.", false), ("", false), ("x.p\u{E9}p", false), ("\u{E9}.php", true)] {
            #expect(h.isScriptName(Substring(name)) == expected, "\(name)")
        }
    }

    @Test("SCRIPT_NAME: the mount's prefix and the script, also when the path names it directly")
    func scriptNameOfAPrefixMount() {
        let h = handler()
        #expect(h.scriptName(request("/site/app/x.php"), script: "app/x.php") == "/site/app/x.php")
        #expect(h.scriptName(request("/site/app/"), script: "app/index.php") == "/site/app/index.php")
        #expect(h.scriptName(request("/site/app/x.php/extra"), script: "app/x.php") == "/site/app/x.php")
        #expect(h.scriptName(request("/x.php", mount: "/"), script: "x.php") == "/x.php")
        #expect(h.scriptName(request("/site/nothing"), script: "front.php") == "/site/front.php")
    }

    // MARK: answers

    func request(_ target: String, mount: String = "/site/", method: HTTPMethod = .GET, headers: HeaderFields = [:],
                 body: [UInt8] = []) -> Request {
        let raw = String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        let path = (try? PathNormalizer.normalize(raw)) ?? raw
        let remainder = path.hasPrefix(mount) ? String(path.dropFirst(mount.count)) : ""
        var h = headers
        if !h.contains("Host") { h.add("Host", "example.test:8080") }
        return Request(head: RequestHead(method: method, target: target, version: .http1_1, headers: h), path: path,
                       body: body, remoteAddress: "192.0.2.7", remotePort: 40000, localAddress: "127.0.0.1",
                       localPort: 8080, routePath: mount, remainder: remainder)
    }

    func params(_ outcome: HandlerOutcome) -> [String: String]? {
        guard case .fastcgi(let inv) = outcome else { return nil }
        var d: [String: String] = [:]
        for p in inv.params.pairs {
            #expect(d[p.name] == nil, "\(p.name) sent twice")
            d[p.name] = p.value
        }
        return d
    }

    @Test func paramsOfAScriptWithPathInfo() throws {
        var h = HeaderFields()
        h.add("Authorization", "Basic dXNlcjpwYXNz")
        h.add("Proxy", "http://evil.example")
        h.add("Cookie", "a=1")
        h.add("Cookie", "b=2")
        h.add("Content-Type", "application/x-www-form-urlencoded")
        let outcome = handler(env: ["APP_ENV": "test", "SCRIPT_NAME": "/forged"]).handle(
            request("/site/app/x.php/extra/%C3%A9?q=%20a&b", method: .POST, headers: h, body: Array("k=v".utf8)))
        let p = try #require(params(outcome))
        #expect(p["SCRIPT_NAME"] == "/site/app/x.php")
        #expect(p["PATH_INFO"] == "/extra/é")
        #expect(p["SCRIPT_FILENAME"] == root + "/app/x.php")
        #expect(p["DOCUMENT_ROOT"] == root)
        #expect(p["REQUEST_URI"] == "/site/app/x.php/extra/%C3%A9?q=%20a&b", "raw, with the query")
        #expect(p["QUERY_STRING"] == "q=%20a&b")
        #expect(p["REQUEST_METHOD"] == "POST" && p["CONTENT_LENGTH"] == "3")
        #expect(p["CONTENT_TYPE"] == "application/x-www-form-urlencoded")
        #expect(p["REQUEST_SCHEME"] == "http" && p["HTTPS"] == nil)
        #expect(p["REDIRECT_STATUS"] == "200")
        #expect(p["HTTP_AUTHORIZATION"] == "Basic dXNlcjpwYXNz" && p["AUTH_TYPE"] == "Basic", "the application does its own auth")
        #expect(p["HTTP_PROXY"] == nil, "httpoxy")
        #expect(p["HTTP_COOKIE"] == "a=1; b=2")
        #expect(p["SERVER_NAME"] == "example.test" && p["SERVER_PORT"] == "8080" && p["SERVER_ADDR"] == "127.0.0.1")
        #expect(p["REMOTE_ADDR"] == "192.0.2.7" && p["REMOTE_PORT"] == "40000")
        #expect(p["GATEWAY_INTERFACE"] == "CGI/1.1" && p["SERVER_PROTOCOL"] == "HTTP/1.1")
        #expect(p["APP_ENV"] == "test")
        #expect(p["PATH"] == nil, "php-fpm has its own environment")
        guard case .fastcgi(let inv) = outcome else { return }
        #expect(inv.body == Array("k=v".utf8))
        #expect(inv.responder == .unix("/run/php.sock") && inv.timeout == 60_000_000_000 && inv.maxConnections == 16)
    }

    @Test func authConsumedByTheRouteAndTLS() throws {
        var r = request("/site/index.php")
        r.remoteUser = "alice"                  // the route's `auth` removed Authorization
        r.isTLS = true
        let p = try #require(params(handler().handle(r)))
        #expect(p["REMOTE_USER"] == "alice" && p["AUTH_TYPE"] == "Basic" && p["HTTP_AUTHORIZATION"] == nil)
        #expect(p["REQUEST_SCHEME"] == "https" && p["HTTPS"] == "on")
    }

    @Test func frontControllerKeepsTheRequestURI() throws {
        let h = handler(front: "/front.php")
        let p = try #require(params(h.handle(request("/site/blog/2024/hello-world?x=1"))))
        #expect(p["SCRIPT_NAME"] == "/site/front.php" && p["SCRIPT_FILENAME"] == root + "/front.php")
        #expect(p["REQUEST_URI"] == "/site/blog/2024/hello-world?x=1" && p["PATH_INFO"] == "")
        // A missing script and a hidden name go there too; files and scripts do not.
        #expect(params(h.handle(request("/site/missing.php")))?["SCRIPT_NAME"] == "/site/front.php")
        #expect(params(h.handle(request("/site/.env")))?["SCRIPT_NAME"] == "/site/front.php")
        #expect(params(h.handle(request("/site/app/x.php")))?["SCRIPT_NAME"] == "/site/app/x.php")
        guard case .response(let css) = h.handle(request("/site/style.css")) else { Issue.record("static"); return }
        #expect(css.status == .ok)
        // Without a front controller: 404. With one that does not exist: 404.
        guard case .response(let nf) = handler().handle(request("/site/nothing")) else { Issue.record("404"); return }
        #expect(nf.status == .notFound)
        guard case .response(let gone) = handler(front: "/nope.php").handle(request("/site/nothing")) else { return }
        #expect(gone.status == .notFound)
    }

    @Test func filesAreServedLikeAStaticRoute() {
        let h = handler()
        var conditional = HeaderFields()
        guard case .response(let r) = h.handle(request("/site/style.css")) else { Issue.record("static"); return }
        #expect(r.status == .ok && r.headers["Content-Type"]?.hasPrefix("text/css") == true)
        let etag = r.headers["ETag"]
        #expect(etag != nil)
        conditional.add("If-None-Match", etag ?? "")
        guard case .response(let nm) = h.handle(request("/site/style.css", headers: conditional)) else { return }
        #expect(nm.status == .notModified)
        var range = HeaderFields()
        range.add("Range", "bytes=0-3")
        guard case .response(let part) = h.handle(request("/site/style.css", headers: range)) else { return }
        #expect(part.status == .partialContent)
        guard case .response(let post) = h.handle(request("/site/style.css", method: .POST)) else { return }
        #expect(post.status == .methodNotAllowed)
        // A directory without its slash: 301, with the query kept.
        guard case .response(let dir) = h.handle(request("/site/app?x=1")) else { return }
        #expect(dir.status == .movedPermanently && dir.headers["Location"] == "/site/app/?x=1")
        guard case .response(let bad) = h.handle(request("/site/docs/readme.txt/x.php")) else { return }
        #expect(bad.status == .notFound)
    }

    @Test func anExactMountUsesTheWholePath() throws {
        let h = handler()
        let r = Request(head: RequestHead(method: .GET, target: "/app/x.php", version: .http1_1, headers: ["Host": "h"]),
                        path: "/app/x.php", routePath: "/app/x.php", remainder: "")
        let p = try #require(params(h.handle(r)))
        #expect(p["SCRIPT_NAME"] == "/app/x.php" && p["SCRIPT_FILENAME"] == root + "/app/x.php")
    }
}
