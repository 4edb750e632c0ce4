#if canImport(Glibc)
import FlaksHandlers
import Glibc
#endif
import FlaksConfig
import FlaksHTTP

/// What one access-log line says.
struct AccessLogEntry {
    var remote: String
    var method: String
    var target: String
    var version: String
    var status: Int
    var bytes: Int
    var referer: String?
    var userAgent: String?
    var host: String
    var durationNanos: UInt64
    var requestID: UInt64
    /// The upstream a proxied request went to, and the time to its answer's head.
    var upstream: String? = nil
    var upstreamNanos: UInt64 = 0
    /// On a TLS connection: the protocol version, the cipher, and the SNI name the client sent.
    var tls: (version: String, cipher: String, sni: String?)? = nil
}

/// The access log: lines are formatted on the loop and handed to a `BackgroundWriter`, so a slow
/// stdout never stalls a request. `stop` flushes everything.
public final class AccessLog: Sendable {
    private let format: LogSettings.Format
    private let writer: BackgroundWriter

    /// nil when access logging is off.
    init?(settings: LogSettings) {
        if settings.access == .off { return nil }
        format = settings.format
        writer = BackgroundWriter(destination: settings.access, name: "flaks-accesslog")
    }

    /// Formats and queues one line.
    func record(_ e: AccessLogEntry) {
        let now = wallSeconds()
        let text: String
        switch format {
        case .combined:
            func q(_ s: String?) -> String { s.map { "\"\(escapeQuoted($0))\"" } ?? "\"-\"" }
            text = "\(e.remote) - - [\(CivilTime.commonLogTime(now))] \"\(escapeQuoted(e.method)) \(escapeQuoted(e.target)) \(e.version)\" \(e.status) \(e.bytes) \(q(e.referer)) \(q(e.userAgent))\n"
        case .json:
            func j(_ s: String) -> String { "\"" + escapeJSON(s) + "\"" }
            let ms = Double(e.durationNanos) / 1_000_000
            text = "{\"time\":\(j(CivilTime.iso8601(now))),\"remote\":\(j(e.remote)),\"host\":\(j(e.host)),\"method\":\(j(e.method)),\"uri\":\(j(e.target)),\"protocol\":\(j(e.version)),\"status\":\(e.status),\"bytes\":\(e.bytes),\"duration_ms\":\(ms),\"referer\":\(j(e.referer ?? "")),\"user_agent\":\(j(e.userAgent ?? "")),\"request_id\":\(e.requestID)\(e.upstream.map { ",\"upstream\":\(j($0)),\"upstream_ms\":\(Double(e.upstreamNanos) / 1_000_000)" } ?? "")\(e.tls.map { ",\"tls_version\":\(j($0.version)),\"tls_cipher\":\(j($0.cipher)),\"sni\":\(j($0.sni ?? ""))" } ?? "")}\n"
        }
        writer.append(Array(text.utf8))
    }

    /// Asks the writer to reopen a log file (SIGUSR1, for logrotate).
    func reopen() { writer.reopen() }

    /// Writes everything queued and stops the writer thread.
    func stop() { writer.stop() }
}

