#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksAccess
import FlaksCompression
import FlaksConfig
import FlaksHandlers
import FlaksHTTP
import FlaksRouting
import FlaksTLS

/// One client connection: the executor of a `ConnectionStateMachine`. It reads and writes the socket,
/// feeds what happens to the machine, and does what the machine answers; the decisions (keep-alive,
/// deadlines, half-close, lingering, framing) are the machine's. Never leaves its loop thread;
/// workers reach it only by id through `EventLoop.execute`, so a late completion for a closed
/// connection finds nothing and is dropped.
///
/// Files: this one has the events, the input and the machine's actions; `Connection+Dispatch`
/// routes a request and runs its handler; `Connection+Output` is the output queue and the
/// `ResponseSink` that handlers write to.
final class Connection: Selectable, TimerTarget {
    let id: UInt64
    let fd: Int32
    let peer: SocketAddress
    let local: SocketAddress
    /// Numeric peer and local hosts, formatted once per connection.
    let peerHost: String
    let localHost: String
    unowned(unsafe) let loop: EventLoop
    var machine: ConnectionStateMachine
    var timerSlot = TimerSlot()

    /// Unparsed input kept between reads (a partial head or chunk line, or pipelined requests).
    var pending: [UInt8] = []
    /// Edge-triggered: the socket may hold unread bytes.
    var readHint = true
    /// The peer's FIN was reported (EPOLLRDHUP): a short read no longer means the socket is drained,
    /// since no further event will come, so reading goes on until the read that returns 0.
    var peerFIN = false
    /// Inside `readInput`: actions that would read again just return, the loop there continues.
    var inInput = false
    /// The descriptor was closed (the object may outlive it a little, held by a producer).
    private(set) var isClosed = false
    /// The peer as an IPAddress, made when first needed.
    var cachedPeerIP: IPAddress?
    /// Tunnel: the peer asked to stop reading the client / to shut the client's write side once drained.
    var tunnelPaused = false
    var tunnelShutdownPending = false
    /// TLS: the write side is to be shut once the close_notify alert still in `cipher` has left.
    var shutdownAfterAlert = false

    /// The request in flight and its response's bookkeeping; replaced whole per request.
    var exchange = Exchange()
    /// Output: the serialized head (reused across responses) and the queued body chunks.
    var output = OutputQueue()

    /// The key of the quick request in flight that found no prepared response (`answerPrepared`).
    var preparedKey: PreparedKey?
    /// Prepared answers were sent with MSG_MORE (more pipelined requests followed in the same
    /// read): the kernel holds them until `pushHeldAnswers` pushes them at the end of the read's requests.
    var answersHeld = false
    /// The last quick head this connection sent that was found negative, and the site generation
    /// it was found in (`repeatsNegativeHead`).
    var negativeHead: [UInt8] = []
    var negativeGeneration = -1

    /// The TLS transport of a connection accepted on a `tls_listen` address; nil for plain HTTP.
    let tls: TLSTransport?

    init(id: UInt64, fd: Int32, peer: SocketAddress, local: SocketAddress, loop: EventLoop, tls: TLSTransport? = nil) {
        self.id = id; self.fd = fd; self.peer = peer; self.local = local; self.loop = loop; self.tls = tls
        peerHost = peer.host
        localHost = local.host
        // A TLS connection's header timeout starts at accept: it covers the handshake.
        machine = ConnectionStateMachine(configuration: loop.server.currentSite.connectionConfiguration, now: loop.now,
                                         headStarted: tls != nil)
    }

    /// Accepted and registered: arm the first deadline.
    func started() {
        loop.schedule(self, at: machine.deadline)
    }

    // MARK: - Events

    func ready(_ events: SelectorEvents) {
        if !events.isDisjoint(with: [.hangup, .error]) {
            // A reset, or both directions shut: nothing more can be delivered either way.
            machine.peerReset()
            close()
            return
        }
        if events.contains(.writable) {
            if output.hasQueued {
                flush()
            } else if let t = tls, t.cipherOffset < t.cipher.count {
                if shutdownAfterAlert {
                    if tlsSendPending(t) { shutdownAfterAlert = false; shutdown(fd, Int32(SHUT_WR)) }
                } else {
                    writeQueuedTLS(t)
                }
            }
        }
        if !events.isDisjoint(with: [.readable, .readHangup]) {
            readHint = true
            if events.contains(.readHangup) { peerFIN = true }
            if machine.wantsInput { readInput() }
        }
        rearm()
    }

