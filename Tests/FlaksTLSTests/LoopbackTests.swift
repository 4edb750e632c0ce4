#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
@testable import FlaksTLS

/// A tiny blocking TLS server over a real loopback socket, driving `TLSSession` the way an event
/// loop would (read at most `inputCapacity`, feed, step, send all output), to show that real
/// clients (curl, openssl s_client) interoperate. It answers each connection with one response
/// and closes with close_notify.
final class LoopbackTLSServer: Sendable {
    let port: Int
    private let listenFD: Int32
    private let done = Mutex<[String]>([])
    private let finished = DispatchSemaphore(value: 0)
    /// Seconds the last response body took to encrypt and send, and its size.
    let lastTransfer = Mutex<(seconds: Double, bytes: Int)>((0, 0))

    /// Serves `connections` connections on a thread; `bodySize` 0 answers a short text naming the
    /// SNI, version and ALPN, otherwise that many bytes (a "large file", sent through a bounded
    /// 64 KiB plaintext buffer).
    init(context: TLSServerContext, connections: Int, bodySize: Int = 0) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        listenFD = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0, listen(fd, 8) == 0 else { close(fd); throw CertificateError.openSSL("bind/listen: \(errno)") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        start(context: context, connections: connections, bodySize: bodySize)
    }

    private func start(context: TLSServerContext, connections: Int, bodySize: Int) {
        let fd = listenFD
        Thread.detachNewThread { [self] in
            for _ in 0..<connections {
                let c = accept(fd, nil, nil)
                if c < 0 { break }
                var tv = timeval(tv_sec: 20, tv_usec: 0)
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                let outcome = serve(c, context: context, bodySize: bodySize)
                close(c)
                done.withLock { $0.append(outcome) }
            }
            finished.signal()
        }
    }

    deinit { close(listenFD) }

    /// Waits for the served connections; returns one line per connection ("ok ..." or the failure).
    func outcomes() -> [String] {
        _ = finished.wait(timeout: .now() + 60)
        return done.withLock { $0 }
    }

    private func sendAll(_ fd: Int32, _ session: TLSSession) -> Bool {
        var out = [UInt8](repeating: 0, count: 64 * 1024 + 1024)
        while session.pendingOutput > 0 {
            let n = out.withUnsafeMutableBytes { session.takeOutput(into: $0) }
            var off = 0
            while off < n {
                let w = out[off..<n].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if w <= 0 { return false }
                off += w
            }
        }
        return true
    }

    /// Reads once from the socket into the session; false on EOF or error.
    private func readOnce(_ fd: Int32, _ session: TLSSession, _ buf: inout [UInt8]) -> Bool {
        let cap = min(buf.count, session.inputCapacity)
        guard cap > 0 else { return true }
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, cap, 0) }
        if n <= 0 { return false }
        return buf[0..<n].withUnsafeBytes { session.feed($0) } == n
    }

    private func serve(_ fd: Int32, context: TLSServerContext, bodySize: Int) -> String {
        guard let session = try? context.makeSession() else { return "no session" }
        var buf = [UInt8](repeating: 0, count: 16 * 1024)
        var info: TLSConnectionInfo?
        while info == nil {
            switch session.handshake() {
            case .complete(let i): info = i
            case .failed(let f):
                _ = sendAll(fd, session)
                return "failed \(f.kind.rawValue)"
            case .wantsInput:
                guard sendAll(fd, session), readOnce(fd, session, &buf) else { return "eof in handshake" }
            }
        }
        guard let info, sendAll(fd, session) else { return "send failed" }
        // Read the request head.
        var request: [UInt8] = []
        var plain = [UInt8](repeating: 0, count: 16 * 1024)
        while !request.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)) {
            switch plain.withUnsafeMutableBytes({ session.readPlaintext(into: $0) }) {
            case .bytes(let n): request += plain[0..<n]
            case .wantsInput:
                guard sendAll(fd, session), readOnce(fd, session, &buf) else { return "eof before request" }
            case .closed: return "closed before request"
            case .failed(let f): return "read failed \(f)"
            }
        }
        let text = "sni=\(info.serverName ?? "-") version=\(info.version) alpn=\(info.alpn ?? "-")\n"
        let bodyLength = bodySize > 0 ? bodySize : text.utf8.count
        let head = "HTTP/1.1 200 OK\r\nContent-Length: \(bodyLength)\r\nConnection: close\r\n\r\n"
        guard case .accepted = session.writePlaintext(Array(head.utf8)) else { return "write failed" }
        let start = DispatchTime.now()
        if bodySize == 0 {
            _ = session.writePlaintext(Array(text.utf8))
        } else {
            // A bounded buffer refilled like pread(2) of a file, encrypted as the output drains.
            let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
            var sent = 0
            while sent < bodySize {
                let want = min(chunk.count, bodySize - sent, session.outputCapacity)
                if want > 0 {
                    guard case .accepted(let n) = chunk[0..<want].withUnsafeBytes({ session.writePlaintext($0) }) else { return "write failed" }
                    sent += n
                }
                guard sendAll(fd, session) else { return "send failed" }
            }
        }
        session.shutdown()
        guard sendAll(fd, session) else { return "send failed" }
        if bodySize > 0 {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            lastTransfer.withLock { $0 = (seconds, bodySize) }
        }
        return "ok \(info.serverName ?? "-") \(info.version) \(info.alpn ?? "-")"
    }
}

