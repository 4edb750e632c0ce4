#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig
import FlaksHandlers
import FlaksHTTP
@testable import FlaksServer
import FlaksTestSupport
import Foundation
import Logging
import Testing

/// The programs the service tests run, written to a temp directory.
enum ServiceApps {
    /// A Python http.server app. It answers `/healthz` (200, or 503 while NOT_READY_FOR seconds
    /// have not passed since it started, or always with NEVER_READY) and everything else with JSON
    /// about itself (service, instance, PORT, HOST, pid, cwd, MODE, VERSION, `early`: requests
    /// other than /healthz it got before it was ready, `fds`: the descriptors it had at start). `/slow?S` sleeps S seconds first.
    /// SIGTERM and SIGINT are recorded in `signal-PID.txt` in its cwd, then it exits 0 (IGNORE_TERM:
    /// SIGTERM is ignored). START_DELAY: sleeps before listening. EXIT_AT_ONCE=N: exits N at once.
    /// FORK_CHILD: leaves a child in its process group (pid in `child-INSTANCE.pid`). DOUBLE_FORK:
    /// a daemon that leaves the group (fork, setsid, fork; pid in `daemon-INSTANCE.pid`).
    static let python = #"""
    import http.server, json, os, signal, sys, time

    port = int(os.environ["PORT"])
    inst = os.environ.get("FLAKS_INSTANCE")
    name = os.environ.get("FLAKS_SERVICE")
    started = time.time()
    early = 0
    # What it inherited: every descriptor open at start and what it points to.
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass

