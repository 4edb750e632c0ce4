#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksConfig
@testable import FlaksServer
import Logging
import Testing

/// What a stopped loop leaves behind: nothing. Whatever was still registered on it when the drain
/// ended (a CGI script's pipes, timers) holds the loop, and the loop held it; the loop lets go when
/// it stops, so both are freed (AddressSanitizer's leak check saw such a cycle once).
struct LoopLifetimeTests {
    /// Holds the weak reference in an object of its own (a `weak var` local of an async test
    /// function was reported by LeakSanitizer with the object it pointed at).
    final class WeakLoop { weak var loop: EventLoop? }

    @Test func aLoopStoppedWhileAScriptRunsIsFreed() throws {
        let f = try CGIFixture()
        let pidFile = f.path("pid")
        // The client leaves (FIN) while the script is silent: the script runs on until its next
        // output, so the loop still watches its pipes, with no connection left, when it stops.
        try f.script("hang.sh", "#!/bin/sh\necho $$ > '\(pidFile)'\nsleep 30\n")
        let watch = WeakLoop()
        var scriptPid: pid_t?
        do {
            let server = try startedOneLoopServer(f.config())
            let port = try #require(server.port)
            watch.loop = server.loops.first
            #expect(watch.loop != nil)
            var c: TestClient? = try TestClient(port: port)
            try c?.send("GET /cgi-bin/hang.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            scriptPid = waitForPid(pidFile)
            c = nil
            usleep(100_000)
            #expect(scriptPid != nil, "the script started")
            server.shutdown(drainTimeout: .milliseconds(200))
            server.wait()
        }
        let freed = watch.loop == nil   // (not described by #expect: a kept loop's server is gone)
        #expect(freed, "the stopped loop is still referenced")
        if let p = scriptPid, !processIsGone(p, within: 0.5) { kill(p, SIGKILL) }
    }

    /// A task posted after the loop stopped (a child's exit reported by the reaper thread, say) is
    /// dropped: kept in an inbox nobody drains, a task holding the loop would keep it forever.
    @Test func aTaskPostedToAStoppedLoopIsDropped() throws {
        let watch = WeakLoop()
        do {
            let server = try startedOneLoopServer(config([respond("/", "x")]))
            let l = try #require(server.loops.first)
            watch.loop = l
            server.shutdown(drainTimeout: .milliseconds(100))
            server.wait()
            l.execute { _ in _ = l }   // holds the loop
        }
        let freed = watch.loop == nil
        #expect(freed, "the stopped loop is kept by a task in its inbox")
    }
}
