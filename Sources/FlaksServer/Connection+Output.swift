#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksHandlers
import FlaksHTTP

/// A connection's queued output: the serialized head (one buffer reused across responses) and the
/// body chunks after it, written with writev, send and sendfile.
struct OutputQueue {
    enum Chunk {
        case head
        case bytes([UInt8])
        case file(FileRegion)
    }

    var head: [UInt8] = []
    var chunks: [Chunk] = []
    var index = 0
    var offset = 0
    /// Bytes queued and not yet written (back-pressure for streams).
    var queuedBytes = 0
    /// Set by the last sendfile when it was a full slice.
    var sliced = false
    /// Head bytes sent with MSG_MORE and not yet pushed out (they lead the next sendfile's segments).
    var heldBack = 0
    /// The connection's TCP maximum segment size, asked once (0: not yet).
    var mss = 0
    /// The socket refused bytes and has not drained since.
    var blocked = false

    var hasQueued: Bool { index < chunks.count }

    mutating func append(_ c: Chunk) {
        chunks.append(c)
        queuedBytes += length(c)
    }

    func length(_ c: Chunk) -> Int {
        switch c {
        case .head: head.count
        case .bytes(let b): b.count
        case .file(let f): f.length
        }
    }

    /// Marks `n` written bytes as done, through as many chunks as they cover.
    mutating func advance(by written: Int) {
        var n = written
        queuedBytes -= n
        while n > 0 && index < chunks.count {
            let left = length(chunks[index]) - offset
            if n >= left { n -= left; index += 1; offset = 0 } else { offset += n; n = 0 }
        }
    }

    /// Everything was written: forget the chunks, keep the buffers' capacity.
    mutating func reset() {
        chunks.removeAll(keepingCapacity: true)
        index = 0
        offset = 0
        queuedBytes = 0
        blocked = false
    }

    /// The head buffer, emptied, to build a new head in (no exclusivity checks per append); put it
    /// back with `head = buffer`.
    mutating func takeHead() -> [UInt8] {
        var b = head
        head = []
        b.removeAll(keepingCapacity: true)
        return b
    }
}

/// The `ResponseSink` handlers write to, and the writing itself.
extension Connection: ResponseSink {
    /// Queued body bytes above which a streaming producer is asked to wait.
    static let highWater = 256 * 1024
    /// Bytes of a file sent per sendfile call before the connection yields to the others. A full
    /// socket buffer (EAGAIN) already makes a large file take turns; the slice bounds one turn,
    /// and on loopback it decides how much is delivered to the client at once. Measured at stop 27
    /// (bench/static.sh's 1 MiB file, keep-alive, 50 clients, one core each, with TCP_NOTSENT_LOWAT,
    /// 3 alternating rounds): 2 MiB slices (the whole file per call) 2,956 req/s and 335 µs of CPU
    /// per request; 512 KiB 5,708 and 174 µs; 256 KiB 5,903 and 164 µs; 128 KiB 5,811 and 167 µs;
    /// lighttpd (~256 KiB per call) 5,604 and 167 µs. Per call, a whole file's segments reached the
    /// client's socket one after the other, each waking the client (`sock_def_readable`: 1,098
    /// samples against 222 for 256 KiB slices, perf on the server's core), and a wake-up is an
    /// inter-processor interrupt through the hypervisor here. (An earlier machine, before
    /// TCP_NOTSENT_LOWAT, measured the reverse: 256 KiB 149 µs, 2 MiB 112-125 µs.)
    static let sendfileSlice = 256 * 1024

    var awaitsResponse: Bool { machine.awaitsResponse }

    func attach(_ producer: any ResponseProducer) {
        if machine.awaitsResponse { exchange.producer = producer }
    }

    // MARK: complete responses

