import Foundation
import Synchronization
import FlaksConfig
import FlaksServer
import Logging

/// `config` as tests run it: on 127.0.0.1:0, one loop, no access log.
public func oneLoopTestConfig(_ config: ServerConfig) -> ServerConfig {
    var config = config
    config.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
    config.server.loops = 1
    config.log.access = .off
    return config
}

/// A logger for a test's server: only lines at `level` and above.
public func testLogger(_ level: Logger.Level = .critical) -> Logger {
    var logger = Logger(label: "flaks-test")
    logger.logLevel = level
    return logger
}

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

/// Runs blocking client I/O on its own thread, not on Swift's cooperative pool: async views and
/// streamed bodies run on that pool, and a test blocked in recv() there could starve the very
/// task it waits for (the pool has one thread per core).
public func io<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let t = Thread { c.resume(with: Result { try body() }) }
        t.start()
    }
}

/// A flag a test flips to let waiting views (or streams) go on.
public final class Gate: Sendable {
    private let open = Mutex(false)
    public init() {}
    public func release() { open.withLock { $0 = true } }
    public func wait() async throws {
        while !open.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
    }
}
