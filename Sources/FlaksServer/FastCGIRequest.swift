#if canImport(Glibc)
import Glibc
#endif
import FlaksFastCGI
import FlaksHandlers
import FlaksHTTP

/// Runs one request on a FastCGI responder (php-fpm) from the connection's loop: the executor of a
/// `FastCGIResponseMachine`. It finds a connection, writes the request, reads the records, and does
/// what the machine answers; the decisions (statuses, retry, keeping the connection, time) are the
/// machine's.
///
/// - Connections: an idle one from the loop's `UpstreamPool` (LIFO), else a new one if
///   `Server.upstreamSlots` has a slot for the responder (`max_connections`, all loops together:
///   php-fpm serves one request per child, and a kept connection holds its child), else the request
///   waits in the slot queue (at most `timeout`, then 503). A queued request's loop asks the other
///   loops to close their idle connections to the responder, so none sits idle while it waits.
/// - A finished request's kept connection goes to the longest waiter if it waits on this loop,
///   else gives its slot to that waiter and closes, else goes back to the pool (closed after
///   `idleTimeout`, or when php-fpm closes it). A slot belongs to the request using the connection,
///   or, while it is idle, to the connection (`onClose` gives it back).
/// - The request is written whole (the body was read whole, so CONTENT_LENGTH is set); the response
///   is streamed: records are decoded from a buffer of this request's own, STDOUT goes to the
///   `ResponseSink` with back-pressure (a full sink stops the reading, php-fpm blocks), and when the
///   socket has nothing more for now the sink is flushed (PHP's `flush()` reaches the client).
///
/// Ownership: loop thread only. While in flight it holds itself (`selfRef`), dropped when the
/// machine is done; the connection holds it weakly.
final class FastCGIRequest: ResponseProducer, UpstreamUser, TimerTarget {
    /// How long an idle kept connection stays open: it holds a php-fpm child meanwhile (php-fpm
    /// serves a kept connection's next request with the same child, waiting for it). Short, like
    /// the proxy's `keepalive_timeout` default: under load a connection is reused long before.
    static let idleTimeout: UInt64 = 2_000_000_000
    /// Room for the largest record (FastCGI.maxRecordLength): a whole-record event always fits.
    static let bufferSize = 72 * 1024

    private unowned let loop: EventLoop
    /// The sink while it may still hear from us.
    private var sink: (any ResponseSink)?
    private var machine: FastCGIResponseMachine
    private let name: String
    private let key: String
    private let address: SocketAddress
    private let maxConnections: Int
    private let timeout: UInt64
    /// The encoded request (kept for a retry).
    private var request: [UInt8] = []
    private var connection: UpstreamConnection?
    /// This request owns a slot of `upstreamSlots` (its connection's, or one granted for connecting).
    private var holdsSlot = false
    /// While queued for a slot: what the queue knows it by.
    private var waiter: FastCGIWaiter?
    private var waiterID: UInt64 = 0
    private let buffer: UnsafeMutableRawBufferPointer
    private let buffers: FastCGIBufferPool
    private var filled = 0
    private var reading = false
    /// Nesting of `perform` (sink callbacks run inside actions).
    private var depth = 0
    private var selfRef: FastCGIRequest?
    var timerSlot = TimerSlot()

    private init(_ invocation: FastCGIInvocation, method: HTTPMethod, sink: any ResponseSink, loop: EventLoop,
                 address: SocketAddress, key: String) {
        self.loop = loop
        self.sink = sink
        name = invocation.scriptPath
        self.address = address
        self.key = key
        maxConnections = invocation.maxConnections
        timeout = invocation.timeout
        machine = FastCGIResponseMachine(method: method, timeout: invocation.timeout)
        buffers = loop.fastcgiBuffers
        buffer = buffers.take()
    }

    /// A service's instance held while this request exists (released exactly once, here).
    private var instance: ServiceEndpoint?

    deinit {
        buffers.put(buffer)
        instance?.release()
    }

