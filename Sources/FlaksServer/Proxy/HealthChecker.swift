#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig
import FlaksProxy

/// Active health checks of one upstream for a proxy route's `health:` (on a loop: a GET of `path`
/// with `Host: localhost` every `interval`, answered 2xx within `timeout` counts as a pass). `fails`
/// failures in a row take the upstream out of every route that uses it; `passes` passes bring it
/// back (`UpstreamHealth`, shared). Changes are logged. Loop thread only; `stop()` from any thread
/// goes through the loop.
final class HealthChecker: UpstreamUser, TimerTarget, @unchecked Sendable {  // loop-confined; see type doc
    private unowned let loop: EventLoop
    private let endpoint: ProxyTarget.Endpoint
    private let upstream: Upstream
    private let check: ProxyRoute.HealthCheck
    private var conn: UpstreamConnection?
    private var answer: [UInt8] = []
    private var stopped = false
    var timerSlot = TimerSlot()

    init(loop: EventLoop, endpoint: ProxyTarget.Endpoint, upstream: Upstream, check: ProxyRoute.HealthCheck) {
        self.loop = loop; self.endpoint = endpoint; self.upstream = upstream; self.check = check
    }

    /// Starts checking (the first check at once). Call on the loop.
    func start() {
        loop.schedule(self, at: loop.now &+ 1)
    }

    /// Stops checking (a reload replaced the route). Safe from any thread.
    func stop() {
        loop.execute { [self] _ in
            stopped = true
            conn?.close()
            conn = nil
            loop.removeTimer(self)
        }
    }

    func timerFired(now: UInt64) {
        guard !stopped else { return }
        if conn != nil { return }
        answer = []
        do {
            conn = try UpstreamConnection(connectingTo: endpoint.addresses[0], key: endpoint.key + "#health", loop: loop,
                                          timeout: check.timeout.nanoseconds, user: self)
        } catch {
            report(false, error.description)
        }
    }

    func upstreamConnected(_ c: UpstreamConnection) {
        c.write(Array("GET \(check.path) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: flaks-health\r\nConnection: close\r\n\r\n".utf8))
        c.setDeadline(loop.now &+ check.timeout.nanoseconds)
    }

    func upstreamReadable(_ c: UpstreamConnection) {
        var buf = [UInt8](repeating: 0, count: 512)
        let r = buf.withUnsafeMutableBytes { c.read(into: $0) }
        switch r {
        case .wouldBlock: return
        case .done(let n):
            answer += buf[0..<n]
            // "HTTP/1.x NNN": enough to judge.
            if answer.count >= 12 || n == 0 {
                let ok = answer.count >= 12 && answer[9] == UInt8(ascii: "2")
                report(ok, ok ? "" : "answered \(String(decoding: answer.prefix(12), as: UTF8.self))")
            }
        }
    }

    func upstreamDrained(_ c: UpstreamConnection) {}

    func upstreamFailed(_ c: UpstreamConnection, _ failure: UpstreamFailure) {
        conn = nil
        report(false, failure.description)
    }

    func upstreamTimedOut(_ c: UpstreamConnection) {
        report(false, "no answer within \(check.timeout)")
    }

    private func report(_ ok: Bool, _ why: String) {
        conn?.close()
        conn = nil
        guard !stopped else { return }
        if upstream.health.checkResult(ok: ok, now: loop.now, fails: check.fails, passes: check.passes) {
            if ok {
                loop.server.logger.warning("proxy \(endpoint.key): health check passed; back in")
            } else {
                loop.server.logger.warning("proxy \(endpoint.key): health check failed (\(why)); taken out")
            }
        }
        loop.schedule(self, at: loop.now &+ check.interval.nanoseconds)
    }
}
