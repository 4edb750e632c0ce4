#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Foundation

/// A raw HTTP/1.1 test client over a blocking loopback socket, with a receive timeout so no test hangs.
public final class TestClient: @unchecked Sendable {  // used by one thread at a time
    public let fd: Int32
    private var buffer: [UInt8] = []
    /// The TLS session over `fd`, when connected with `tls:` (OpenSSL on the blocking socket).
    private var ssl: OpaquePointer?
    /// TLS: the server's close_notify arrived (a clean end of the stream, not a bare TCP close).
    public private(set) var sawCloseNotify = false
    private var sslCtx: OpaquePointer?

    /// A TLS client's settings: the CA file to trust, the SNI name (nil: none sent), versions, ALPN.
    public struct TLSOptions: Sendable {
        public var caFile: String
        public var serverName: String?
        public var minVersion: Int32
        public var maxVersion: Int32
        public var alpn: [String]
        /// A session of an earlier connection to offer for resumption.
        public var session: TLSClientSession?
        public init(caFile: String, serverName: String? = nil, minVersion: Int32 = TLS1_2_VERSION,
                    maxVersion: Int32 = TLS1_3_VERSION, alpn: [String] = ["http/1.1"], session: TLSClientSession? = nil) {
            self.caFile = caFile; self.serverName = serverName; self.minVersion = minVersion
            self.maxVersion = maxVersion; self.alpn = alpn; self.session = session
        }
    }

    /// A TLS session kept from one connection to resume on the next (OpenSSL's SSL_SESSION).
    public final class TLSClientSession: @unchecked Sendable {  // immutable; freed once
        let pointer: OpaquePointer
        init(_ p: OpaquePointer) { pointer = p }
        deinit { SSL_SESSION_free(pointer) }
    }

    /// The session of this TLS connection, for resumption (with TLS 1.3 the server sends its ticket
    /// after the handshake: take it after a response was read).
    public var session: TLSClientSession? {
        guard let ssl, let p = SSL_get1_session(ssl) else { return nil }
        return TLSClientSession(p)
    }

    /// Whether the handshake resumed the offered session.
    public var sessionReused: Bool { ssl.map { SSL_session_reused($0) == 1 } ?? false }