    /// Starts `invocation` for the request `sink` answers. `method` is the client's.
    static func start(_ invocation: FastCGIInvocation, method: HTTPMethod, sink: any ResponseSink, loop: EventLoop) {
        let (address, key, instance): (SocketAddress, String, ServiceEndpoint?)
        switch FastCGIResponders.locate(invocation.responder, directory: loop.server.serviceDirectory, memo: &loop.fastcgiResponder) {
        case .address(let a, let k, let i): (address, key, instance) = (a, k, i)
        case .unavailable(let reason):
            loop.server.logger.error("fastcgi \(invocation.scriptPath): \(reason)")
            sink.send(ErrorPage.response(.badGateway))
            return
        case .noInstance(let service, let retryAfter):
            loop.server.logger.error("fastcgi \(invocation.scriptPath): service \(service) has no ready instance (503)")
            var r = ErrorPage.response(.serviceUnavailable)
            r.headers.set("Retry-After", String(retryAfter))
            sink.send(r)
            return
        }
        let r = FastCGIRequest(invocation, method: method, sink: sink, loop: loop, address: address, key: key)
        r.instance = instance
        do {
            r.request = try r.machine.encodeRequest(params: invocation.params, body: invocation.body)
        } catch {
            // A request field too long for a PARAMS record (near 64 KiB): nothing was sent.
            loop.server.logger.warning("fastcgi \(invocation.scriptPath): \(error)")
            sink.send(ErrorPage.response(HTTPStatus(431)))
            return
        }
        r.selfRef = r
        sink.attach(r)
        r.obtainConnection()
    }

    // MARK: connections

    private var slots: UpstreamSlots { loop.server.upstreamSlots }

    /// A kept connection, a new one, or a place in the queue.
    private func obtainConnection() {
        if let c = loop.upstreamPool.take(key, for: self) {
            c.onClose = nil                     // its slot is this request's now
            holdsSlot = true
            use(c, reused: true)
            return
        }
        let box = FastCGIWaiter(self)
        let slots = self.slots, key = self.key
        let outcome = slots.acquire(key, max: maxConnections, loop: loop, token: box) { _ in
            // Runs on this loop. A request that left the queue meanwhile gives the slot back.
            if let r = box.request, r.slotGranted() { return }
            slots.release(key)
        }
        switch outcome {
        case .slot:
            holdsSlot = true
            connectFresh()
        case .queued(let id, let ahead):
            waiter = box
            waiterID = id
            machine.queued(now: loop.now)
            rearm()
            if ahead == 0 { shedIdleConnections() }
        }
    }

    /// All slots are taken: idle connections to this responder on the other loops give theirs up.
    private func shedIdleConnections() {
        let key = self.key
        for l in loop.server.loops where l !== loop {
            l.execute { $0.upstreamPool.closeAll { $0 == key } }
        }
    }

    /// A slot came free for this queued request (on its loop). False if it no longer waits.
    fileprivate func slotGranted() -> Bool {
        guard machine.phase == .queued, waiter != nil else { return false }
        leaveQueue()
        holdsSlot = true
        connectFresh()
        return true
    }

    /// Another request on this loop finished with a kept connection and this one waited longest.
    fileprivate func takeHandOff(_ c: UpstreamConnection) -> Bool {
        guard machine.phase == .queued, waiter != nil else { return false }
        leaveQueue()
        c.takeFromPool(for: self)
        holdsSlot = true
        use(c, reused: true)
        return true
    }

    private func leaveQueue() {
        waiter?.request = nil
        waiter = nil
        loop.removeTimer(self)
    }

    private func connectFresh() {
        machine.requestSent(now: loop.now, reused: false)
        let c: UpstreamConnection
        do {
            c = try UpstreamConnection(connectingTo: address, key: key, loop: loop, timeout: timeout, user: self,
                                      peekReads: true)
        } catch {
            perform(machine.connectFailed("\(address): \(error)", timedOut: false))
            return
        }
        use(c, reused: false)
    }

    /// Sends the request on `c` (queued until a fresh connection completes its connect).
    private func use(_ c: UpstreamConnection, reused: Bool) {
        connection = c
        filled = 0
        machine.requestSent(now: loop.now, reused: reused)
        c.writeAfterDispatch(request)           // at the end of this wake-up (it may fail then)
        if connection === c { c.setDeadline(machine.deadline) }
    }

    /// The connection is no longer needed by this request.
    private func releaseConnection(keep: Bool, sendAbort: Bool) {
        guard let c = connection else { releaseSlot(); return }
        connection = nil
        c.user = nil
        guard keep, c.phase == .open, c.outputEmpty else {
            if sendAbort {
                // php-fpm ignores it; a responder that honours it stops the script.
                var out: [UInt8] = []
                FastCGIEncoder.appendAbortRequest(requestID: 1, to: &out)
                c.write(out)
            }
            c.close()
            releaseSlot()
            return
        }
        holdsSlot = false
        let slots = self.slots, key = self.key
        switch slots.passOn(key, loop: loop) {
        case .keep:
            park(c)
        case .handOff(let token):
            if let w = token as? FastCGIWaiter, let next = w.request, next.takeHandOff(c) { return }
            park(c)
        case .slotPassed:
            c.close()                           // its slot went to a request on another loop
        }
    }

