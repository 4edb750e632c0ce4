#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux

/// What went wrong with an upstream connection, for the log and the answer (502/504).
enum UpstreamFailure: Error, CustomStringConvertible {
    /// The connect failed (refused, unreachable, no such socket file).
    case connect(Int32)
    /// `connect_timeout` passed.
    case connectTimeout
    /// A read or write failed (reset).
    case io(Int32)

    var description: String {
        switch self {
        case .connect(let e): "connect: \(String(cString: strerror(e)))"
        case .connectTimeout: "connect timed out"
        case .io(let e): "\(String(cString: strerror(e)))"
        }
    }
}

/// The request using an upstream connection; told what happens to it. Loop thread only.
protocol UpstreamUser: AnyObject {
    /// The connection is open (fresh connects only; a reused one is handed over open).
    func upstreamConnected(_ c: UpstreamConnection)
    /// The connect, a write or a read failed; the connection is closed.
    func upstreamFailed(_ c: UpstreamConnection, _ failure: UpstreamFailure)
    /// Bytes (or the end) can be read with `read(into:)`.
    func upstreamReadable(_ c: UpstreamConnection)
    /// Everything written was sent.
    func upstreamDrained(_ c: UpstreamConnection)
    /// The deadline set with `setDeadline` passed.
    func upstreamTimedOut(_ c: UpstreamConnection)
}

/// A client connection from a loop to an upstream (an HTTP server behind a `proxy:` route, a
/// FastCGI responder, a health check): a non-blocking connect bounded by a timeout, a queue of
/// output written as the socket takes it, reads on demand. Between requests it sits in its loop's
/// `UpstreamPool`; an idle connection that becomes readable (the upstream closed it, or sent
/// something it should not have) is closed there. Loop thread only.
final class UpstreamConnection: Selectable, TimerTarget {
    enum Phase { case connecting, open, idle, closed }

    let address: SocketAddress
    /// The pool key: the upstream's address as text (`127.0.0.1:9000`, `unix:/run/php.sock`).
    let key: String
    private(set) var fd: Int32
    private unowned let loop: EventLoop
    private(set) var phase: Phase
    /// The request using it; nil while idle.
    weak var user: (any UpstreamUser)?
    /// Taken from the pool (it may have been closed by the upstream while idle: the keep-alive race).
    var reused = false
    /// Requests served on it.
    private(set) var uses = 0
    var timerSlot = TimerSlot()
    /// Output not yet taken by the socket: `out[outOffset...]`. One buffer, kept (emptied) across
    /// the requests of a pooled connection, so a request head is encoded into it without an
    /// allocation and a body written right after goes out with it in one system call.
    private var out: [UInt8] = []
    private var outOffset = 0
    /// The socket refused bytes and has not reported writable since: no write is tried until then.
    private var blocked = false
    private var readStorage: UnsafeMutableRawBufferPointer?
    /// Called by the pool when an idle connection closes.
    var onIdleClose: ((UpstreamConnection) -> Void)?
    /// Called once when the connection closes, whatever the reason, while set (an idle FastCGI
    /// connection gives its `UpstreamSlots` slot back through it).
    var onClose: (() -> Void)?

    /// Reads leave what they read in the socket (`MSG_PEEK` at `SO_PEEK_OFF`) until a bulk
    /// `consumeRead` (see `init`'s `peekReads`).
    private var peeking = false
    /// Bytes read by peeking and still in the socket, and the reads that returned them.
    private var unconsumed = 0
    private var unconsumedReads = 0

    /// When the bytes left in the socket are taken out: at this many bytes or reads (each read is
    /// at least one of the responder's writes, a socket buffer each: data + ~1 KiB of overhead
    /// counted against the responder's send buffer, 208 KiB by default). They stay far below the
    /// point where the responder's writes would block: bytes left behind count against its send
    /// buffer until taken out, and a responder blocked on them would never write the bytes that
    /// would make us read again. Hence also the stall guard (`stallGuard`), and peeking only where
    /// the system's default send buffer is at least `peekMinimumSendBuffer`.
    static let consumeAfterBytes = 16 * 1024
    static let consumeAfterReads = 32
    static let peekMinimumSendBuffer: Int32 = 128 * 1024
    /// A responder with a send buffer of its own smaller than the bytes left behind would wait for
    /// room before answering the next request, and nothing would come to read: when bytes were left
    /// and nothing came for this long, they are taken out, and this connection stops peeking.
    static let stallGuard: UInt64 = 10_000_000
    /// The user's deadline while the stall guard's earlier timer stands in for it (0: none).
    private var userDeadline: UInt64 = 0

