#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksHandlers
import FlaksHTTP

/// The key a quick request was looked up under and not found: if its general-path answer may be
/// kept, it is kept under this key (`Connection.keepPrepared`).
struct PreparedKey {
    let hash: UInt64
    let variant: Int
    let key: [UInt8]
    let hostLength: Int
}

/// Prepared responses (`PreparedResponses`): answering a plain GET that was answered a moment ago
/// with the same bytes, and keeping such answers.
extension Connection {
    /// Answers the request whose head starts `buf` from the loop's prepared responses, if it is a
    /// `QuickHead` with a valid entry and the machine agrees (`beginPrepared`). Returns the bytes
    /// consumed (the head), or 0: the general path takes the request (and, on a miss, notes its key
    /// in `preparedKey`).
    func answerPrepared(_ buf: UnsafeRawBufferPointer) -> Int {
        guard loop.server.accessLog == nil, !output.hasQueued else { return 0 }
        if !negativeHead.isEmpty && repeatsNegativeHead(buf) { return 0 }
        guard let q = QuickHead.scan(buf, limits: machine.configuration.parse) else { return 0 }
        let variant = preparedVariant
        let hash = PreparedResponses.hash(buf, q, variant: variant)
        let generation = loop.server.siteGeneration
        guard let e = loop.prepared.find(buf, q, hash: hash, variant: variant, generation: generation, now: loop.now) else {
            var key = [UInt8](UnsafeRawBufferPointer(rebasing: buf[q.host]))
            key.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[q.target]))
            preparedKey = PreparedKey(hash: hash, variant: variant, key: key, hostLength: q.host.count)
            return 0
        }
        if e.isNegative {
            keepNegativeHead(UnsafeRawBufferPointer(rebasing: buf[0..<q.length]), generation: generation)
            return 0
        }
        guard machine.beginPrepared(plan: e.plan, now: loop.now) else { return 0 }
        _ = loop.makeRequestID()
        loop.dateCache.refresh()
        if e.dateSecond != loop.dateCache.second {
            let date = loop.dateCache.fields[6..<35]  // "Date: " then the 29-byte IMF-fixdate
            e.bytes.replaceSubrange(e.dateAt..<(e.dateAt + 29), with: date)
            e.dateSecond = loop.dateCache.second
        }
        loop.metrics.withLock {
            $0.record(host: e.hostLabel, status: 200, bytes: e.length, durationNanos: 0)
            $0.prepared += 1
        }
        if let body = e.body {
            // A body over `PreparedResponses.maxBody`: the head and the body through the output queue,
            // as the general path sends them (writev; a file: MSG_MORE, then sendfile slices); only the
            // parse, route, handler and head encoding are saved. bench/static.sh's 64 KiB file:
            // 13,593 -> 4,090 instructions per request (bench/instructions.sh PATHQ=/64k.bin), the
            // server's CPU per request below lighttpd's (docs/performance.md).
            var b = output.takeHead()
            b.append(contentsOf: e.bytes)
            output.head = b
            output.append(.head)
            output.append(body)
            writeQueued()
            return q.length
        }
        if let t = tls {
            // Encrypted in one record run (the whole answer is at most 16 KiB and a head), then sent;
            // what the session or the socket does not take waits like any response's output.
            let r = e.bytes.withUnsafeBytes { t.session.writePlaintext($0) }
            guard case .accepted(let n) = r else { close(); return q.length }
            if n < e.bytes.count { output.append(.bytes(Array(e.bytes[n...]))) }
            writeQueuedTLS(t)
            return q.length
        }
        let fd = self.fd
        // More pipelined bytes follow in this read: hold this answer in the socket (MSG_MORE) so the
        // answers to a batch leave together, pushed by `pushHeldAnswers` once the read's requests are done.
        // Measured with 16 pipelined requests per write (`PIPELINE=16 bench/engine.sh`): see
        // docs/performance.md.
        let more = buf.count > q.length
        if more { answersHeld = true }
        let flags = Int32(MSG_NOSIGNAL) | (more ? Int32(MSG_MORE) : 0)
        let sent = e.bytes.withUnsafeBytes { p in cflaks_send(fd, p.baseAddress!, p.count, flags) }
        if sent == e.bytes.count {
            let after = machine.outputDrained(now: loop.now, unreadInput: unreadInput)
            if case .nextRequest = after { return q.length }
            perform(after)
            return q.length
        }
        if sent < 0 && errno != EAGAIN && errno != EINTR {
            close()
            return q.length
        }
        // The socket took part (or none): the rest waits in the output queue like any response's.
        output.append(.bytes(e.bytes))
        if sent > 0 { output.advance(by: sent) }
        output.blocked = true
        machine.outputBlocked(now: loop.now)
        return q.length
    }

    /// Whether `buf` starts with the head this connection sent last when that head was found
    /// negative, in this site generation: then it is negative again (the same bytes are the same
    /// host, target and fields, so the same route, which never prepares), and the general path
    /// takes it without a scan, hash and lookup that would only say so (a client repeating its
    /// request to a view, a script or a proxy: 19,550 instructions per blocking view request
    /// before, 18,600 now; an async one 24,800 before, 23,800 now). Nothing else changes: the
    /// parser reads the request as it always does, and a wrong "negative" could only cost a
    /// preparation, never change an answer.
    @inline(never)
    private func repeatsNegativeHead(_ buf: UnsafeRawBufferPointer) -> Bool {
        let n = negativeHead.count
        guard buf.count >= n, negativeGeneration == loop.server.siteGeneration, let base = buf.baseAddress else {
            return false
        }
        return negativeHead.withUnsafeBytes { h in h.baseAddress.map { memcmp($0, base, n) == 0 } ?? false }
    }

    /// Remembers a quick head found negative (`repeatsNegativeHead`); one per connection, at most
    /// `negativeHeadLimit` bytes (a longer one is scanned every time). Not inlined: the prepared
    /// path stays as lean as it was.
    @inline(never)
    private func keepNegativeHead(_ head: UnsafeRawBufferPointer, generation: Int) {
        negativeHead.removeAll(keepingCapacity: true)
        guard head.count <= Connection.negativeHeadLimit else { return }
        negativeHead.append(contentsOf: head)
        negativeGeneration = generation
    }

    static let negativeHeadLimit = 512

    /// Keeps `head` + `body`, just queued as the answer to a quick request, for the next identical
    /// request, when nothing about it depends on more than the host and target (see
    /// `PreparedResponses`). `reusableFor`: the handler's promise (nanoseconds), nil for none.
    /// A body over `PreparedResponses.maxBody` (in memory, or a `file` the static cache holds open) is
    /// kept by reference, on plain connections only.
    func keepPrepared(head: [UInt8], body: [UInt8], file: FileRegion? = nil, plan: ResponsePlan, status: HTTPStatus,
                      reusableFor: UInt64?) {
        guard let k = preparedKey else { return }
        preparedKey = nil
        let inline = file == nil && body.count <= PreparedResponses.maxBody
        guard let reusableFor, reusableFor > 0, status.code == 200, plan.keepAlive, plan.sendsBody,
              plan.version == .http1_1, inline || tls == nil,
              let route = exchange.route, route.access == nil, exchange.redirects == 0, !exchange.servingErrorPage,
              let site = exchange.site, exchange.head?.method == .GET, k.variant == preparedVariant else { return }
        // An ACME challenge is answered before routing, from tokens that come and go.
        let target = k.key[k.hostLength...]
        if target.starts(with: Connection.acmeChallengePrefix) { return }
        // The Date field sits where the common fields went: find it once, here.
        let common = loop.dateCache.fields
        guard let at = Connection.find(common, in: head) else { return }
        let queued: OutputQueue.Chunk? = inline ? nil : file.map { .file($0) } ?? .bytes(body)
        let e = PreparedResponse(hash: k.hash, variant: k.variant, key: k.key, hostLength: k.hostLength,
                                 bytes: inline ? head + body : head, body: queued,
                                 dateAt: at + 6, dateSecond: loop.dateCache.second, plan: plan,
                                 hostLabel: route.hostLabel, generation: site.generation,
                                 validUntil: loop.now &+ reusableFor)
        loop.prepared.store(e)
    }

    /// The quick request in flight was routed to `route`: if that route never prepares, the loop
    /// remembers the key as such (no key is copied for it again in this generation).
    func routedQuick(_ route: MountedRoute) {
        guard let k = preparedKey, !route.mayPrepare, let site = exchange.site else { return }
        preparedKey = nil
        loop.prepared.store(.negative(k, generation: site.generation))
    }

    /// 0 on a plain connection; on TLS, 1 + the host its certificate was chosen for.
    var preparedVariant: Int {
        guard let t = tls else { return 0 }
        return 1 + max(-1, t.host) + 1
    }

    static let acmeChallengePrefix = Array("/.well-known/acme-challenge/".utf8)

    /// The offset of `needle` in `haystack`, or nil.
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard !needle.isEmpty, needle.count <= haystack.count else { return nil }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
