#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import Foundation
import Testing

/// Runs the real `flaks` executable (built next to the test bundle) in a temp directory.
/// `errText` is protected by `lock`; everything else is set up before the reader starts.
final class FlaksProcess: @unchecked Sendable {
    let process = Process()
    let dir: URL
    let manifest: URL
    private let errPipe = Pipe()
    private let lock = NSLock()
    private var errText = ""
    private(set) var port = 0

    static var executable: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("flaks")
    }

    var pidFile: String { dir.appendingPathComponent("flaks.pid").path }

    init(manifest yaml: String, extraFiles: [String: String] = [:], args: [String] = [],
         fdLimit: Int? = nil, prepare: ((URL) throws -> URL)? = nil) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("flaks-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if let prepare {
            manifest = try prepare(dir)
        } else {
            manifest = dir.appendingPathComponent("config.yaml")
            try yaml.write(to: manifest, atomically: true, encoding: .utf8)
        }
        for (name, text) in extraFiles {
            let url = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        guard FileManager.default.isExecutableFile(atPath: Self.executable.path) else {
            throw TestClient.Failure(description: "flaks executable not found at \(Self.executable.path): run `swift build` first")
        }
        let serveArgs = ["serve", "--config", manifest.path, "--pid-file", dir.appendingPathComponent("flaks.pid").path] + args
        if let fdLimit {
            // A shell lowers the descriptor limit, then becomes flaks (exec keeps the pid).
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(fdLimit) && exec \"$0\" \"$@\"", Self.executable.path] + serveArgs
        } else {
            process.executableURL = Self.executable
            process.arguments = serveArgs
        }
        process.currentDirectoryURL = dir
        process.standardError = errPipe
        process.standardOutput = FileHandle.nullDevice
        errPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock(); self.errText += String(decoding: d, as: UTF8.self); self.lock.unlock()
        }
        try process.run()
        let line = try waitForLog("listening on")
        guard let r = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let p = Int(line[r].split(separator: ":").last ?? "") else {
            throw TestClient.Failure(description: "no port in: \(line)")
        }
        port = p
    }

    var stderrText: String { lock.lock(); defer { lock.unlock() }; return errText }

    /// Waits (bounded) until the error log contains `needle` (counting from `after` characters), returning that line.
    @discardableResult
    func waitForLog(_ needle: String, after: Int = 0, seconds: Double = 10) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let text = stderrText
            if text.count > after {
                let tail = String(text.dropFirst(after))
                if let line = tail.split(separator: "\n").first(where: { $0.contains(needle) }) { return String(line) }
            }
            if !process.isRunning { break }
            usleep(20_000)
        }
        throw TestClient.Failure(description: "log never said '\(needle)'; log:\n\(stderrText)")
    }

    func rewrite(_ yaml: String) throws { try yaml.write(to: manifest, atomically: true, encoding: .utf8) }
    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits (bounded) for exit; returns the status or nil when still running.
    func waitForExit(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }
}

/// Runs `flaks ARGS` to completion (bounded), returning exit status, stdout and stderr.
func runFlaks(_ args: [String], seconds: Double = 20) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = FlaksProcess.executable
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let deadline = Date().addingTimeInterval(seconds)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (p.terminationStatus, o, e)
}

/// Polls (bounded) until `GET path` on `host` answers `text`.
func eventually(port: Int, _ path: String, host: String = "localhost", is text: String, seconds: Double = 5) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let r = try? TestClient.get(port: port, path, host: host), r.status == 200, r.text == text { return true }
        usleep(50_000)
    }
    return false
}

func manifest(_ routes: String, listen: String = "127.0.0.1:0") -> String {
    """
    server: {listen: ["\(listen)"], loops: 1, threads: 2, drain_timeout: 3s}
    log: {access: off, level: info}
    hosts:
      - names: ["*"]
        routes:
    \(routes)
    """
}