    /// Into the pool; the idle connection owns its slot until it closes.
    private func park(_ c: UpstreamConnection) {
        let slots = self.slots, key = self.key
        c.onClose = { slots.release(key) }
        loop.upstreamPool.put(c, max: max(maxConnections, 1), idleTimeout: FastCGIRequest.idleTimeout)
    }

    private func releaseSlot() {
        guard holdsSlot else { return }
        holdsSlot = false
        slots.release(key)
    }

    /// The kept connection failed before any answer: a fresh one, same slot.
    private func retry() {
        if let old = connection {
            connection = nil
            old.user = nil
            old.close()
        }
        connectFresh()
    }

    // MARK: UpstreamUser

    func upstreamConnected(_ c: UpstreamConnection) {
        guard c === connection else { return }
        machine.connected(now: loop.now)
        c.setDeadline(machine.deadline)
    }

    func upstreamFailed(_ c: UpstreamConnection, _ failure: UpstreamFailure) {
        guard c === connection else { return }
        connection = nil                        // closed already
        switch failure {
        case .connect: perform(machine.connectFailed("\(address): \(failure)", timedOut: false))
        case .connectTimeout: perform(machine.connectFailed("\(address): \(failure)", timedOut: true))
        case .io: perform(machine.responderClosed(now: loop.now))
        }
    }

    func upstreamReadable(_ c: UpstreamConnection) {
        guard c === connection else { return }
        readAvailable()
    }

    func upstreamDrained(_ c: UpstreamConnection) {}

    func upstreamTimedOut(_ c: UpstreamConnection) {
        guard c === connection else { return }
        perform(machine.timerFired(now: loop.now))
        connection?.setDeadline(machine.deadline)
    }

    /// Reads until the socket is empty, the client pushes back, or the request is over.
    private func readAvailable() {
        guard !reading, let c = connection else { return }
        reading = true
        defer { reading = false }
        withExtendedLifetime(self) {
            // Only this connection: an action may replace it (a retry connects afresh; the new one
            // is read when it reports readable).
            while connection === c, c.phase == .open, machine.usesConnection, !machine.paused {
                let room = UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])
                switch c.read(into: room) {
                case .wouldBlock:
                    // Nothing more for now: what a compressor holds back goes out (PHP's flush()).
                    sink?.flush()
                    c.setDeadline(machine.deadline)
                    return
                case .done(0):
                    perform(machine.responderClosed(now: loop.now))
                case .done(let n):
                    filled += n
                    let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<filled])
                    let (actions, consumed) = machine.received(bytes, now: loop.now)
                    perform(actions, bytes: bytes)
                    if consumed >= filled {
                        filled = 0
                    } else if consumed > 0 {
                        let left = filled - consumed
                        buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + consumed, byteCount: left)
                        filled = left
                    }
                }
            }
            if connection === c { c.setDeadline(machine.deadline) }
        }
    }

    // MARK: TimerTarget (while queued)

    func timerFired(now: UInt64) {
        perform(machine.timerFired(now: now))
        rearm()
    }

    private func rearm() {
        let d = machine.phase == .queued ? machine.deadline : 0
        if d == 0 { loop.removeTimer(self) } else { loop.schedule(self, at: d) }
    }

    // MARK: ResponseProducer

    func proceed() {
        perform(machine.sinkReady(now: loop.now))
    }

    func stop() {
        sink = nil
        if !machine.sinkDone && !machine.isDone {
            loop.server.logger.info("fastcgi \(name): client went away; closing the responder connection")
        }
        perform(machine.sinkGone())
    }

    // MARK: actions

    private func perform(_ actions: [FastCGIResponseMachine.Action], bytes: UnsafeRawBufferPointer? = nil) {
        // A sink may call back (`proceed`, `stop`) from inside an action: those nested batches run,
        // but only the outermost one ends the request, after every action of its batch is done.
        depth += 1
        defer {
            depth -= 1
            if depth == 0 { finishIfDone() }
        }
        for a in actions {
            switch a {
            case .start(let status, let headers, let length, let range):
                guard let s = sink else { machine.sinkDeclinedBody(); continue }
                if !s.start(status: status, headers: headers, length: length, producer: self, idleLimit: nil) {
                    sink = nil
                    machine.sinkDeclinedBody()
                } else if let bytes, !range.isEmpty {
                    forward(UnsafeRawBufferPointer(rebasing: bytes[range]))
                }
            case .respond(let status, let headers):
                answer(Response(status: status, headers: headers))
            case .respondWhole(let status, let headers, let ranges):
                if let bytes { respondWhole(status, headers, ranges.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }) }
            case .internalRedirect(let target):
                if let s = sink { sink = nil; s.internalRedirect(to: target) }
            case .forward(let range):
                if let bytes { forward(UnsafeRawBufferPointer(rebasing: bytes[range])) }
            case .finish:
                if let s = sink { sink = nil; s.finish() }
            case .abort:
                if let s = sink { sink = nil; s.abort() }
            case .respondError(let status):
                var r = ErrorPage.response(status)
                if status == .serviceUnavailable { r.headers.set("Retry-After", "1") }
                answer(r)
            case .stderr(let lines):
                for l in lines { log(l.truncated ? l.text + " [truncated]" : l.text) }
            case .log(let message):
                log(message)
            case .pauseReading:
                break                               // the read loop checks `machine.paused`
            case .resumeReading:
                readAvailable()
            case .cancelWait:
                if waiter != nil {
                    // False: a slot was granted meanwhile; its callback finds us gone and gives it back.
                    slots.cancel(key, waiter: waiterID)
                    leaveQueue()
                }
            case .retry:
                retry()
            case .releaseConnection(let keep, let sendAbort):
                releaseConnection(keep: keep, sendAbort: sendAbort)
            }
        }
    }

    private func forward(_ bytes: UnsafeRawBufferPointer) {
        guard let s = sink else { return }
        if !s.write(bytes) {
            if sink == nil { return }               // the sink stopped us from within write
            perform(machine.sinkFull())
        }
    }

    /// The whole answer came at once: one complete response (head and body in one write, with a
    /// Content-Length). An error status goes out as the application wrote it, not replaced by the
    /// host's error page (which `send` would do), so it is streamed the usual way.
    private func respondWhole(_ status: HTTPStatus, _ headers: HeaderFields, _ parts: [UnsafeRawBufferPointer]) {
        guard let s = sink else { return }
        if status.code >= 400 {
            guard s.start(status: status, headers: headers, length: nil, producer: self, idleLimit: nil) else {
                sink = nil
                return
            }
            for p in parts where sink != nil { _ = s.write(p) }
            if sink != nil { sink = nil; s.finish() }
            return
        }
        sink = nil
        var body: [UInt8] = []
        body.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for p in parts { body.append(contentsOf: p) }
        if s.awaitsResponse { s.send(Response(status: status, headers: headers, body: .bytes(body))) } else { s.abort() }
    }

    /// Sends a complete response if the sink still waits for one.
    private func answer(_ response: Response) {
        guard let s = sink else { return }
        sink = nil
        if s.awaitsResponse { s.send(response) } else { s.abort() }
    }

    /// When the machine is done, nothing is left to hold.
    private func finishIfDone() {
        guard machine.isDone, selfRef != nil else { return }
        if connection != nil { releaseConnection(keep: false, sendAbort: false) }
        releaseSlot()
        if waiter != nil { slots.cancel(key, waiter: waiterID); leaveQueue() }
        loop.removeTimer(self)
        if let s = sink {
            // Defensive: every path answers; never leave a client hanging.
            sink = nil
            if s.awaitsResponse { s.send(ErrorPage.response(.badGateway)) } else { s.abort() }
        }
        selfRef = nil
    }

    private func log(_ message: String) {
        loop.server.logger.error("fastcgi \(name): \(message)")
    }
}

