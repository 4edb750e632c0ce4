#if canImport(Glibc)
import Glibc
#endif
import FlaksACME
import FlaksHTTP
import FlaksTLS

/// How the ACME executor sends one request to the CA and gets the whole answer. The real one is
/// `ACMEHTTPSClient`; tests may substitute their own.
protocol ACMETransport: Sendable {
    /// Blocking: runs on the ACME thread, never on a loop. `.failure(reason)` for connect, TLS,
    /// timeout, a malformed answer or a body over the limit (the machine's `transportFailed`).
    func perform(_ request: ACMEHTTPRequest) -> Result<ACMEHTTPResponse, ACMETransportError>
}

/// Why a request did not get an answer.
struct ACMETransportError: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A blocking HTTP/1.1 client over TLS (`TLSClientSession`, verifying against the system's roots
/// plus `tls.acme.ca_roots`) for the ACME executor's requests to its CA: one connection per
/// request (`Connection: close`), the answer parsed by FlaksHTTP's `ResponseParser` (the same
/// framing rules as the proxy: Content-Length, chunked, or until close; none for HEAD).
///
/// It blocks the calling thread (the ACME thread: orders are rare and a handful of requests
/// each) but never longer than `timeout` per request, and it polls in short slices so that
/// `cancelled` (the server stopping, the host removed) ends it within a quarter second.
struct ACMEHTTPSClient: ACMETransport {
    let tls: TLSClientContext
    /// Whole request, connect to last byte, seconds. Default 30.
    var timeout: Int64 = 30
    /// The largest body accepted (`ACMELimits.maxResponseBody`); more is a transport failure.
    var maxResponseBody: Int = 1 << 20
    /// Checked between poll slices.
    var cancelled: @Sendable () -> Bool = { false }
    /// Sent when the request has none.
    var userAgent = "flaks/\(FlaksVersion.string)"

    func perform(_ request: ACMEHTTPRequest) -> Result<ACMEHTTPResponse, ACMETransportError> {
        guard let url = ACMEURL(request.url) else { return .failure(ACMETransportError("not an absolute http(s) URL: \(request.url)")) }
        let deadline = monotonicNanos() &+ UInt64(max(timeout, 1)) * 1_000_000_000
        let addresses = SocketAddress.resolve(host: url.host, port: url.port)
        guard !addresses.isEmpty else { return .failure(ACMETransportError("cannot resolve \(url.host)")) }
        let socket: BlockingSocket
        do { socket = try BlockingSocket.connect(addresses, deadline: deadline, cancelled: cancelled) } catch {
            return .failure(ACMETransportError("connect to \(url.authority): \(error.description)"))
        }
        defer { socket.close() }
        let stream: any ACMEByteStream
        if url.isHTTPS {
            let session: TLSClientSession
            do { session = try tls.makeSession(host: url.host) } catch {
                return .failure(ACMETransportError("TLS with \(url.authority): \(error.description)"))
            }
            let tlsStream = TLSByteStream(socket: socket, session: session)
            do { try tlsStream.handshake() } catch {
                return .failure(ACMETransportError("TLS with \(url.authority): \(error.description)"))
            }
            stream = tlsStream
        } else {
            stream = socket
        }
        do {
            try stream.write(Self.encode(request, url: url, userAgent: userAgent))
            return .success(try read(from: stream, method: request.method))
        } catch {
            return .failure(ACMETransportError("\(request.method.rawValue) \(url.authority)\(url.target): \(error.description)"))
        }
    }

    /// The request on the wire: request line, Host, the machine's fields, Content-Length for a
    /// POST (RFC 9110 §8.6), `Connection: close`, the body.
    static func encode(_ r: ACMEHTTPRequest, url: ACMEURL, userAgent: String) -> [UInt8] {
        var head = "\(r.method.rawValue) \(url.target) HTTP/1.1\r\nHost: \(url.authority)\r\n"
        for h in r.headers where !Self.framingFields.contains(h.name.lowercased()) {
            head += "\(h.name): \(h.value)\r\n"
        }
        if r.header("User-Agent") == nil { head += "User-Agent: \(userAgent)\r\n" }
        if r.method == .post || !r.body.isEmpty { head += "Content-Length: \(r.body.count)\r\n" }
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + r.body
    }

    /// Fields the client frames itself; the machine's copies are dropped.
    static let framingFields: Set<String> = ["host", "content-length", "connection", "transfer-encoding"]

    /// Reads one response (interim 1xx skipped) with the parser's framing.
    private func read(from stream: any ACMEByteStream, method: ACMEHTTPRequest.Method) throws(ACMETransportError) -> ACMEHTTPResponse {
        var parser = ResponseParser(limits: ResponseParseLimits(maxHead: 16 * 1024, maxHeaderCount: 100, maxBody: maxResponseBody))
        parser.startResponse(to: HTTPMethod(rawValue: method.rawValue) ?? .GET)
        var buffer: [UInt8] = []
        var head: ResponseHead?
        var body: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var eof = false
        while true {
            // Take every event the buffered bytes give.
            while true {
                let parsed = buffer.withUnsafeBytes { p in Result { () throws(ResponseParseError) in try parser.parse(p) } }
                let result: ResponseParseResult
                switch parsed {
                case .success(let r): result = r
                case .failure(let error):
                    throw ACMETransportError(error == .bodyTooLarge ? "the response body is over \(maxResponseBody) bytes" : error.description)
                }
                switch result.event {
                case .needMoreBytes: break
                case .interim: break
                case .head(let h): head = h
                case .switchingProtocols: throw ACMETransportError("unexpected 101 Switching Protocols")
                case .body(let range): body.append(contentsOf: buffer[range])
                case .trailers: break
                case .end:
                    guard let head else { throw ACMETransportError("a response without a head") }
                    return ACMEHTTPResponse(status: head.status.code, headers: head.headers.map { ACMEHeader($0.name, $0.value) },
                                            body: body)
                }
                buffer.removeFirst(result.consumed)
                if case .needMoreBytes = result.event { break }
            }
            if eof {
                let event: ResponseEvent?
                do { event = try parser.inputEnded() } catch { throw ACMETransportError(error.description) }
                guard let event, case .end = event, let head else {
                    throw ACMETransportError("the CA closed the connection before answering")
                }
                return ACMEHTTPResponse(status: head.status.code, headers: head.headers.map { ACMEHeader($0.name, $0.value) },
                                        body: body)
            }
            let n = try chunk.withUnsafeMutableBytes { p in Result { () throws(ACMETransportError) in try stream.read(into: p) } }.get()
            if n == 0 { eof = true } else { buffer.append(contentsOf: chunk[0..<n]) }
        }
    }
}

/// A byte stream the client reads and writes (the socket, or TLS over it).
protocol ACMEByteStream {
    func write(_ bytes: [UInt8]) throws(ACMETransportError)
    /// Bytes read into `buffer`; 0 at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ACMETransportError) -> Int
}

/// A non-blocking TCP socket used in a blocking way: every wait is a `poll` of at most 250 ms,
/// bounded by the request's deadline and ended early by `cancelled`.
final class BlockingSocket: ACMEByteStream {
    let fd: Int32
    let deadline: UInt64
    let cancelled: @Sendable () -> Bool
    private var closed = false

    private init(fd: Int32, deadline: UInt64, cancelled: @escaping @Sendable () -> Bool) {
        self.fd = fd; self.deadline = deadline; self.cancelled = cancelled
    }

    /// Connects to the first address that accepts (IPv4 first, as `resolve` orders them).
    static func connect(_ addresses: [SocketAddress], deadline: UInt64,
                        cancelled: @escaping @Sendable () -> Bool) throws(ACMETransportError) -> BlockingSocket {
        var lastError = "no address"
        for address in addresses {
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw ACMETransportError("socket: \(String(cString: strerror(errno)))") }
            let s = BlockingSocket(fd: fd, deadline: deadline, cancelled: cancelled)
            var st = address.storage
            let r = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) } }
            if r == 0 { return s }
            guard errno == EINPROGRESS else {
                lastError = "\(address): \(String(cString: strerror(errno)))"
                s.close()
                continue
            }
            do {
                try s.wait(for: Int16(POLLOUT))
                var err: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
                if err == 0 { return s }
                lastError = "\(address): \(String(cString: strerror(err)))"
            } catch {
                lastError = "\(address): \(error.description)"
            }
            s.close()
        }
        throw ACMETransportError(lastError)
    }

    /// Waits until `events` is ready, the deadline passes (throws) or `cancelled` (throws).
    func wait(for events: Int16) throws(ACMETransportError) {
        while true {
            if cancelled() { throw ACMETransportError("cancelled") }
            let now = monotonicNanos()
            guard now < deadline else { throw ACMETransportError("timed out") }
            let slice = Int32(min((deadline - now) / 1_000_000 + 1, 250))
            var p = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&p, 1, slice)
            if r < 0 && errno != EINTR { throw ACMETransportError("poll: \(String(cString: strerror(errno)))") }
            if r > 0 { return }
        }
    }

    func write(_ bytes: [UInt8]) throws(ACMETransportError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { try wait(for: Int16(POLLOUT)); continue }
            throw ACMETransportError("send: \(String(cString: strerror(errno)))")
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ACMETransportError) -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            if errno == EAGAIN || errno == EINTR { try wait(for: Int16(POLLIN)); continue }
            throw ACMETransportError("recv: \(String(cString: strerror(errno)))")
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        _ = Glibc.close(fd)
    }
}