@Suite("The flaks executable: SIGHUP reload, SIGTERM drain", .serialized, .timeLimit(.minutes(1)))
struct ProcessTests {
    @Test func sighupServesTheNewHostAndABrokenManifestKeepsTheOld() throws {
        let p = try FlaksProcess(manifest: manifest("""
              - path: /a
                respond: "A"
        """))
        #expect(try TestClient.get(port: p.port, "/a").text == "A")
        #expect(try TestClient.get(port: p.port, "/b", host: "new.test").status == 404)

        var mark = p.stderrText.count
        try p.rewrite(manifest("""
              - path: /a
                respond: "A"
          - names: ["new.test"]
            routes:
              - path: /b
                respond: "B"
        """))
        p.signal(SIGHUP)
        let line = try p.waitForLog("generation 2", after: mark)
        #expect(line.contains("reloaded"))
        #expect(try TestClient.get(port: p.port, "/b", host: "new.test").text == "B")

        mark = p.stderrText.count
        try p.rewrite("hosts:\n  - names: [\"*\"]\n    routes:\n      - path: /a\n        respond: \"A\"\n        static: /nonexistent\n")
        p.signal(SIGHUP)
        let failure = try p.waitForLog("reload failed", after: mark)
        #expect(failure.contains("generation 2"))
        #expect(p.stderrText.contains("config.yaml:"))
        #expect(p.process.isRunning)
        #expect(try TestClient.get(port: p.port, "/b", host: "new.test").text == "B")
    }

