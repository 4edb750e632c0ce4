#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
@testable import FlaksACME
@testable import FlaksTLS

/// A free loopback TCP port (bound, read, closed; the caller hands it to a child at once).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } } == 0
    guard ok else { throw CertificateError.openSSL("bind: \(errno)") }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

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

/// Whether something accepts connections on 127.0.0.1:`port`.
func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
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

/// Runs pebble (and pebble-challtestsrv as its DNS, answering every name with 127.0.0.1) on
/// loopback ports with a listener certificate from a throwaway test CA. `stop()` ends both by pid.
final class Pebble {
    let dir: String
    let acmePort: Int, managementPort: Int, httpPort: Int, tlsPort: Int, dnsPort: Int
    let pebble = Process()
    let dns = Process()
    var directoryURL: String { "https://127.0.0.1:\(acmePort)/dir" }
    var caFile: String { dir + "/test-ca.pem" }

    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/pebble")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/pebble-challtestsrv")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")
    }

    init(nonceReject: Int) throws {
        dir = NSTemporaryDirectory() + "flaks-pebble-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        acmePort = try freeLoopbackPort(); managementPort = try freeLoopbackPort()
        httpPort = try freeLoopbackPort(); tlsPort = try freeLoopbackPort(); dnsPort = try freeLoopbackPort()
        let now = UnixTime.now()
        let caKey = try PrivateKey.generate(.ecdsaP256)
        let ca = try CertificateFactory.makeCA(commonName: "Flaks pebble test CA", key: caKey, notBefore: now - 3600, notAfter: now + 86400)
        let key = try PrivateKey.generate(.ecdsaP256)
        let cert = try CertificateFactory.makeCertificate(commonName: "localhost", names: ["localhost", "127.0.0.1"], key: key,
                                                          issuer: (ca, caKey), notBefore: now - 3600, notAfter: now + 86400)
        try ca.pem.write(toFile: caFile, atomically: true, encoding: .utf8)
        try cert.pem.write(toFile: dir + "/cert.pem", atomically: true, encoding: .utf8)
        try key.pem.write(toFile: dir + "/key.pem", atomically: true, encoding: .utf8)
        let config = """
            {"pebble": {"listenAddress": "127.0.0.1:\(acmePort)", "managementListenAddress": "127.0.0.1:\(managementPort)",
              "certificate": "\(dir)/cert.pem", "privateKey": "\(dir)/key.pem", "httpPort": \(httpPort), "tlsPort": \(tlsPort),
              "ocspResponderURL": "", "externalAccountBindingRequired": false}}
            """
        try config.write(toFile: dir + "/pebble.json", atomically: true, encoding: .utf8)

        dns.executableURL = URL(fileURLWithPath: "/usr/bin/pebble-challtestsrv")
        dns.arguments = ["-dns01", "127.0.0.1:\(dnsPort)", "-http01", "", "-https01", "", "-tlsalpn01", "",
                         "-management", "127.0.0.1:\(try freeLoopbackPort())", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]
        dns.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        dns.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try dns.run()

        pebble.executableURL = URL(fileURLWithPath: "/usr/bin/pebble")
        pebble.arguments = ["-config", dir + "/pebble.json", "-dnsserver", "127.0.0.1:\(dnsPort)", "-strict=false"]
        var env = ProcessInfo.processInfo.environment
        env["PEBBLE_VA_NOSLEEP"] = "1"
        env["PEBBLE_WFE_NONCEREJECT"] = String(nonceReject)
        env["PEBBLE_AUTHZREUSE"] = "0"
        pebble.environment = env
        FileManager.default.createFile(atPath: dir + "/pebble.log", contents: nil)
        pebble.standardOutput = FileHandle(forWritingAtPath: dir + "/pebble.log")
        pebble.standardError = FileHandle(forWritingAtPath: dir + "/pebble.log")
        try pebble.run()
        for _ in 0..<100 where !canConnect(port: acmePort) { usleep(100_000) }
    }

    var log: String { (try? String(contentsOfFile: dir + "/pebble.log", encoding: .utf8)) ?? "" }

    /// Ends pebble and the DNS server (SIGTERM to their pids) and removes the files.
    func stop() {
        for p in [pebble, dns] where p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
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