/// The read buffers of a loop's FastCGI requests (`FastCGIRequest.bufferSize` each), kept for the
/// next request: a 72 KiB malloc and free per request cost ~600 instructions, and glibc's trimming
/// of the loop thread's arena after the free (madvise, then page faults) ~1 system call in 30
/// requests. Keeps at most `keep` idle buffers. Loop thread only (a request is made and freed there).
final class FastCGIBufferPool {
    private var idle: [UnsafeMutableRawBufferPointer] = []
    let keep: Int

    init(keep: Int = 16) { self.keep = keep }

    func take() -> UnsafeMutableRawBufferPointer {
        idle.popLast() ?? .allocate(byteCount: FastCGIRequest.bufferSize, alignment: 16)
    }

    func put(_ b: UnsafeMutableRawBufferPointer) {
        if idle.count < keep { idle.append(b) } else { b.deallocate() }
    }

    /// Frees the idle buffers (`server.idle_release`).
    func removeAll() {
        for b in idle { b.deallocate() }
        idle.removeAll()
    }

    /// Idle buffers kept.
    var idleCount: Int { idle.count }

    deinit { removeAll() }
}

/// A queued request as the slot queue knows it: found again on its loop when a slot or a
/// connection comes free for it. Sendable so it can sit in the queue; `request` is touched only on
/// the request's own loop (the grant runs there through `execute`, a hand-off happens there).
final class FastCGIWaiter: @unchecked Sendable {
    // loop thread only (the request's loop)
    weak var request: FastCGIRequest?
    init(_ request: FastCGIRequest) { self.request = request }
}
