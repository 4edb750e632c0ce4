#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig
import FlaksHTTP
import Foundation
import Testing
@testable import FlaksHandlers

/// The CGI environment (RFC 3875 §4.1), built from request values without any I/O.
@Suite("CGI environment builder")
struct CGIEnvironmentTests {
    static func request(_ target: String = "/cgi-bin/app.py/a/b?x=1", method: HTTPMethod = .GET,
                        headers: HeaderFields = ["Host": "Site.Test"], body: [UInt8] = [],
                        framing: BodyFraming = .none) -> Request {
        let head = RequestHead(method: method, target: target, version: .http1_1, headers: headers, framing: framing)
        let path = String(head.rawPath)
        return Request(head: head, path: path, body: body, remoteAddress: "10.0.0.7", remotePort: 40000,
                       localAddress: "10.0.0.1", localPort: 8080, routePath: "/cgi-bin/",
                       remainder: String(path.dropFirst("/cgi-bin/".count)))
    }

    static let script = CGIEnvironment.Script(scriptName: "/cgi-bin/app.py", pathInfo: "/a/b",
                                              scriptFilename: "/srv/cgi/app.py", documentRoot: "/srv/cgi")

    /// The environment `build` gives, as a dictionary; every test through here also checks that the
    /// block the spawn uses (`CGIEnvironment.block`) holds the same entries, each once.
    static func env(_ r: Request, route: CGIRoute = CGIRoute(root: "/srv/cgi"), script: CGIEnvironment.Script = script) -> [String: String] {
        let built = CGIEnvironment.build(request: r, route: route, script: script)
        let block = CGIEnvironment.block(request: r, route: route, script: script)
        #expect(block.entries.sorted() == built.sorted())
        #expect(block.count == built.count)
        var d: [String: String] = [:]
        for entry in built {
            let eq = entry.firstIndex(of: "=")!
            #expect(d[String(entry[..<eq])] == nil, "duplicate \(entry)")
            d[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        return d
    }

    @Test func everyMetaVariable() {
        let e = Self.env(Self.request(headers: ["Host": "Site.Test", "Authorization": "Basic abc",
                                                "Content-Type": "application/json", "Content-Length": "2"],
                                      body: Array("{}".utf8), framing: .length(2)))
        #expect(e == [
            "AUTH_TYPE": "Basic",
            "CONTENT_LENGTH": "2",
            "CONTENT_TYPE": "application/json",
            "DOCUMENT_ROOT": "/srv/cgi",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "HTTP_HOST": "Site.Test",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PATH_INFO": "/a/b",
            "PATH_TRANSLATED": "/srv/cgi/a/b",
            "QUERY_STRING": "x=1",
            "REMOTE_ADDR": "10.0.0.7",
            "REMOTE_HOST": "10.0.0.7",
            "REMOTE_PORT": "40000",
            "REQUEST_METHOD": "GET",
            "REQUEST_URI": "/cgi-bin/app.py/a/b?x=1",
            "REQUEST_SCHEME": "http",
            "SCRIPT_FILENAME": "/srv/cgi/app.py",
            "SCRIPT_NAME": "/cgi-bin/app.py",
            "SERVER_NAME": "site.test",
            "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": "flaks",
        ])
    }

    @Test("the table of common fields names each variable as the rule does, in any letter case")
    func commonVariableNames() {
        for (field, variable) in CGIEnvironment.commonVariables {
            #expect(CGIEnvironment.computedVariableName(field) == variable)
            #expect(CGIEnvironment.variableName(field.lowercased()) == variable)
            #expect(CGIEnvironment.variableName(field.uppercased()) == variable)
        }
        #expect(CGIEnvironment.variableName("X-Custom-9") == "HTTP_X_CUSTOM_9")
        #expect(CGIEnvironment.variableName("Hosts") == "HTTP_HOSTS")
        #expect(CGIEnvironment.variableName("accept-ENCODING") == "HTTP_ACCEPT_ENCODING")
    }

    @Test func sortedAndStable() {
        let entries = CGIEnvironment.build(request: Self.request(), route: CGIRoute(root: "/srv/cgi"), script: Self.script)
        #expect(entries == entries.sorted())
    }

    @Test func queryStringIsAlwaysSetAndPathTranslatedOnlyWithPathInfo() {
        var s = Self.script
        s.pathInfo = ""
        let e = Self.env(Self.request("/cgi-bin/app.py"), script: s)
        #expect(e["QUERY_STRING"] == "")
        #expect(e["PATH_INFO"] == "")
        #expect(e["PATH_TRANSLATED"] == nil)
        #expect(e["CONTENT_LENGTH"] == nil)
        #expect(e["AUTH_TYPE"] == nil)
    }

