import FlaksHTTP
import FlaksTLS

/// One request to the CA and its answer, as bytes: the pure core of the ACME executor's client
/// (docs/acme.md "The executor"). It holds the TLS client session (`TLSClientSession`, memory BIOs:
/// no descriptor) for an `https:` URL and FlaksHTTP's `ResponseParser`, so a test drives it by
/// feeding bytes, a byte at a time if it likes, against a server session, and the loop's executor
/// (`ACMECARequest`) only moves what it returns between the socket and this value.
///
/// The request goes out with `Connection: close` (one request per connection: orders are rare and
/// a handful of requests each), the answer is framed by the parser (Content-Length, chunked, or
/// until close; none for HEAD), interim 1xx answers are skipped, and a body over
/// `maxResponseBody` ends the exchange as a failure. It never touches a clock: the executor owns
/// the deadline.
public struct ACMEExchange {
    /// How the exchange ended.
    public enum Outcome {
        case response(ACMEHTTPResponse)
        /// Why there is no answer (TLS, a malformed answer, a body over the limit, an early close).
        case failed(String)
    }

    /// What the caller does after an event: send `send` (may be empty), and if `outcome` is set the
    /// exchange is over (close the connection).
    public struct Output {
        public var send: [UInt8] = []
        public var outcome: Outcome?
    }

    private enum Phase { case handshaking, exchanging, done }

    public let url: ACMEURL
    private let method: ACMEHTTPRequest.Method
    private let tls: TLSClientSession?
    private var phase: Phase
    private var requestBytes: [UInt8]
    private var parser: ResponseParser
    private let maxResponseBody: Int
    /// Plaintext received and not yet parsed.
    private var buffer: [UInt8] = []
    /// Where decrypted bytes land before they join `buffer` (one per exchange, not per read).
    private var scratch: [UInt8] = []
    private var head: ResponseHead?
    private var body: [UInt8] = []
    /// Fields the exchange frames itself; the machine's copies are dropped.
    static let framingFields: Set<String> = ["host", "content-length", "connection", "transfer-encoding"]

    /// `tls`: a fresh client session for `url.host` when `url` is `https:` (nil for `http:`).
    public init(request: ACMEHTTPRequest, url: ACMEURL, tls: TLSClientSession?, maxResponseBody: Int, userAgent: String) {
        self.url = url
        method = request.method
        self.tls = tls
        self.maxResponseBody = maxResponseBody
        phase = tls == nil ? .exchanging : .handshaking
        requestBytes = Self.encode(request, url: url, userAgent: userAgent)
        parser = ResponseParser(limits: ResponseParseLimits(maxHead: 16 * 1024, maxHeaderCount: 100, maxBody: maxResponseBody))
        parser.startResponse(to: HTTPMethod(rawValue: request.method.rawValue) ?? .GET)
    }

    /// The request on the wire: request line, Host, the machine's fields, Content-Length for a
    /// POST (RFC 9110 §8.6), `Connection: close`, the body.
    public static func encode(_ r: ACMEHTTPRequest, url: ACMEURL, userAgent: String) -> [UInt8] {
        var head = "\(r.method.rawValue) \(url.target) HTTP/1.1\r\nHost: \(url.authority)\r\n"
        for h in r.headers where !framingFields.contains(h.name.lowercased()) {
            head += "\(h.name): \(h.value)\r\n"
        }
        if r.header("User-Agent") == nil { head += "User-Agent: \(userAgent)\r\n" }
        if r.method == .post || !r.body.isEmpty { head += "Content-Length: \(r.body.count)\r\n" }
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + r.body
    }

    /// The connection is open: the ClientHello, or the request itself over plain HTTP.
    public mutating func start() -> Output {
        guard let tls else {
            let bytes = requestBytes
            requestBytes = []
            return Output(send: bytes)
        }
        return advanceHandshake(tls)
    }

