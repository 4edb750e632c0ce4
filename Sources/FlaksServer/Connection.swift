#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHandlers
import FlaksHTTP

/// One client connection. Never leaves its loop thread; workers reach it only by id through
/// `EventLoop.execute`, so a late completion for a closed connection finds nothing and is dropped.
///
/// Requests on a connection are handled strictly one after the other (the next pipelined request is
/// parsed only when the previous response is fully written), which keeps responses in request order.
final class Connection: Selectable {
    /// Where the connection is in its request/response cycle.
    enum State: Equatable {
        /// Between requests: no byte of the next request yet (keep-alive timer).
        case idle
        /// Some bytes of a request head arrived (header timer, not extended by later bytes).
        case head
        /// Reading the body (body timer, extended by every body byte).
        case body
        /// A handler has the request (no timer of ours).
        case handling
        /// The response is queued and being written (send timer).
        case writing
        /// Write side shut down after a final response; unread input is discarded until EOF.
        case lingering
        case closed
    }

    let id: UInt64
    let fd: Int32
    let peer: SocketAddress
    let local: SocketAddress
    /// Numeric peer and local hosts, formatted once per connection.
    let peerHost: String
    let localHost: String
    unowned(unsafe) let loop: EventLoop
    /// Limits in force when the connection was accepted (a reload applies to new connections).
    let limits: ConnectionLimits
    private var parser: RequestParser

    private(set) var state: State = .idle
    /// Monotonic deadline in ns for the current state; 0 = none.
    var deadline: UInt64
    /// Unparsed input kept between reads (a partial head or chunk line).
    private var pending: [UInt8] = []
    private var head: RequestHead?
    private var body: [UInt8] = []
    private var served = 0
    /// Edge-triggered: the socket may hold unread bytes.
    private var readHint = true
    private var peerClosed = false
    private var keepAlive = true
    private var inInput = false
    private var currentRoute: MountedRoute?
    /// The site generation this request started on (requests in flight finish on it).
    private var site: Site?
    private var redirects = 0
    private var servingErrorPage = false
    /// While streaming: who produces the body, and how it is framed.
    private var streamSource: (any StreamSource)?
    private var streamChunked = false
    private var streamEnded = false
    /// Bytes queued and not yet written (back-pressure for streams).
    private var queuedBytes = 0
    private var requestID: UInt64 = 0
    private var requestStart: UInt64 = 0
    private var responseStatus = 0
    private var responseBytes = 0
    private var responseBodyBytes = 0
    private var requestHost = ""

    /// Output: the serialized head (reused across responses) and the queued body chunks.
    private var headBuf: [UInt8] = []
    private var out: [OutChunk] = []
    private var outIndex = 0
    private var outOffset = 0

    private enum OutChunk {
        case head
        case bytes([UInt8])
        case file(FileRegion)
    }

    init(id: UInt64, fd: Int32, peer: SocketAddress, local: SocketAddress, loop: EventLoop) {
        self.id = id; self.fd = fd; self.peer = peer; self.local = local; self.loop = loop
        peerHost = peer.host
        localHost = local.host
        limits = loop.server.currentSite.connectionLimits
        parser = RequestParser(limits: limits.parse)
        deadline = loop.now &+ limits.headerTimeout
    }

    // MARK: events

    func ready(_ events: SelectorEvents) {
        if events.contains(.writable), state == .writing { flush() }
        if !events.isDisjoint(with: [.readable, .readHangup, .hangup, .error]) {
            readHint = true
            switch state {
            case .idle, .head, .body, .lingering: readInput()
            case .handling, .writing:
                // The client went away while we work for it: stop (a CGI script is killed).
                if !events.isDisjoint(with: [.hangup, .error]) || (events.contains(.readHangup) && peerHasClosed()) { close() }
            case .closed: break
            }
        }
    }

    /// The deadline of the current state passed.
    func timedOut() {
        switch state {
        case .idle, .writing, .lingering: close()
        case .head, .body:
            keepAlive = false
            respondError(.requestTimeout, detail: "the request did not arrive in time")
        case .handling, .closed: deadline = 0
        }
    }

