#if canImport(Glibc)
import Glibc
#endif
import FlaksAccess
import FlaksHandlers
import FlaksHTTP
import FlaksProxy

/// One proxied request on the client connection's loop: the executor of a `ProxyExchange`
/// (FlaksProxy). It picks an upstream (the route's `Balancer`), takes a kept connection from the
/// loop's `UpstreamPool` or connects, streams the upload from the client (a `RequestBodyConsumer`
/// with back-pressure both ways), relays the answer to the client's `ResponseSink` (a
/// `ResponseProducer`: a slow client slows the upstream read, not the loop), and after a valid 101
/// becomes the far end of the client connection's tunnel (`TunnelPeer`). Every decision (framing,
/// retries, deadlines, pooling) is the exchange's; this only moves bytes and keeps books.
/// Loop thread only.
final class ProxyRequest: UpstreamUser, ResponseProducer, RequestBodyConsumer, TunnelPeer, TimerTarget {
    private unowned let loop: EventLoop
    /// The client connection while it may still hear from us.
    private var client: Connection?
    private let target: ProxyTarget
    private let request: UpstreamRequest
    private let clientIP: IPAddress
    private let clientVersion: HTTPVersion
    private let hasBody: Bool
    private var exchange: ProxyExchange
    private var index = -1
    /// `max_connections`: the slot this attempt holds (its upstream's key), or the place in the
    /// queue while every slot is taken (a connect waits at most `connect_timeout` there: then 503).
    private var slotKey: String?
    private var slotWaiter: (key: String, id: UInt64)?
    var timerSlot = TimerSlot()
    /// The upstreams picked before the current one (the current `index` is added only when another
    /// pick follows: a Set built per request cost ~700 instructions, for the rare second pick).
    private var tried: Set<Int> = []
    private var allActivelyDown = false
    private var upstream: Upstream?
    /// The upstreams chosen from (fixed, or a service's ready instances when the request began).
    private var members: ProxyTarget.Members
    /// The service instance this attempt holds (released when the attempt ends).
    private var instance: ServiceEndpoint?
    /// A wait for a service instance to become ready.
    private var waitToken: UInt64?
    /// Inside `opened`: the head and the early body are being queued.
    private var opening = false
    /// Fresh instance lists taken after a pick found its instance retired (bounded).
    private var refreshes = 0
    private var conn: UpstreamConnection?
    /// Upstream bytes not consumed by the exchange yet.
    private var pending: [UInt8] = []
    /// Set by `start` when body bytes follow the head in the client's buffer (a Content-Length
    /// upload): a head queued by `opened` now waits for them, to leave in the same system call.
    private var bodyImminent = false
    /// Output to the client is queued, not written (`Connection.start(holdHead:)`,
    /// `write(_:push: false)`): it goes out at the end of `feed`, or with the end of the response.
    private var clientOutputHeld = false
    /// Client body bytes that came before the upstream connection was open.
    private var earlyBody: [UInt8] = []
    private var bodyEnded = false
    /// We asked the client connection to stop reading (its body, or its tunnel input).
    private var clientHeld = false
    /// The client's output is full: the upstream is not read.
    private var upstreamPaused = false
    /// The client's response is complete or not wanted (HEAD): body bytes are dropped.
    private var sinkDone = false
    private var tunneling = false
    private var finished = false
    /// Each failed upstream and why, for the log line when all fail.
    private var failures: [String] = []
    private var attemptStart: UInt64 = 0

    static let highWater = 256 * 1024

    private init(loop: EventLoop, client: Connection, target: ProxyTarget, request: UpstreamRequest,
                 clientIP: IPAddress, head: RequestHead) {
        self.loop = loop; self.client = client; self.target = target; self.request = request
        self.clientIP = clientIP
        clientVersion = head.version
        hasBody = request.hasBody
        members = target.members()
        exchange = ProxyExchange(request: request, configuration: target.configuration, reused: false,
                                 clientVersion: head.version, canReplayBody: !request.hasBody, now: loop.now)
    }