    /// `consuming`, and compressed in place: the response is moved from the handler's outcome to
    /// `sendPrepared`, never copied (a copy and its release here and another in `compressIfWanted`;
    /// 21,750 instructions per blocking view request before, ~21,550 now).
    func send(_ response: consuming Response) {
        guard machine.awaitsResponse else { return }
        if response.status.code >= 400, !exchange.servingErrorPage, let page = errorPage(for: response.status) {
            exchange.servingErrorPage = true
            response = page.withStatus(response.status, keeping: response.headers)
        }
        if case .stream(let produce) = response.body {
            AsyncBodyStream.start(response, produce, sink: self, loop: loop, idleLimit: machine.configuration.sendTimeout)
            return
        }
        guard compressIfWanted(&response) else { return }  // compressed on a worker, sent later
        sendPrepared(response)
    }

    /// Sends a complete response as it is (error page and compression already applied).
    func sendPrepared(_ r: Response) {
        let length = r.body.length
        guard let plan = machine.startResponse(status: r.status, bodyLength: length, complete: true, now: loop.now) else { return }
        var b = output.takeHead()
        ResponseHeadEncoder.encode(status: r.status, plan: plan, fields: r.headers, preEncoded: r.encodedHeaders,
                                   route: exchange.route?.routeFields, common: commonFields(), into: &b)
        output.head = b
        output.append(.head)
        if preparedKey != nil {
            switch r.body {
            case .bytes(let body): keepPrepared(head: output.head, body: body, plan: plan, status: r.status, reusableFor: r.reusableFor)
            case .empty: keepPrepared(head: output.head, body: [], plan: plan, status: r.status, reusableFor: r.reusableFor)
            case .file(let f): keepPrepared(head: output.head, body: [], file: f, plan: plan, status: r.status, reusableFor: r.reusableFor)
            default: break
            }
        }
        exchange.status = r.status.code
        exchange.bytesSent = b.count
        if plan.sendsBody {
            exchange.bytesSent += length
            exchange.bodyBytesSent = length
            switch r.body {
            case .empty, .stream: break
            case .bytes(let bytes): if !bytes.isEmpty { output.append(.bytes(bytes)) }
            case .file(let f): if f.length > 0 { output.append(.file(f)) }
            case .parts(let parts):
                for p in parts {
                    switch p {
                    case .bytes(let bytes): if !bytes.isEmpty { output.append(.bytes(bytes)) }
                    case .file(let f): if f.length > 0 { output.append(.file(f)) }
                    }
                }
            }
        }
        flush()
    }

    /// Sends a response prepared at load time (a `respond:` route): one copy of its head bytes.
    func sendFixed(_ f: FixedResponse) {
        guard let plan = machine.startResponse(status: f.status, bodyLength: f.body.count, complete: true,
                                               now: loop.now) else { return }
        var b = output.takeHead()
        b.append(contentsOf: f.head)
        b.append(contentsOf: commonFields())
        ResponseHeadEncoder.appendConnection(plan, into: &b)
        output.head = b
        output.append(.head)
        // A `respond:` answer stays the same for the whole generation.
        if preparedKey != nil {
            keepPrepared(head: output.head, body: f.body, plan: plan, status: f.status, reusableFor: UInt64.max / 4)
        }
        exchange.status = f.status.code
        exchange.bytesSent = b.count
        if plan.sendsBody && !f.body.isEmpty {
            exchange.bytesSent += f.body.count
            exchange.bodyBytesSent = f.body.count
            output.append(.bytes(f.body))
        }
        flush()
    }

    /// `100 Continue` before the body is read.
    func sendContinueResponse() {
        output.append(.bytes(ResponseHeadEncoder.continueBytes))
        flush()
    }

    func informational(_ status: HTTPStatus, headers: HeaderFields) {
        guard machine.awaitsResponse, status.code >= 100, status.code < 200, status.code != 101 else { return }
        var b: [UInt8] = []
        ResponseHeadEncoder.encodeInformational(status: status, fields: headers, into: &b)
        output.append(.bytes(b))
        flush()
    }

    // MARK: streamed responses

    func start(status: HTTPStatus, headers: HeaderFields, length: Int?, producer: any ResponseProducer,
               idleLimit: UInt64?) -> Bool {
        start(status: status, headers: headers, length: length, producer: producer, idleLimit: idleLimit, holdHead: false)
    }