    /// The server is draining: close when idle, else finish the current request and then close.
    func drain() {
        keepAlive = false
        if state == .idle && pending.isEmpty { close() }
    }

    /// True when the peer sent FIN and no unread byte precedes it.
    private func peerHasClosed() -> Bool {
        var b: UInt8 = 0
        let n = recv(fd, &b, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        return n == 0
    }

    // MARK: input

    private var canParse: Bool { state == .idle || state == .head || state == .body }

    /// Parses kept bytes, then reads until the socket is empty or the connection must wait.
    private func readInput() {
        guard !inInput else { return }
        inInput = true
        defer { inInput = false }
        if !pending.isEmpty && canParse { consume(readCount: 0) }
        while readHint && state != .closed && (canParse || state == .lingering) {
            let p = state == .lingering ? 0 : pending.count
            loop.ensureScratch(p + 16 * 1024)
            let scratch = loop.scratch
            if p > 0 { pending.withUnsafeBytes { scratch.copyMemory(from: $0) } }
            let room = scratch.count - p
            let r: IOResult<Int>
            do { r = try syscall("read") { cflaks_read(fd, scratch.baseAddress! + p, room) } } catch {
                close(); return
            }
            switch r {
            case .wouldBlock:
                readHint = false
            case .done(0):
                peerClosed = true
                readHint = false
                // EOF in the middle of a request or while lingering: nothing more can happen.
                close()
                return
            case .done(let n):
                // A short read drained the socket: with edge-triggered epoll, new bytes bring a new event.
                if n < room { readHint = false }
                if state == .lingering { continue }
                consume(readCount: n)
            }
        }
    }

    /// Parses `pending` (already copied to the front of scratch when `readCount` > 0) plus `readCount` new bytes.
    private func consume(readCount: Int) {
        let p = pending.count
        if readCount == 0 {
            loop.ensureScratch(p)
            let scratch = loop.scratch
            pending.withUnsafeBytes { scratch.copyMemory(from: $0) }
        }
        let total = p + readCount
        let buf = UnsafeRawBufferPointer(rebasing: loop.scratch[0..<total])
        let used = process(buf)
        if state == .closed { return }
        if used == total {
            if !pending.isEmpty { pending.removeAll() }
        } else {
            pending = Array(buf[used...])
        }
    }

    /// Feeds bytes to the parser until it needs more or the connection must wait. Returns bytes used.
    private func process(_ buf: UnsafeRawBufferPointer) -> Int {
        var off = 0
        while canParse {
            let slice = UnsafeRawBufferPointer(rebasing: buf[off...])
            let result: ParseResult
            do { result = try parser.parse(slice) } catch {
                keepAlive = false
                respondError(error.status, detail: error.description)
                return buf.count
            }
            switch result.event {
            case .needMoreBytes:
                off += result.consumed
                if state == .idle && off < buf.count {
                    state = .head
                    requestStart = loop.now
                    deadline = loop.now &+ limits.headerTimeout
                }
                return off
            case .head(let h):
                if state == .idle { requestStart = loop.now }
                off += result.consumed
                head = h
                state = .body
                deadline = loop.now &+ limits.bodyTimeout
                if case .length(let n) = h.framing { body.reserveCapacity(min(n, 1 << 20)) }
                if h.expectContinue && h.framing != .none && h.framing != .length(0) && off == buf.count {
                    queue(.bytes(Connection.continueBytes))
                    flush(intermediate: true)
                }
            case .body(let range):
                body.append(contentsOf: slice[range])
                off += result.consumed
                deadline = loop.now &+ limits.bodyTimeout
            case .end:
                off += result.consumed
                dispatch()
            }
        }
        return off
    }

    private static let continueBytes = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    // MARK: dispatch

    /// Routes the complete request and runs its handler.
    private func dispatch() {
        guard let h = head else { return }
        state = .handling
        deadline = 0
        served += 1
        requestID = loop.makeRequestID()
        keepAlive = keepAlive && h.keepAlive && !peerClosed && !loop.draining && served < limits.maxKeepaliveRequests
        site = loop.server.currentSite
        let host = h.host
        requestHost = host ?? ""
        let path: String
        do { path = try PathNormalizer.normalize(h.rawPath) } catch {
            respondError(.badRequest, detail: "bad path")
            return
        }
        let b = body
        body = []
        run(h, host: host, path: path, body: b)
    }

    /// Looks up the route for `path` and runs its handler (also used for internal redirects).
    private func run(_ h: RequestHead, host: String?, path: String, body: [UInt8]) {
        guard let site else { return }
        switch site.tree.lookup(host: host, path: path) {
        case .unknownHost:
            respondError(.misdirectedRequest, detail: "no site is configured for this host")
        case .notFound:
            send(ErrorPage.response(.notFound))
        case .found(let m):
            currentRoute = m.target
            if let fixed = m.target.fixed {
                sendFixed(fixed)
                return
            }
            let request = Request(head: h, path: path, body: body, remoteAddress: peerHost, remotePort: peer.port,
                                  localAddress: localHost, localPort: local.port,
                                  routePath: m.routePath, remainder: m.remainder, parameters: m.parameters,
                                  id: requestID)
            switch m.target.handler.handle(request) {
            case .response(let r):
                send(r)
            case .blocking(let job):
                let loop = self.loop, id = self.id
                loop.queueJob {
                    let r = job()
                    loop.execute { $0.connections[id]?.complete(r) }
                }
            case .async(let job):
                let loop = self.loop, id = self.id
                Task {
                    let r = await job()
                    loop.execute { $0.connections[id]?.complete(r) }
                }
            case .cgi(let invocation):
                CGIProcess.start(invocation, for: self)
            }
        }
    }

    /// Serves `target` (a local path with optional query) as a GET for the current request,
    /// e.g. a CGI script's local `Location` (RFC 3875 §6.2.2). Bounded to avoid loops.
    func internalRedirect(to target: String) {
        guard state == .handling, var h = head, redirects < 10 else {
            send(ErrorPage.response(.internalServerError, detail: "too many internal redirects"))
            return
        }
        redirects += 1
        h.method = .GET
        h.target = target
        h.headers.remove("Content-Length")
        h.headers.remove("Content-Type")
        head = h
        let path: String
        do { path = try PathNormalizer.normalize(h.rawPath) } catch {
            send(ErrorPage.response(.internalServerError, detail: "bad internal redirect"))
            return
        }
        run(h, host: h.host, path: path, body: [])
    }

    /// A worker or task finished this connection's request.
    func complete(_ response: Response) {
        guard state == .handling else { return }
        send(response)
    }

    // MARK: output

    /// Sends an error page and closes afterwards when `keepAlive` was cleared.
    private func respondError(_ status: HTTPStatus, detail: String? = nil) {
        if status.code == 400 || status.code == 408 || status.code == 413 || status.code == 414
            || status.code == 431 || status.code == 501 || status.code == 505 {
            keepAlive = false
        }
        state = .handling
        send(ErrorPage.response(status, detail: detail))
    }

    /// Sends a complete response, replacing the body of an error with the host's error page if one is set.
    func send(_ response: Response) {
        if response.status.code >= 400, !servingErrorPage, let page = errorPage(for: response.status) {
            servingErrorPage = true
            writeHead(page.withStatus(response.status, keeping: response.headers), streaming: false)
            return
        }
        writeHead(response, streaming: false)
    }

    /// The host's custom page for `status`, if configured and servable right now (a synchronous response).
    private func errorPage(for status: HTTPStatus) -> Response? {
        guard let site, let h = head else { return nil }
        guard case .found(let pages) = site.errorPages.lookup(host: h.host, path: "/"),
              let path = pages.target[status.code] else { return nil }
        guard case .found(let m) = site.tree.lookup(host: h.host, path: path) else { return nil }
        var ph = h
        ph.method = .GET
        ph.target = path
        let request = Request(head: ph, path: path, remoteAddress: peerHost, remotePort: peer.port,
                              localAddress: localHost, localPort: local.port,
                              routePath: m.routePath, remainder: m.remainder, parameters: m.parameters, id: requestID)
        guard case .response(let r) = m.target.handler.handle(request), r.status.code == 200 else { return nil }
        return r
    }

    /// Serializes the response head and queues the body; for streams, only the head.
    private func writeHead(_ response: Response, streaming: Bool) {
        let isHead = head?.method == .HEAD
        if !streaming, case .stream(let produce) = response.body {
            // A streamed body: AsyncBodyStream attaches itself and calls beginStream (back here).
            AsyncBodyStream.start(response, produce, on: self, bodyless: isHead || response.status.forbidsBody)
            return
        }
        let version = head?.version ?? .http1_1
        // Build in a local buffer (no exclusivity checks per append), then put it back.
        var b = headBuf
        headBuf = []
        b.removeAll(keepingCapacity: true)
        let status = response.status
        ResponseSerializer.writeStatusLine(status: status, version: .http1_1, into: &b)
        var hasType = false
        if let encoded = response.encodedHeaders {
            b.append(contentsOf: encoded)
            hasType = true  // part of the encodedHeaders contract
        } else {
            for f in response.headers {
                switch Connection.framingField(f.name) {
                case .skip: continue
                case .contentType: hasType = true
                case .other: break
                }
                ResponseSerializer.writeField(name: f.name, value: f.value, into: &b)
            }
        }
        if let extra = currentRoute?.route.headers {
            for f in extra where !response.headers.contains(f.name) {
                ResponseSerializer.writeField(name: f.name, value: f.value, into: &b)
            }
        }
        let loop = self.loop
        appendDateAndServer(&b)
        let length = response.body.length
        if streaming {
            if let cl = response.headers["Content-Length"], let n = Int(cl), n >= 0 {
                b.append(contentsOf: Connection.contentLengthLabel)
                Connection.appendDecimal(n, to: &b)
                b.append(13); b.append(10)
                streamChunked = false
            } else if version == .http1_1 && !status.forbidsBody {
                b.append(contentsOf: Connection.chunkedLine)
                streamChunked = true
            } else {
                // HTTP/1.0 without a length: the body ends when the connection closes.
                keepAlive = false
                streamChunked = false
            }
        } else if !status.forbidsBody {
            b.append(contentsOf: Connection.contentLengthLabel)
            Connection.appendDecimal(length, to: &b)
            b.append(13); b.append(10)
            if !hasType && length > 0 { b.append(contentsOf: Connection.octetStreamLine) }
        }
        appendConnectionAndEnd(&b, version: version)
        responseStatus = status.code
        responseBytes = b.count
        responseBodyBytes = 0
        headBuf = b
        queue(.head)
        if streaming {
            streamEnded = isHead || status.forbidsBody
        } else if !isHead && !status.forbidsBody {
            responseBytes += length
            responseBodyBytes = length
            switch response.body {
            case .empty: break
            case .bytes(let bytes): if !bytes.isEmpty { queue(.bytes(bytes)) }
            case .file(let f): if f.length > 0 { queue(.file(f)) }
            case .parts(let parts):
                for p in parts {
                    switch p {
                    case .bytes(let bytes): if !bytes.isEmpty { queue(.bytes(bytes)) }
                    case .file(let f): if f.length > 0 { queue(.file(f)) }
                    }
                }
            case .stream: break  // handled at the top
            }
        }
        state = .writing
        deadline = loop.now &+ limits.keepaliveTimeout
        flush()
    }

    /// Sends a response prepared at load time (a `respond:` route): one copy of its head bytes.
    private func sendFixed(_ f: FixedResponse) {
        let isHead = head?.method == .HEAD
        var b = headBuf
        headBuf = []
        b.removeAll(keepingCapacity: true)
        b.append(contentsOf: f.head)
        appendDateAndServer(&b)
        let bodyless = f.status.forbidsBody
        if !bodyless {
            b.append(contentsOf: Connection.contentLengthLabel)
            Connection.appendDecimal(f.body.count, to: &b)
            b.append(13); b.append(10)
        }
        appendConnectionAndEnd(&b, version: head?.version ?? .http1_1)
        responseStatus = f.status.code
        responseBytes = b.count
        responseBodyBytes = 0
        headBuf = b
        queue(.head)
        if !isHead && !bodyless && !f.body.isEmpty {
            responseBytes += f.body.count
            responseBodyBytes = f.body.count
            queue(.bytes(f.body))
        }
        state = .writing
        deadline = loop.now &+ limits.keepaliveTimeout
        flush()
    }

    private func appendDateAndServer(_ b: inout [UInt8]) {
        loop.dateCache.refresh()
        b.append(contentsOf: loop.dateCache.fields)
    }

    /// The Connection field when needed (RFC 9112 §9.3), then the empty line ending the head.
    private func appendConnectionAndEnd(_ b: inout [UInt8], version: HTTPVersion) {
        if !keepAlive {
            b.append(contentsOf: Connection.closeLine)
        } else if version == .http1_0 {
            b.append(contentsOf: Connection.keepAliveLine)
        }
        b.append(13); b.append(10)
    }

    private static let contentLengthLabel = Array("Content-Length: ".utf8)
    private static let chunkedLine = Array("Transfer-Encoding: chunked\r\n".utf8)
    private static let octetStreamLine = Array("Content-Type: application/octet-stream\r\n".utf8)
    private static let closeLine = Array("Connection: close\r\n".utf8)
    private static let keepAliveLine = Array("Connection: keep-alive\r\n".utf8)

    /// How `writeHead` treats a handler's header: framing fields are the server's to write.
    private enum FieldRole { case skip, contentType, other }

    private static func framingField(_ name: String) -> FieldRole {
        let u = name.utf8
        switch u.count {
        case 4: return HeaderFields.equalsIgnoringCase(name, "Date") ? .skip : .other
        case 10: return HeaderFields.equalsIgnoringCase(name, "Connection") ? .skip : .other
        case 12: return HeaderFields.equalsIgnoringCase(name, "Content-Type") ? .contentType : .other
        case 14: return HeaderFields.equalsIgnoringCase(name, "Content-Length") ? .skip : .other
        case 17: return HeaderFields.equalsIgnoringCase(name, "Transfer-Encoding") ? .skip : .other
        default: return .other
        }
    }

    /// Appends `v` (non-negative) in decimal.
    static func appendDecimal(_ v: Int, to b: inout [UInt8]) {
        if v < 10 { b.append(UInt8(48 + max(v, 0))); return }
        // Digits right to left into a stack buffer, then one append.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var n = UInt(v), i = 20
            repeat {
                i -= 1
                buf[i] = UInt8(truncatingIfNeeded: 48 + n % 10)
                n /= 10
            } while n > 0
            b.append(contentsOf: UnsafeBufferPointer(rebasing: buf[i...]))
        }
    }

