import FlaksACME
import FlaksTLS

/// Why a request to the CA did not get an answer (the machine's `transportFailed`).
struct ACMETransportError: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One request to the CA, on a loop: the thin executor of an `ACMEExchange` over an
/// `UpstreamConnection` (the proxy's and FastCGI's client connection: non-blocking connect, output
/// queue, the loop's timers). A name that is not an IP literal is resolved on a worker
/// (getaddrinfo blocks); the connect tries each address in turn. One deadline bounds the whole
/// request, connect to last byte. The TLS handshake runs on the loop like the server's own.
///
/// `completion` runs exactly once, on the loop, never from within `start` (also for a URL that
/// cannot be used); `cancel` ends the request with "cancelled". Loop-confined: created, started
/// and cancelled on `loop`; Sendable only to cross to a worker and back for the name lookup.
final class ACMECARequest: UpstreamUser, TimerTarget, @unchecked Sendable {
    typealias Completion = (Result<ACMEHTTPResponse, ACMETransportError>) -> Void

    private unowned let loop: EventLoop
    private let workers: WorkerPool
    /// The roots to verify the CA against (system roots plus `ca_roots`); nil: `http:` URLs only.
    private let tls: TLSClientContext?
    private let request: ACMEHTTPRequest
    private let timeout: Int64
    private let maxResponseBody: Int
    private let userAgent: String
    private var completion: Completion?
    private var url: ACMEURL?
    private var deadline: UInt64 = 0
    private var addresses: [SocketAddress] = []
    private var conn: UpstreamConnection?
    private var exchange: ACMEExchange?
    private var lastConnectError = "no address"
    var timerSlot = TimerSlot()

    init(loop: EventLoop, workers: WorkerPool, tls: TLSClientContext?, request: ACMEHTTPRequest, timeout: Int64,
         maxResponseBody: Int, userAgent: String = "flaks/\(FlaksVersion.string)", completion: @escaping Completion) {
        self.loop = loop; self.workers = workers; self.tls = tls; self.request = request
        self.timeout = max(timeout, 1); self.maxResponseBody = maxResponseBody; self.userAgent = userAgent
        self.completion = completion
    }

    /// Resolves, connects and sends. Call on the loop.
    func start() {
        deadline = loop.now &+ UInt64(timeout) * 1_000_000_000
        // The whole request, the name lookup included (a resolver that does not answer holds a
        // worker, not the request).
        loop.schedule(self, at: deadline)
        guard let url = ACMEURL(request.url) else {
            failLater("not an absolute http(s) URL: \(request.url)")
            return
        }
        guard !url.isHTTPS || tls != nil else {
            failLater("no TLS client for \(url.authority)")
            return
        }
        self.url = url
        if let numeric = SocketAddress(host: url.host, port: url.port) {
            connect([numeric])
            return
        }
        let host = url.host, port = url.port
        workers.submit { [self] in
            let found = SocketAddress.resolve(host: host, port: port)
            loop.execute { [self] _ in
                guard completion != nil else { return }   // cancelled meanwhile
                guard !found.isEmpty else { fail("cannot resolve \(host)"); return }
                connect(found)
            }
        }
    }

    /// Ends the request now with "cancelled" (the server is stopping, the host was removed).
    func cancel() {
        guard completion != nil else { return }
        conn?.close()
        conn = nil
        finish(.failure(ACMETransportError("cancelled")))
    }

    // MARK: Connecting

    private func connect(_ list: [SocketAddress]) {
        addresses = list
        connectNext()
    }

    /// Connects to the next address (the first that accepts wins); none left: the last error.
    private func connectNext() {
        guard let url, completion != nil else { return }
        while !addresses.isEmpty {
            let address = addresses.removeFirst()
            let now = loop.now
            guard now < deadline else { break }
            do {
                conn = try UpstreamConnection(connectingTo: address, key: "acme:\(address)", loop: loop, timeout: deadline - now, user: self)
                return
            } catch {
                lastConnectError = "\(address): \(error.description)"
            }
        }
        failLater("connect to \(url.authority): \(loop.now >= deadline ? "timed out" : lastConnectError)")
    }

    func upstreamConnected(_ c: UpstreamConnection) {
        guard let url else { return }
        c.setDeadline(deadline)
        var session: TLSClientSession?
        if url.isHTTPS, let tls {
            do { session = try tls.makeSession(host: url.host) } catch {
                fail("TLS with \(url.authority): \(error.description)")
                return
            }
        }
        exchange = ACMEExchange(request: request, url: url, tls: session, maxResponseBody: maxResponseBody, userAgent: userAgent)
        guard let out = updateExchange({ $0.start() }) else { return }
        handle(out)
    }

    func upstreamFailed(_ c: UpstreamConnection, _ failure: UpstreamFailure) {
        conn = nil
        guard let url else { return }
        if exchange == nil {
            // The connect failed: the next address, if any.
            lastConnectError = "\(c.address): \(failure.description)"
            if case .connectTimeout = failure { addresses = [] }
            connectNext()
            return
        }
        fail("\(request.method.rawValue) \(url.authority)\(url.target): \(failure.description)")
    }

    func upstreamReadable(_ c: UpstreamConnection) {
        let buffer = c.readBuffer
        while completion != nil, exchange != nil {
            switch c.read(into: buffer) {
            case .wouldBlock:
                return
            case .done(0):
                guard let out = updateExchange({ $0.inputEnded() }) else { return }
                handle(out)
                return
            case .done(let n):
                guard let out = updateExchange({ $0.received(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }) else { return }
                handle(out)
            }
        }
    }

    /// Runs `body` on the exchange, taken out of `self` meanwhile so that its buffers stay uniquely
    /// referenced (a copy left in place made every received chunk copy the response read so far).
    private func updateExchange(_ body: (inout ACMEExchange) -> ACMEExchange.Output) -> ACMEExchange.Output? {
        guard var x = exchange else { return nil }
        exchange = nil
        let out = body(&x)
        exchange = x
        return out
    }

    func upstreamDrained(_ c: UpstreamConnection) {}

    func timerFired(now: UInt64) {
        guard completion != nil else { return }
        fail("\(request.method.rawValue) \(url?.authority ?? request.url): timed out")
    }

    func upstreamTimedOut(_ c: UpstreamConnection) {
        guard let url else { return }
        fail("\(request.method.rawValue) \(url.authority)\(url.target): timed out")
    }

    /// Sends what the exchange produced; ends the request when it is over.
    private func handle(_ out: ACMEExchange.Output) {
        if !out.send.isEmpty { conn?.write(out.send) }
        switch out.outcome {
        case nil: break
        case .response(let r)?: finish(.success(r))
        case .failed(let why)?:
            guard let url else { fail(why); return }
            // The exchange says TLS failures with the authority; HTTP ones get the request line.
            fail(why.hasPrefix("TLS with") ? why : "\(request.method.rawValue) \(url.authority)\(url.target): \(why)")
        }
    }

    private func fail(_ why: String) { finish(.failure(ACMETransportError(why))) }

    /// `fail` on the loop's next turn (the caller of `start` never sees its completion run inside it).
    private func failLater(_ why: String) { loop.execute { [self] _ in fail(why) } }

    private func finish(_ result: Result<ACMEHTTPResponse, ACMETransportError>) {
        guard let done = completion else { return }
        completion = nil
        loop.removeTimer(self)
        conn?.close()
        conn = nil
        exchange = nil
        done(result)
    }
}
