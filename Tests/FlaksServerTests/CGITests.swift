#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHandlers
import FlaksServer
import Foundation
import Testing

/// A temp directory of CGI scripts, removed at the end.
final class CGIFixture {
    let root: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/flaks-cgi-XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestClient.Failure(description: "mkdtemp failed")
        }
        root = URL(fileURLWithPath: String(cString: p)).standardizedFileURL.path
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Writes a script (executable unless told otherwise) and returns its path.
    @discardableResult
    func script(_ name: String, _ text: String, executable: Bool = true) throws -> String {
        let path = root + "/" + name
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, executable ? 0o755 : 0o644)
        return path
    }

    /// A file path in the fixture (for pid files).
    func path(_ name: String) -> String { root + "/" + name }

    /// A manifest mounting the fixture at /cgi-bin/.
    func config(interpreters: [String: String] = [:], env: [String: String] = [:], passAuthorization: Bool = false,
                cgi: CGISettings = CGISettings(), extra: [Route] = []) -> ServerConfig {
        let route = Route(path: "/cgi-bin/", kind: .cgi(CGIRoute(root: root, interpreters: interpreters, env: env,
                                                                  passAuthorization: passAuthorization)))
        var c = FlaksServerTests.config([route] + extra)
        c.cgi = cgi
        return c
    }
}

/// Reads a pid a script wrote to `path`, waiting up to `seconds` for it to appear.
func waitForPid(_ path: String, seconds: Double = 5) -> pid_t? {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if let s = try? String(contentsOfFile: path, encoding: .utf8),
           let p = pid_t(s.trimmingCharacters(in: .whitespacesAndNewlines)) { return p }
        usleep(10_000)
    }
    return nil
}

/// True once `pid` no longer exists (killed and reaped: a zombie still answers kill(pid, 0)).
func processIsGone(_ pid: pid_t, within seconds: Double = 3) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if kill(pid, 0) == -1 && errno == ESRCH { return true }
        usleep(10_000)
    }
    return false
}

/// Children of this process that are zombies (exited, never reaped), from /proc.
func zombieChildren() -> [pid_t] {
    let me = getpid()
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    var zombies: [pid_t] = []
    for e in entries {
        guard let pid = pid_t(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 2, fields[0] == "Z", pid_t(fields[1]) == me { zombies.append(pid) }
    }
    return zombies
}

/// Parses `env` output (NAME=value lines) into a dictionary.
func parseEnv(_ text: String) -> [String: String] {
    var d: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        d[String(line[..<eq])] = String(line[line.index(after: eq)...])
    }
    return d
}

let envScript = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec /usr/bin/env\n"
let catScript = "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\r\\n\\r\\n'\nexec cat\n"

/// A handler that puts a body on the request, then runs the CGI handler: drives the stdin path
/// without depending on the request parser's body support.
struct BodyInjectingCGIHandler: Handler {
    let cgi: CGIHandler
    let body: [UInt8]
    func handle(_ request: Request) -> HandlerOutcome {
        var r = request
        r.body = body
        r.head.framing = .length(body.count)
        r.routePath = "/cgi-bin/"
        r.remainder = String(request.path.dropFirst("/inject/".count))
        return cgi.handle(r)
    }
}