/// TLS over a `BlockingSocket`: ciphertext pumped between the session's memory BIOs and the socket.
final class TLSByteStream: ACMEByteStream {
    let socket: BlockingSocket
    let session: TLSClientSession
    private var input = [UInt8](repeating: 0, count: 17 * 1024)

    init(socket: BlockingSocket, session: TLSClientSession) { self.socket = socket; self.session = session }

    private func flush() throws(ACMETransportError) {
        if session.pendingOutput > 0 { try socket.write(session.takeOutput()) }
    }

    /// Feeds the session one read of ciphertext; false at EOF.
    private func pull() throws(ACMETransportError) -> Bool {
        let n = try input.withUnsafeMutableBytes { p in Result { () throws(ACMETransportError) in try socket.read(into: p) } }.get()
        guard n > 0 else { return false }
        input.withUnsafeBytes { session.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        return true
    }

    func handshake() throws(ACMETransportError) {
        while true {
            switch session.handshake() {
            case .complete:
                try flush()
                return
            case .failed(let f):
                try? flush()   // the alert
                throw ACMETransportError(f.description)
            case .wantsInput:
                try flush()
                guard try pull() else { throw ACMETransportError("the connection closed during the TLS handshake") }
            }
        }
    }

    func write(_ bytes: [UInt8]) throws(ACMETransportError) {
        if let f = session.writePlaintext(bytes) { throw ACMETransportError(f.description) }
        try flush()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ACMETransportError) -> Int {
        while true {
            switch session.readPlaintext(into: buffer) {
            case .bytes(let n): return n
            case .closed: return 0
            case .failed(let f): throw ACMETransportError(f.description)
            case .wantsInput:
                try flush()
                // A CA that closes without close_notify after a Content-Length body is fine: the
                // parser decides whether the message was complete.
                guard try pull() else { return 0 }
            }
        }
    }
}
