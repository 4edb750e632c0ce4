import Flaks
import Foundation
import Logging
import Testing
import TodoAPI

/// The manifest next to Package.swift, with an ephemeral port and no access log.
func exampleConfig() throws -> ServerConfig {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var config = try ManifestLoader.load(path: root.appendingPathComponent("config.yaml").path)
    config.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
    config.server.loops = 1
    config.log.access = .off
    return config
}

/// Starts the service in-process on port 0, runs `body`, always shuts down.
func withService(_ body: (Int) async throws -> Void) async throws {
    var logger = Logger(label: "todo-test")
    logger.logLevel = .critical
    let server = try makeApp().makeServer(config: try exampleConfig(), logger: logger)
    try server.start()
    defer { server.shutdown(drainTimeout: .seconds(1)); server.wait() }
    try await body(try #require(server.port))
}

@Suite("Todo service", .timeLimit(.minutes(1)))
struct TodoServiceTests {
    @Test func createReadUpdateDelete() async throws {
        try await withService { (port: Int) async throws in
            let empty = try await HTTP.send(port, "GET", "/api/todos/")
            #expect(empty.status == 200)
            #expect(try empty.json([Todo].self) == [])
            #expect(empty.header("Cache-Control") == "no-store")

            let created = try await HTTP.send(port, "POST", "/api/todos/", json: #"{"title":"write tests"}"#)
            #expect(created.status == 201)
            #expect(created.header("Location") == "/api/todos/1")
            #expect(try created.json(Todo.self) == Todo(id: 1, title: "write tests", done: false))
            _ = try await HTTP.send(port, "POST", "/api/todos/", json: #"{"title":"ship","done":true}"#)

            let patched = try await HTTP.send(port, "PATCH", "/api/todos/1", json: #"{"done":true}"#)
            #expect(try patched.json(Todo.self) == Todo(id: 1, title: "write tests", done: true))
            let open = try await HTTP.send(port, "GET", "/api/todos/?done=false")
            #expect(try open.json([Todo].self) == [])
            #expect(try await HTTP.send(port, "GET", "/api/todos/?done=true").json([Todo].self).count == 2)

            #expect(try await HTTP.send(port, "DELETE", "/api/todos/2").status == 204)
            let gone = try await HTTP.send(port, "GET", "/api/todos/2")
            #expect(gone.status == 404)
            #expect(try gone.json(ErrorBody.self) == ErrorBody(error: "no such todo"))
        }
    }

    @Test func errorsAreJSON() async throws {
        try await withService { (port: Int) async throws in
            let bad = try await HTTP.send(port, "POST", "/api/todos/", json: #"{"title":""}"#)
            #expect(bad.status == 400)
            #expect(try bad.json(ErrorBody.self).error.contains("title"))
            #expect(try await HTTP.send(port, "POST", "/api/todos/", json: "{not json").status == 400)
            let wrongMethod = try await HTTP.send(port, "PUT", "/api/todos/1", json: "{}")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.header("Allow") == "GET, HEAD, DELETE, OPTIONS, PATCH")
            #expect(try await HTTP.send(port, "GET", "/api/nothing").json(ErrorBody.self) == ErrorBody(error: "not found"))
            let redirect = try await HTTP.send(port, "GET", "/api/todos")
            #expect(redirect.status == 308)
            #expect(redirect.header("Location") == "/api/todos/")
        }
    }

    @Test func manifestRoutesServeNextToTheApp() async throws {
        try await withService { (port: Int) async throws in
            #expect(try await HTTP.send(port, "GET", "/health").text == "ok\n")
            // The static route answers (501 until the static handler is merged into this build).
            #expect([200, 501].contains(try await HTTP.send(port, "GET", "/").status))
        }
    }
}

/// A minimal HTTP/1.1 client over a blocking socket (one request per connection), run on its own
/// thread so it never blocks Swift's cooperative pool that async views run on.
enum HTTP {
    struct Reply: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        func json<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoder().decode(T.self, from: Data(body)) }
    }
    struct Failure: Error { var message: String }

    static func send(_ port: Int, _ method: String, _ target: String, json: String? = nil) async throws -> Reply {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Reply, any Error>) in
            Thread { c.resume(with: Result { try exchange(port, method, target, json) }) }.start()
        }
    }

    private static func exchange(_ port: Int, _ method: String, _ target: String, _ json: String?) throws -> Reply {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(message: "socket") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { throw Failure(message: "connect") }
        var request = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        if let json { request += "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n" }
        request += "\r\n" + (json ?? "")
        let bytes = Array(request.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(message: "send") }
            off += n
        }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { throw Failure(message: "recv errno \(errno)") }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
        }
        guard let end = data.firstRange(of: [13, 10, 13, 10]) else { throw Failure(message: "no response head") }
        let lines = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines.first?.split(separator: " ") ?? []
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(message: "bad status line") }
        let headers = lines.dropFirst().compactMap { l -> (String, String)? in
            guard let c = l.firstIndex(of: ":") else { return nil }
            return (String(l[..<c]), l[l.index(after: c)...].trimmingCharacters(in: .whitespaces))
        }
        return Reply(status: status, headers: headers, body: Array(data[end.upperBound...]))
    }
}