    @Test func chunkedBodyGetsItsDechunkedLength() {
        let e = Self.env(Self.request(method: .POST, headers: ["Transfer-Encoding": "chunked"],
                                      body: Array("hello".utf8), framing: .chunked))
        #expect(e["CONTENT_LENGTH"] == "5")
        #expect(e["HTTP_TRANSFER_ENCODING"] == "chunked")
        // An empty POST with Content-Length: 0 has a body of length 0.
        #expect(Self.env(Self.request(method: .POST, framing: .length(0)))["CONTENT_LENGTH"] == "0")
    }

    @Test func httpoxyUnderscoresAndCredentials() {
        let headers: HeaderFields = ["Proxy": "http://evil:1", "X-A_B": "smuggle", "X-A-B": "real", "Authorization": "Bearer t",
                                     "Content-Length": "0", "Content-Type": "a/b", "X.Dot": "1", "Cookie": "a=1", "cookie": "b=2",
                                     "Accept": "x", "accept": "y"]
        let e = Self.env(Self.request(headers: headers))
        #expect(e["HTTP_PROXY"] == nil)
        #expect(e["HTTP_X_A_B"] == "real")
        #expect(e["HTTP_AUTHORIZATION"] == nil)
        #expect(e["AUTH_TYPE"] == "Bearer")
        #expect(e["HTTP_CONTENT_LENGTH"] == nil)
        #expect(e["HTTP_CONTENT_TYPE"] == nil)
        #expect(e.keys.allSatisfy { !$0.contains(".") })
        #expect(e["HTTP_COOKIE"] == "a=1; b=2")
        #expect(e["HTTP_ACCEPT"] == "x, y")
        let opted = Self.env(Self.request(headers: headers), route: CGIRoute(root: "/srv/cgi", passAuthorization: true))
        #expect(opted["HTTP_AUTHORIZATION"] == "Bearer t")
        #expect(opted["HTTP_PROXY"] == nil)
    }

    /// Proxy-Authorization carries credentials for a proxy on the way, never for the script: it is
    /// withheld like Authorization, and `pass_authorization` does not pass it either.
    @Test func proxyAuthorizationIsNeverPassed() {
        let headers: HeaderFields = ["Proxy-Authorization": "Basic cHJveHk6c2VjcmV0", "proxy-authorization": "Basic again",
                                     "Authorization": "Bearer t", "X-Other": "kept"]
        for passAuthorization in [false, true] {
            let e = Self.env(Self.request(headers: headers), route: CGIRoute(root: "/srv/cgi", passAuthorization: passAuthorization))
            #expect(e["HTTP_PROXY_AUTHORIZATION"] == nil)
            #expect(!e.values.contains { $0.contains("cHJveHk6c2VjcmV0") || $0.contains("again") })
            #expect(e["HTTP_X_OTHER"] == "kept")
            #expect(e["HTTP_AUTHORIZATION"] == (passAuthorization ? "Bearer t" : nil))
        }
    }

    @Test func repeatedFieldsTLSAndRemoteUserGiveTheSameBlock() {
        var headers: HeaderFields = ["Host": "h", "Cookie": "a=1", "X-Two": "1", "Accept": "*/*", "x-two": "2",
                                     "cookie": "b=2", "X_Under": "no", "Authorization": "Basic dTpw"]
        for i in 0..<70 { headers.add("X-Many-\(i)", "v\(i)") }   // past the 64 fields of the bit set
        var r = Self.request(headers: headers)
        r.isTLS = true
        let e = Self.env(r, route: CGIRoute(root: "/srv/cgi", env: ["A": "1", "HTTP_HOST": "forged", "PATH": "p\0q"]))
        #expect(e["HTTP_COOKIE"] == "a=1; b=2")
        #expect(e["HTTP_X_TWO"] == "1, 2")
        #expect(e["HTTP_X_MANY_69"] == "v69")
        #expect(e["HTTP_HOST"] == "h")
        #expect(e["PATH"] == CGIEnvironment.defaultPath)   // a PATH holding NUL is dropped, as before
        #expect(e["HTTPS"] == "on")
        r.remoteUser = "u"
        #expect(Self.env(r)["REMOTE_USER"] == "u")
    }

    @Test("the first 64 fields are marked in a bit set, the rest in an array: 63, 64 and 65 fields, a repeat across the edge",
          arguments: [63, 64, 65])
    func fieldsAtTheBitSetsEdge(count: Int) {
        var headers: HeaderFields = [:]
        for i in 0..<(count - 1) { headers.add("X-F\(i)", "v\(i)") }
        headers.add("x-f0", "again")                      // the last field repeats the first
        let e = Self.env(Self.request(headers: headers))
        #expect(e["HTTP_X_F0"] == "v0, again")
        #expect(e["HTTP_X_F\(count - 2)"] == "v\(count - 2)")
        #expect(e.keys.filter { $0.hasPrefix("HTTP_X_F") }.count == count - 1)
    }