    /// Starts proxying `head` for `client` (the connection's request in flight). Answers 400/405 at
    /// once for a target that must not go upstream (dot-segments, CONNECT). `bufferedBody`: how many
    /// bytes follow the head in the client's buffer (the body's first bytes, delivered right after).
    static func start(_ target: ProxyTarget, head: RequestHead, client: Connection, clientIP: IPAddress,
                      peerTrusted: Bool, loop: EventLoop, bufferedBody: Int = 0) {
        var h = head
        let ws: Bool
        switch WebSocketUpgrade.decide(head, enabled: target.route.websocket) {
        case .tunnel: ws = true
        case .none, .ignoreUpgrade: ws = false
        }
        if head.framing == .none { h.expectContinue = false }
        let request: UpstreamRequest
        do {
            request = try UpstreamRequest(client: h, rules: target.rules,
                                          connection: .init(peer: client.peerIP, peerIsTrusted: peerTrusted, isTLS: client.tls != nil),
                                          framing: head.framing, webSocket: ws, passExpectContinue: true, keepAlive: true)
        } catch {
            client.machine.closeAfterResponse()
            client.send(ErrorPage.response(error.status, detail: "\(error)"))
            return
        }
        let p = ProxyRequest(loop: loop, client: client, target: target, request: request, clientIP: clientIP, head: head)
        client.attach(p)
        if request.hasBody { client.exchange.bodyConsumer = p }
        // A Content-Length body whose first bytes are in the client's buffer reaches `requestBody`
        // right after this returns (the connection's parse loop goes on with them): a pooled
        // connection's head waits for them, and both leave in one writev. A chunked body may not
        // yield a byte from what is buffered (a partial chunk line), so its head goes at once.
        // Measured (bench/proxy-instructions.sh, SYSCALLS=1): POST of 16 KiB, 4 sends a request
        // before (head, body, client head, client body), 2 after.
        if case .length = request.framing, bufferedBody > 0 { p.bodyImminent = true }
        p.pickAndConnect()
        p.bodyImminent = false
    }

    // MARK: choosing and connecting

    private func pickAndConnect() {
        if target.service != nil && members.endpoints.isEmpty && tried.isEmpty {
            waitForInstance()
            return
        }
        guard let pick = members.balancer.pick(client: clientIP, now: loop.now, excluding: tried) else {
            giveUp()
            return
        }
        index = pick.index
        allActivelyDown = allActivelyDown || pick.allActivelyDown
        if !members.instances.isEmpty {
            let chosen = members.instances[pick.index]
            guard chosen.tryAcquire() else {
                // Retired between the list and now (a roll): pick again, from a fresh list if it moved.
                let fresh = target.members()
                if fresh.version != members.version && refreshes < 4 {
                    refreshes += 1
                    members = fresh
                    tried = []
                } else {
                    tried.insert(pick.index)
                }
                pickAndConnect()
                return
            }
            instance = chosen
        }
        connect(reuse: true)
    }

    /// A service with no ready instance: wait for one (at most its `ready_timeout`), then pick; 503
    /// with `Retry-After` when none comes or none can.
    private func waitForInstance() {
        guard let service = target.service, let directory = service.directory else {
            serviceUnavailable(retryAfter: 1)
            return
        }
        let id = client?.id ?? 0, seq = client?.machine.requests ?? 0
        let start = directory.waitForReady(service.name, on: loop) { l, result in
            guard let c = l.connection(id: id), c.machine.requests == seq,
                  let p = c.exchange.producer as? ProxyRequest, p.waitToken != nil else { return }
            p.waitToken = nil
            p.instanceWaitEnded(result == .ready)
        }
        switch start {
        case .readyNow: instanceWaitEnded(true)
        case .unavailable: instanceWaitEnded(false)
        case .waiting(let token): waitToken = token
        }
    }

    private func instanceWaitEnded(_ ready: Bool) {
        if ready {
            members = target.members()
            if !members.endpoints.isEmpty {
                pickAndConnect()
                return
            }
        }
        let retry = target.service.flatMap { s in s.directory?.retryAfter(of: s.name) } ?? 1
        serviceUnavailable(retryAfter: retry)
    }

    private func serviceUnavailable(retryAfter: Int) {
        finished = true
        let name = target.service?.name ?? "?"
        failures.append("service \(name): no instance ready")
        loop.server.logger.error("proxy: service \(name) has no ready instance (503)")
        guard let c = client else { return }
        client = nil
        var r = ErrorPage.response(.serviceUnavailable)
        r.headers.set("Retry-After", String(retryAfter))
        c.send(r)
    }