    private func queue(_ c: OutChunk) {
        out.append(c)
        queuedBytes += chunkLength(c)
    }

    /// Bytes of a file sent per sendfile call before the connection yields to the others.
    static let sendfileSlice = 256 * 1024

    /// Set by the last sendfile when it was a full slice.
    private var sliced = false

    /// Head bytes sent with MSG_MORE and not yet pushed out (they lead the next sendfile's segments).
    private var heldBack = 0
    /// The connection's TCP maximum segment size, asked once (0: not yet).
    private var mss = 0

    private func segmentSize() -> Int {
        if mss == 0 {
            var v: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            mss = getsockopt(fd, Int32(IPPROTO_TCP), TCP_MAXSEG, &v, &len) == 0 && v > 0 ? Int(v) : 1
        }
        return mss
    }

    /// The loop resumes a connection that yielded between slices of a file.
    func resumeWriting() {
        if state == .writing { flush() }
    }

    /// Writes queued output until done or the socket is full. `intermediate` = a 100 Continue, not a response.
    private func flush(intermediate: Bool = false) {
        while outIndex < out.count {
            let result: IOResult<Int>
            do {
                switch out[outIndex] {
                case .head:
                    if outIndex + 1 < out.count, case .bytes(let next) = out[outIndex + 1] {
                        result = try writev2(headBuf, from: outOffset, next)
                    } else {
                        // A file follows: MSG_MORE lets the head share a segment with the file's start.
                        let more = outIndex + 1 < out.count
                        result = try writeBytes(headBuf, from: outOffset, more: more)
                        if more, case .done(let n) = result { heldBack += n }
                    }
                case .bytes(let b):
                    result = try writeBytes(b, from: outOffset)
                case .file(let f):
                    var off = Int64(f.offset + outOffset)
                    let remaining = f.length - outOffset
                    var want = min(remaining, Connection.sendfileSlice)
                    if want < remaining {
                        // More slices follow: end this one on a segment boundary (counting the head
                        // held back by MSG_MORE). With TCP_NODELAY a slice's tail would otherwise
                        // leave as a small segment of its own, and 256 KiB is not a multiple of
                        // the MSS (65,483 on loopback): ~12% more segments for a 1 MiB file.
                        let mss = segmentSize()
                        let end = (heldBack + want) / mss * mss
                        if end > heldBack { want = end - heldBack }
                    }
                    result = try syscall("sendfile") { cflaks_sendfile(fd, f.file.fd, &off, want) }
                    if case .done = result { heldBack = 0 }
                    sliced = want < remaining
                    if case .done(0) = result {
                        // The file shrank under us: the promised length cannot be sent.
                        close(); return
                    }
                }
            } catch {
                close(); return
            }
            guard case .done(var n) = result else {
                deadline = loop.now &+ limits.keepaliveTimeout
                return
            }
            // Advance through as many chunks as `n` covers.
            queuedBytes -= n
            while n > 0 && outIndex < out.count {
                let left = chunkLength(out[outIndex]) - outOffset
                if n >= left { n -= left; outIndex += 1; outOffset = 0 } else { outOffset += n; n = 0 }
            }
            // A large file goes out one slice per turn: let the loop serve the other connections
            // (and their readers drain the loopback) before the next slice, as lighttpd does.
            if sliced && outIndex < out.count {
                sliced = false
                loop.writeReady.append(self)
                return
            }
        }
        out.removeAll(keepingCapacity: true)
        outIndex = 0
        outOffset = 0
        queuedBytes = 0
        if intermediate { return }
        if let source = streamSource, !streamEnded {
            source.outputDrained()
            return
        }
        responseDone()
    }