    @Test("the block: values cut at NUL, names found whole, pointers for execve")
    func environmentBlock() {
        var b = CGIEnvironmentBlock(capacity: 4)
        b.add("AB", "1")
        b.add(static: "A", "x\0INJECTED=1")
        b.add("EMPTY", "")
        #expect(b.count == 3)
        #expect(b.entries == ["AB=1", "A=x", "EMPTY="])
        #expect(b.contains(name: "A") && b.contains(name: "AB") && b.contains(name: "EMPTY"))
        #expect(!b.contains(name: "B") && !b.contains(name: "ABC") && !b.contains(name: "INJECTED") && !b.contains(name: ""))
        let viaPointers: [String] = b.withEntryPointers { envp in
            var out: [String] = []
            var i = 0
            while let p = envp[i] { out.append(String(cString: p)); i += 1 }
            return out
        }
        #expect(viaPointers == ["AB=1", "A=x", "EMPTY="])
        #expect(CGIEnvironmentBlock(["K=v", "N=a\0b"]).entries == ["K=v", "N=a"])
        #expect(CGIEnvironmentBlock().withEntryPointers { $0[0] == nil })
    }

    @Test func routeEnvCannotForgeMetaVariablesButMaySetPath() {
        let route = CGIRoute(root: "/srv/cgi", env: ["APP_MODE": "prod", "PATH": "/opt/bin", "REMOTE_ADDR": "1.2.3.4",
                                                      "BAD-NAME": "x", "1X": "y"])
        let e = Self.env(Self.request(), route: route)
        #expect(e["APP_MODE"] == "prod")
        #expect(e["PATH"] == "/opt/bin")
        #expect(e["REMOTE_ADDR"] == "10.0.0.7")
        #expect(e["BAD-NAME"] == nil)
        #expect(e["1X"] == nil)
    }
}

