#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux

/// One readiness check of an instance, on the supervisor's loop, never blocking it: a
/// non-blocking connect to 127.0.0.1:PORT; without a `ready` path a connection accepted is the
/// answer; with one, `GET path` (`Host: localhost`) is sent and the status line read
/// (`ReadinessCheck`): 2xx is ready. `done` is called once (unless `cancel()` comes first), with
/// true for ready. A probe that gets no answer within `timeout` fails. Loop thread only.
final class ReadinessProbe: Selectable, TimerTarget {
    private var fd: Int32 = -1
    private unowned let loop: EventLoop
    private let request: [UInt8]?
    private var sent = 0
    private var received: [UInt8] = []
    private var done: ((Bool) -> Void)?
    var timerSlot = TimerSlot()

    /// How long one probe may take before it counts as failed.
    static let timeout: UInt64 = 1_000_000_000

    /// Starts probing `port`; `path`: the `ready` path, or nil to only connect.
    init(port: Int, path: String?, loop: EventLoop, done: @escaping (Bool) -> Void) {
        self.loop = loop
        self.request = path.map(ReadinessCheck.request(path:))
        self.done = done
        start(port: port)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Connects; a failure at once is reported from the timer (this round), never from `init`.
    private func start(port: Int) {
        loop.schedule(self, at: loop.now &+ Self.timeout)
        guard let addr = SocketAddress(host: "127.0.0.1", port: port) else { return failSoon() }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return failSoon() }
        var st = addr.storage
        let r = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, addr.length) } }
        // Loopback connects usually finish (or are refused) at once; EINPROGRESS waits for writability.
        if r != 0 && errno != EINPROGRESS { return failSoon() }
        do { try loop.register(fd: fd, interest: .writable, target: self) } catch {
            close(fd)
            fd = -1
            return failSoon()
        }
    }

    private func failSoon() { loop.schedule(self, at: loop.now) }

    func ready(_ events: SelectorEvents) {
        guard done != nil, connected() else { return }
        guard let request else { return finish(true) }
        if sent < request.count { send(request) } else { read() }
    }

    /// Whether the pending connect succeeded (SO_ERROR); finishes the probe when it failed.
    private var isConnected = false
    private func connected() -> Bool {
        if isConnected { return true }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0, err == 0 else { finish(false); return false }
        isConnected = true
        return true
    }

    private func send(_ request: [UInt8]) {
        let n = request.withUnsafeBytes { p in
            Glibc.send(fd, p.baseAddress! + sent, p.count - sent, Int32(MSG_NOSIGNAL))
        }
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            return finish(false)
        }
        sent += n
        if sent == request.count {
            do { try loop.modify(fd: fd, interest: .readable) } catch { finish(false) }
        }
    }

    private func read() {
        var chunk = [UInt8](repeating: 0, count: 512)
        while done != nil {
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return }
                return finish(false)
            }
            if n == 0 { return finish(false) }   // closed before a status line
            received.append(contentsOf: chunk[0..<n])
            switch ReadinessCheck.answer(received) {
            case .needMore: continue
            case .invalid: return finish(false)
            case .status(let code): return finish(ReadinessCheck.isReady(code))
            }
        }
    }

    func timerFired(now: UInt64) { finish(false) }

    /// Ends the probe without calling back.
    func cancel() {
        done = nil
        closeSocket()
    }

    private func finish(_ ok: Bool) {
        guard let d = done else { return }
        done = nil
        closeSocket()
        d(ok)
    }

    private func closeSocket() {
        loop.removeTimer(self)
        if fd >= 0 {
            loop.deregister(fd: fd)
            close(fd)
            fd = -1
        }
    }
}