    /// The timer heap says the deadline passed.
    func timerFired(now: UInt64) {
        switch machine.timerFired(now: now) {
        case .none: break
        case .close: close()
        case .requestTimeout: respondError(.requestTimeout, detail: "the request did not arrive in time")
        case .abort:
            loop.server.logger.debug("conn=\(id): response stalled; closing")
            close()
        }
        rearm()
    }

    /// The server is draining: close when idle, else finish the current request and then close.
    func drain() {
        perform(machine.drain(now: loop.now))
        rearm()
    }

    /// Puts the machine's deadline on the loop's timers.
    func rearm() {
        if !machine.isClosed { loop.schedule(self, at: machine.deadline) }
    }

    // MARK: - Input

    /// Parses kept bytes, then reads until the socket is empty or the machine stops wanting input.
    /// `parseKept`: run the parser over the kept bytes even when there are none (a held body resumed:
    /// see `resumeRequestBody`).
    func readInput(parseKept: Bool = false) {
        guard !inInput else { return }
        if machine.isTunnel { readTunnel(); return }
        inInput = true
        defer { inInput = false }
        if (parseKept || !pending.isEmpty) && !consume(readCount: 0) { return }
        while readHint && machine.wantsInput {
            let p = pending.count
            loop.ensureScratch(p + 16 * 1024)
            let scratch = loop.scratch
            if p > 0 { pending.withUnsafeBytes { scratch.copyMemory(from: $0) } }
            let room = scratch.count - p
            let r: IOResult<Int>
            do {
                if let t = tls {
                    r = try tlsRead(t, into: UnsafeMutableRawBufferPointer(rebasing: scratch[p...]))
                } else {
                    r = try syscall("read") { cflaks_read(fd, scratch.baseAddress! + p, room) }
                }
            } catch {
                close(); return
            }
            switch r {
            case .wouldBlock:
                readHint = false
            case .done(0):
                readHint = false
                perform(machine.peerClosed(now: loop.now))
                return
            case .done(let n):
                // A short read drained the socket: with edge-triggered epoll, new bytes bring a new
                // event. (A TLS read says `.wouldBlock` itself: the session may hold more plaintext.)
                if n < room && !peerFIN && tls == nil { readHint = false }
                if !consume(readCount: n) { return }
            }
        }
    }

    /// Feeds `pending` (already copied to the front of scratch when `readCount` > 0) plus `readCount`
    /// new bytes to the machine, acting on each answer. Keeps what was not consumed. Returns false
    /// once the connection closed.
    private func consume(readCount: Int) -> Bool {
        let p = pending.count
        if readCount == 0 {
            loop.ensureScratch(p)
            let scratch = loop.scratch
            pending.withUnsafeBytes { scratch.copyMemory(from: $0) }
        }
        let buf = UnsafeRawBufferPointer(rebasing: loop.scratch[0..<(p + readCount)])
        var off = 0
        parsing: while true {
            let slice = UnsafeRawBufferPointer(rebasing: buf[off...])
            if machine.awaitsHead {
                // A plain GET answered a moment ago: the same bytes again (Connection+Prepared).
                let n = answerPrepared(slice)
                if n > 0 {
                    off += n
                    if isClosed { return false }
                    if off == buf.count && machine.isIdle { break parsing }
                    continue
                }
            }
            let (used, action) = machine.received(slice, now: loop.now)
            off += used
            switch action {
            case .needMore, .pause:
                break parsing
            case .head(let sendContinue):
                guard takeRequestHead() else { break }
                // A proxied request is on its way upstream now; its Expect is the upstream's to answer.
                if routeAtHead(bufferedBody: slice.count - used) { break }
                if sendContinue && machine.awaitsResponse { sendContinueResponse() }
            case .body(let range):
                if let consumer = exchange.bodyConsumer {
                    if !consumer.requestBody(UnsafeRawBufferPointer(rebasing: slice[range])) {
                        machine.holdBody(true, now: loop.now)
                    }
                } else {
                    exchange.body.append(contentsOf: slice[range])
                }
            case .end:
                if let consumer = exchange.bodyConsumer {
                    exchange.bodyConsumer = nil
                    consumer.requestBodyEnded()
                } else if !exchange.dispatchedAtHead {
                    requestEnded()
                }
            case .error(let error):
                respondError(error.status, detail: error.description)
            case .close:
                close()
                return false
            }
            if isClosed { return false }
            // Nothing left to look at between requests: no call would find anything.
            if off == buf.count && machine.isIdle { break parsing }
        }
        if answersHeld { pushHeldAnswers() }
        if off == buf.count {
            if !pending.isEmpty { pending.removeAll() }
        } else {
            pending = Array(buf[off...])
        }
        return true
    }