    /// A parsed response.
    public struct Response: Sendable {
        public var status: Int
        public var reason: String
        public var headers: [(String, String)]
        public var body: [UInt8]
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
        public var text: String { String(decoding: body, as: UTF8.self) }
        public init(status: Int, reason: String, headers: [(String, String)], body: [UInt8]) {
            self.status = status; self.reason = reason; self.headers = headers; self.body = body
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// `timeout` bounds every read and write: generous, because under a sanitizer and a full test pool a
    /// healthy answer can take seconds; it only decides how long a failing test takes.
    /// `source`: a local address to connect from (another loopback address, such as 127.0.0.2).
    /// `tls`: handshake over the connection (verifying the server's chain against the CA file).
    /// `receiveBuffer`: SO_RCVBUF, set before connecting (so the window the client offers stays
    /// that small): a test of back-pressure then needs far fewer bytes to fill what is in flight.
    public init(port: Int, host: String = "127.0.0.1", timeout: Double = 20, source: String? = nil,
                tls: TLSOptions? = nil, receiveBuffer: Int? = nil) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let source, !v6 {
            var b = sockaddr_in()
            b.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &b.sin_addr)
            let br = withUnsafePointer(to: &b) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard br == 0 else { throw Failure(description: "bind \(source): \(errno)") }
        }
        let r: Int32
        if v6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &a.sin6_addr)
            r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &a.sin_addr)
            r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        // No close here: the instance is fully initialized, so a throw still runs deinit, which
        // closes the descriptor. Closing it here too closed it twice, and under a parallel test
        // run the second close hit whatever descriptor another thread had just been given that
        // number (TSan CI: a server's epoll_ctl(ADD) failed with EBADF).
        guard r == 0 else { throw Failure(description: "connect: \(errno)") }
        if let tls { try handshake(tls) }
    }

    deinit {
        if let ssl { SSL_free(ssl) }
        if let sslCtx { SSL_CTX_free(sslCtx) }
        if fd >= 0 { close(fd) }
    }

    private func handshake(_ o: TLSOptions) throws {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw Failure(description: "SSL_CTX_new") }
        sslCtx = ctx
        _ = copenssl_ctx_set_min_proto(ctx, o.minVersion)
        _ = copenssl_ctx_set_max_proto(ctx, o.maxVersion)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        guard SSL_CTX_load_verify_locations(ctx, o.caFile, nil) == 1 else { throw Failure(description: "load CA \(o.caFile)") }
        guard let s = SSL_new(ctx) else { throw Failure(description: "SSL_new") }
        ssl = s
        SSL_set_fd(s, fd)
        if let n = o.serverName {
            _ = copenssl_set_tlsext_host_name(s, n)
            _ = SSL_set1_host(s, n)
        }
        if let session = o.session { _ = SSL_set_session(s, session.pointer) }
        if !o.alpn.isEmpty {
            var wire: [UInt8] = []
            for p in o.alpn { wire.append(UInt8(p.utf8.count)); wire += Array(p.utf8) }
            _ = SSL_set_alpn_protos(s, wire, UInt32(wire.count))
        }
        let r = SSL_connect(s)
        guard r == 1 else {
            throw Failure(description: "TLS handshake failed (SSL_get_error \(SSL_get_error(s, r)), \(ERR_get_error()))")
        }
    }

    /// The negotiated protocol version ("TLSv1.3"), when TLS.
    public var tlsVersion: String? { ssl.map { String(cString: SSL_get_version($0)) } }

    /// The subject CN of the certificate the server sent, when TLS.
    public var peerCommonName: String? {
        guard let ssl, let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        var buf = [CChar](repeating: 0, count: 256)
        let n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, &buf, Int32(buf.count))
        return n > 0 ? String(cString: buf) : nil
    }

    /// A hex fingerprint (SHA-256 of the DER) of the server's certificate, when TLS.
    public var peerCertificateFingerprint: String? {
        guard let ssl, let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        var md = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        guard X509_digest(cert, EVP_sha256(), &md, &len) == 1 else { return nil }
        return md.prefix(Int(len)).map { String(format: "%02x", $0) }.joined()
    }

    /// The ALPN protocol the server chose, when TLS.
    public var alpnProtocol: String? {
        guard let ssl else { return nil }
        var data: UnsafePointer<UInt8>?
        var len: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &len)
        guard let data, len > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(len)), as: UTF8.self)
    }

    /// Shuts both directions now (the descriptor is closed by deinit).
    public func hangUp() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Shuts the write side only (`nc -N`): the request is complete, the answer is still wanted.
    public func halfClose() { shutdown(fd, Int32(SHUT_WR)) }

    /// Makes the close abortive (SO_LINGER 0: an RST instead of a FIN) and shuts both directions.
    public func reset() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        if let ssl {
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
                guard n > 0 else { throw Failure(description: "SSL_write: \(SSL_get_error(ssl, n))") }
                off += Int(n)
            }
            return
        }
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; throw Failure(description: "send: \(errno)") }
            off += n
        }
    }

    /// Reads more bytes into the buffer; false on EOF. Throws on timeout or reset.
    @discardableResult
    public func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        if let ssl {
            let n = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if n > 0 { buffer.append(contentsOf: chunk[0..<Int(n)]); return true }
            let e = SSL_get_error(ssl, n)
            if e == SSL_ERROR_ZERO_RETURN { sawCloseNotify = true; return false }
            if e == SSL_ERROR_SYSCALL && errno == 0 { return false }
            throw Failure(description: "SSL_read: error \(e), errno \(errno)")
        }
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 {
            if errno == EINTR { return try fill() }
            throw Failure(description: errno == EAGAIN ? "read timed out" : "recv: errno \(errno)")
        }
        if n == 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// Reads one response. `head` = the request was HEAD (no body follows).
    public func readResponse(head: Bool = false) throws -> Response {
        var headEnd: Int?
        while headEnd == nil {
            headEnd = findCRLFCRLF()
            if headEnd == nil { guard try fill() else { throw Failure(description: "EOF before response head (\(buffer.count) bytes)") } }
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(description: "bad status line \(statusLine)") }
        var headers: [(String, String)] = []
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers.append((String(l[..<c]), l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)))
        }
        var r = Response(status: status, reason: parts.count > 2 ? String(parts[2]) : "", headers: headers, body: [])
        if status < 200 { return r }
        if head || status == 204 || status == 304 { return r }
        if let te = r.header("Transfer-Encoding"), te.lowercased().contains("chunked") {
            r.body = try readChunked()
        } else if let cl = r.header("Content-Length"), let n = Int(cl) {
            while buffer.count < n { guard try fill() else { throw Failure(description: "EOF in body") } }
            r.body = Array(buffer[0..<n])
            buffer.removeFirst(n)
        } else {
            while try fill() {}
            r.body = buffer
            buffer = []
        }
        return r
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10), i > 0, buffer[i - 1] == 13 {
                let line = String(decoding: buffer[0..<(i - 1)], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return line
            }
            guard try fill() else { throw Failure(description: "EOF in chunked body") }
        }
    }

    private func readChunked() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let sizeLine = try readLine()
            guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw Failure(description: "bad chunk size \(sizeLine)") }
            if size == 0 {
                while try readLine() != "" {}
                return body
            }
            while buffer.count < size + 2 { guard try fill() else { throw Failure(description: "EOF in chunk") } }
            body.append(contentsOf: buffer[0..<size])
            buffer.removeFirst(size + 2)
        }
    }

    private func findCRLFCRLF() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { return i }
        return nil
    }

    /// True when the server closed the connection (EOF) within the timeout, with no more bytes.
    public func isClosedByPeer() -> Bool {
        do { return try !fill() && buffer.isEmpty } catch { return (error as? Failure)?.description.contains("errno 104") ?? false }
    }

    /// Bytes received but not yet consumed by readResponse.
    public var leftover: [UInt8] { buffer }

    /// Drops `n` received bytes (a caller that parsed them itself).
    public func consume(_ n: Int) { buffer.removeFirst(min(n, buffer.count)) }

    /// One request on a fresh connection.
    public static func get(port: Int, _ path: String, host: String = "localhost", headers: [String: String] = [:],
                           source: String? = nil) throws -> Response {
        let c = try TestClient(port: port, source: source)
        var req = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n"
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        try c.send(req + "\r\n")
        return try c.readResponse()
    }
}
