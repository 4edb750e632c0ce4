import FlaksTestSupport
import FlaksConfig
import FlaksHandlers
import FlaksServer
import Foundation
import Logging

/// Starts a real server on 127.0.0.1:0 with `config`, runs `body` with its port, and always shuts down.
func withTestServer<T>(_ config: ServerConfig, registry: HandlerRegistry = HandlerRegistry(),
                       keepAccessLog: Bool = false,
                       _ body: (Server, Int) async throws -> T) async throws -> T {
    var config = config
    config.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
    if config.server.loops == nil { config.server.loops = 2 }
    if !keepAccessLog { config.log.access = .off }
    var logger = Logger(label: "flaks-test")
    logger.logLevel = .warning
    return try await withStarted(try Server(config: config, registry: registry, logger: logger), body)
}

/// A started server for tests that work on its loop directly: `config` on 127.0.0.1:0, one loop,
/// no access log, logging only critical lines. The caller shuts it down and waits.
func startedOneLoopServer(_ config: ServerConfig) throws -> Server {
    let server = try Server(config: oneLoopTestConfig(config), logger: testLogger())
    try server.start()
    return server
}

/// A config with one default host and the given routes.
func config(_ routes: [Route], limits: Limits = Limits(), hosts extra: [HostConfig] = []) -> ServerConfig {
    ServerConfig(limits: limits, hosts: extra + [HostConfig(names: ["*"], routes: routes)])
}

/// A server with one `static:` route over `fx.root` for every host, and `body` given a client that
/// has sent `GET path` on it.
func withStaticClient(_ fx: StaticFixture, get path: String, _ body: (TestClient) throws -> Void) async throws {
    let route = Route(path: "/", kind: .staticFiles(StaticRoute(root: fx.root)))
    try await withTestServer(config([route])) { (_: Server, port: Int) async throws in
        let c = try TestClient(port: port)
        try c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        try body(c)
    }
}

/// A `respond:` route.
func respond(_ path: String, _ body: String, status: Int = 200) -> Route {
    Route(path: path, kind: .respond(RespondRoute(body: body, status: status)))
}

/// A handler that sleeps on a worker thread, then answers.
struct SleepingHandler: Handler {
    let seconds: Double
    func handle(_ request: Request) -> HandlerOutcome {
        .blocking {
            usleep(UInt32(seconds * 1_000_000))
            return .text("slept\n")
        }
    }
}

/// A handler that echoes the request body and a few facts.
struct EchoHandler: Handler {
    func handle(_ request: Request) -> HandlerOutcome {
        var r = Response(status: .ok, headers: ["Content-Type": "application/octet-stream"], body: .bytes(request.body))
        r.headers.add("X-Method", request.method.rawValue)
        r.headers.add("X-Path", request.path)
        r.headers.add("X-Body-Length", String(request.body.count))
        return .response(r)
    }
}

/// A handler that blocks its worker until the test opens the gate, and tells when it was entered:
/// makes "a request in flight during X" deterministic instead of timed.
final class GateHandler: Handler, @unchecked Sendable {
    // Both semaphores are thread-safe.
    let entered = DispatchSemaphore(value: 0)
    let gate = DispatchSemaphore(value: 0)
    let reply: String
    init(reply: String = "done") { self.reply = reply }
    func handle(_ request: Request) -> HandlerOutcome {
        .blocking { [self] in
            entered.signal()
            _ = gate.wait(timeout: .now() + 20)
            return .text(reply)
        }
    }
    /// Waits (bounded) until a request is inside the handler.
    func waitEntered() -> Bool { entered.wait(timeout: .now() + 10) == .success }
    func open() { gate.signal() }
}

/// Waits (bounded, 10 s) until the server has counted `n` finished requests. A request is counted
/// when its last byte is written, which can be just after the client has read it and, with two
/// loops, after the next connection is already being served elsewhere: never sleep for it.
func waitForCountedRequests(_ server: Server, _ n: Int) async throws {
    for _ in 0..<1000 where server.metrics().totalRequests < n {
        try await Task.sleep(for: .milliseconds(10))
    }
}
