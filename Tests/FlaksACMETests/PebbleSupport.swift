#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import FlaksTestSupport
@testable import FlaksACME
@testable import FlaksTLS

/// A listening loopback socket on `port`.
func listenLoopback(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    let len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } } == 0
    guard ok, listen(fd, 16) == 0 else { close(fd); throw CertificateError.openSSL("bind/listen \(port): \(errno)") }
    return fd
}

/// A blocking loopback server that answers each connection on a thread (HTTP-01 or TLS-ALPN-01
/// responder for pebble's validation authority). `stop()` shuts the socket down and joins.
final class BlockingResponder: Sendable {
    let fd: Int32
    let served = Mutex<[String]>([])
    private let stopped = DispatchSemaphore(value: 0)

    init(port: Int, handle: @escaping @Sendable (Int32) -> String) throws {
        fd = try listenLoopback(port: port)
        let listener = fd
        Thread.detachNewThread { [self] in
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { break }
                var tv = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                let line = handle(c)
                close(c)
                served.withLock { $0.append(line) }
            }
            stopped.signal()
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        _ = stopped.wait(timeout: .now() + 5)
        close(fd)
    }

    /// HTTP-01: reads one request head and answers it from `responder` (404 if unknown).
    static func http01(_ responder: ACMEChallengeResponder) -> @Sendable (Int32) -> String {
        { c in
            var head: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while head.count < 16384, !head.ends(with: Array("\r\n\r\n".utf8)) {
                let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                head += buf[0..<n]
            }
            let requestLine = String(decoding: head.prefix { $0 != 0x0D }, as: UTF8.self)
            let parts = requestLine.split(separator: " ")
            let path = parts.count > 1 ? String(parts[1]) : ""
            let body = responder.response(forPath: path)
            let status = body == nil ? "404 Not Found" : "200 OK"
            let b = body ?? Array("not found".utf8)
            let out = Array("HTTP/1.1 \(status)\r\nContent-Type: application/octet-stream\r\nContent-Length: \(b.count)\r\nConnection: close\r\n\r\n".utf8) + b
            _ = out.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            return "\(requestLine) -> \(status)"
        }
    }

    /// TLS-ALPN-01: a TLS handshake with `context` (the store holds the challenge certificate),
    /// driven over the socket the way a loop drives `TLSSession`.
    static func tlsALPN01(_ context: TLSServerContext) -> @Sendable (Int32) -> String {
        { c in
            guard let session = try? context.makeSession() else { return "no session" }
            var buf = [UInt8](repeating: 0, count: 34 * 1024)
            func flush() {
                let out = session.takeOutput()
                var off = 0
                while off < out.count {
                    let w = out[off...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if w <= 0 { return }
                    off += w
                }
            }
            for _ in 0..<100 {
                let cap = min(buf.count, session.inputCapacity)
                let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, cap, 0) }
                if n <= 0 { return "eof before the handshake completed" }
                _ = session.feed(Array(buf[0..<n]))
                switch session.handshake() {
                case .wantsInput: flush()
                case .complete(let info):
                    flush()
                    session.shutdown()
                    flush()
                    return "handshake sni=\(info.serverName ?? "-") alpn=\(info.alpn ?? "-") acme=\(info.isACMEChallenge)"
                case .failed(let f):
                    flush()
                    return "failed \(f.kind) \(f.reason)"
                }
            }
            return "too many rounds"
        }
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}

/// A blocking HTTPS transport for the tests: one curl process per request, trusting `caFile`
/// (the test CA that signed pebble's listener certificate).
struct CurlTransport {
    let caFile: String
    let workDir: String

    func perform(_ request: ACMEHTTPRequest) -> ACMEHTTPResponse? {
        let id = UUID().uuidString
        let headerFile = workDir + "/h-\(id)", bodyFile = workDir + "/b-\(id)", inFile = workDir + "/in-\(id)"
        defer { for f in [headerFile, bodyFile, inFile] { try? FileManager.default.removeItem(atPath: f) } }
        var args = ["-sS", "--max-time", "20", "--cacert", caFile, "-D", headerFile, "-o", bodyFile, "-w", "%{http_code}"]
        switch request.method {
        case .head: args.append("--head")
        case .get: break
        case .post:
            FileManager.default.createFile(atPath: inFile, contents: Data(request.body))
            args += ["-X", "POST", "--data-binary", "@" + inFile]
        }
        for h in request.headers { args += ["-H", "\(h.name): \(h.value)"] }
        args.append(request.url)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let code = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let status = Int(String(decoding: code, as: UTF8.self)) else { return nil }
        var headers: [ACMEHeader] = []
        let text = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\r\n") {
            if line.hasPrefix("HTTP/") { headers = []; continue }   // keep the last block
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(ACMEHeader(String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        let body = (try? Data(contentsOf: URL(fileURLWithPath: bodyFile))).map { Array($0) } ?? []
        return ACMEHTTPResponse(status: status, headers: headers, body: body)
    }
}

/// Whether the pebble tests can run here: pebble and its DNS (FlaksTestSupport's `Pebble`), and curl.
var pebbleAndCurlAvailable: Bool {
    Pebble.available && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")
}

/// Drives an order machine against a real CA with blocking I/O and the real clock (what the
/// executor does on the loops, in a straight line).
func driveBlocking(_ machine: inout ACMEOrderMachine, transport: CurlTransport, responder: ACMEChallengeResponder,
                   store: CertificateStore?, log: inout [String]) -> ACMENext {
    var step = machine.start(now: UnixTime.now())
    for _ in 0..<500 {
        for e in step.effects {
            log.append("effect \(e)")
            switch e {
            case .serveTLSALPN01(let name, let cert): store?.setChallengeCertificate(cert, forName: name)
            case .withdrawTLSALPN01(let name): store?.setChallengeCertificate(nil, forName: name)
            default: responder.perform(e)
            }
        }
        switch step.next {
        case .send(let r):
            log.append("\(r.method.rawValue) \(r.url)")
            if let resp = transport.perform(r) {
                if resp.status >= 400 { log.append("  -> \(resp.status) \(String(decoding: resp.body.prefix(300), as: UTF8.self))") }
                step = machine.received(resp, now: UnixTime.now())
            } else {
                step = machine.transportFailed("curl failed", now: UnixTime.now())
            }
        case .run(let job): step = machine.cryptoFinished(job.run(now: UnixTime.now()), now: UnixTime.now())
        case .sleep(let until):
            while UnixTime.now() < until { usleep(200_000) }
            step = machine.timerFired(now: UnixTime.now())
        case .finished, .failed: return step.next
        }
    }
    return step.next
}