/// Runs a program and returns (exit status, stdout, stderr).
func run(_ argv: [String], stdin: String? = nil) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite("TLS over real loopback sockets with curl and openssl", .serialized, .timeLimit(.minutes(2)))
struct LoopbackTests {
    let pki = TestPKI.shared

    /// The CA file clients trust. The real clients check validity against the wall clock, so
    /// these certificates are made for the current time.
    func liveContext(dir: TempDir) throws -> (TLSServerContext, String) {
        let now = UnixTime.now()
        let caKey = try PrivateKey.generate()
        let ca = try CertificateFactory.makeCA(commonName: "Loopback CA", key: caKey, notBefore: now - 3600, notAfter: now + 86400)
        func leaf(_ names: [String], _ kind: PrivateKey.Kind) throws -> ServerCertificate {
            try TestPKI.leaf(names, ca: ca, caKey: caKey, kind: kind, notBefore: now - 3600, notAfter: now + 86400)
        }
        let store = try CertificateStore(hosts: [.init(index: 0, names: ["a.test"], certificate: try leaf(["a.test"], .ecdsaP256)),
                                                 .init(index: 1, names: ["b.test"], certificate: try leaf(["b.test"], .rsa(bits: 2048)))])
        let caPath = try dir.write("ca.pem", ca.pem)
        return (try TLSServerContext(store: store, tickets: try TicketKeyRing()), caPath)
    }

    @Test func curlOverTLS13And12() throws {
        let dir = try TempDir()
        let (ctx, ca) = try liveContext(dir: dir)
        let server = try LoopbackTLSServer(context: ctx, connections: 3)
        let url = "https://a.test:\(server.port)/"
        let resolve = ["--resolve", "a.test:\(server.port):127.0.0.1", "--resolve", "b.test:\(server.port):127.0.0.1"]
        let (s13, o13, e13) = try run(["/usr/bin/curl", "-sS", "--max-time", "20", "--cacert", ca] + resolve + [url])
        #expect(s13 == 0, "\(e13)")
        #expect(o13 == "sni=a.test version=TLSv1.3 alpn=http/1.1\n")
        let (s12, o12, e12) = try run(["/usr/bin/curl", "-sS", "--max-time", "20", "--tlsv1.2", "--tls-max", "1.2", "--cacert", ca]
                                      + resolve + ["https://b.test:\(server.port)/"])
        #expect(s12 == 0, "\(e12)")
        #expect(o12 == "sni=b.test version=TLSv1.2 alpn=http/1.1\n")
        // Plain HTTP to the TLS port: only that connection fails, at once.
        let (sPlain, _, _) = try run(["/usr/bin/curl", "-sS", "--max-time", "20", "http://127.0.0.1:\(server.port)/"])
        #expect(sPlain != 0)
        #expect(server.outcomes() == ["ok a.test TLSv1.3 http/1.1", "ok b.test TLSv1.2 http/1.1", "failed plain_http"])
    }

    @Test func opensslSClient() throws {
        let dir = try TempDir()
        let (ctx, ca) = try liveContext(dir: dir)
        let server = try LoopbackTLSServer(context: ctx, connections: 1)
        let (status, out, err) = try run(["/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:\(server.port)",
                                          "-servername", "b.test", "-verify_hostname", "b.test", "-CAfile", ca,
                                          "-verify_return_error", "-alpn", "http/1.1", "-quiet"],
                                         stdin: "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n")
        #expect(status == 0, "\(err)")
        #expect(out.hasSuffix("sni=b.test version=TLSv1.3 alpn=http/1.1\n"), "\(out)")
        #expect(server.outcomes() == ["ok b.test TLSv1.3 http/1.1"])
    }

    /// The buffered large-file path (no kTLS here): 64 MiB through curl, timed on the server.
    @Test func largeBodyThroughTheBufferedPath() throws {
        let dir = try TempDir()
        let (ctx, ca) = try liveContext(dir: dir)
        let size = 64 << 20
        let server = try LoopbackTLSServer(context: ctx, connections: 1, bodySize: size)
        let (status, out, err) = try run(["/usr/bin/curl", "-sS", "--max-time", "60", "--cacert", ca,
                                          "--resolve", "a.test:\(server.port):127.0.0.1", "-o", "/dev/null",
                                          "-w", "%{size_download}", "https://a.test:\(server.port)/"])
        #expect(status == 0, "\(err)")
        #expect(out == "\(size)")
        #expect(server.outcomes() == ["ok a.test TLSv1.3 http/1.1"])
        let t = server.lastTransfer.withLock { $0 }
        print("buffered TLS send: \(t.bytes >> 20) MiB in \(String(format: "%.2f", t.seconds)) s = \(String(format: "%.0f", Double(t.bytes) / 1_048_576 / t.seconds)) MiB/s; \(KernelTLS.status())")
    }
}