    /// Bytes from the connection.
    public mutating func received(_ bytes: UnsafeRawBufferPointer) -> Output {
        guard phase != .done else { return Output() }
        guard let tls else {
            buffer.append(contentsOf: bytes)
            return parse(eof: false)
        }
        tls.feed(bytes)
        if phase == .handshaking {
            let out = advanceHandshake(tls)
            if out.outcome != nil || phase == .handshaking { return out }
            var rest = readPlaintext(tls)
            rest.send = out.send + rest.send
            return rest
        }
        return readPlaintext(tls)
    }

    /// `received` for an array.
    public mutating func received(_ bytes: [UInt8]) -> Output { bytes.withUnsafeBytes { received($0) } }

    /// The connection ended (the peer closed it).
    public mutating func inputEnded() -> Output {
        switch phase {
        case .done: return Output()
        case .handshaking: return finish(.failed("TLS with \(url.authority): the connection closed during the TLS handshake"))
        case .exchanging: return parse(eof: true)
        }
    }

    // MARK: TLS

    private mutating func advanceHandshake(_ tls: TLSClientSession) -> Output {
        switch tls.handshake() {
        case .wantsInput:
            return Output(send: tls.takeOutput())
        case .failed(let f):
            var out = finish(.failed("TLS with \(url.authority): \(f.description)"))
            out.send = tls.takeOutput()   // the alert
            return out
        case .complete:
            phase = .exchanging
            if let f = tls.writePlaintext(requestBytes) {
                return finish(.failed("TLS with \(url.authority): \(f.description)"))
            }
            requestBytes = []
            return Output(send: tls.takeOutput())
        }
    }

    /// Decrypts what was fed and parses it.
    private mutating func readPlaintext(_ tls: TLSClientSession) -> Output {
        if scratch.isEmpty { scratch = [UInt8](repeating: 0, count: 16 * 1024) }
        var eof = false
        loop: while true {
            let r = scratch.withUnsafeMutableBytes { tls.readPlaintext(into: $0) }
            switch r {
            case .bytes(let n): buffer.append(contentsOf: scratch[0..<n])
            case .wantsInput: break loop
            // A CA that closes without close_notify after a framed body is fine: the parser
            // decides whether the message was complete (`inputEnded`).
            case .closed: eof = true; break loop
            case .failed(let f): return finish(.failed("TLS with \(url.authority): \(f.description)"))
            }
        }
        var out = parse(eof: eof)
        if tls.pendingOutput > 0 { out.send = tls.takeOutput() + out.send }
        return out
    }

    // MARK: HTTP

    /// Takes every event the buffered bytes give; at `eof`, the end of the input.
    private mutating func parse(eof: Bool) -> Output {
        while true {
            let parsed = buffer.withUnsafeBytes { p in Result { () throws(ResponseParseError) in try parser.parse(p) } }
            let result: ResponseParseResult
            switch parsed {
            case .success(let r): result = r
            case .failure(let error):
                return finish(.failed(error == .bodyTooLarge ? "the response body is over \(maxResponseBody) bytes" : error.description))
            }
            switch result.event {
            case .needMoreBytes, .interim, .trailers: break
            case .head(let h): head = h
            case .switchingProtocols: return finish(.failed("unexpected 101 Switching Protocols"))
            case .body(let range): body.append(contentsOf: buffer[range])
            case .end:
                return finish(response())
            }
            buffer.removeFirst(result.consumed)
            if case .needMoreBytes = result.event { break }
        }
        guard eof else { return Output() }
        let event: ResponseEvent?
        do { event = try parser.inputEnded() } catch { return finish(.failed(error.description)) }
        guard let event, case .end = event, head != nil else {
            return finish(.failed("the CA closed the connection before answering"))
        }
        return finish(response())
    }

    private func response() -> Outcome {
        guard let head else { return .failed("a response without a head") }
        return .response(ACMEHTTPResponse(status: head.status.code, headers: head.headers.map { ACMEHeader($0.name, $0.value) },
                                          body: body))
    }

    private mutating func finish(_ outcome: Outcome) -> Output {
        phase = .done
        buffer = []
        return Output(outcome: outcome)
    }
}
