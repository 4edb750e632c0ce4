import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A FastCGI responder on a unix socket in a temp dir, answering each request as the test says:
/// well-formed records, garbage, silence, or a close without a byte. Records are written by hand
/// from the spec (§3.3), independent of Flaks' encoder. One thread per connection; `stop()` closes
/// every descriptor and waits for the threads (bounded).
final class FakeFastCGIResponder: @unchecked Sendable {  // state behind `lock`
    /// What to do with one request.
    enum Reply: Sendable {
        /// Write these bytes; then close the connection if asked.
        case answer([UInt8], thenClose: Bool = false)
        /// Write `first`, wait `delay` seconds, write `rest`.
        case slow(first: [UInt8], delay: Double, rest: [UInt8])
        /// Wait until the test signals `gate` (at most 10 s), then write these bytes.
        case gated([UInt8])
        /// Close at once, without a byte (php-fpm closing a kept connection).
        case closeWithoutAnswer
        /// Never answer; keep reading (to see an FCGI_ABORT_REQUEST and the close).
        case silence
    }

    /// One request as received.
    struct Received: Sendable {
        var connection: Int
        var params: [String: String]
        var stdin: [UInt8]
    }

    let dir: String
    let path: String
    /// Opened by the test for `.gated` replies, one `signal()` per reply.
    let gate = DispatchSemaphore(value: 0)
    private let listenFD: Int32
    private let lock = NSLock()
    private var fds: [Int32] = []
    private var _received: [Received] = []
    private var _connections = 0
    private var _open = 0
    private var _maxOpen = 0
    private var _aborts = 0
    private var _busy = 0
    private var _written = 0
    private var _maxBusy = 0
    private var _closedByPeer = 0
    private var running = 0
    private var stopped = false
    private let reply: @Sendable (_ index: Int, _ request: Received) -> Reply

    /// SO_SNDBUF of the accepted connections (nil: the system's default).
    private let sendBuffer: Int32?

    init(sendBuffer: Int32? = nil, reply: @escaping @Sendable (_ index: Int, _ request: Received) -> Reply) throws {
        self.reply = reply
        self.sendBuffer = sendBuffer
        var template = Array((NSTemporaryDirectory() + "flaks-fake-fcgi-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        dir = String(cString: p)
        path = dir + "/fcgi.sock"
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0 && listen(listenFD, 64) == 0
        guard ok else { close(listenFD); throw CocoaError(.fileWriteUnknown) }
        running = 1
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { stop() }

    var received: [Received] { lock.withLock { _received } }
    var connections: Int { lock.withLock { _connections } }
    /// Most connections open at once.
    var maxOpen: Int { lock.withLock { _maxOpen } }
    /// Most requests in the responder's hands at once: counted from the request's last record to
    /// just before its answer's last bytes are written (so the server cannot have seen the answer).
    var maxBusy: Int { lock.withLock { _maxBusy } }
    /// Answer bytes the server's side of the socket has taken so far.
    var written: Int { lock.withLock { _written } }
    /// FCGI_ABORT_REQUEST records received.
    var aborts: Int { lock.withLock { _aborts } }
    /// Connections the server closed.
    var closedByPeer: Int { lock.withLock { _closedByPeer } }

    func stop() {
        let wasStopped = lock.withLock { () -> Bool in
            let w = stopped
            stopped = true
            if !w { for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) } }   // still open: under the lock
            return w
        }
        guard !wasStopped else { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        for _ in 0..<200 where lock.withLock({ running }) > 0 { usleep(10_000) }
        close(listenFD)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Waits (bounded) until `condition` holds.
    func wait(_ seconds: Double = 5, until condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(5_000)
        }
        return condition()
    }

    private func acceptLoop() {
        defer { lock.withLock { running -= 1 } }
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            let index = lock.withLock { () -> Int? in
                if stopped { return nil }
                fds.append(fd)
                _connections += 1
                _open += 1
                _maxOpen = max(_maxOpen, _open)
                running += 1
                return _connections - 1
            }
            guard let connection = index else { close(fd); return }
            if var size = sendBuffer {
                _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            Thread.detachNewThread { [self] in serve(fd, connection: connection) }
        }
    }

    private func serve(_ fd: Int32, connection: Int) {
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer: [UInt8] = []
        var closedByUs = false
        defer {
            // Closed under the lock and forgotten: `stop` must never shut down a descriptor number
            // that has been closed and given to someone else (another test's socket) meanwhile.
            lock.withLock {
                _open -= 1
                if !closedByUs { _closedByPeer += 1 }
                fds.removeAll { $0 == fd }
                close(fd)
                running -= 1
            }
        }
        while true {
            var params: [UInt8] = []
            var stdin: [UInt8] = []
            // One request: records up to the empty STDIN.
            reading: while true {
                guard let (type, content) = Self.record(fd, &buffer) else { return }
                switch type {
                case 2: lock.withLock { _aborts += 1 }
                case 4: params += content
                case 5:
                    if content.isEmpty { break reading }
                    stdin += content
                default: break                      // BEGIN_REQUEST
                }
            }
            let request = Received(connection: connection, params: Self.pairs(params), stdin: stdin)
            let index = lock.withLock { () -> Int in
                _received.append(request)
                _busy += 1
                _maxBusy = max(_maxBusy, _busy)
                return _received.count - 1
            }
            let idle = { self.lock.withLock { self._busy -= 1 } }
            switch reply(index, request) {
            case .answer(let bytes, let thenClose):
                idle()
                write(fd, bytes)
                if thenClose { closedByUs = true; return }
            case .slow(let first, let delay, let rest):
                write(fd, first)
                usleep(UInt32(delay * 1_000_000))
                idle()
                write(fd, rest)
            case .gated(let bytes):
                _ = gate.wait(timeout: .now() + 10)
                idle()
                write(fd, bytes)
            case .closeWithoutAnswer:
                idle()
                closedByUs = true
                return
            case .silence:
                defer { idle() }
                while let (type, _) = Self.record(fd, &buffer) {
                    if type == 2 { lock.withLock { _aborts += 1 } }
                }
                return
            }
        }
    }

    /// Reads one record (type, content); nil at EOF or error.
    private static func record(_ fd: Int32, _ buffer: inout [UInt8]) -> (UInt8, [UInt8])? {
        func fill(_ n: Int) -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65536)
            while buffer.count < n {
                let r = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if r < 0 && errno == EINTR { continue }
                if r <= 0 { return false }
                buffer += chunk[..<r]
            }
            return true
        }
        guard fill(8) else { return nil }
        let length = Int(buffer[4]) << 8 | Int(buffer[5]), padding = Int(buffer[6])
        guard fill(8 + length + padding) else { return nil }
        let type = buffer[1]
        let content = Array(buffer[8..<(8 + length)])
        buffer.removeFirst(8 + length + padding)
        return (type, content)
    }