    @Test func sigtermDrainsAndExitsZero() throws {
        let p = try FlaksProcess(manifest: manifest("""
              - path: /a
                respond: "A"
        """))
        let idle = try TestClient(port: p.port)
        try idle.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try idle.readResponse().text == "A")
        p.signal(SIGTERM)
        #expect(p.waitForExit(seconds: 5) == 0)
        #expect(idle.isClosedByPeer())
    }

    @Test func invalidManifestRefusesToStart() throws {
        #expect(throws: (any Error).self) {
            _ = try FlaksProcess(manifest: "server: {listen: [\"nonsense\"]}\nhosts: []\n")
        }
    }

    @Test func watchReloadsOnRenameOnSave() throws {
        let p = try FlaksProcess(manifest: manifest("""
              - path: /a
                respond: "v1"
        """), args: ["--watch"])
        #expect(try TestClient.get(port: p.port, "/a").text == "v1")
        let tmp = p.dir.appendingPathComponent(".config.yaml.swp")
        try manifest("""
              - path: /a
                respond: "v2"
        """).write(to: tmp, atomically: false, encoding: .utf8)
        #expect(rename(tmp.path, p.manifest.path) == 0)
        #expect(eventually(port: p.port, "/a", is: "v2"))
    }

    @Test func watchReloadsOnAKubernetesStyleSymlinkSwap() throws {
        func version(_ dir: URL, _ name: String, _ body: String) throws {
            let d = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try manifest("""
                  - path: /a
                    respond: "\(body)"
            """).write(to: d.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        }
        let p = try FlaksProcess(manifest: "", args: ["--watch"]) { dir in
            try version(dir, "..2026_11_29_a", "k1")
            try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("..data").path, withDestinationPath: "..2026_11_29_a")
            try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("config.yaml").path, withDestinationPath: "..data/config.yaml")
            return dir.appendingPathComponent("config.yaml")
        }
        #expect(try TestClient.get(port: p.port, "/a").text == "k1")
        try version(p.dir, "..2026_11_29_b", "k2")
        try FileManager.default.createSymbolicLink(atPath: p.dir.appendingPathComponent("..data_tmp").path, withDestinationPath: "..2026_11_29_b")
        #expect(rename(p.dir.appendingPathComponent("..data_tmp").path, p.dir.appendingPathComponent("..data").path) == 0)
        #expect(eventually(port: p.port, "/a", is: "k2"))
    }

    @Test func reloadCommandPrintsTheGenerationOrTheErrors() throws {
        let p = try FlaksProcess(manifest: manifest("""
              - path: /a
                respond: "A"
        """))
        try p.rewrite(manifest("""
              - path: /a
                respond: "B"
        """))
        let ok = try runFlaks(["reload", "--pid-file", p.pidFile])
        #expect(ok.status == 0)
        #expect(ok.out.contains("generation 2"))
        #expect(try TestClient.get(port: p.port, "/a").text == "B")
        try p.rewrite("hosts:\n  - names: [\"*\"]\n    routes:\n      - path: /a\n        respnd: \"x\"\n")
        let bad = try runFlaks(["reload", "--pid-file", p.pidFile])
        #expect(bad.status == 1)
        #expect(bad.err.contains("config.yaml:5:9"))
        #expect(bad.err.contains("respond"))
        #expect(try TestClient.get(port: p.port, "/a").text == "B")
    }

    @Test func probeExitCodes() throws {
        let p = try FlaksProcess(manifest: manifest("""
              - path: /healthz
                handler: health
        """))
        #expect(try runFlaks(["probe", "http://127.0.0.1:\(p.port)/healthz"]).status == 0)
        #expect(try runFlaks(["probe", "http://127.0.0.1:\(p.port)/missing"]).status == 1)
        p.signal(SIGTERM)
        _ = p.waitForExit(seconds: 5)
        #expect(try runFlaks(["probe", "--timeout", "1", "http://127.0.0.1:\(p.port)/healthz"]).status == 1)
    }

    @Test func checkPrintsTheTreeOrTheErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flaks-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.yaml")
        try manifest("""
              - path: /old
                redirect: /new
              - path: /u/<int:id>
                respond: "user"
        """).write(to: good, atomically: true, encoding: .utf8)
        let ok = try runFlaks(["check", "--config", good.path])
        #expect(ok.status == 0)
        #expect(ok.out.contains("/old"))
        #expect(ok.out.contains("redirect 301 -> /new"))
        #expect(ok.out.contains("/u/<int:id>"))
        let bad = dir.appendingPathComponent("bad.yaml")
        try "hosts:\n  - names: [\"*\"]\n    routes:\n      - path: /x\n        static: /nonexistent-dir\n        cgi: /also-missing\n".write(to: bad, atomically: true, encoding: .utf8)
        let r = try runFlaks(["check", "--config", bad.path])
        #expect(r.status == 1)
        #expect(r.err.contains("bad.yaml:4:"))
        #expect(r.err.contains("exactly one of"))
    }

    /// `flaks check` on a `services` block: the services are listed with the routes; each problem
    /// the issue names (an unknown key, `instances: 0`, a program not found, a route naming an
    /// unknown service) is one error line with file:line:col and exit 1; a missing script is a
    /// warning and the manifest still checks.
    @Test func checkValidatesServices() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flaks-check-svc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "print('hi')\n".write(to: dir.appendingPathComponent("app.py"), atomically: true, encoding: .utf8)
        let good = dir.appendingPathComponent("good.yaml")
        try """
        services:
          - {name: api, command: [sh, app.py], instances: 2, ready: /healthz}
          - {name: jobs, command: [sh, -c, "exec sleep 1", worker.py], restart: never}
        hosts:
          - names: ["*"]
            routes:
              - {path: /api/, proxy: {service: api, strip_prefix: true}}
        """.write(to: good, atomically: true, encoding: .utf8)
        let ok = try runFlaks(["check", "--config", good.path])
        #expect(ok.status == 0)
        let sh = ok.out.split(separator: "\n").first { $0.hasPrefix("service api: ") }.map { $0.dropFirst("service api: ".count) }
        #expect(sh?.hasSuffix("/sh app.py (cwd \(dir.path)), 2 instances, ready GET /healthz") == true, "\(ok.out)")
        #expect(ok.out.contains("service jobs: "))
        #expect(ok.out.contains("\"exec sleep 1\" worker.py (cwd \(dir.path)), 1 instance, ready when the port accepts, restart never"))
        #expect(ok.out.contains("/api/  proxy service api"))
        #expect(ok.err == "\(good.path):3:52: warning: services[1].command[3]: script \"\(dir.path)/worker.py\" does not exist (relative to cwd \"\(dir.path)\"): the instances would exit at start\n")

        let bad = dir.appendingPathComponent("bad.yaml")
        try """
        services:
          - name: api
            command: [no-such-program-flaks-test, app.py]
            instances: 0
            readyy: /healthz
        hosts:
          - names: ["*"]
            routes:
              - {path: /a/, proxy: {service: apii}}
              - {path: /b/, proxy: {service: web}}
        """.write(to: bad, atomically: true, encoding: .utf8)
        let r = try runFlaks(["check", "--config", bad.path])
        #expect(r.status == 1)
        let lines = r.err.split(separator: "\n").map(String.init).filter { $0.hasPrefix(bad.path + ":") }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        #expect(lines == [
            "\(bad.path):3:15: services[0].command[0]: command not found: \"no-such-program-flaks-test\" is not in PATH (\(path)); give a path or install it",
            "\(bad.path):4:16: services[0].instances: expected an integer >= 1, found \"0\"",
            "\(bad.path):5:5: services[0]: unknown key \"readyy\"; did you mean \"ready\"?",
            "\(bad.path):9:38: hosts[0].routes[0].proxy.service: unknown service \"apii\"; did you mean \"api\"?",
            "\(bad.path):10:38: hosts[0].routes[1].proxy.service: unknown service \"web\"; services: api",
        ], "\(r.err)")
    }

    /// A static root or cgi directory that is "/" or a system directory loads (exit 0), with one
    /// warning line per route on stderr naming file:line:col and the danger; `serve` logs it too.
    @Test func checkWarnsAboutSystemDirectories() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flaks-warn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("root-link").path, withDestinationPath: "/")
        let m = dir.appendingPathComponent("config.yaml")
        try manifest("""
              - path: /files/
                static: root-link
              - path: /cgi-bin/
                cgi: /usr/bin
              - path: /ok
                respond: fine
        """).write(to: m, atomically: true, encoding: .utf8)
        let r = try runFlaks(["check", "--config", m.path])
        #expect(r.status == 0)
        #expect(r.out.contains("\(m.path): ok"))
        let warnings = r.err.split(separator: "\n").filter { $0.contains("warning:") }
        #expect(warnings == [
            "\(m.path):7:17: warning: hosts[0].routes[0].static: static root \"\(dir.path)/root-link\" resolves to \"/\", the file system root: every file the server can read is served to anyone",
            "\(m.path):9:14: warning: hosts[0].routes[1].cgi: cgi directory \"/usr/bin\" is a system directory: any client can run the programs in it",
        ])
        // The same manifest without the dangerous routes: no warning.
        try manifest("""
              - path: /ok
                respond: fine
        """).write(to: m, atomically: true, encoding: .utf8)
        let clean = try runFlaks(["check", "--config", m.path])
        #expect(clean.status == 0)
        #expect(!clean.err.contains("warning"))
    }

    @Test func serveLogsTheLoadersWarnings() throws {
        let p = try FlaksProcess(manifest: manifest("""
              - path: /cgi-bin/
                cgi: /usr/bin
        """))
        let line = try p.waitForLog("warning:")
        #expect(line.contains("config.yaml:7:14: warning: hosts[0].routes[0].cgi: cgi directory \"/usr/bin\" is a system directory"))
        p.signal(SIGTERM)
        #expect(p.waitForExit(seconds: 5) == 0)
    }

    @Test func routeExplainsWhatWouldServeARequest() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flaks-route-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("cgi"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "#!/bin/sh\necho\n".write(to: dir.appendingPathComponent("cgi/run.sh"), atomically: true, encoding: .utf8)
        chmod(dir.appendingPathComponent("cgi/run.sh").path, 0o755)
        let m = dir.appendingPathComponent("config.yaml")
        try """
        hosts:
          - names: ["docs.test"]
            routes:
              - path: /old/
                redirect: https://new.test/
                keep_path: true
                status: 308
          - names: ["*"]
            routes:
              - path: /cgi-bin/
                cgi: cgi
              - path: /u/<int:id>
                respond: "user"
        """.write(to: m, atomically: true, encoding: .utf8)
        let cgi = try runFlaks(["route", "--config", m.path, "GET", "/cgi-bin/run.sh/extra/info?q=1"])
        #expect(cgi.status == 0)
        #expect(cgi.out.contains("CGI script: \(dir.path)/cgi/run.sh") || cgi.out.contains("cgi/run.sh"))
        #expect(cgi.out.contains("PATH_INFO: /extra/info"))
        let redirect = try runFlaks(["route", "--config", m.path, "--host", "docs.test", "GET", "/old/a/b?x=1"])
        #expect(redirect.out.contains("redirect to: https://new.test/a/b?x=1"))
        #expect(redirect.out.contains("308"))
        let pattern = try runFlaks(["route", "--config", m.path, "GET", "http://any.test/u/42"])
        #expect(pattern.out.contains("parameter id = 42"))
        let none = try runFlaks(["route", "--config", m.path, "--host", "docs.test", "GET", "/nothing"])
        #expect(none.status == 1)
        #expect(none.out.contains("404"))
    }

    @Test func idleServerGivesBackMemoryOnceAfterTraffic() throws {
        let p = try FlaksProcess(manifest: """
        server: {listen: ["127.0.0.1:0"], loops: 1, threads: 2, idle_release: 1s}
        log: {access: off, level: info}
        hosts:
          - names: ["*"]
            routes:
              - path: /a
                respond: "A"
        """)
        defer { p.signal(SIGTERM); _ = p.waitForExit(seconds: 5) }
        // Nothing served yet (start-up memory was already given back): no idle release.
        usleep(2_500_000)
        #expect(!p.stderrText.contains("gave back unused memory"))
        #expect(try TestClient.get(port: p.port, "/a").text == "A")
        let line = try p.waitForLog("gave back unused memory")
        #expect(line.contains("idle for 1.0 seconds"))
        #expect(line.contains("KiB ->"))
        // Once per idle spell: no new request, no second release.
        usleep(2_500_000)
        #expect(p.stderrText.components(separatedBy: "gave back unused memory").count == 2)
        #expect(try TestClient.get(port: p.port, "/a").text == "A")
        let mark = p.stderrText.count
        try p.waitForLog("gave back unused memory", after: mark)
    }

    @Test func sigusr1ReopensTheAccessLogFile() throws {
        let p = try FlaksProcess(manifest: """
        server: {listen: ["127.0.0.1:0"], loops: 1, threads: 2}
        log: {access: access.log, format: combined, level: info}
        hosts:
          - names: ["*"]
            routes:
              - path: /a
                respond: "A"
        """)
        let log = p.dir.appendingPathComponent("access.log").path
        _ = try TestClient.get(port: p.port, "/a?before")
        let deadline = Date().addingTimeInterval(5)
        while readLines(log).isEmpty && Date() < deadline { usleep(20_000) }
        #expect(rename(log, log + ".1") == 0)
        let mark = p.stderrText.count
        p.signal(SIGUSR1)
        try p.waitForLog("reopening logs", after: mark)
        usleep(300_000)
        _ = try TestClient.get(port: p.port, "/a?after")
        p.signal(SIGTERM)
        #expect(p.waitForExit(seconds: 5) == 0)
        #expect(readLines(log + ".1").count == 1)
        #expect(readLines(log + ".1").first?.contains("/a?before") == true)
        #expect(readLines(log).count == 1)
        #expect(readLines(log).first?.contains("/a?after") == true)
    }

    @Test func outOfDescriptorsOnAcceptDoesNotSpinAndRecovers() throws {
        let p = try FlaksProcess(manifest: manifest("""
              - path: /a
                respond: "A"
        """), fdLimit: 48)
        var held: [TestClient] = []
        for _ in 0..<80 { if let c = try? TestClient(port: p.port, timeout: 2) { held.append(c) } }
        usleep(300_000)
        // Out of descriptors with connections still arriving: the loop must not busy-loop.
        func cpuTicks() -> Int {
            let stat = (try? String(contentsOfFile: "/proc/\(p.process.processIdentifier)/stat", encoding: .utf8)) ?? ""
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            return fields.count > 13 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : 0
        }
        let before = cpuTicks()
        usleep(1_000_000)
        let used = cpuTicks() - before
        #expect(used < 30, "\(used) ticks of CPU in 1 s while out of descriptors")
        #expect(p.process.isRunning)
        held.removeAll()
        usleep(300_000)
        #expect(eventually(port: p.port, "/a", is: "A"))
        #expect(p.stderrText.contains("refusing a connection") || p.stderrText.contains("Too many open files"))
    }
}