    /// `start`; with `holdHead` the head stays queued (when a body follows) until the producer's
    /// first pushing `write` or `finish`, or `pushQueued()`, so that a small body leaves with its
    /// head in one system call. The producer must then call one of them before it waits for an event.
    func start(status: HTTPStatus, headers: HeaderFields, length: Int?, producer: any ResponseProducer,
               idleLimit: UInt64?, holdHead: Bool) -> Bool {
        guard machine.awaitsResponse else { return false }
        var headers = headers, length = length
        exchange.compressor = streamCompressor(status: status, headers: &headers, length: &length)
        guard let plan = machine.startResponse(status: status, bodyLength: length, complete: false,
                                               producerIdleLimit: idleLimit, now: loop.now) else { return false }
        var b = output.takeHead()
        ResponseHeadEncoder.encode(status: status, plan: plan, fields: headers, preEncoded: nil,
                                   route: exchange.route?.routeFields, common: commonFields(), into: &b)
        output.head = b
        output.append(.head)
        exchange.status = status.code
        exchange.bytesSent = b.count
        exchange.framer = BodyFramer(plan: plan)
        guard plan.sendsBody else {
            // HEAD, 204, 304: the head is the whole response.
            exchange.compressor?.abort()
            exchange.compressor = nil
            _ = machine.producerFinished(now: loop.now, outputEmpty: false, unreadInput: unreadInput)
            flush()
            return false
        }
        exchange.producer = producer
        if !holdHead { flush() }
        return !isClosed
    }

    /// Writes what is queued (a head held by `start(holdHead: true)`), unless the socket is full
    /// (its writable event writes it then).
    func pushQueued() {
        if !isClosed && output.hasQueued && !output.blocked { writeQueued() }
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        write(bytes, push: true)
    }

    /// `write`; with `push` false the bytes are queued and not written: the producer writes them
    /// with what follows, by `pushQueued()` or `finish()`, before it waits for an event.
    func write(_ bytes: UnsafeRawBufferPointer, push: Bool) -> Bool {
        guard exchange.producer != nil, exchange.framer != nil else { return false }
        if let compressor = exchange.compressor {
            var coded: [UInt8] = []
            do { try compressor.write(bytes, into: &coded) } catch {
                abort()
                return false
            }
            if !coded.isEmpty { coded.withUnsafeBytes { queueBody($0) } }
        } else {
            queueBody(bytes)
        }
        machine.produced(now: loop.now)
        if push && output.hasQueued { writeQueued() }
        return !isClosed && exchange.producer != nil && output.queuedBytes < Connection.highWater
    }

    /// Frames body bytes (chunks, a Content-Length cap) and queues them.
    private func queueBody(_ bytes: UnsafeRawBufferPointer) {
        guard var framer = exchange.framer else { return }
        var chunk: [UInt8] = []
        chunk.reserveCapacity(bytes.count + 16)
        let n = framer.frame(bytes, into: &chunk)
        exchange.framer = framer
        if !chunk.isEmpty {
            output.append(.bytes(chunk))
            exchange.bytesSent += chunk.count
            exchange.bodyBytesSent += n
        }
    }

    func flush() {
        if let compressor = exchange.compressor, exchange.producer != nil {
            var coded: [UInt8] = []
            if (try? compressor.flush(into: &coded)) != nil, !coded.isEmpty { coded.withUnsafeBytes { queueBody($0) } }
        }
        if output.hasQueued { writeQueued() }
    }

    func finish() {
        guard exchange.producer != nil else { return }
        if let compressor = exchange.compressor {
            var coded: [UInt8] = []
            guard (try? compressor.finish(into: &coded)) != nil else { abort(); return }
            if !coded.isEmpty { coded.withUnsafeBytes { queueBody($0) } }
            exchange.compressor = nil
        }
        guard var framer = exchange.framer else { return }
        exchange.producer = nil
        var tail: [UInt8] = []
        guard framer.finish(into: &tail) else {
            loop.server.logger.error("conn=\(id) req=\(exchange.requestID): the body ended \(framer.remaining) bytes short of its Content-Length")
            machine.responseAborted()
            close()
            return
        }
        exchange.framer = framer
        if !tail.isEmpty {
            output.append(.bytes(tail))
            exchange.bytesSent += tail.count
        }
        _ = machine.producerFinished(now: loop.now, outputEmpty: false, unreadInput: unreadInput)
        writeQueued()
    }