    /// Pushes out what prepared answers left held by MSG_MORE (setting TCP_NODELAY pushes pending
    /// segments).
    private func pushHeldAnswers() {
        answersHeld = false
        try? Socket.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    // MARK: - Actions

    /// Does what the machine decided after a response or an event.
    func perform(_ action: ConnectionStateMachine.AfterResponse) {
        switch action {
        case .none:
            break
        case .resumeProducer:
            exchange.producer?.proceed()
        case .nextRequest:
            exchangeDone()
            // Inside `readInput` the parse loop simply carries on with the next request.
            if !inInput { readInput() }
        case .close:
            exchangeDone()
            close()
        case .lingerClose:
            exchangeDone()
            shutdownWrite()
            pending = []
            if !inInput { readInput() }
        }
    }

    /// The response was written (or given up): count it, log it, forget the request.
    private func exchangeDone() {
        if preparedKey != nil { preparedKey = nil }
        guard exchange.status != 0 else { exchange = Exchange(); return }
        let host = exchange.route?.hostLabel ?? "-"
        let duration = loop.now &- exchange.start
        let status = exchange.status, bytes = exchange.bytesSent
        loop.metrics.withLock { $0.record(host: host, status: status, bytes: bytes, durationNanos: duration) }
        loop.server.accessLog?.record(logEntry())
        exchange = Exchange()
    }

    /// Whether client bytes may be waiting (buffered, or in the socket): a close must then linger.
    var unreadInput: Bool { !pending.isEmpty || readHint }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        if let t = tls { tlsClose(t) }
        machine.closed()
        loop.deregister(fd: fd)
        _ = Glibc.close(fd)
        output.reset()
        pending = []
        loop.connectionClosed(self)
        if let producer = exchange.producer {
            exchange.producer = nil
            producer.stop()
        }
        if let peer = exchange.tunnel {
            exchange.tunnel = nil
            peer.tunnelStop()
        }
        exchange.site = nil
    }

    /// What the access log needs about the response just written.
    func logEntry() -> AccessLogEntry {
        let h = exchange.head
        return AccessLogEntry(remote: exchange.clientAddress ?? peerHost, method: h?.method.rawValue ?? "-", target: h?.target ?? "-",
                              version: h?.version.description ?? "HTTP/1.1", status: exchange.status,
                              bytes: exchange.bodyBytesSent, referer: h?.headers["Referer"],
                              userAgent: h?.headers["User-Agent"], host: h?.host ?? "",
                              durationNanos: loop.now &- exchange.start, requestID: exchange.requestID,
                              upstream: exchange.upstream, upstreamNanos: exchange.upstreamNanos,
                              tls: tls?.info.map { ($0.version, $0.cipher, $0.serverName) })
    }
}

/// The request in flight on a connection and its response's bookkeeping. A new one per request, so
/// nothing is reset field by field.
struct Exchange {
    var head: RequestHead?
    /// The body, buffered for handlers that take it whole.
    var body: [UInt8] = []
    /// The route the request matched.
    var route: MountedRoute?
    /// The client address as text when it is not the peer (a trusted proxy's X-Forwarded-For).
    var clientAddress: String?
    /// The site generation this request started on (requests in flight finish on it).
    var site: Site?
    var requestID: UInt64 = 0
    var start: UInt64 = 0
    /// Internal redirects followed so far (bounded).
    var redirects = 0
    var servingErrorPage = false
    /// Who produces a streamed body, and how it is framed.
    var producer: (any ResponseProducer)?
    var framer: BodyFramer?
    /// Compresses a streamed body, when it is compressed.
    var compressor: StreamingCompressor?
    /// Takes the body as it arrives instead of `body` (a proxied upload).
    var bodyConsumer: (any RequestBodyConsumer)?
    /// The far end of the tunnel this connection became (after a 101).
    var tunnel: (any TunnelPeer)?
    /// The request was dispatched when its head arrived (a proxy route): its end dispatches nothing.
    var dispatchedAtHead = false
    /// The proxied upstream and its time, for the access log.
    var upstream: String?
    var upstreamNanos: UInt64 = 0
    /// The status sent (0: none yet), head + body bytes and body bytes.
    var status = 0
    var bytesSent = 0
    var bodyBytesSent = 0
}