    /// Starts a non-blocking connect to `address` for `user`; the outcome comes as `upstreamConnected`
    /// or `upstreamFailed` (never from within this call).
    ///
    /// `peekReads` (a unix socket only; FastCGI): reads copy the answer out and leave it in the
    /// socket, which gives it up in bulk every `consumeAfterBytes`/`consumeAfterReads`. Why: a
    /// responder process waiting in a blocking `read` for its next request on a kept connection
    /// (php-fpm) is woken, for nothing, each time the answer it sent is taken out of the socket (the
    /// kernel tells a unix socket's writer that it has room again through the same wait queue the
    /// reader sleeps on). On a shared core that wake-up preempts the loop: a second context switch
    /// pair per request (measured: 0.84 needless php-fpm wake-ups per request, ~1.84 in all).
    init(connectingTo address: SocketAddress, key: String, loop: EventLoop, timeout: UInt64,
         user: any UpstreamUser, peekReads: Bool = false) throws(UpstreamFailure) {
        self.address = address; self.key = key; self.loop = loop; self.user = user
        phase = .connecting
        let s = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw .connect(errno) }
        fd = s
        if address.family != AF_UNIX {
            var one: Int32 = 1
            _ = setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        } else if peekReads {
            // Our socket's send buffer is the system default, as the responder's is (php-fpm sets none).
            var sndbuf: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 && Self.peeks(sendBuffer: sndbuf) {
                // Not supported (an old kernel): plain reads.
                var zero: Int32 = 0
                peeking = setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, socklen_t(MemoryLayout<Int32>.size)) == 0
            }
        }
        var st = address.storage
        let len = address.length
        let r = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, len) } }
        let e = errno
        // A unix socket whose listen backlog is full answers EAGAIN: nothing is in progress (unlike
        // TCP's EINPROGRESS), so it is a failed connect, not a pending one.
        if r != 0 && (address.family == AF_UNIX && e == EAGAIN) {
            Glibc.close(s)
            fd = -1
            throw .connect(e)
        }
        if r != 0 && e != EINPROGRESS && e != EINTR && e != EAGAIN {
            Glibc.close(s)
            fd = -1
            throw .connect(e)
        }
        do {
            try loop.register(fd: s, interest: [.readable, .writable, .readHangup, .edgeTriggered], target: self)
        } catch {
            Glibc.close(s)
            fd = -1
            throw .connect(error.errno)
        }
        // Connected at once (unix sockets may) or not: the writable event reports it either way
        // (registering an already writable socket yields one event, edge-triggered or not).
        loop.schedule(self, at: loop.now &+ timeout)
    }

    deinit {
        readStorage?.deallocate()
        if fd >= 0 { Glibc.close(fd) }
        if let f = onClose { onClose = nil; f() }
    }

    // MARK: events

    func ready(_ events: SelectorEvents) {
        switch phase {
        case .connecting:
            if !events.isDisjoint(with: [.writable, .error, .hangup]) { connectFinished() }
        case .open:
            if events.contains(.writable) {
                blocked = false
                if outOffset < out.count { flush() }
            }
            if phase == .open && !events.isDisjoint(with: [.readable, .readHangup, .hangup, .error]) {
                user?.upstreamReadable(self)
            }
        case .idle:
            if !events.isDisjoint(with: [.readHangup, .hangup, .error]) || (events.contains(.readable) && idleHasInput()) { close() }
        case .closed:
            break
        }
    }

    private func connectFinished() {
        guard phase == .connecting else { return }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 { err = errno }
        if err != 0 {
            fail(.connect(err))
            return
        }
        phase = .open
        loop.schedule(self, at: 0)
        uses += 1
        user?.upstreamConnected(self)
        if phase == .open && outOffset < out.count { flush() }
    }

    func timerFired(now: UInt64) {
        switch phase {
        case .connecting: fail(.connectTimeout)
        case .open where userDeadline != 0:
            // The stall guard (see `stallGuard`): nothing came while bytes were left in the socket.
            let d = userDeadline
            userDeadline = 0
            if unconsumed > 0 {
                peeking = false
                if let e = consumeRead() { fail(.io(e)); return }
            }
            if now >= d { user?.upstreamTimedOut(self) } else { loop.schedule(self, at: d) }
        case .open: user?.upstreamTimedOut(self)
        case .idle: close()
        case .closed: break
        }
    }

    private func fail(_ f: UpstreamFailure) {
        let u = user
        close()
        u?.upstreamFailed(self, f)
    }

    // MARK: I/O for the user

    /// The user's deadline (the time allowed for the next byte); 0 = none.
    func setDeadline(_ deadline: UInt64) {
        guard phase == .open else { return }
        if unconsumed > 0 && deadline != 0 {
            // Bytes are left in the socket while the user waits: the stall guard first.
            userDeadline = deadline
            loop.schedule(self, at: min(deadline, loop.now &+ Self.stallGuard))
        } else {
            userDeadline = 0
            loop.schedule(self, at: deadline)
        }
    }

    /// Queues bytes and writes what the socket takes (before the connect completes, they wait).
    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Writes `bytes` after what is queued, in one system call with it (writev), and queues only what
    /// the socket does not take: a body passed through from the client's read buffer is copied only
    /// when the upstream is slow. Before the connect completes, the bytes wait.
    func write(_ bytes: UnsafeRawBufferPointer) {
        guard phase == .open || phase == .connecting, !bytes.isEmpty else { return }
        guard phase == .open, !blocked else {
            out.append(contentsOf: bytes)
            return
        }
        let fd = self.fd, queued = out.count - outOffset
        let r: IOResult<Int>
        do {
            if queued == 0 {
                r = try syscall("send") { cflaks_send(fd, bytes.baseAddress!, bytes.count, Int32(MSG_NOSIGNAL)) }
            } else {
                let offset = outOffset
                r = try out.withUnsafeBytes { p in
                    try syscall("writev") { cflaks_writev2(fd, p.baseAddress! + offset, queued, bytes.baseAddress, bytes.count) }
                }
            }
        } catch {
            fail(.io((error as? SystemError)?.errno ?? EIO))
            return
        }
        var written = 0
        if case .done(let n) = r { written = n } else { blocked = true }
        if written >= queued + bytes.count {
            outputWritten()
            return
        }
        if written >= queued {
            // Some of `bytes` went out: keep the rest.
            out.removeAll(keepingCapacity: true)
            outOffset = 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[(written - queued)...]))
        } else {
            outOffset += written
            out.append(contentsOf: bytes)
        }
        // A short write that was not refused: go on until the socket refuses (edge-triggered).
        if !blocked { flush() }
    }

    /// Queued by `writeAfterDispatch` and not yet flushed by the loop.
    private var corked = false

    /// Queues `bytes` to be written when the loop has dispatched every event of this wake-up (before
    /// it waits again). For a responder on the same machine (php-fpm): a write wakes one of its
    /// processes, which on a shared core preempts the loop in the middle of its batch; written at the
    /// end of the batch, the wake-ups come when the loop is about to sleep anyway.
    func writeAfterDispatch(_ bytes: [UInt8]) {
        guard phase == .open || phase == .connecting, !bytes.isEmpty else { return }
        out.append(contentsOf: bytes)
        if phase == .open && !corked {
            corked = true
            loop.writeAfterDispatch(self)
        }
    }

    /// The loop's end-of-dispatch call for `writeAfterDispatch`.
    func uncork() {
        corked = false
        if phase == .open && !blocked && outOffset < out.count { flush() }
    }

    /// Appends to the output without writing: the next `write` or `flush` sends it with what follows.
    func queue(_ append: (inout [UInt8]) -> Void) {
        guard phase == .open || phase == .connecting else { return }
        append(&out)
    }

    /// Nothing is waiting to be written.
    var outputEmpty: Bool { outOffset == out.count }
    /// Bytes waiting to be written.
    var queuedBytes: Int { out.count - outOffset }

    /// Writes what is queued (nothing when the queue is empty or the socket is full).
    func flush() {
        while phase == .open, !blocked, outOffset < out.count {
            let fd = self.fd, offset = outOffset
            let r: IOResult<Int>
            do {
                r = try out.withUnsafeBytes { p in
                    try syscall("send") { cflaks_send(fd, p.baseAddress! + offset, p.count - offset, Int32(MSG_NOSIGNAL)) }
                }
            } catch {
                fail(.io((error as? SystemError)?.errno ?? EIO))
                return
            }
            guard case .done(let n) = r else {
                blocked = true
                if outOffset >= 64 * 1024 && outOffset * 2 >= out.count {
                    // Mostly written: drop the written part rather than let the buffer grow at the front.
                    out.removeFirst(outOffset)
                    outOffset = 0
                }
                return
            }
            outOffset += n
            if outOffset == out.count { outputWritten() }
        }
    }

    /// Everything queued was written: empty the buffer (kept unless large) and tell the user.
    private func outputWritten() {
        if out.capacity > 64 * 1024 { out = [] } else { out.removeAll(keepingCapacity: true) }
        outOffset = 0
        user?.upstreamDrained(self)
    }

    /// A buffer to read answers into (32 KiB), made on first use and kept with the connection across
    /// the requests it serves from the pool (it was a malloc and free of 32 KiB per proxied request).
    var readBuffer: UnsafeMutableRawBufferPointer {
        if let b = readStorage { return b }
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 * 1024, alignment: 16)
        readStorage = b
        return b
    }

    /// Reads into `buffer`: `.done(0)` is the end (the upstream closed).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult<Int> {
        guard phase == .open, fd >= 0 else { return .done(0) }
        let fd = self.fd
        guard peeking else {
            do { return try syscall("read") { cflaks_read(fd, buffer.baseAddress!, buffer.count) } } catch {
                return .done(0)
            }
        }
        if Self.takesOut(bytes: unconsumed, reads: unconsumedReads) {
            guard consumeRead() == nil else { return .done(0) }
        }
        let r: IOResult<Int>
        do { r = try syscall("recv") { Glibc.recv(fd, buffer.baseAddress!, buffer.count, Int32(MSG_PEEK | MSG_DONTWAIT)) } } catch {
            return .done(0)
        }
        switch r {
        case .done(let n) where n > 0:
            unconsumed += n
            unconsumedReads += 1
        case .wouldBlock, .done:
            // Nothing new. The bytes left stay: the user waits for more with `setDeadline`, where
            // the stall guard stands in while bytes are left. (They keep the socket readable, so
            // the event of the socket having room again also calls for a read that finds nothing.)
            break
        }
        return r
    }

    /// Whether an idle connection reported readable has something to read: a byte or the end. When
    /// peeking, the bytes left in the socket keep it readable, and any later event (the socket
    /// having room again) reports that too.
    private func idleHasInput() -> Bool {
        guard peeking else { return true }
        var b: UInt8 = 0
        let n = Glibc.recv(fd, &b, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return !(n < 0 && (errno == EAGAIN || errno == EINTR))
    }

    /// Whether a system default send buffer of `sendBuffer` bytes leaves room for peeking.
    static func peeks(sendBuffer: Int32) -> Bool { sendBuffer >= peekMinimumSendBuffer }

    /// Whether the bytes left in the socket (`bytes`, returned by `reads` reads) are taken out
    /// before the next read.
    static func takesOut(bytes: Int, reads: Int) -> Bool { bytes >= consumeAfterBytes || reads >= consumeAfterReads }

    /// Takes the bytes read by peeking out of the socket (they are there: nothing else reads it),
    /// through this connection's own read buffer (the loop's scratch may hold a client's bytes up
    /// the stack). Returns nil, or the error if the socket failed (ECONNRESET for an end that cannot be).
    private func consumeRead() -> Int32? {
        let scratch = readBuffer
        while unconsumed > 0 {
            let n = Glibc.recv(fd, scratch.baseAddress!, min(unconsumed, scratch.count), Int32(MSG_DONTWAIT))
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                return e
            }
            guard n > 0 else { return ECONNRESET }
            unconsumed -= n
        }
        unconsumedReads = 0
        return nil
    }

    // MARK: pool

    /// Back into the pool: idle until `idleUntil`; reading or hangup closes it.
    func parkIdle(until idleUntil: UInt64) {
        guard phase == .open, outputEmpty else { close(); return }
        phase = .idle
        user = nil
        userDeadline = 0
        loop.schedule(self, at: idleUntil)
    }

    /// Out of the pool for `user`.
    func takeFromPool(for user: any UpstreamUser) {
        phase = .open
        self.user = user
        reused = true
        uses += 1
        userDeadline = 0
        loop.schedule(self, at: 0)
    }

    func close() {
        guard phase != .closed else { return }
        let wasIdle = phase == .idle
        phase = .closed
        user = nil
        out = []
        outOffset = 0
        loop.removeTimer(self)
        if fd >= 0 {
            loop.deregister(fd: fd)
            Glibc.close(fd)
            fd = -1
        }
        if wasIdle { onIdleClose?(self) }
        if let f = onClose { onClose = nil; f() }
    }
}
