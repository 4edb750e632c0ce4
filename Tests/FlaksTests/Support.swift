import FlaksTestSupport
import Flaks
import Foundation
import Logging
import Synchronization

/// Calls the app's handler the way the server does for a prefix mount at `mount` (default "/"),
/// and runs a blocking or async outcome to its response.
func call(_ handler: any Handler, _ target: String, headers: HeaderFields = [:], mount: String = "/") async -> Response {
    await call(handler, .GET, target, headers: headers, mount: mount)
}

func call(_ handler: any Handler, _ method: HTTPMethod, _ target: String, headers: HeaderFields = [:],
          body: [UInt8] = [], mount: String = "/") async -> Response {
    let rawPath = String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
    let path = (try? PathNormalizer.normalize(rawPath)) ?? rawPath
    let remainder = mount.hasSuffix("/") && path.hasPrefix(mount) ? String(path.dropFirst(mount.count)) : ""
    let head = RequestHead(method: method, target: target, version: .http1_1, headers: headers)
    let request = Request(head: head, path: path, body: body, routePath: mount, remainder: remainder)
    switch handler.handle(request) {
    case .response(let r): return r
    case .blocking(let job): return job()
    case .async(let job):
        let receiver = Received()
        await job(receiver)
        return receiver.response.withLock { $0 } ?? Response(status: .internalServerError)
    case .cgi, .fastcgi: return Response(status: .internalServerError)
    }
}

/// Keeps what an async handler's job delivers.
final class Received: ResponseReceiver {
    let response = Locked<Response?>(nil)
    func receive(_ r: consuming Response) { let r = consume r; response.withLock { $0 = r } }
}

func call(_ app: App, _ target: String, headers: HeaderFields = [:]) async -> Response {
    await call(app, .GET, target, headers: headers)
}

func call(_ app: App, _ method: HTTPMethod, _ target: String, headers: HeaderFields = [:], body: [UInt8] = []) async -> Response {
    guard let h = app.registry.handler(named: app.name) else { return Response(status: .internalServerError) }
    return await call(h, method, target, headers: headers, body: body)
}

extension Response {
    /// The body as text (bytes bodies only).
    var text: String {
        if case .bytes(let b) = body { return String(decoding: b, as: UTF8.self) }
        return ""
    }
}

/// Starts a real server on 127.0.0.1:0 with `app` registered, runs `body`, always shuts down.
func withAppServer<T>(_ app: App, routes: [Route], threads: Int = 4,
                      _ body: (Server, Int) async throws -> T) async throws -> T {
    var config = oneLoopTestConfig(ServerConfig(hosts: [HostConfig(names: ["*"], routes: routes)]))
    config.server.threads = threads
    return try await withStarted(try app.makeServer(config: config, logger: testLogger()), body)
}

func mount(_ path: String, _ name: String) -> Route { Route(path: path, kind: .handler(name)) }

func respondRoute(_ path: String, _ body: String) -> Route {
    Route(path: path, kind: .respond(RespondRoute(body: body, status: 200)))
}

/// A thread-safe list of events, to check the order hooks and views ran in.
final class Recorder: Sendable {
    private let events = Mutex<[String]>([])
    func append(_ e: String) { events.withLock { $0.append(e) } }
    var all: [String] { events.withLock { $0 } }
    func reset() { events.withLock { $0 = [] } }
}