/// Appends bytes to a file, stdout or stderr from one background thread: callers never block on
/// the destination. Lines queued beyond `limit` bytes while the destination is stuck are dropped
/// (and counted) rather than stalling a selector loop. `stop` writes everything queued.
final class BackgroundWriter: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var stopping = false
        var reopen = false
        var dropped = 0
        var finished = false
    }
    private let state = Locked(State())
    private let wake = ConditionLock()
    private let destination: LogSettings.Destination
    private let thread = Locked<OSThread?>(nil)
    private let limit: Int

    init(destination: LogSettings.Destination, name: String, limit: Int = 8 << 20) {
        self.destination = destination
        self.limit = limit
        let t = OSThread.start(name: name) { [self] in writerLoop() }
        thread.withLock { $0 = t }
    }

    /// Queues bytes; never blocks on the destination.
    func append(_ bytes: [UInt8]) {
        let big = state.withLock { s -> Bool in
            if s.buffer.count + bytes.count > limit { s.dropped += 1; return true }
            s.buffer.append(contentsOf: bytes)
            return s.buffer.count > 64 * 1024
        }
        if big { wake.signal() }
    }

    func reopen() {
        state.withLock { $0.reopen = true }
        wake.signal()
    }

    /// Lines dropped because the destination did not keep up.
    var dropped: Int { state.withLock { $0.dropped } }

    /// Writes what is queued and joins the thread (idempotent). A destination that blocks for
    /// more than `timeout` seconds (a pipe nobody reads) is given up on, so the process can exit.
    func stop(timeout: Double = 3) {
        state.withLock { $0.stopping = true }
        wake.lock(); wake.broadcast(); wake.unlock()
        let deadline = monotonicNanos() &+ UInt64(timeout * 1e9)
        while !state.withLock({ $0.finished }) {
            if monotonicNanos() >= deadline { return }
            usleep(5_000)
        }
        let t = thread.withLock { t -> OSThread? in let x = t; t = nil; return x }
        t?.join()
    }

    private func openFile() -> Int32 {
        switch destination {
        case .stdout: return 1
        case .stderr: return 2
        case .off: return -1
        case .file(let path): return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        }
    }

    private func writerLoop() {
        var fd = openFile()
        while true {
            wake.lock()
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            ts.tv_nsec += 100_000_000
            if ts.tv_nsec >= 1_000_000_000 { ts.tv_sec += 1; ts.tv_nsec -= 1_000_000_000 }
            wake.timedWait(&ts)
            wake.unlock()
            let (data, stopping, reopen, dropped) = state.withLock { s -> ([UInt8], Bool, Bool, Int) in
                let d = s.buffer; s.buffer = []
                let r = s.reopen; s.reopen = false
                let n = s.dropped; s.dropped = 0
                return (d, s.stopping, r, n)
            }
            if fd >= 0 {
                if dropped > 0 { writeAll(fd, Array("flaks: \(dropped) log lines dropped: the log destination did not keep up\n".utf8)) }
                if !data.isEmpty { writeAll(fd, data) }
            }
            if reopen, case .file = destination {
                if fd > 2 { close(fd) }
                fd = openFile()
            }
            if stopping {
                if fd > 2 { close(fd) }
                state.withLock { $0.finished = true }
                return
            }
        }
    }

    private func writeAll(_ fd: Int32, _ data: [UInt8]) {
        data.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = write(fd, p.baseAddress! + off, p.count - off)
                if n < 0 { if errno == EINTR { continue }; return }
                off += n
            }
        }
    }
}

func escapeQuoted(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        default:
            if u.value < 0x20 || u.value == 0x7F { out += "\\x" + String(u.value, radix: 16) } else { out.unicodeScalars.append(u) }
        }
    }
    return out
}

func escapeJSON(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            } else { out.unicodeScalars.append(u) }
        }
    }
    return out
}

/// Calendar formatting without Foundation.
enum CivilTime {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// (year, month 1-12, day, hour, minute, second) in UTC.
    static func components(_ t: Int) -> (Int, Int, Int, Int, Int, Int) {
        let (y, m, d, secs) = HTTPDate.components(secondsSince1970: t)
        return (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
    }

    static func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// `10/Oct/2000:13:55:36 +0000`
    static func commonLogTime(_ t: Int) -> String {
        let (y, m, d, h, mi, s) = components(t)
        return "\(two(d))/\(months[m - 1])/\(y):\(two(h)):\(two(mi)):\(two(s)) +0000"
    }

    /// `2000-10-10T13:55:36Z`
    static func iso8601(_ t: Int) -> String {
        let (y, m, d, h, mi, s) = components(t)
        return "\(y)-\(two(m))-\(two(d))T\(two(h)):\(two(mi)):\(two(s))Z"
    }
}