    func abort() {
        exchange.producer = nil
        if machine.awaitsResponse {
            send(ErrorPage.response(.badGateway))
        } else {
            machine.responseAborted()
            close()
        }
    }

    /// Date and Server, and on a TLS connection Strict-Transport-Security when `hsts` is set (on every
    /// response, errors included).
    func commonFields() -> [UInt8] {
        loop.dateCache.refresh()
        if tls != nil, let hsts = (exchange.site ?? loop.server.currentSite).tls?.hstsField { return loop.dateCache.fields + hsts }
        return loop.dateCache.fields
    }

    // MARK: writing

    /// The loop resumes a connection that yielded between slices of a file.
    func resumeWriting() {
        if !isClosed && output.hasQueued { writeQueued() }
    }

    /// Writes queued output until it is all out (then tells the machine) or the socket is full.
    func writeQueued() {
        if let t = tls { writeQueuedTLS(t); return }
        while output.hasQueued {
            let result: IOResult<Int>
            do { result = try writeNext() } catch {
                close(); return
            }
            guard case .done(let n) = result else {
                output.blocked = true
                machine.outputBlocked(now: loop.now)
                rearm()
                return
            }
            if n == 0 {
                // sendfile found the file shorter than promised: the length cannot be kept.
                close(); return
            }
            output.advance(by: n)
            if output.blocked { machine.outputProgress(now: loop.now) }
            // A large file goes out one slice per turn: let the loop serve the other connections
            // (and their readers drain the loopback) before the next slice, as lighttpd does.
            if output.sliced && output.hasQueued {
                output.sliced = false
                machine.outputProgress(now: loop.now)
                loop.resumeNextRound(self)
                return
            }
        }
        output.reset()
        if machine.isTunnel { tunnelDrained(); return }
        perform(machine.outputDrained(now: loop.now, unreadInput: unreadInput))
    }

    /// One system call for the chunk at the front of the queue.
    private func writeNext() throws(SystemError) -> IOResult<Int> {
        switch output.chunks[output.index] {
        case .head:
            let i = output.index
            if i + 1 < output.chunks.count, case .bytes(let next) = output.chunks[i + 1] {
                return try writev2(output.head, from: output.offset, next)
            }
            // A file follows: MSG_MORE lets the head share a segment with the file's start.
            let more = i + 1 < output.chunks.count
            let r = try writeBytes(output.head, from: output.offset, more: more)
            if more, case .done(let n) = r { output.heldBack += n }
            return r
        case .bytes(let b):
            return try writeBytes(b, from: output.offset)
        case .file(let f):
            var off = Int64(f.offset + output.offset)
            let remaining = f.length - output.offset
            var want = min(remaining, Connection.sendfileSlice)
            if want < remaining {
                // More slices follow: end this one on a segment boundary (counting the head held back
                // by MSG_MORE). With TCP_NODELAY a slice's tail would otherwise leave as a small segment
                // of its own, and 256 KiB is not a multiple of the MSS (65,483 on loopback): ~12% more
                // segments for a 1 MiB file.
                let mss = segmentSize()
                let end = (output.heldBack + want) / mss * mss
                if end > output.heldBack { want = end - output.heldBack }
            }
            let fd = self.fd
            let r = try syscall("sendfile") { cflaks_sendfile(fd, f.file.fd, &off, want) }
            output.sliced = false
            if case .done(let n) = r {
                output.heldBack = 0
                // A whole slice went: take a turn. Less than asked: the socket is full (or over
                // TCP_NOTSENT_LOWAT), and the next call will say so; no turn needed in between.
                output.sliced = want < remaining && n == want
            }
            return r
        }
    }

    private func segmentSize() -> Int {
        if output.mss == 0 {
            var v: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            output.mss = getsockopt(fd, Int32(IPPROTO_TCP), TCP_MAXSEG, &v, &len) == 0 && v > 0 ? Int(v) : 1
        }
        return output.mss
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
}
