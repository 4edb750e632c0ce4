import Flaks
import FlaksConfig
import FlaksTestSupport
@testable import FlaksServer
import Foundation
import Testing

/// Async views run in runner tasks that are kept between requests (`ViewTaskRunner`): parked on
/// their loop, resumed with its next async request, ended when enough are parked, when a view
/// cancelled its task, or when the loop stops.
@Suite("Async views' runner tasks", .timeLimit(.minutes(5)))
struct ViewTaskRunnerTests {
    /// Polls `condition` on a thread of its own until it holds or `deadline` passes. In a full
    /// parallel run the two threads of Swift's cooperative pool (two cores) are often held by
    /// tests that block, and every `await` waits for one: with a `Task.sleep` loop and one `io`
    /// per client, `aLoopKeepsAtMostItsLimitOfRunnersParked` took 50-60 s there (224 s under TSan,
    /// past its suite's limit, itself checked late) where it takes 0.03 s alone. The limit (5 min)
    /// guards against a hang, not a slow pool.
    static func waitUntil(_ deadline: Date, _ condition: @escaping @Sendable () -> Bool) async throws {
        _ = try await io { eventuallyBlocking(seconds: max(0, deadline.timeIntervalSinceNow)) { condition() } }
    }

    /// A one-loop server with `app` mounted at "/".
    static func withServer<T>(_ app: App, threads: Int = 2, _ body: (Server, EventLoop, Int) async throws -> T) async throws -> T {
        var config = oneLoopTestConfig(ServerConfig(hosts: [HostConfig(names: ["*"], routes: [Route(path: "/", kind: .handler("app"))])]))
        config.server.threads = threads
        let server = try app.makeServer(config: config, logger: testLogger())
        var loop: EventLoop?
        let r = try await withStarted(server) { server, port in
            guard let l = server.runningLoops.first else { throw TestClient.Failure(description: "no loop") }
            loop = l
            return try await body(server, l, port)
        }
        // Stopped: every runner ends, the parked ones included (their last step may still be
        // on its way through a worker).
        if let loop {
            let deadline = Date().addingTimeInterval(20)
            try await waitUntil(deadline) { loop.runnersAlive.load(ordering: .relaxed) == 0 }
            #expect(loop.runnersAlive.load(ordering: .relaxed) == 0, "runners left after the loop stopped")
        }
        return r
    }

    /// The loop's parked runners, read on the loop's thread.
    static func parked(_ loop: EventLoop) async -> Int {
        await withCheckedContinuation { c in loop.execute { c.resume(returning: $0.parkedRunnerCount) } }
    }

    /// The current task's address, as text.
    static func taskID() -> String {
        withUnsafeCurrentTask { t in t.map { "\($0.hashValue)" } ?? "none" }
    }

    @Test func oneRunnerServesRequestAfterRequest() async throws {
        let app = App()
        app.get("/task") { _ async in .text(Self.taskID()) }
        app.get("/blocking") { _ in .text("blocking") }
        try await Self.withServer(app) { _, loop, port in
            let client = try TestClient(port: port)
            var tasks: Set<String> = []
            for _ in 0..<5 {
                try client.send("GET /task HTTP/1.1\r\nHost: x\r\n\r\n")
                let r = try await io { try client.readResponse() }
                #expect(r.status == 200)
                tasks.insert(r.text)
                // The runner is parked once the response is sent: both are done on the loop, in
                // that order, before the loop reads the next request.
                #expect(await Self.parked(loop) == 1)
                #expect(loop.runnersAlive.load(ordering: .relaxed) == 1)
            }
            #expect(tasks.count == 1, "one task for all five requests: \(tasks)")
            // A blocking view leaves the parked runner alone.
            #expect(try await io { try TestClient.get(port: port, "/blocking") }.text == "blocking")
            #expect(await Self.parked(loop) == 1)
        }
    }

    @Test func aViewThatCancelsItsTaskDoesNotPassItOn() async throws {
        let app = App()
        app.get("/cancel") { _ async in
            withUnsafeCurrentTask { $0?.cancel() }
            return .text("cancelled \(Task.isCancelled) \(Self.taskID())")
        }
        app.get("/check") { _ async in .text("cancelled \(Task.isCancelled) \(Self.taskID())") }
        try await Self.withServer(app) { _, loop, port in
            let client = try TestClient(port: port)
            try client.send("GET /check HTTP/1.1\r\nHost: x\r\n\r\n")
            let first = try await io { try client.readResponse() }.text
            #expect(first.hasPrefix("cancelled false"))
            try client.send("GET /cancel HTTP/1.1\r\nHost: x\r\n\r\n")
            let cancelled = try await io { try client.readResponse() }.text
            // The same task (it was parked), now cancelled: it ends instead of being parked.
            #expect(cancelled == "cancelled true " + first.dropFirst("cancelled false ".count))
            #expect(await Self.parked(loop) == 0)
            try client.send("GET /check HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await io { try client.readResponse() }.text.hasPrefix("cancelled false"))
            #expect(await Self.parked(loop) == 1)
        }
    }

    @Test func aLoopKeepsAtMostItsLimitOfRunnersParked() async throws {
        // One view more waiting at once than a loop keeps parked: each runs in a runner of its
        // own; when they are done, `maxParkedRunners` are parked and the one over has ended.
        let n = EventLoop.maxParkedRunners + 1
        let gate = Gate()
        let app = App()
        app.get("/wait") { _ async throws in
            try await gate.wait()
            return .text("done")
        }
        try await Self.withServer(app) { _, loop, port in
            let clients = try (0..<n).map { _ in try TestClient(port: port) }
            for c in clients { try c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n") }
            let deadline = Date().addingTimeInterval(30)
            try await Self.waitUntil(deadline) { loop.runnersAlive.load(ordering: .relaxed) >= n }
            #expect(loop.runnersAlive.load(ordering: .relaxed) == n, "one runner per waiting view")
            gate.release()
            let texts = try await io { try clients.map { try $0.readResponse().text } }
            #expect(texts == Array(repeating: "done", count: n))
            try await Self.waitUntil(deadline) { loop.runnersAlive.load(ordering: .relaxed) <= EventLoop.maxParkedRunners }
            #expect(loop.runnersAlive.load(ordering: .relaxed) == EventLoop.maxParkedRunners)
            #expect(await Self.parked(loop) == EventLoop.maxParkedRunners)
        }
    }

    @Test func aTaskLocalValueDoesNotOutliveItsView() async throws {
        let app = App()
        app.get("/bind") { _ async in
            await Self.$tag.withValue("bound") { Response.text(Self.tag) }
        }
        app.get("/read") { _ async in .text(Self.tag + " " + Self.taskID()) }
        try await Self.withServer(app) { _, _, port in
            let client = try TestClient(port: port)
            try client.send("GET /read HTTP/1.1\r\nHost: x\r\n\r\n")
            let before = try await io { try client.readResponse() }.text
            try client.send("GET /bind HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await io { try client.readResponse() }.text == "bound")
            try client.send("GET /read HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await io { try client.readResponse() }.text == before, "the same runner, without the value")
        }
    }

    @TaskLocal static var tag = "unset"
}