    private func chunkLength(_ c: OutChunk) -> Int {
        switch c {
        case .head: headBuf.count
        case .bytes(let b): b.count
        case .file(let f): f.length
        }
    }

    private func writeBytes(_ b: [UInt8], from offset: Int, more: Bool = false) throws(SystemError) -> IOResult<Int> {
        let fd = self.fd
        let flags = Int32(MSG_NOSIGNAL) | (more ? Int32(MSG_MORE) : 0)
        let r: Result<IOResult<Int>, SystemError> = b.withUnsafeBytes { p in
            Result { () throws(SystemError) in
                try syscall("send") { cflaks_send(fd, p.baseAddress! + offset, p.count - offset, flags) }
            }
        }
        return try r.get()
    }

    private func writev2(_ a: [UInt8], from offset: Int, _ b: [UInt8]) throws(SystemError) -> IOResult<Int> {
        let fd = self.fd
        let r: Result<IOResult<Int>, SystemError> = a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                Result { () throws(SystemError) in
                    try syscall("writev") { cflaks_writev2(fd, pa.baseAddress! + offset, pa.count - offset, pb.baseAddress, pb.count) }
                }
            }
        }
        return try r.get()
    }

    /// The response is fully written: next request, or close.
    private func responseDone() {
        let host = currentRoute?.hostLabel ?? "-"
        let status = responseStatus, bytes = responseBytes, duration = loop.now &- requestStart
        loop.metrics.withLock { $0.record(host: host, status: status, bytes: bytes, durationNanos: duration) }
        loop.server.accessLog?.record(self.logEntry())
        // The client asked to close and sent nothing more: a plain close cannot reset unread data.
        let clientDone = head.map { !$0.keepAlive } ?? false
        streamSource = nil
        streamEnded = false
        servingErrorPage = false
        redirects = 0
        site = nil
        currentRoute = nil
        head = nil
        body = []
        if !keepAlive {
            if clientDone && pending.isEmpty && !readHint { close() } else { lingeringClose() }
            return
        }
        state = .idle
        deadline = loop.now &+ limits.keepaliveTimeout
        if !inInput { readInput() }
    }

    /// Shuts the write side and discards input for a short while, so the client reads the final
    /// response instead of a reset caused by its unread bytes.
    private func lingeringClose() {
        if peerClosed { close(); return }
        shutdown(fd, Int32(SHUT_WR))
        state = .lingering
        pending = []
        deadline = loop.now &+ 2_000_000_000
        if !inInput { readInput() }
    }

    func close() {
        guard state != .closed else { return }
        state = .closed
        deadline = 0
        loop.selector.deregister(fd: fd)
        _ = Glibc.close(fd)
        out.removeAll()
        pending = []
        site = nil
        loop.connectionClosed(self)
        if let source = streamSource {
            streamSource = nil
            source.connectionClosed()
        }
    }

    // MARK: streaming (CGI output)

    /// Becomes the body producer for the current request; it is told when output drains and when the
    /// connection closes (so a CGI script can be killed).
    func attach(_ source: any StreamSource) {
        streamSource = source
    }

    /// Sends the head of a streamed response: chunked on HTTP/1.1 unless it has a Content-Length.
    func beginStream(_ response: Response) {
        guard state == .handling else { return }
        writeHead(response, streaming: true)
    }

    /// Queues body bytes of a stream. Returns false when the client is slow and the source should
    /// wait for `outputDrained` before producing more (back-pressure).
    @discardableResult
    func streamWrite(_ data: UnsafeRawBufferPointer) -> Bool {
        guard state == .writing, !streamEnded, !data.isEmpty else { return state == .writing }
        if head?.method == .HEAD { return true }
        if streamChunked {
            var frame: [UInt8] = []
            frame.reserveCapacity(data.count + 12)
            frame.append(contentsOf: String(data.count, radix: 16).utf8)
            frame.append(13); frame.append(10)
            frame.append(contentsOf: data)
            frame.append(13); frame.append(10)
            queue(.bytes(frame))
        } else {
            queue(.bytes(Array(data)))
        }
        responseBytes += data.count
        responseBodyBytes += data.count
        flush()
        return queuedBytes < 256 * 1024
    }

    /// The stream is complete: send the last chunk, then carry on with the next request.
    func streamEnd() {
        guard state == .writing, !streamEnded else { return }
        streamEnded = true
        if streamChunked && head?.method != .HEAD { queue(.bytes(Connection.lastChunk)) }
        if queuedBytes == 0 && outIndex >= out.count { responseDone() } else { flush() }
    }

    /// The stream failed after its head was sent: the only honest signal left is closing.
    func streamAbort() {
        streamSource = nil
        close()
    }

    private static let lastChunk = Array("0\r\n\r\n".utf8)

    /// The connection's current state, for stream sources.
    var isWaitingForHandler: Bool { state == .handling }

    /// What the access log needs about the response just written.
    func logEntry() -> AccessLogEntry {
        AccessLogEntry(remote: peerHost, method: head?.method.rawValue ?? "-", target: head?.target ?? "-",
                       version: head?.version.description ?? "HTTP/1.1", status: responseStatus, bytes: responseBodyBytes,
                       referer: head?.headers["Referer"], userAgent: head?.headers["User-Agent"], host: requestHost,
                       durationNanos: loop.now &- requestStart, requestID: requestID)
    }
}

// MARK: - hook for CGI (added on the cgi branch; additive, no existing logic changed)

extension Connection {
    /// `source` stops being the body producer without ending the response, so it can answer with a
    /// complete response (`send`) or an `internalRedirect` instead. Needed because `flush` hands a
    /// finished write to an attached source (`outputDrained`) instead of finishing the response, so
    /// `send` while a source is attached would never complete. No-op if another source is attached.
    func detach(_ source: any StreamSource) {
        if streamSource === source { streamSource = nil }
    }
}