    /// Writes in pieces of at most 16 KiB, counting what the socket took.
    private func write(_ fd: Int32, _ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off..<min(off + 16384, bytes.count)].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            off += n
            lock.withLock { _written += n }
        }
    }

    /// Name-value pairs (spec §3.4), as strings.
    private static func pairs(_ b: [UInt8]) -> [String: String] {
        var out: [String: String] = [:]
        var i = 0
        func length() -> Int? {
            guard i < b.count else { return nil }
            if b[i] < 128 { i += 1; return Int(b[i - 1]) }
            guard i + 4 <= b.count else { return nil }
            let n = Int(b[i] & 0x7f) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
            i += 4
            return n
        }
        while i < b.count {
            guard let n = length(), let v = length(), i + n + v <= b.count else { break }
            out[String(decoding: b[i..<(i + n)], as: UTF8.self)] = String(decoding: b[(i + n)..<(i + n + v)], as: UTF8.self)
            i += n + v
        }
        return out
    }

    // MARK: records a responder sends

    static func rec(_ type: UInt8, _ content: [UInt8], id: UInt16 = 1, version: UInt8 = 1) -> [UInt8] {
        let pad = (8 - content.count % 8) % 8
        return [version, type, UInt8(id >> 8), UInt8(id & 0xff), UInt8(content.count >> 8), UInt8(content.count & 0xff),
                UInt8(pad), 0] + content + [UInt8](repeating: 0, count: pad)
    }
    static func stdout(_ s: String) -> [UInt8] { rec(6, Array(s.utf8)) }
    static func stderr(_ s: String) -> [UInt8] { rec(7, Array(s.utf8)) }
    static func end(status: UInt8 = 0) -> [UInt8] { rec(3, [0, 0, 0, 0, status, 0, 0, 0]) }
    /// A complete text/plain answer.
    static func page(_ body: String, status: Int = 200) -> [UInt8] {
        stdout("Status: \(status)\r\nContent-Type: text/plain\r\n\r\n" + body) + end()
    }
}
