#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksConfig
import FlaksServer
import FlaksTLS
import Foundation
import Testing

/// A small PHP site served through a real php-fpm (started by the test with its own pool on a unix
/// socket, ended by pid): $_SERVER, forms and uploads, the front controller, index files, static
/// files next to scripts, source never exposed, status/Location/cookies, large and flushed output,
/// timeouts, php-fpm down, concurrency and sessions. Skipped when php-fpm is not installed.
@Suite("FastCGI with php-fpm", .serialized,
       .enabled(if: PHPFPM.binary != nil, "php-fpm is not installed (apt-get install php8.2-fpm); PHP sites not tested"))
final class FastCGIPHPTests {
    static let sourceMarker = "SOURCE-MARKER-3c9e"
    static let envMarker = "ENV-MARKER-51aa"

    let base: String
    var root: String { base + "/www" }
    let upload: [UInt8]

    init() throws {
        var template = Array((NSTemporaryDirectory() + "flaks-php-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        base = String(cString: p)
        var g = SystemRandomNumberGenerator()
        upload = (0..<(1 << 20) + 123).map { _ in UInt8.random(in: 0...255, using: &g) }
        for d in ["www/app", "www/sub", "www/docs", "outside"] {
            try FileManager.default.createDirectory(atPath: base + "/" + d, withIntermediateDirectories: true)
        }
        let dump = "<?php header('Content-Type: application/json'); echo json_encode(['server' => $_SERVER, 'get' => $_GET, "
            + "'post' => $_POST, 'input_sha' => hash('sha256', file_get_contents('php://input'))]);"
        let files: [String: String] = [
            "www/index.php": "<?php echo 'home ', $_SERVER['SCRIPT_NAME'];",
            "www/server.php": dump,
            "www/app/x.php": dump,
            "www/sub/index.php": "<?php echo 'sub index ', $_SERVER['SCRIPT_NAME'];",
            "www/upload.php": """
                <?php
                header('Content-Type: application/json');
                $files = [];
                foreach ($_FILES as $k => $f) {
                    $files[$k] = ['name' => $f['name'], 'size' => $f['size'], 'error' => $f['error'],
                                  'sha' => $f['error'] === 0 ? hash_file('sha256', $f['tmp_name']) : null];
                }
                echo json_encode(['files' => $files, 'post' => $_POST]);
                """,
            "www/front.php": "<?php echo 'front ', $_SERVER['REQUEST_URI'], ' ', $_SERVER['SCRIPT_NAME'];",
            "www/status.php": """
                <?php
                http_response_code(418);
                header('X-Teapot: short and stout');
                setcookie('one', '1');
                setcookie('two', '2');
                echo 'teapot';
                """,
            "www/redirect.php": "<?php header('Location: /target?from=php'); echo 'moved';",
            "www/big.php": "<?php for ($i = 0; $i < 128; $i++) { echo str_repeat(chr(65 + $i % 26), 65536); }",
            "www/flush.php": "<?php echo \"first\\n\"; flush(); usleep(1500000); echo \"second\\n\";",
            "www/sleep.php": "<?php sleep(3); echo 'late';",
            "www/session.php": "<?php session_start(); $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1; echo 'n=', $_SESSION['n'];",
            "www/concurrent.php": "<?php usleep(20000); echo 'i=', $_GET['i'] ?? '-';",
            "www/secret.php": "<?php /* \(Self.sourceMarker) */ echo 'ran';",
            "www/.env": "APP_KEY=\(Self.envMarker)",
            "www/style.css": "body { color: green }\n",
            "www/style.css.gz": "GZIP-SIBLING",
            "www/docs/readme.txt": "plain text next to php\n",
            "outside/out.php": "<?php /* \(Self.sourceMarker) */ echo 'outside ran';",
        ]
        for (name, text) in files { try text.write(toFile: base + "/" + name, atomically: true, encoding: .utf8) }
        symlink(base + "/outside/out.php", root + "/escape.php")
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    /// The site: `max_connections` is php-fpm's `pm.max_children`, as it must be (a kept connection
    /// holds a child: more connections than children would wait for an idle one to close).
    func site(_ fpm: PHPFPM, children: Int, loops: Int = 2) -> ServerConfig {
        let responder = FastCGIRoute.Responder.address(.unix(path: fpm.socketPath))
        var c = FlaksServerTests.config([
            Route(path: "/sleep.php", kind: .fastcgi(FastCGIRoute(responder: responder, root: root, timeout: .seconds(1),
                                                                  maxConnections: children))),
            Route(path: "/", kind: .fastcgi(FastCGIRoute(responder: responder, root: root, frontController: "/front.php",
                                                         env: ["APP_ENV": "test"], timeout: .seconds(30),
                                                         maxConnections: children))),
        ])
        c.server.loops = loops
        return c
    }

    static func json(_ r: TestClient.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any], "\(r.status) \(r.text.prefix(300))")
    }

    /// Lower-case hex SHA-256 (OpenSSL, through FlaksTLS), as php's hash() prints it.
    static func sha256(_ bytes: [UInt8]) -> String {
        Digest.sha256(bytes).map { String(format: "%02x", $0) }.joined()
    }

    @Test(.timeLimit(.minutes(2)))
    func serverVariablesFormsAndUploads() async throws {
        let fpm = try PHPFPM(children: 4)
        defer { fpm.stop() }
        try await withTestServer(site(fpm, children: 4)) { (_: Server, port: Int) async throws in
            // $_SERVER for a script with PATH_INFO, a raw query, Authorization, and Proxy (httpoxy).
            let r = try TestClient.get(port: port, "/app/x.php/extra/p%C3%A5th?q=a%20b&n=1", host: "php.test",
                                       headers: ["Authorization": "Basic dXNlcjpzM2NyZXQ=", "Proxy": "http://evil.test"])
            #expect(r.status == 200)
            let s = try #require(try Self.json(r)["server"] as? [String: Any])
            #expect(s["SCRIPT_NAME"] as? String == "/app/x.php")
            #expect(s["PATH_INFO"] as? String == "/extra/påth")
            #expect(s["SCRIPT_FILENAME"] as? String == root + "/app/x.php")
            #expect(s["DOCUMENT_ROOT"] as? String == root)
            #expect(s["REQUEST_URI"] as? String == "/app/x.php/extra/p%C3%A5th?q=a%20b&n=1")
            #expect(s["QUERY_STRING"] as? String == "q=a%20b&n=1")
            #expect(s["REQUEST_METHOD"] as? String == "GET" && s["REQUEST_SCHEME"] as? String == "http")
            #expect(s["HTTPS"] == nil)
            #expect(s["REDIRECT_STATUS"] as? String == "200")
            #expect(s["SERVER_NAME"] as? String == "php.test" && s["SERVER_PORT"] as? String == String(port))
            #expect(s["REMOTE_ADDR"] as? String == "127.0.0.1" && s["GATEWAY_INTERFACE"] as? String == "CGI/1.1")
            #expect(s["PHP_AUTH_USER"] as? String == "user" && s["PHP_AUTH_PW"] as? String == "s3cret", "php got Authorization")
            #expect(s["HTTP_PROXY"] == nil)
            #expect(s["APP_ENV"] as? String == "test")
            #expect(s["PHP_SELF"] as? String == "/app/x.php/extra/påth")

            // A urlencoded form.
            let c = try TestClient(port: port)
            let form = "name=Fl%C3%A5ks&list%5B%5D=a&list%5B%5D=b"
            try c.send("POST /server.php?via=post HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                       + "Content-Length: \(form.utf8.count)\r\n\r\n\(form)")
            let post = try Self.json(try c.readResponse())
            let fields = try #require(post["post"] as? [String: Any])
            #expect(fields["name"] as? String == "Flåks" && fields["list"] as? [String] == ["a", "b"])
            #expect((post["get"] as? [String: Any])?["via"] as? String == "post")
            #expect((post["server"] as? [String: Any])?["CONTENT_LENGTH"] as? String == String(form.utf8.count))

            // A chunked body: read whole first, so php gets CONTENT_LENGTH and the bytes.
            let payload = Array(upload[0..<300_000])
            var chunked = "POST /server.php HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            var bytes = Array(chunked.utf8)
            for part in stride(from: 0, to: payload.count, by: 70_000) {
                let piece = payload[part..<min(part + 70_000, payload.count)]
                bytes += Array((String(piece.count, radix: 16) + "\r\n").utf8) + piece + Array("\r\n".utf8)
            }
            bytes += Array("0\r\n\r\n".utf8)
            chunked = ""
            try c.send(bytes)
            let raw = try Self.json(try c.readResponse())
            #expect(raw["input_sha"] as? String == Self.sha256(payload))
            #expect((raw["server"] as? [String: Any])?["CONTENT_LENGTH"] as? String == String(payload.count))

            // A multipart upload of 1 MiB and a bit, checked by sha256 on php's side.
            let boundary = "flaks-boundary-8e1f"
            var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nmy file\r\n".utf8)
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"f\"; filename=\"data.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
            body += upload + Array("\r\n--\(boundary)--\r\n".utf8)
            try c.send(Array("POST /upload.php HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=\(boundary)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            let up = try Self.json(try c.readResponse())
            let f = try #require((up["files"] as? [String: Any])?["f"] as? [String: Any])
            #expect(f["name"] as? String == "data.bin" && f["size"] as? Int == upload.count && f["error"] as? Int == 0)
            #expect(f["sha"] as? String == Self.sha256(upload))
            #expect((up["post"] as? [String: Any])?["title"] as? String == "my file")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func filesIndexesFrontControllerAndNoSource() async throws {
        let fpm = try PHPFPM(children: 2)
        defer { fpm.stop() }
        try await withTestServer(site(fpm, children: 2)) { (_: Server, port: Int) async throws in
            #expect(try TestClient.get(port: port, "/").text == "home /index.php")
            #expect(try TestClient.get(port: port, "/sub/").text == "sub index /sub/index.php")
            let dir = try TestClient.get(port: port, "/sub?x=1")
            #expect(dir.status == 301 && dir.header("Location") == "/sub/?x=1")
            // Pretty URLs go to the front controller with REQUEST_URI intact.
            #expect(try TestClient.get(port: port, "/blog/2024/hello?page=2").text == "front /blog/2024/hello?page=2 /front.php")
            // Static files next to scripts, with the static handler's behaviour.
            let css = try TestClient.get(port: port, "/style.css")
            #expect(css.status == 200 && css.text == "body { color: green }\n" && css.header("Content-Type")?.hasPrefix("text/css") == true)
            let etag = try #require(css.header("ETag"))
            #expect(try TestClient.get(port: port, "/style.css", headers: ["If-None-Match": etag]).status == 304)
            let gz = try TestClient.get(port: port, "/style.css", headers: ["Accept-Encoding": "gzip"])
            #expect(gz.text == "GZIP-SIBLING" && gz.header("Content-Encoding") == "gzip", "precompressed sibling")
            let range = try TestClient.get(port: port, "/docs/readme.txt", headers: ["Range": "bytes=0-4"])
            #expect(range.status == 206 && range.text == "plain")
            // Never the source, whatever the spelling; never a file outside the root.
            let tricks = ["/secret.php", "/secret.php/", "/secret.php.", "/SECRET.PHP", "/Secret.Php", "/secret%2ephp",
                          "/secret%2Ephp/x", "/secret.php%20", "/secret.php::$DATA", "/secret.phps", "/secret.php~",
                          "/secret.php/.", "/./secret.php", "/sub/../secret.php", "/.env", "/.env/", "/escape.php",
                          "/%2e%2e/outside/out.php", "/secret.php%00.txt", "/secret.php%2f"]
            for t in tricks {
                let r = try TestClient.get(port: port, t)
                #expect(!r.text.contains(Self.sourceMarker) && !r.text.contains(Self.envMarker), "\(t): \(r.status)")
                #expect(!r.text.contains("outside ran"), "\(t)")
                #expect(r.header("Content-Type")?.contains("php") != true, "\(t)")
            }
            #expect(try TestClient.get(port: port, "/secret.php").text == "ran")
            #expect(try TestClient.get(port: port, "/secret.php/").text == "ran", "PATH_INFO /")
            #expect(try TestClient.get(port: port, "/secret%2ephp").text == "ran", "the decoded name")
            #expect(try TestClient.get(port: port, "/.env").text.hasPrefix("front /.env"))
            #expect(try TestClient.get(port: port, "/SECRET.PHP").text.hasPrefix("front /SECRET.PHP"), "no such file")
            // HEAD: the head only.
            let c = try TestClient(port: port)
            try c.send("HEAD /secret.php HTTP/1.1\r\nHost: x\r\n\r\nGET /secret.php HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse(head: true).status == 200)
            #expect(try c.readResponse().text == "ran", "in step after the HEAD")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func statusLocationCookiesAndSessions() async throws {
        let fpm = try PHPFPM(children: 2)
        defer { fpm.stop() }
        try await withTestServer(site(fpm, children: 2)) { (_: Server, port: Int) async throws in
            let t = try TestClient.get(port: port, "/status.php")
            #expect(t.status == 418 && t.text == "teapot" && t.header("X-Teapot") == "short and stout")
            #expect(t.headers.filter { $0.0.lowercased() == "set-cookie" }.map(\.1).map { $0.prefix(5) } == ["one=1", "two=2"])
            let r = try TestClient.get(port: port, "/redirect.php")
            #expect(r.status == 302 && r.header("Location") == "/target?from=php")
            // A session across requests (and across client connections, maybe on the other loop).
            let first = try TestClient.get(port: port, "/session.php")
            #expect(first.text == "n=1")
            let cookie = try #require(first.header("Set-Cookie")?.split(separator: ";").first.map(String.init))
            #expect(cookie.hasPrefix("PHPSESSID="))
            for n in 2...4 {
                #expect(try TestClient.get(port: port, "/session.php", headers: ["Cookie": cookie]).text == "n=\(n)")
            }
            #expect(try TestClient.get(port: port, "/session.php").text == "n=1", "a new session without the cookie")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func childrenThatLeaveAfterEachRequestDoNotFailRequests() async throws {
        // pm.max_requests = 1: every child exits after one request, closing its kept connection
        // (seen idle by the pool, or as we write: then the request is retried on a fresh one).
        let fpm = try PHPFPM(children: 2, maxRequests: 1)
        defer { fpm.stop() }
        try await withTestServer(site(fpm, children: 2, loops: 1)) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for i in 0..<12 {
                try c.send("GET /concurrent.php?i=\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
                let r = try c.readResponse()
                #expect(r.status == 200 && r.text == "i=\(i)", "request \(i): \(r.status)")
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func largeAndFlushedOutputIsStreamed() async throws {
        let fpm = try PHPFPM(children: 2)
        defer { fpm.stop() }
        try await withTestServer(site(fpm, children: 2)) { (_: Server, port: Int) async throws in
            let big = try TestClient.get(port: port, "/big.php")
            #expect(big.status == 200 && big.body.count == 8 << 20)
            #expect(big.header("Content-Length") == nil, "streamed (chunked), not buffered to learn a length")
            var ok = true
            for i in 0..<128 where ok { ok = big.body[i * 65536] == UInt8(65 + i % 26) && big.body[i * 65536 + 65535] == UInt8(65 + i % 26) }
            #expect(ok)
            // PHP's flush() reaches the client before the script ends.
            let c = try TestClient(port: port)
            let started = Date()
            try c.send("GET /flush.php HTTP/1.1\r\nHost: x\r\n\r\n")
            var firstAt: TimeInterval?
            while firstAt == nil, try c.fill() {
                let text = String(decoding: c.leftover, as: UTF8.self)
                if text.contains("first\n") {
                    firstAt = Date().timeIntervalSince(started)
                    #expect(!text.contains("second"))
                }
            }
            #expect((firstAt ?? 99) < 1.2, "the flushed part came at once (\(firstAt ?? -1) s)")
            while !String(decoding: c.leftover, as: UTF8.self).contains("second\n"), try c.fill() {}
            #expect(Date().timeIntervalSince(started) >= 1.4)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func timeoutPHPFPMDownAndFortyAtOnce() async throws {
        let fpm = try PHPFPM(children: 4)
        defer { fpm.stop() }
        try await withTestServer(site(fpm, children: 4)) { (_: Server, port: Int) async throws in
            let started = Date()
            let slow = try TestClient.get(port: port, "/sleep.php")
            #expect(slow.status == 504)
            #expect(Date().timeIntervalSince(started) < 2.5)
            // 40 clients at once through 4 connections (4 children).
            let answers = await withTaskGroup(of: (Int, String).self) { group in
                for i in 0..<40 {
                    group.addTask {
                        do { return (i, try TestClient.get(port: port, "/concurrent.php?i=\(i)").text) } catch {
                            return (i, "failed: \(error)")
                        }
                    }
                }
                var all: [Int: String] = [:]
                for await (i, t) in group { all[i] = t }
                return all
            }
            #expect(answers.count == 40)
            #expect((0..<40).allSatisfy { answers[$0] == "i=\($0)" }, "\(answers.filter { $0.value != "i=\($0.key)" })")
            // php-fpm goes away: 502, and the server carries on.
            fpm.stopKeepingFiles()
            let down = try TestClient.get(port: port, "/index.php")
            #expect(down.status == 502)
            #expect(try TestClient.get(port: port, "/style.css").status == 200, "files are still served")
        }
    }
}
