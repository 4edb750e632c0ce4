import FlaksServer

/// Starts `server`, runs `body` with its port, and always drains and stops it afterwards.
public func withStarted<T>(_ server: Server, _ body: (Server, Int) async throws -> T) async throws -> T {
    try server.start()
    guard let port = server.port else { throw TestClient.Failure(description: "no port") }
    do {
        let r = try await body(server, port)
        server.shutdown(drainTimeout: .seconds(2))
        server.wait()
        return r
    } catch {
        server.shutdown(drainTimeout: .seconds(1))
        server.wait()
        throw error
    }
}