/// Script resolution and the handler's decisions, on a real temp directory.
@Suite("CGI handler")
struct CGIHandlerTests {
    static func fixture() throws -> String {
        let root = NSTemporaryDirectory() + "/flaks-cgih-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/sub/deeper", withIntermediateDirectories: true)
        for (name, mode) in [("run.sh", 0o755), ("sub/tool", 0o700), ("plain.txt", 0o644), ("app.PY", 0o644), (".secret", 0o755)] {
            try "#!/bin/sh\n".write(toFile: root + "/" + name, atomically: true, encoding: .utf8)
            chmod(root + "/" + name, mode_t(mode))
        }
        mkfifo(root + "/fifo", 0o644)
        symlink("/etc/passwd", root + "/out")
        symlink("/etc", root + "/outdir")
        symlink(root + "/run.sh", root + "/abslink")
        symlink("sub/tool", root + "/rellink")
        symlink("../" + (root as NSString).lastPathComponent + "/run.sh", root + "/dotdotlink")
        return root
    }

    @Test("SCRIPT_NAME: the path up to the remainder, cut as bytes, or the mount when the path does not end in it")
    func scriptNames() {
        let h = CGIHandler(route: CGIRoute(root: "/srv"))
        func request(_ path: String, mount: String, remainder: String) -> Request {
            Request(head: RequestHead(method: .GET, target: path, version: .http1_1, headers: ["Host": "h"]),
                    path: path, routePath: mount, remainder: remainder)
        }
        #expect(h.scriptName(request("/cgi-bin/run.sh/x", mount: "/cgi-bin/", remainder: "run.sh/x"), relativePath: "run.sh") == "/cgi-bin/run.sh")
        #expect(h.scriptName(request("/cgi-bin", mount: "/cgi-bin", remainder: ""), relativePath: "run.sh") == "/cgi-bin/run.sh")
        #expect(h.scriptName(request("/é/ü.sh", mount: "/é/", remainder: "ü.sh"), relativePath: "ü.sh") == "/é/ü.sh")
        // e + U+0301 is canonically "é" but other bytes: no byte suffix, so the mount is used.
        #expect(h.scriptName(request("/a/e\u{301}", mount: "/a/", remainder: "\u{E9}"), relativePath: "x") == "/a/x")
        #expect(h.scriptName(request("/x", mount: "/m", remainder: "longer than the path"), relativePath: "s") == "/m/s")
        #expect(h.scriptName(request("/run.sh", mount: "/", remainder: "run.sh"), relativePath: "run.sh") == "/run.sh")
    }

    @Test func locate() throws {
        let root = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        func found(_ rel: String, _ info: String) -> CGIScriptLocator.Lookup {
            .found(.init(relativePath: rel, pathInfo: info, isExecutable: true))
        }
        #expect(CGIScriptLocator.locate(remainder: "run.sh", root: root) == found("run.sh", ""))
        #expect(CGIScriptLocator.locate(remainder: "run.sh/", root: root) == found("run.sh", "/"))
        #expect(CGIScriptLocator.locate(remainder: "run.sh/a/b", root: root) == found("run.sh", "/a/b"))
        #expect(CGIScriptLocator.locate(remainder: "sub/tool/x", root: root) == found("sub/tool", "/x"))
        #expect(CGIScriptLocator.locate(remainder: "plain.txt", root: root)
                == .found(.init(relativePath: "plain.txt", pathInfo: "", isExecutable: false)))
        #expect(CGIScriptLocator.locate(remainder: "", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "sub", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "sub/", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "sub/deeper", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "fifo", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "nope", root: root) == .notFound)
        #expect(CGIScriptLocator.locate(remainder: "sub/nope/x", root: root) == .notFound)
        #expect(CGIScriptLocator.locate(remainder: ".secret", root: root) == .notFound)
        #expect(CGIScriptLocator.locate(remainder: "../etc/passwd", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "sub/../run.sh", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "run.sh\0", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "/run.sh", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "..", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "sub/.", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "run.sh/x/../y", root: root) == .forbidden)   // even in PATH_INFO
        #expect(CGIScriptLocator.locate(remainder: "sub//tool", root: root) == .notFound)
        #expect(CGIScriptLocator.locate(remainder: "sub/.hidden/x", root: root) == .notFound)
        #expect(CGIScriptLocator.locate(remainder: "run.sh/.x", root: root) == found("run.sh", "/.x"))
        #expect(CGIScriptLocator.locate(remainder: "sub/tool//", root: root) == found("sub/tool", "//"))
        #expect(CGIScriptLocator.locate(remainder: "out", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "outdir/passwd", root: root) == .forbidden)
        #expect(CGIScriptLocator.locate(remainder: "run.sh", root: root + "/missing") == .notFound)
        // Symlinks that resolve inside the root are fine, however they are written.
        #expect(CGIScriptLocator.locate(remainder: "abslink/i", root: root) == found("abslink", "/i"))
        #expect(CGIScriptLocator.locate(remainder: "rellink", root: root) == found("rellink", ""))
        #expect(CGIScriptLocator.locate(remainder: "dotdotlink", root: root) == found("dotdotlink", ""))
    }

    @Test func invocation() throws {
        let root = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let h = CGIHandler(route: CGIRoute(root: root + "/", interpreters: [".py": "/usr/bin/python3"]),
                           settings: CGISettings(timeout: .seconds(3), maxProcesses: 2))
        let req = CGIEnvironmentTests.request("/cgi-bin/run.sh/x?q")
        guard case .success(let inv) = h.prepare(req) else { Issue.record("no invocation"); return }
        #expect(inv.executable == root + "/run.sh")
        #expect(inv.arguments == [root + "/run.sh"])
        #expect(inv.workingDirectory == root)
        #expect(inv.settings.maxProcesses == 2)
        #expect(inv.environment.contains("SCRIPT_NAME=/cgi-bin/run.sh"))
        #expect(inv.environment.contains("PATH_INFO=/x"))
        // Interpreter by extension (case-insensitive fallback), not executable itself.
        guard case .success(let py) = h.prepare(CGIEnvironmentTests.request("/cgi-bin/app.PY")) else { Issue.record("no py"); return }
        #expect(py.arguments == ["/usr/bin/python3", root + "/app.PY"])
        func status(_ target: String) -> Int? {
            if case .failure(let e) = h.prepare(CGIEnvironmentTests.request(target)) { return e.status.code }
            return nil
        }
        #expect(status("/cgi-bin/plain.txt") == 403)
        #expect(status("/cgi-bin/nope") == 404)
        guard case .response(let r) = h.handle(CGIEnvironmentTests.request("/cgi-bin/sub")) else { Issue.record("ran a dir"); return }
        #expect(r.status == .forbidden)
    }

    /// An interpreter set in code as a bare name is refused: posix_spawn would resolve it against
    /// the script's directory (the child's cwd), where a file of that name could run instead.
    @Test func aRelativeInterpreterIsRefusedNotRunFromTheScriptDirectory() throws {
        let root = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for program in ["python3", "./python3", "bin/python3"] {
            let h = CGIHandler(route: CGIRoute(root: root, interpreters: [".py": program]))
            guard case .failure(let e) = h.prepare(CGIEnvironmentTests.request("/cgi-bin/app.PY")) else {
                Issue.record("\(program) was accepted"); continue
            }
            #expect(e.status == .internalServerError)
            #expect(e.message == nil)
        }
    }
}