    /// The attempt is over: the upstream's in-flight count and the instance held go back.
    private func attemptEnded() {
        upstream?.requestFinished()
        upstream = nil
        instance?.release()
        instance = nil
        if let k = slotKey {
            slotKey = nil
            loop.server.upstreamSlots.release(k)
        }
    }

    /// With `max_connections`, takes a slot for the current upstream; false when the request now
    /// waits in the queue (it connects when `slotGranted` runs, or gets 503 at `connect_timeout`).
    private func takeSlot(reuse: Bool) -> Bool {
        let max = target.route.maxConnections
        guard max > 0, slotKey == nil, index >= 0 else { return true }
        let key = members.endpoints[index].key
        let id = client?.id ?? 0, seq = client?.machine.requests ?? 0
        let r = loop.server.upstreamSlots.acquire(key, max: max, loop: loop) { l in
            // On this request's loop, with the slot taken for it: find it, or give the slot back.
            guard let c = l.connection(id: id), c.machine.requests == seq,
                  let p = c.exchange.producer as? ProxyRequest, p.slotWaiter?.key == key else {
                l.server.upstreamSlots.release(key)
                return
            }
            p.slotGranted(key, reuse: reuse)
        }
        if r.acquired {
            slotKey = key
            return true
        }
        slotWaiter = (key, r.waiter)
        loop.schedule(self, at: loop.now &+ target.configuration.connectTimeout)
        return false
    }

    private func slotGranted(_ key: String, reuse: Bool) {
        slotWaiter = nil
        loop.removeTimer(self)
        slotKey = key
        connect(reuse: reuse)
    }

    /// The queue wait for a slot ran out: 503, like a service with no instance ready.
    func timerFired(now: UInt64) {
        guard let w = slotWaiter else { return }
        slotWaiter = nil
        if !loop.server.upstreamSlots.cancel(w.key, waiter: w.id) {
            // Granted meanwhile: its callback is on its way and gives the slot back (no waiter now).
        }
        finished = true
        attemptEnded()
        let key = w.key
        failures.append("\(key): all \(target.route.maxConnections) connections busy for connect_timeout")
        loop.server.logger.error("proxy \(key): max_connections (\(target.route.maxConnections)) busy for connect_timeout; 503")
        guard let c = client else { return }
        client = nil
        var r = ErrorPage.response(.serviceUnavailable)
        r.headers.set("Retry-After", "1")
        c.send(r)
    }

    /// Starts an attempt on the current upstream: a kept connection when `reuse` allows, else a new one.
    private func connect(reuse: Bool) {
        guard takeSlot(reuse: reuse) else { return }
        let endpoint = members.endpoints[index]
        let u = members.balancer.upstreams[index]
        upstream = u
        u.requestStarted()
        attemptStart = loop.now
        pending = []
        if reuse, let c = loop.upstreamPool.take(endpoint.poolKey, for: self) {
            conn = c
            exchange = ProxyExchange(request: request, configuration: target.configuration, reused: true,
                                     clientVersion: clientVersion, canReplayBody: !hasBody, now: loop.now)
            opened()
            return
        }
        exchange = ProxyExchange(request: request, configuration: target.configuration, reused: false,
                                 clientVersion: clientVersion, canReplayBody: !hasBody, now: loop.now)
        do {
            conn = try UpstreamConnection(connectingTo: endpoint.addresses[0], key: endpoint.poolKey, loop: loop,
                                          timeout: target.configuration.connectTimeout, user: self)
        } catch {
            conn = nil
            perform(exchange.connectFailed(reason: error.description, now: loop.now))
        }
    }

    func upstreamConnected(_ c: UpstreamConnection) {
        guard c === conn else { return }
        opened()
    }