    def record(sig, frame):
        with open(os.path.join(os.getcwd(), "signal-%d.txt" % os.getpid()), "w") as f:
            f.write(signal.Signals(sig).name)
        os._exit(0)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("IGNORE_TERM") else record)
    signal.signal(signal.SIGINT, record)

    print("hello from %s instance %s" % (name, inst), flush=True)
    print("stderr line from instance %s" % inst, file=sys.stderr, flush=True)

    if "EXIT_AT_ONCE" in os.environ:
        sys.exit(int(os.environ["EXIT_AT_ONCE"]))

    def write_pid(fname):
        tmp = fname + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(os.getpid()))
        os.rename(tmp, fname)

    if os.environ.get("FORK_CHILD"):
        if os.fork() == 0:
            write_pid("child-%s.pid" % inst)
            time.sleep(600)
            os._exit(0)

    if os.environ.get("DOUBLE_FORK"):
        middle = os.fork()
        if middle == 0:
            os.setsid()
            if os.fork() == 0:
                devnull = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                write_pid("daemon-%s.pid" % inst)
                time.sleep(600)
            os._exit(0)
        os.waitpid(middle, 0)

    time.sleep(float(os.environ.get("START_DELAY", "0")))

    def is_ready():
        if os.environ.get("NEVER_READY"):
            return False
        return time.time() - started >= float(os.environ.get("NOT_READY_FOR", "0"))

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            global early
            if self.path == "/healthz":
                code, body = (200, b"ok") if is_ready() else (503, b"not yet")
            else:
                if not is_ready():
                    early += 1
                if self.path.startswith("/slow"):
                    time.sleep(float(self.path.split("?")[1]) if "?" in self.path else 1)
                code = 200
                body = json.dumps({"service": name, "instance": inst, "port": os.environ.get("PORT"),
                                   "host": os.environ.get("HOST"), "pid": os.getpid(), "cwd": os.getcwd(),
                                   "mode": os.environ.get("MODE"), "version": os.environ.get("VERSION"),
                                   "early": early, "fds": fds}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
    """#

    /// A Node app answering JSON about itself (instance, PORT, HOST, pid, cwd, GREETING).
    static let node = #"""
    const http = require('http');
    const port = Number(process.env.PORT);
    process.on('SIGTERM', () => process.exit(0));
    console.log(`node instance ${process.env.FLAKS_INSTANCE} up`);
    http.createServer((req, res) => {
      const body = JSON.stringify({service: process.env.FLAKS_SERVICE, instance: process.env.FLAKS_INSTANCE,
        port: process.env.PORT, host: process.env.HOST, pid: process.pid, cwd: process.cwd(),
        greeting: process.env.GREETING});
      res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
      res.end(body);
    }).listen(port, '127.0.0.1');
    """#

    /// The Python interpreter itself (not a pyenv shim, which would start a shell first).
    static let pythonExecutable: String = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sys; print(sys.executable)"]
        let out = Pipe()
        p.standardOutput = out
        do { try p.run() } catch { return "/usr/bin/python3" }
        p.waitUntilExit()
        let path = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return path.isEmpty ? "/usr/bin/python3" : path
    }()

    static let nodeExecutable: String = ["/usr/bin/node", "/usr/local/bin/node"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    } ?? "/usr/bin/node"
}

/// A temp directory with the apps in `app/` (the services' cwd); removed at deinit.
final class ServiceFixture: @unchecked Sendable {  // set up once, then only read
    let dir: URL
    var appDir: String { dir.appendingPathComponent("app").path }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("flaks-svc-\(UUID().uuidString)")
        let app = dir.appendingPathComponent("app")
        try FileManager.default.createDirectory(at: app, withIntermediateDirectories: true)
        try ServiceApps.python.write(to: app.appendingPathComponent("app.py"), atomically: true, encoding: .utf8)
        try ServiceApps.node.write(to: app.appendingPathComponent("app.js"), atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    /// A Python service running app.py in `app/`.
    func python(_ name: String, instances: Int = 1, env: [String: String] = [:], ready: String? = "/healthz",
                readyTimeout: Duration = .seconds(10), restart: ServiceConfig.Restart = .always,
                stopSignal: ServiceConfig.StopSignal = .term, stopTimeout: Duration = .seconds(5),
                log: String? = nil) -> ServiceConfig {
        ServiceConfig(name: name, command: ["python3", "app.py"], executable: ServiceApps.pythonExecutable, cwd: appDir,
                      env: env, instances: instances, ready: ready, readyTimeout: readyTimeout, restart: restart,
                      stopSignal: stopSignal, stopTimeout: stopTimeout, log: log)
    }

    /// A Node service running app.js in `app/`.
    func node(_ name: String, instances: Int = 1, env: [String: String] = [:]) -> ServiceConfig {
        ServiceConfig(name: name, command: ["node", "app.js"], executable: ServiceApps.nodeExecutable, cwd: appDir,
                      env: env, instances: instances)
    }

    /// The content of `name` in `app/`, if it exists.
    func read(_ name: String) -> String? {
        try? String(contentsOfFile: dir.appendingPathComponent("app").appendingPathComponent(name).path, encoding: .utf8)
    }

    /// Waits (bounded) until `app/name` exists with content.
    func waitFor(_ name: String, seconds: Double = 10) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let s = read(name), !s.isEmpty { return s }
            usleep(20_000)
        }
        return nil
    }
}

/// The error log of a test server, line by line.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    func contains(_ needle: String) -> Bool { all.contains { $0.contains(needle) } }

    /// Waits (bounded) until a line contains `needle`.
    func waitFor(_ needle: String, seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if contains(needle) { return true }
            usleep(20_000)
        }
        return false
    }

    var logger: Logger {
        var l = Logger(label: "flaks-services-test") { _ in CapturingLogHandler(capture: self) }
        l.logLevel = .info
        return l
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        capture.append("\(event.level) \(event.message)")
    }
}

/// A stand-in for the reverse proxy until it lands: `GET /NAME/rest` is sent to a ready instance of
/// service NAME as `GET /rest` over a blocking socket, on a worker thread. With no ready instance
/// it waits through the directory (bounded by the service's ready_timeout), then answers 503 with
/// Retry-After. The instance's answer comes back with `X-Instance-Pid`.
final class ServiceForwarder: Handler, @unchecked Sendable {
    // set once after the server is made, read by workers afterwards; protected by its lock.
    // Weak: the server holds this handler (its registry).
    private struct WeakServer { weak var server: Server? }
    private let box = Locked(WeakServer())
    private var server: Server? { box.withLock { $0.server } }

    func attach(_ s: Server) { box.withLock { $0.server = s } }

    func handle(_ request: Request) -> HandlerOutcome {
        .blocking { [self] in forward(request.head.target) }
    }

    func forward(_ target: String) -> FlaksHandlers.Response {
        guard let directory = server?.serviceDirectory else { return .text("no server\n", status: .internalServerError) }
        let trimmed = target.dropFirst()
        let name = String(trimmed.prefix { $0 != "/" && $0 != "?" })
        var rest = String(trimmed.dropFirst(name.count))
        if !rest.hasPrefix("/") { rest = "/" + rest }
        var endpoint = directory.acquire(name)
        if endpoint == nil {
            let done = DispatchSemaphore(value: 0)
            let result = Locked<ServiceDirectory.WaitResult?>(nil)
            switch directory.waitForReady(name, notify: { r in result.withLock { $0 = r }; done.signal() }) {
            case .readyNow: break
            case .unavailable: return unavailable(directory, name)
            case .waiting(let token):
                if done.wait(timeout: .now() + 60) == .timedOut { directory.cancelWait(token) }
                guard result.withLock({ $0 }) == .ready else { return unavailable(directory, name) }
            }
            endpoint = directory.acquire(name)
        }
        guard let endpoint else { return unavailable(directory, name) }
        defer { endpoint.release() }
        do {
            let c = try TestClient(port: endpoint.port, timeout: 30)
            try c.send("GET \(rest) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            let r = try c.readResponse()
            var out = FlaksHandlers.Response(status: HTTPStatus(r.status), body: .bytes(r.body))
            out.headers.set("Content-Type", r.header("Content-Type") ?? "application/octet-stream")
            out.headers.set("X-Instance-Pid", String(endpoint.pid))
            return out
        } catch {
            return .text("upstream \(endpoint): \(error)\n", status: .badGateway)
        }
    }

    private func unavailable(_ directory: ServiceDirectory, _ name: String) -> FlaksHandlers.Response {
        var r = FlaksHandlers.Response.text("no ready instance of \(name)\n", status: .serviceUnavailable)
        r.headers.set("Retry-After", String(directory.retryAfter(of: name)))
        return r
    }
}

/// Starts a server with `services` and the forwarder mounted at `/`, the status and metrics
/// handlers at `/_status` and `/_metrics`; runs `body`; always shuts down (which stops the services).
func withServiceServer<T>(_ services: [ServiceConfig], threads: Int = 8, log: LogCapture = LogCapture(),
                          _ body: (Server, Int, LogCapture) async throws -> T) async throws -> T {
    var registry = HandlerRegistry()
    let forwarder = ServiceForwarder()
    registry.register("forward", forwarder)
    let server = try Server(config: serviceConfig(services, threads: threads), registry: registry, logger: log.logger)
    forwarder.attach(server)
    return try await withStarted(server) { s, port in try await body(s, port, log) }
}

/// The manifest the service tests serve (reloads change `services` only).
func serviceConfig(_ services: [ServiceConfig], threads: Int = 8) -> ServerConfig {
    // Each service behind the real proxy (`proxy: {service: NAME}`, strip_prefix); the forwarder
    // only answers for names no route mounts.
    var routes = [Route(path: "/_status", kind: .handler("status")),
                  Route(path: "/_metrics", kind: .handler("metrics")),
                  Route(path: "/", kind: .handler("forward"))]
    for s in services {
        routes.append(Route(path: "/\(s.name)/", kind: .proxy(ProxyRoute(upstreams: .service(s.name), stripPrefix: true))))
    }
    var cfg = config(routes)
    cfg.services = services
    cfg.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
    cfg.server.loops = 2
    cfg.server.threads = threads
    cfg.server.drainTimeout = .seconds(5)
    cfg.log.access = .off
    return cfg
}

/// The JSON an app answered.
struct AppAnswer: Decodable, Equatable {
    var service: String?
    var instance: String?
    var port: String?
    var host: String?
    var pid: Int
    var cwd: String
    var mode: String?
    var version: String?
    var early: Int?
    var greeting: String?
    var fds: [String: String]?
}

func decode(_ r: TestClient.Response) -> AppAnswer? {
    try? JSONDecoder().decode(AppAnswer.self, from: Data(r.body))
}

/// Polls (bounded) until `condition` holds.
/// Polls `condition` (every 20 ms, up to `seconds`) without holding a thread of the cooperative
/// pool: the tests run in parallel on it, and a blocking wait here starved another test's tasks
/// (a streamed view body under ThreadSanitizer took minutes).
func eventually(seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// `eventually` for a synchronous test.
func eventuallyBlocking(seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// Whether `pid` is a live process (not gone, not a zombie).
func isRunning(_ pid: Int32) -> Bool {
    guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

/// Whether /proc still lists `pid` (running or a zombie nobody reaped).
func exists(_ pid: Int32) -> Bool { FileManager.default.fileExists(atPath: "/proc/\(pid)") }

/// The parent of `pid`, from /proc.
func parentPid(_ pid: Int32) -> Int32? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("PPid:") {
        return Int32(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
    }
    return nil
}

extension Server {
    /// The status of service `name`.
    func service(_ name: String) -> ServiceStatus? { serviceStatus.first { $0.name == name } }

    /// The pids of `name`'s ready instances.
    func readyPids(_ name: String) -> [Int32] {
        (service(name)?.instances ?? []).filter { $0.state == "ready" }.compactMap(\.pid)
    }
}