@Suite("CGI/1.1 over real sockets", .serialized, .timeLimit(.minutes(2)))
struct CGITests {
    @Test func helloScriptRuns() async throws {
        let f = try CGIFixture()
        try f.script("hello.sh", "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho hello\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/cgi-bin/hello.sh")
            #expect(r.status == 200)
            #expect(r.header("Content-Type") == "text/plain")
            #expect(r.text == "hello\n")
        }
    }

    @Test func fullEnvironment() async throws {
        let f = try CGIFixture()
        try f.script("sub/env.sh", envScript)
        try await withTestServer(f.config(env: ["APP_MODE": "test"])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /cgi-bin/sub/env.sh/extra/path?a=1&b=%20 HTTP/1.1\r\nHost: Example.TEST:8080\r\n"
                       + "User-Agent: t/1\r\nX-Custom: one\r\nX-Custom: two\r\nAuthorization: Basic dTpw\r\n"
                       + "Content-Type: text/x-test\r\nConnection: close\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 200)
            let env = parseEnv(r.text)
            #expect(env["GATEWAY_INTERFACE"] == "CGI/1.1")
            #expect(env["SERVER_SOFTWARE"] == "flaks")
            #expect(env["SERVER_PROTOCOL"] == "HTTP/1.1")
            #expect(env["SERVER_NAME"] == "example.test")
            #expect(env["SERVER_PORT"] == String(port))
            #expect(env["REQUEST_METHOD"] == "GET")
            #expect(env["QUERY_STRING"] == "a=1&b=%20")
            #expect(env["REMOTE_ADDR"] == "127.0.0.1")
            #expect(env["REMOTE_HOST"] == "127.0.0.1")
            #expect(Int(env["REMOTE_PORT"] ?? "") ?? 0 > 0)
            #expect(env["SCRIPT_NAME"] == "/cgi-bin/sub/env.sh")
            #expect(env["PATH_INFO"] == "/extra/path")
            #expect(env["PATH_TRANSLATED"] == f.root + "/extra/path")
            #expect(env["SCRIPT_FILENAME"] == f.root + "/sub/env.sh")
            #expect(env["DOCUMENT_ROOT"] == f.root)
            #expect(env["REQUEST_URI"] == "/cgi-bin/sub/env.sh/extra/path?a=1&b=%20")
            #expect(env["AUTH_TYPE"] == "Basic")
            #expect(env["HTTP_AUTHORIZATION"] == nil)          // not opted in
            #expect(env["CONTENT_TYPE"] == "text/x-test")
            #expect(env["HTTP_CONTENT_TYPE"] == nil)
            #expect(env["CONTENT_LENGTH"] == nil)              // no body
            #expect(env["HTTP_USER_AGENT"] == "t/1")
            #expect(env["HTTP_X_CUSTOM"] == "one, two")
            #expect(env["HTTP_HOST"] == "Example.TEST:8080")
            #expect(env["PATH"] == CGIEnvironment.defaultPath)
            #expect(env["APP_MODE"] == "test")
            // Nothing of the server's own environment leaks.
            let allowed: Set<String> = ["GATEWAY_INTERFACE", "SERVER_SOFTWARE", "SERVER_PROTOCOL", "SERVER_NAME", "SERVER_PORT",
                                        "REQUEST_METHOD", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_PORT",
                                        "SCRIPT_NAME", "PATH_INFO", "PATH_TRANSLATED", "SCRIPT_FILENAME", "DOCUMENT_ROOT",
                                        "REQUEST_URI", "REQUEST_SCHEME", "AUTH_TYPE", "CONTENT_TYPE", "PATH", "APP_MODE", "PWD",
                                        "HTTP_USER_AGENT", "HTTP_X_CUSTOM", "HTTP_HOST", "HTTP_CONNECTION"]
            #expect(Set(env.keys).subtracting(allowed).isEmpty, "unexpected: \(Set(env.keys).subtracting(allowed))")
            // The script ran in its own directory.
            #expect(env["PWD"] == f.root + "/sub")
        }
    }

    @Test func authorizationPassedOnlyWhenOptedIn() async throws {
        let f = try CGIFixture()
        try f.script("env.sh", envScript)
        try await withTestServer(f.config(passAuthorization: true)) { (_: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/cgi-bin/env.sh", headers: ["Authorization": "Bearer xyz"])
            let env = parseEnv(r.text)
            #expect(env["HTTP_AUTHORIZATION"] == "Bearer xyz")
            #expect(env["AUTH_TYPE"] == "Bearer")
            #expect(env["QUERY_STRING"] == "")
            #expect(env["PATH_INFO"] == "")
            #expect(env["PATH_TRANSLATED"] == nil)
        }
    }

    @Test func httpoxyAndUnderscoreHeadersAreDropped() async throws {
        let f = try CGIFixture()
        try f.script("env.sh", envScript)
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/cgi-bin/env.sh",
                                       headers: ["Proxy": "http://evil.test:1", "X-A_B": "smuggled", "X-A-B": "real"])
            let env = parseEnv(r.text)
            #expect(env["HTTP_PROXY"] == nil)
            #expect(env["HTTP_X_A_B"] == "real")
            #expect(!r.text.contains("smuggled"))
            #expect(!r.text.contains("evil.test"))
        }
    }

    @Test func statusHeaderAndExtraFields() async throws {
        let f = try CGIFixture()
        try f.script("nf.sh", "#!/bin/sh\nprintf 'Status: 404 Not Found\\r\\nContent-Type: text/plain\\r\\nX-Thing: yes\\r\\nConnection: keep-alive\\r\\nTransfer-Encoding: gzip\\r\\n\\r\\nnope\\n'\n")
        try f.script("nc.sh", "#!/bin/sh\nprintf 'Status: 204\\n\\n'\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /cgi-bin/nf.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 404)
            #expect(r.text == "nope\n")
            #expect(r.header("X-Thing") == "yes")
            // The server's framing, not the script's: a short answer is held and sent whole.
            #expect(r.header("Transfer-Encoding") == nil)
            #expect(r.header("Content-Length") == "5")
            #expect(r.header("Connection") == nil)
            // 204 on the same connection, then the connection is still usable.
            try c.send("GET /cgi-bin/nc.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().status == 204)
            try c.send("GET /cgi-bin/nf.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try c.readResponse().text == "nope\n")
        }
    }

    @Test func contentLengthFromScriptIsUsed() async throws {
        let f = try CGIFixture()
        try f.script("cl.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 5\\n\\nhello'\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /cgi-bin/cl.sh HTTP/1.1\r\nHost: x\r\n\r\nHEAD /cgi-bin/cl.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.header("Content-Length") == "5")
            #expect(r.header("Transfer-Encoding") == nil)
            #expect(r.text == "hello")
            let h = try c.readResponse(head: true)
            #expect(h.status == 200)
            #expect(h.header("Content-Length") == "5")
            try c.send("GET /cgi-bin/cl.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().text == "hello")
        }
    }

    @Test func localRedirectIsServedInternally() async throws {
        let f = try CGIFixture()
        try f.script("go.sh", "#!/bin/sh\nprintf 'Location: /cgi-bin/target.sh/p?x=1\\n\\n'\n")
        try f.script("static.sh", "#!/bin/sh\nprintf 'Location: /hello\\n\\n'\n")
        try f.script("target.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s %s %s' \"$REQUEST_METHOD\" \"$PATH_INFO\" \"$QUERY_STRING\"\n")
        try f.script("stream.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nstreamed'\n")
        try await withTestServer(f.config(extra: [respond("/hello", "hi\n")])) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            // A chunked stream first, then redirects on the same connection (framing state must not leak).
            try c.send("GET /cgi-bin/stream.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().text == "streamed")
            try c.send("GET /cgi-bin/go.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.header("Location") == nil)
            #expect(r.text == "GET /p x=1")
            try c.send("GET /cgi-bin/static.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            let s = try c.readResponse()
            #expect(s.status == 200)
            #expect(s.text == "hi\n")
            try c.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try c.readResponse().text == "hi\n")
        }
    }

    @Test func clientRedirectIs302() async throws {
        let f = try CGIFixture()
        try f.script("away.sh", "#!/bin/sh\nprintf 'Location: https://example.test/x\\n\\n'\n")
        try f.script("away301.sh", "#!/bin/sh\nprintf 'Status: 301 Moved\\nLocation: https://example.test/y\\nContent-Type: text/plain\\n\\nmoved\\n'\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/cgi-bin/away.sh")
            #expect(r.status == 302)
            #expect(r.header("Location") == "https://example.test/x")
            let p = try TestClient.get(port: port, "/cgi-bin/away301.sh")
            #expect(p.status == 301)
            #expect(p.header("Location") == "https://example.test/y")
            #expect(p.text == "moved\n")
        }
    }

    @Test(arguments: [
        ("no header end", "#!/bin/sh\nprintf 'Content-Type: text/plain\\nno blank line follows'\n"),
        ("header over 64 KiB", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n'\nhead -c 70000 /dev/zero | tr '\\0' 'a'\nsleep 5\n"),
        ("bad header line", "#!/bin/sh\nprintf 'this is not a header\\n\\nbody'\n"),
        ("no Content-Type, Location or Status", "#!/bin/sh\nprintf 'X-Only: 1\\n\\nbody'\n"),
        ("bad Status", "#!/bin/sh\nprintf 'Status: abc\\nContent-Type: text/plain\\n\\n'\n"),
        ("exit 1 before output", "#!/bin/sh\necho oops >&2\nexit 1\n"),
        ("killed by signal", "#!/bin/sh\nkill -9 $$\n"),
        ("no output, exit 0", "#!/bin/sh\nexit 0\n"),
    ])
    func malformedOutputIs502(_ name: String, _ script: String) async throws {
        let f = try CGIFixture()
        try f.script("bad.sh", script)
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /cgi-bin/bad.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 502, "\(name)")
            // The connection stays usable after a 502.
            try c.send("GET /cgi-bin/bad.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try c.readResponse().status == 502, "\(name)")
        }
    }

    @Test func aScriptStartsWithDefaultSignalsAnEmptyMaskItsOwnGroupAndOnlyItsStdio() async throws {
        // The spawn resets what is not at its default in this process (read again after a change:
        // `cflaks_spawn_signals_changed`), not all 64 signals. SIGWINCH is nothing a server touches.
        signal(SIGWINCH, SIG_IGN)
        cflaks_spawn_signals_changed()
        defer { signal(SIGWINCH, SIG_DFL); cflaks_spawn_signals_changed() }
        let f = try CGIFixture()
        try f.script("state.sh", """
            #!/bin/sh
            printf 'Content-Type: text/plain\\n\\n'
            grep -E '^Sig(Ign|Blk)' /proc/self/status
            echo "pid=$$ pgid=$(cut -d' ' -f5 /proc/$$/stat)"
            echo "cwd=$(pwd)"
            echo "fds=$(ls /proc/$$/fd | tr '\\n' ' ')"
            echo "stdin=$(readlink /proc/$$/fd/0)"
            """)
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let text = try TestClient.get(port: port, "/cgi-bin/state.sh").text
            let lines = Dictionary(text.split(separator: "\n").compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }, uniquingKeysWith: { a, _ in a })
            #expect(lines["SigIgn"] == "0000000000000000", "no signal ignored (SIGPIPE, SIGWINCH, glibc's 32): \(text)")
            #expect(lines["SigBlk"] == "0000000000000000", "an empty mask (the server blocks its signals): \(text)")
            let ids = text.split(separator: "\n").first { $0.hasPrefix("pid=") }?.split(separator: " ")
                .map { $0.split(separator: "=").last.map(String.init) ?? "" }
            #expect(ids?.count == 2 && ids?[0] == ids?[1], "its own process group: \(text)")
            #expect(text.contains("cwd=\(f.root)\n") || text.contains("cwd=\((f.root as NSString).resolvingSymlinksInPath)\n"))
            // 0, 1, 2 and the descriptor ls opens on /proc/PID/fd (the shell's own 10 if it keeps one).
            let fds = (text.split(separator: "\n").first { $0.hasPrefix("fds=") }?.dropFirst(4).split(separator: " ").compactMap { Int($0) } ?? []).sorted()
            #expect(fds.filter { $0 > 2 }.count <= 2 && Array(fds.prefix(3)) == [0, 1, 2], "only the standard descriptors: \(text)")
            #expect(text.contains("stdin=/dev/null\n"), "a GET's stdin is /dev/null: \(text)")
        }
    }

    @Test func aScriptWhoseInterpreterIsMissingIs500AndLeavesNoChild() async throws {
        let f = try CGIFixture()
        try f.script("orphan.sh", "#!/nonexistent/interpreter\nprint nothing\n")
        try await withTestServer(f.config()) { (server: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            for _ in 0..<3 {
                try c.send("GET /cgi-bin/orphan.sh HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().status == 500, "the exec failed: the route is at fault")
            }
            #expect(server.stats.cgiProcesses.load(ordering: .relaxed) == 0, "a spawn that failed holds no slot")
        }
        var zombies = zombieChildren()
        for _ in 0..<50 where !zombies.isEmpty { usleep(20_000); zombies = zombieChildren() }
        #expect(zombies.isEmpty, "the failed child was reaped: \(zombies)")
    }

    @Test func notRunnableFilesAndDirectoriesAreRefused() async throws {
        let f = try CGIFixture()
        try f.script("plain.txt", "secret text\n", executable: false)
        try f.script("dir/inner.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\ninner'\n")
        try f.script(".hidden.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhidden'\n")
        try f.script("app.py", "print('Content-Type: text/plain')\nprint()\nprint('python', end='')\n", executable: false)
        let outside = try CGIFixture()
        try outside.script("evil.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nescaped'\n")
        symlink(outside.root + "/evil.sh", f.root + "/link.sh")
        symlink(outside.root, f.root + "/linkdir")
        symlink(f.root + "/dir/inner.sh", f.root + "/inlink.sh")
        try await withTestServer(f.config(interpreters: [".py": "/usr/bin/python3"])) { (_: Server, port: Int) async throws in
            let plain = try TestClient.get(port: port, "/cgi-bin/plain.txt")
            #expect(plain.status == 403)
            #expect(!plain.text.contains("secret"))
            #expect(try TestClient.get(port: port, "/cgi-bin/dir").status == 403)
            #expect(try TestClient.get(port: port, "/cgi-bin/dir/").status == 403)
            #expect(try TestClient.get(port: port, "/cgi-bin/").status == 403)
            #expect(try TestClient.get(port: port, "/cgi-bin/missing.sh").status == 404)
            // 404 from the locator, or 400 if the path normaliser refuses "/." first.
            #expect([400, 404].contains(try TestClient.get(port: port, "/cgi-bin/.hidden.sh").status))
            #expect(try TestClient.get(port: port, "/cgi-bin/dir/inner.sh").text == "inner")
            #expect(try TestClient.get(port: port, "/cgi-bin/app.py").text == "python")
            let link = try TestClient.get(port: port, "/cgi-bin/link.sh")
            #expect(link.status == 403)
            #expect(try TestClient.get(port: port, "/cgi-bin/linkdir/evil.sh").status == 403)
            #expect(try TestClient.get(port: port, "/cgi-bin/inlink.sh").text == "inner")   // a symlink inside is fine
        }
    }

    @Test func stdinGetsTheBodyWithBackPressure() async throws {
        let f = try CGIFixture()
        try f.script("cat.sh", catScript)
        try f.script("ignore.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nignored'\n")
        // 3 MiB: far more than a pipe holds, so both the stdin writer and the stdout reader must wait.
        var body = [UInt8](repeating: 0, count: 3 * 1024 * 1024)
        for i in body.indices { body[i] = UInt8(truncatingIfNeeded: i &* 31 &+ i >> 9) }
        var registry = HandlerRegistry()
        let cgi = CGIHandler(route: CGIRoute(root: f.root))
        registry.register("inject", BodyInjectingCGIHandler(cgi: cgi, body: body))
        var cfg = f.config()
        cfg.hosts[0].routes.append(Route(path: "/inject/", kind: .handler("inject")))
        try await withTestServer(cfg, registry: registry) { (_: Server, port: Int) async throws in
            let r = try TestClient.get(port: port, "/inject/cat.sh")
            #expect(r.status == 200)
            #expect(r.body.count == body.count)
            #expect(r.body == body)
            // A script that never reads its stdin: EPIPE is fine, the answer arrives.
            let i = try TestClient.get(port: port, "/inject/ignore.sh")
            #expect(i.text == "ignored")
        }
    }

    @Test
    func postBodyReachesStdin() async throws {
        let f = try CGIFixture()
        try f.script("cat.sh", catScript)
        try f.script("env.sh", envScript)
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("POST /cgi-bin/cat.sh HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world")
            #expect(try c.readResponse().text == "hello world")
            try c.send("POST /cgi-bin/env.sh HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Length: 3\r\n\r\nabc")
            let env = parseEnv(try c.readResponse().text)
            #expect(env["CONTENT_LENGTH"] == "3")
            #expect(env["CONTENT_TYPE"] == "a/b")
            #expect(env["HTTP_CONTENT_LENGTH"] == nil)
        }
    }

    @Test
    func chunkedBodyArrivesDechunkedWithContentLength() async throws {
        let f = try CGIFixture()
        try f.script("cat.sh", catScript)
        try f.script("env.sh", envScript)
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("POST /cgi-bin/cat.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            #expect(try c.readResponse().text == "hello world")
            try c.send("POST /cgi-bin/env.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
            let env = parseEnv(try c.readResponse().text)
            #expect(env["CONTENT_LENGTH"] == "3")
            #expect(env["HTTP_TRANSFER_ENCODING"] == "chunked")
        }
    }

    @Test
    func perlFormEcho() async throws {
        let f = try CGIFixture()
        let source = try String(contentsOfFile: CGITests.sitesDir + "/form.pl", encoding: .utf8)
        try f.script("form.pl", source)
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            let form = "name=Ada+L&lang=swift%21"
            try c.send("POST /cgi-bin/form.pl HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\nConnection: close\r\n\r\n\(form)")
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.text.contains("name = Ada L"))
            #expect(r.text.contains("lang = swift!"))
        }
    }

    @Test func streamingSendsFirstBytesBeforeTheScriptEnds() async throws {
        // The script prints its first line, then waits until the test creates a gate file, which
        // the test does only once the first line has arrived: without streaming it never would.
        let f = try CGIFixture()
        let gate = f.root + "/gate"
        try f.script("slow.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfirst\\n'\nn=0\nwhile [ ! -e '\(gate)' ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done\nprintf 'second\\n'\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port, timeout: 15)
            try c.send("GET /cgi-bin/slow.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while !String(decoding: c.leftover, as: UTF8.self).contains("first") {
                guard try c.fill() else { break }
            }
            #expect(String(decoding: c.leftover, as: UTF8.self).contains("first"))
            #expect(!String(decoding: c.leftover, as: UTF8.self).contains("second"))
            #expect(FileManager.default.createFile(atPath: gate, contents: nil))
            let r = try c.readResponse()
            #expect(r.header("Transfer-Encoding") == "chunked")
            #expect(r.text == "first\nsecond\n")
        }
    }

    @Test func aShortAnswerIsHeldAndSentWholeInOneSegment() async throws {
        // Streamed, this answer took three segments (head, chunk, last chunk after the exit). The
        // hold is 20 ms: a loaded machine may miss it once, so the best of five tries counts.
        let f = try CGIFixture()
        try f.script("short.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nshort'\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            var fewest = Int64.max
            for _ in 0..<5 where fewest > 1 {
                let before = cflaks_tcp_data_segs_in(c.fd)
                try c.send("GET /cgi-bin/short.sh HTTP/1.1\r\nHost: x\r\n\r\n")
                let r = try c.readResponse()
                #expect(r.text == "short")
                let segments = cflaks_tcp_data_segs_in(c.fd) - before
                if segments == 1 {
                    #expect(r.header("Content-Length") == "5" && r.header("Transfer-Encoding") == nil)
                }
                fewest = min(fewest, segments)
            }
            #expect(fewest == 1)
        }
    }

    @Test func aScriptThatCrashesBeforeItsOutputGoesOutGets502() async throws {
        let f = try CGIFixture()
        try f.script("crash.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\npartial'\nkill -9 $$\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            // Held, the crash is answered with 502; streamed (a loaded machine), the body is cut off.
            // Never a complete 200.
            var saw502 = false
            for _ in 0..<5 where !saw502 {
                let c = try TestClient(port: port)
                try c.send("GET /cgi-bin/crash.sh HTTP/1.1\r\nHost: x\r\n\r\n")
                if let r = try? c.readResponse() {
                    #expect(r.status == 502, "a crashed script's answer is never complete")
                    saw502 = r.status == 502
                }
            }
            #expect(saw502)
        }
    }

    @Test func http10StreamEndsWithClose() async throws {
        let f = try CGIFixture()
        try f.script("hello.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nold client\\n'\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.text == "old client\n")
            #expect(r.header("Transfer-Encoding") == nil)
        }
    }

    @Test func timeoutKillsTheScriptAndAnswers504() async throws {
        let f = try CGIFixture()
        let pidFile = f.path("pid")
        try f.script("hang.sh", "#!/bin/sh\necho $$ > '\(pidFile)'\nsleep 30\n")
        let cfg = f.config(cgi: CGISettings(timeout: .milliseconds(500), maxProcesses: 32))
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            let start = Date()
            let r = try TestClient.get(port: port, "/cgi-bin/hang.sh")
            #expect(r.status == 504)
            #expect(Date().timeIntervalSince(start) < 3)
            let pid = try #require(waitForPid(pidFile))
            #expect(processIsGone(pid), "pid \(pid) still exists (or is a zombie)")
        }
    }

    @Test func timeoutAfterTheHeadAbortsTheStream() async throws {
        let f = try CGIFixture()
        try f.script("half.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\npartial\\n'\nsleep 30\n")
        let cfg = f.config(cgi: CGISettings(timeout: .milliseconds(500), maxProcesses: 32))
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /cgi-bin/half.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            // The head and the first chunk arrive, then the connection is closed without the last chunk.
            #expect(throws: TestClient.Failure.self) { try c.readResponse() }
        }
    }

    @Test func timeoutAlsoKillsABackgroundJobHoldingStdout() async throws {
        let f = try CGIFixture()
        let pidFile = f.path("pid")
        try f.script("bg.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nbye\\n'\nsleep 30 &\necho $! > '\(pidFile)'\nexit 0\n")
        let cfg = f.config(cgi: CGISettings(timeout: .milliseconds(500), maxProcesses: 32))
        try await withTestServer(cfg) { (server: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            try c.send("GET /cgi-bin/bg.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            // The body never ends (the job holds stdout) until the timeout aborts the stream.
            #expect(throws: TestClient.Failure.self) { try c.readResponse() }
            let pid = try #require(waitForPid(pidFile))
            #expect(processIsGone(pid), "background job \(pid) survived the timeout")
        }
    }

    // A client that leaves is seen the way TCP shows it. A reset (or a write that fails) ends the
    // connection and kills the script at once. A FIN alone cannot be told from a half-close
    // (`shutdown(SHUT_WR)` after the request, which must still get its answer, as lighttpd does):
    // the script is killed when its next output finds the client gone.
    @Test func clientResetKillsTheScript() async throws {
        let f = try CGIFixture()
        let pidFile = f.path("pid")
        try f.script("hang.sh", "#!/bin/sh\necho $$ > '\(pidFile)'\nsleep 30\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            var c: TestClient? = try TestClient(port: port)
            try c?.send("GET /cgi-bin/hang.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            let pid = try #require(waitForPid(pidFile))
            c?.reset()
            c = nil
            #expect(processIsGone(pid), "pid \(pid) survived the client")
            // The slot was given back.
            #expect(try TestClient.get(port: port, "/cgi-bin/missing.sh").status == 404)
        }
    }

    @Test func clientCloseKillsTheScriptAtItsNextOutput() async throws {
        let f = try CGIFixture()
        let pidFile = f.path("pid")
        try f.script("drip.sh", "#!/bin/sh\necho $$ > '\(pidFile)'\nprintf 'Content-Type: text/plain\\n\\n'\nwhile :; do echo tick; sleep 0.1; done\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            var c: TestClient? = try TestClient(port: port)
            try c?.send("GET /cgi-bin/drip.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            let pid = try #require(waitForPid(pidFile))
            _ = try c?.fill()
            c = nil   // closes the socket (FIN)
            #expect(processIsGone(pid), "pid \(pid) survived the client")
        }
    }

    @Test func thirtyConcurrentScriptsAreAllAnswered() async throws {
        let f = try CGIFixture()
        try f.script("nap.sh", "#!/bin/sh\nsleep 0.3\nprintf 'Content-Type: text/plain\\n\\n%s' \"$QUERY_STRING\"\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            var clients: [TestClient] = []
            for i in 0..<30 {
                let c = try TestClient(port: port, timeout: 10)
                try c.send("GET /cgi-bin/nap.sh?\(i) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                clients.append(c)
            }
            let start = Date()
            for (i, c) in clients.enumerated() {
                let r = try c.readResponse()
                #expect(r.status == 200)
                #expect(r.text == String(i))
            }
            // They ran side by side, not one after the other (30 × 0.3 s = 9 s).
            #expect(Date().timeIntervalSince(start) < 6)
        }
    }

    @Test func maxProcessesAnswers503WithRetryAfter() async throws {
        let f = try CGIFixture()
        let pidFile = f.path("pid")
        try f.script("slow.sh", "#!/bin/sh\necho $$ > '\(pidFile)'\nsleep 1\nprintf 'Content-Type: text/plain\\n\\ndone'\n")
        try f.script("fast.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfast'\n")
        let cfg = f.config(cgi: CGISettings(timeout: .seconds(10), maxProcesses: 1))
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            let first = try TestClient(port: port)
            try first.send("GET /cgi-bin/slow.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            _ = try #require(waitForPid(pidFile))
            let busy = try TestClient.get(port: port, "/cgi-bin/fast.sh")
            #expect(busy.status == 503)
            #expect(busy.header("Retry-After") == "1")
            #expect(try first.readResponse().text == "done")
            // Once the first child is reaped, the slot is free again.
            var ok = false
            for _ in 0..<50 where !ok {
                ok = try TestClient.get(port: port, "/cgi-bin/fast.sh").status == 200
                if !ok { usleep(20_000) }
            }
            #expect(ok)
        }
    }

    @Test func stderrDoesNotBreakTheResponse() async throws {
        let f = try CGIFixture()
        try f.script("noisy.sh", "#!/bin/sh\ni=0\nwhile [ $i -lt 2000 ]; do echo \"warning line $i\" >&2; i=$((i+1)); done\nprintf 'Content-Type: text/plain\\n\\nok'\n")
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            #expect(try TestClient.get(port: port, "/cgi-bin/noisy.sh").text == "ok")
        }
    }

    @Test func wsgiTodoAppRoundTrip() async throws {
        let f = try CGIFixture()
        let source = try String(contentsOfFile: CGITests.sitesDir + "/wsgi_app.py", encoding: .utf8)
        try f.script("wsgi_app.py", source, executable: false)
        let store = f.path("todos.json")
        let cfg = f.config(interpreters: [".py": "/usr/bin/python3"], env: ["TODO_FILE": store])
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            let empty = try TestClient.get(port: port, "/cgi-bin/wsgi_app.py/todos")
            #expect(empty.status == 200)
            #expect(empty.header("Content-Type") == "application/json")
            #expect(empty.text == #"{"todos": []}"#)
            let c = try TestClient(port: port)
            try c.send("POST /cgi-bin/wsgi_app.py/todos?title=buy%20milk HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            let created = try c.readResponse()
            #expect(created.status == 201)
            #expect(created.text == #"{"id": 1, "title": "buy milk", "done": false}"#)
            try c.send("POST /cgi-bin/wsgi_app.py/todos/1/done HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            #expect(try c.readResponse().status == 200)
            try c.send("GET /cgi-bin/wsgi_app.py/todos HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().text == #"{"todos": [{"id": 1, "title": "buy milk", "done": true}]}"#)
            try c.send("GET /cgi-bin/wsgi_app.py/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try c.readResponse().status == 404)
        }
    }

    @Test
    func wsgiTodoAppJSONBody() async throws {
        let f = try CGIFixture()
        let source = try String(contentsOfFile: CGITests.sitesDir + "/wsgi_app.py", encoding: .utf8)
        try f.script("wsgi_app.py", source, executable: false)
        let cfg = f.config(interpreters: [".py": "/usr/bin/python3"], env: ["TODO_FILE": f.path("todos.json")])
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            let c = try TestClient(port: port)
            let json = #"{"title": "write tests"}"#
            try c.send("POST /cgi-bin/wsgi_app.py/todos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)")
            let r = try c.readResponse()
            #expect(r.status == 201)
            #expect(r.text == #"{"id": 1, "title": "write tests", "done": false}"#)
        }
    }

    @Test func exampleScriptsRun() async throws {
        let f = try CGIFixture()
        for name in ["hello.sh", "env.py"] {
            let source = try String(contentsOfFile: CGITests.sitesDir + "/" + name, encoding: .utf8)
            try f.script(name, source, executable: name.hasSuffix(".sh"))
        }
        let cfg = f.config(interpreters: [".py": "/usr/bin/python3"])
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            let hello = try TestClient.get(port: port, "/cgi-bin/hello.sh")
            #expect(hello.status == 200)
            #expect(hello.text.contains("Hello"))
            let env = try TestClient.get(port: port, "/cgi-bin/env.py/x?y=1")
            #expect(env.status == 200)
            #expect(env.text.contains("PATH_INFO=/x"))
            #expect(env.text.contains("QUERY_STRING=y=1"))
        }
    }

    @Test func everyScriptIsReapedNoZombies() async throws {
        let f = try CGIFixture()
        try f.script("pid.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s' $$\n")
        try f.script("crash.sh", "#!/bin/sh\np=$$\nprintf 'Content-Type: text/plain\\nContent-Length: %d\\n\\n%s' ${#p} $p\nkill -9 $$\n")
        var pids: [pid_t] = []
        try await withTestServer(f.config()) { (_: Server, port: Int) async throws in
            for i in 0..<10 {
                let r = try TestClient.get(port: port, i % 2 == 0 ? "/cgi-bin/pid.sh" : "/cgi-bin/crash.sh")
                if let p = pid_t(r.text) { pids.append(p) }
            }
        }
        #expect(pids.count >= 5)
        for p in pids { #expect(processIsGone(p), "pid \(p) not reaped") }
        // And no zombie child of this process at all (every test in this suite before it included).
        var zombies = zombieChildren()
        for _ in 0..<100 where !zombies.isEmpty { usleep(20_000); zombies = zombieChildren() }
        #expect(zombies.isEmpty, "zombies: \(zombies.map { ($0, (try? String(contentsOfFile: "/proc/\($0)/stat", encoding: .utf8)) ?? "?") })")
    }

    /// The repository's example scripts.
    static let sitesDir: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path + "/sites/cgi-bin"
    }()
}