    /// The connection is open: write the head and whatever of the body came early.
    private func opened() {
        guard let c = conn else { return }
        // A write that empties the socket's queue reports `upstreamDrained` at once, inside this
        // call: it must not let the client's next body bytes in before the early ones are queued
        // (they would overtake them: a body out of order, found over TLS where bytes come in records).
        opening = true
        // The head is encoded into the connection's output buffer and sent with the early body (or,
        // `bodyImminent`, with the body bytes about to come), in one system call.
        c.queue { exchange.connected(now: loop.now, appendingTo: &$0) }
        if !earlyBody.isEmpty {
            let early = earlyBody
            earlyBody = []
            early.withUnsafeBytes { writeBody($0) }
        }
        if bodyEnded { endBody() }
        if !bodyImminent { c.flush() }
        opening = false
        if clientHeld, c.queuedBytes < Self.highWater {
            clientHeld = false
            client?.resumeRequestBody()
        }
        rearm()
    }

    // MARK: the upload

    func requestBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let c = conn, c.phase == .open else {
            earlyBody.append(contentsOf: bytes)
            if earlyBody.count >= Self.highWater { clientHeld = true; return false }
            return true
        }
        writeBody(bytes)
        rearm()
        if c.queuedBytes >= Self.highWater { clientHeld = true; return false }
        return true
    }

    /// Writes body bytes upstream (with a head still queued). A Content-Length body is written from
    /// the caller's buffer and copied only if the socket does not take it all. Before, `Array(bytes)`
    /// and a framed copy: memcpy cost 33,700 instructions per 16 KiB upload, 700 now
    /// (bench/proxy-instructions.sh, upload case).
    private func writeBody(_ bytes: UnsafeRawBufferPointer) {
        guard let c = conn else { return }
        if let n = exchange.requestBodyPassThrough(bytes.count, now: loop.now) {
            if n > 0 { c.write(UnsafeRawBufferPointer(rebasing: bytes[..<n])) } else { c.flush() }
        } else {
            c.queue { _ = exchange.requestBodyBytes(bytes, now: loop.now, appendingTo: &$0) }
            c.flush()
        }
        exchange.requestBytesWritten(now: loop.now, queueEmpty: conn?.outputEmpty ?? true)
    }

    func requestBodyEnded() {
        bodyEnded = true
        if let c = conn, c.phase == .open { endBody() }
        rearm()
    }

    private func endBody() {
        guard let c = conn else { return }
        c.queue { exchange.requestBodyEnded(now: loop.now, appendingTo: &$0) }
        c.flush()
        exchange.requestBytesWritten(now: loop.now, queueEmpty: conn?.outputEmpty ?? true)
    }

    func upstreamDrained(_ c: UpstreamConnection) {
        guard c === conn else { return }
        exchange.requestBytesWritten(now: loop.now, queueEmpty: true)
        // Inside `opened`: it resumes the client itself once the early body is queued.
        if opening { return }
        if clientHeld {
            clientHeld = false
            if tunneling { client?.resumeTunnelInput() } else { client?.resumeRequestBody() }
        }
        rearm()
    }

    // MARK: the answer

    func upstreamReadable(_ c: UpstreamConnection) {
        guard c === conn else { return }
        readUpstream()
    }

    private func readUpstream() {
        while let c = conn, !upstreamPaused, !finished {
            let readBuffer = c.readBuffer
            switch c.read(into: readBuffer) {
            case .wouldBlock:
                rearm()
                return
            case .done(0):
                if tunneling {
                    perform(exchange.upstreamClosed(reset: false, now: loop.now))
                    return
                }
                perform(exchange.upstreamClosed(reset: false, now: loop.now))
                return
            case .done(let n):
                let bytes = UnsafeRawBufferPointer(rebasing: readBuffer[0..<n])
                if tunneling {
                    exchange.tunnelTraffic(now: loop.now)
                    if !(client?.tunnelWrite(bytes) ?? false) { upstreamPaused = true }
                    continue
                }
                if pending.isEmpty {
                    feed(bytes)
                } else {
                    pending.append(contentsOf: bytes)
                    let all = pending
                    pending = []
                    all.withUnsafeBytes { feed($0) }
                }
            }
        }
        rearm()
    }

    /// Hands upstream bytes to the exchange until it needs more or stops; keeps the rest.
    private func feed(_ buf: UnsafeRawBufferPointer) {
        var off = 0
        while !finished {
            let slice = UnsafeRawBufferPointer(rebasing: buf[off...])
            let (used, action) = exchange.upstreamBytesReceived(slice, now: loop.now)
            if case .body(let range) = action {
                relay(UnsafeRawBufferPointer(rebasing: slice[range]))
                off += used
                if upstreamPaused { break }
                continue
            }
            off += used
            if case .needMore = action { break }
            if case .startTunnel = action {
                perform(action)
                // What followed the 101 is the tunnel's first bytes.
                if off < buf.count { _ = client?.tunnelWrite(UnsafeRawBufferPointer(rebasing: buf[off...])) }
                off = buf.count
                break
            }
            perform(action)
            if case .none = action, used == 0, off >= buf.count { break }
        }
        if off < buf.count && !finished { pending = Array(buf[off...]) }
        if clientOutputHeld {
            clientOutputHeld = false
            client?.pushQueued()
        }
    }

    /// Queues answer bytes for the client; they are written at the end of `feed`, or by `finish`
    /// after the request is counted, so that the client never has the whole answer before the
    /// metrics and the upstream's in-flight count do (a scrape right after sees it).
    private func relay(_ bytes: UnsafeRawBufferPointer) {
        guard !sinkDone, let c = client else { return }
        clientOutputHeld = true
        if !c.write(bytes, push: false) && client != nil {
            exchange.sinkBlocked(now: loop.now)
            upstreamPaused = true
        }
    }

    // MARK: actions

    private func perform(_ action: ProxyExchange.Action) {
        switch action {
        case .none, .needMore, .body, .trailers:
            break
        case .relayInterim(let status, let fields):
            client?.informational(status, headers: fields)
        case .startResponse(let start):
            upstream?.health.markSucceeded(connectedAt: exchange.connectedAt)
            noteUpstream()
            guard let c = client else { sinkDone = true; return }
            // The head waits for the body bytes read with it: a small answer leaves in one writev
            // (3 sends per small GET before, 2 after: bench/proxy-instructions.sh, SYSCALLS=1).
            if c.start(status: start.status, headers: start.fields, length: start.bodyLength, producer: self, idleLimit: nil,
                       holdHead: true) {
                clientOutputHeld = true
            } else {
                sinkDone = true
            }
        case .finish(let reuse):
            finished = true
            // Counted before the client hears the end (a metrics scrape right after sees it).
            release(reuse: reuse)
            if !sinkDone, let c = client { c.finish() }
            client = nil
        case .startTunnel(let fields):
            upstream?.health.markSucceeded(connectedAt: exchange.connectedAt)
            noteUpstream()
            tunneling = true
            client?.startTunnel(status: HTTPStatus(101), fields: fields, peer: self)
        case .retry(let reason):
            loop.server.logger.info("proxy \(members.endpoints[index].key): \(reason); retrying on a new connection")
            closeUpstream()
            // The same upstream again: keep the instance held, count the attempt anew.
            upstream?.requestFinished()
            connect(reuse: false)
        case .tryNextUpstream(let failure):
            noteFailure(failure)
            closeUpstream()
            attemptEnded()
            if index >= 0 { tried.insert(index) }
            pickAndConnect()
        case .fail(let failure):
            noteFailure(failure)
            finished = true
            closeUpstream()
            attemptEnded()
            answerError(failure.status)
        case .abort(let failure):
            noteFailure(failure)
            finished = true
            closeUpstream()
            attemptEnded()
            let c = client
            client = nil
            c?.abort()
        case .shutdownClientWrite:
            client?.tunnelShutdownWrite()
        case .shutdownUpstreamWrite:
            if let c = conn, c.fd >= 0 { shutdown(c.fd, Int32(SHUT_WR)) }
        case .closeTunnel, .close:
            finished = true
            closeUpstream()
            attemptEnded()
            let c = client
            client = nil
            c?.close()
        }
    }

    /// The attempt ended with a complete answer: the connection goes back to the pool or is closed.
    private func release(reuse: Bool) {
        attemptEnded()
        loop.server.proxyMetrics.record(upstream: members.endpoints[index].key, nanos: loop.now &- attemptStart, failed: false)
        guard let c = conn else { return }
        conn = nil
        if reuse {
            loop.upstreamPool.put(c, max: target.route.keepalive, idleTimeout: target.keepaliveTimeout)
        } else {
            c.close()
        }
    }

    private func closeUpstream() {
        conn?.close()
        conn = nil
        pending = []
    }

    private func noteUpstream() {
        guard let c = client, index >= 0 else { return }
        c.exchange.upstream = members.endpoints[index].key
        c.exchange.upstreamNanos = loop.now &- attemptStart
    }

    private func noteFailure(_ f: ProxyExchange.Failure) {
        let key = index >= 0 && index < members.endpoints.count ? members.endpoints[index].key : "?"
        failures.append("\(key): \(f.reason)")
        lastStatus = f.status
        loop.server.proxyMetrics.record(upstream: key, nanos: loop.now &- attemptStart, failed: true)
        if f.marksUpstreamDown { upstream?.health.markFailed(now: loop.now, failTimeout: target.failTimeout) }
    }

    /// Every upstream was tried: 503 when active checks hold them all down, else the last failure's status.
    private func giveUp() {
        finished = true
        loop.server.logger.error("proxy: no upstream answered: \(failures.joined(separator: "; "))")
        answerError(allActivelyDown ? .serviceUnavailable : lastStatus)
    }

    private var lastStatus: HTTPStatus = .badGateway

    private func answerError(_ status: HTTPStatus) {
        guard let c = client else { return }
        client = nil
        if c.awaitsResponse {
            if status == .badGateway || status == .gatewayTimeout {
                loop.server.logger.error("proxy: \(failures.last ?? "no answer") (\(status.code))")
            }
            var r = ErrorPage.response(status)
            if status == .serviceUnavailable { r.headers.set("Retry-After", "1") }
            c.send(r)
        } else {
            c.abort()
        }
    }

    // MARK: failures and time

    func upstreamFailed(_ c: UpstreamConnection, _ failure: UpstreamFailure) {
        guard c === conn else { return }
        conn = nil
        switch failure {
        case .connectTimeout:
            lastStatus = .gatewayTimeout
            perform(exchange.timerFired(now: max(loop.now, exchange.deadline)))
        case .connect(let e):
            lastStatus = .badGateway
            perform(exchange.connectFailed(reason: "connect: \(String(cString: strerror(e)))", now: loop.now))
        case .io:
            perform(exchange.upstreamClosed(reset: true, now: loop.now))
        }
    }

    func upstreamTimedOut(_ c: UpstreamConnection) {
        guard c === conn else { return }
        let action = exchange.timerFired(now: loop.now)
        if case .fail(let f) = action { lastStatus = f.status }
        perform(action)
        rearm()
    }

    /// The exchange's deadline on the upstream connection's timer.
    private func rearm() {
        guard let c = conn, c.phase == .open, !finished else { return }
        c.setDeadline(exchange.deadline)
    }

    // MARK: the client side

    func proceed() {
        guard upstreamPaused else { return }
        exchange.sinkDrained(now: loop.now)
        upstreamPaused = false
        if !pending.isEmpty {
            let p = pending
            pending = []
            p.withUnsafeBytes { feed($0) }
        }
        readUpstream()
    }

    func stop() {
        client = nil
        if let w = slotWaiter {
            slotWaiter = nil
            loop.removeTimer(self)
            _ = loop.server.upstreamSlots.cancel(w.key, waiter: w.id)
            finished = true
            attemptEnded()
            return
        }
        if let t = waitToken, let d = target.service?.directory {
            waitToken = nil
            d.cancelWait(t)
            finished = true
            return
        }
        guard !finished else { return }
        perform(exchange.clientGone(now: loop.now))
        if !finished {
            finished = true
            closeUpstream()
            attemptEnded()
        }
    }

    // MARK: tunnel

    func tunnelFromClient(_ bytes: UnsafeRawBufferPointer) -> Bool {
        exchange.tunnelTraffic(now: loop.now)
        guard let c = conn else { return false }
        c.write(bytes)
        rearm()
        if c.queuedBytes >= Self.highWater { clientHeld = true; return false }
        return true
    }

    func tunnelClientClosed() {
        perform(exchange.clientHalfClosed(now: loop.now))
    }

    func tunnelClientDrained() {
        guard upstreamPaused else { return }
        upstreamPaused = false
        exchange.sinkDrained(now: loop.now)
        readUpstream()
    }

    func tunnelStop() {
        client = nil
        if !finished {
            perform(exchange.clientGone(now: loop.now))
            finished = true
            closeUpstream()
            attemptEnded()
        }
    }
}
