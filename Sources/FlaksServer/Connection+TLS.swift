#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksHandlers
import FlaksHTTP
import FlaksTLS

/// A TLS connection's transport: its `TLSSession` (OpenSSL over memory BIOs, FlaksTLS) and the
/// ciphertext not yet taken by the socket. Files cannot go through sendfile on a TLS connection
/// without kernel TLS, which this machine's kernel does not offer: they are read with pread into
/// the loop's TLS staging buffer and encrypted. The connection's reads and writes go through it:
/// plaintext in and out for the HTTP machine, ciphertext on the socket.
final class TLSTransport {
    let session: TLSSession
    /// Ciphertext the socket has not taken yet, and how much of it went.
    var cipher: [UInt8] = []
    var cipherOffset = 0
    /// Ciphertext read from the socket before it is fed (one record or so).
    let input: UnsafeMutableRawBufferPointer
    /// The handshake's outcome, for the access log and the 421 check.
    var info: TLSConnectionInfo? {
        didSet { established = info != nil; host = info?.host ?? -1 }
    }
    /// `info != nil` and its host, kept apart: checked on every read and request, and a copy of
    /// the optional struct (its strings retained and released) cost ~2,000 instructions a request.
    private(set) var established = false
    private(set) var host = -1

    init(session: TLSSession) {
        self.session = session
        input = .allocate(byteCount: 17 * 1024, alignment: 16)
    }

    deinit { input.deallocate() }

    /// Plaintext gathered for one `writePlaintext` at most (four records).
    static let stageSize = 64 * 1024
}

extension Connection {
    /// Reads plaintext into `buffer`: drives the handshake, feeds the socket's ciphertext to the
    /// session, decrypts. `.wouldBlock` when the socket has nothing more; `.done(0)` at the end
    /// (close_notify or EOF). A failed handshake or bad record throws (the connection closes).
    func tlsRead(_ t: TLSTransport, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        while true {
            if !t.established {
                switch t.session.handshake() {
                case .complete(let info):
                    t.info = info
                    loop.server.stats.tlsHandshakes.add(1, ordering: .relaxed)
                    tlsSendPending(t)
                    if info.isACMEChallenge { return .done(0) }  // RFC 8737: the certificate was the answer
                    continue
                case .wantsInput:
                    tlsSendPending(t)
                case .failed(let f):
                    loop.server.stats.recordHandshakeFailure(f.kind.rawValue)
                    loop.server.logger.debug("tls handshake failed conn=\(id) kind=\(f.kind.rawValue) reason=\(f.reason)")
                    tlsSendPending(t)
                    throw SystemError("TLS handshake", errno: EPROTO)
                }
            } else {
                switch t.session.readPlaintext(into: buffer) {
                case .bytes(let n): return .done(n)
                case .closed: return .done(0)
                case .wantsInput: break
                case .failed(let f):
                    loop.server.logger.debug("tls read failed conn=\(id) kind=\(f.kind.rawValue) reason=\(f.reason)")
                    throw SystemError("TLS read", errno: EPROTO)
                }
                tlsSendPending(t)
            }
            let room = min(t.session.inputCapacity, t.input.count)
            guard room > 0 else { return .wouldBlock }
            let fd = self.fd, input = t.input
            switch try syscall("read", { cflaks_read(fd, input.baseAddress!, room) }) {
            case .wouldBlock: return .wouldBlock
            case .done(0): return .done(0)
            case .done(let n): _ = t.session.feed(UnsafeRawBufferPointer(rebasing: input[0..<n]))
            }
        }
    }

    /// Sends the session's pending ciphertext (after the queued ciphertext) straight from the loop's
    /// TLS buffer; keeps what the socket does not take. Returns false when the socket is full.
    /// (Measured: the array per `takeOutput` and the copy into `cipher` cost ~2,700 instructions a
    /// response.)
    @discardableResult
    func tlsSendPending(_ t: TLSTransport) -> Bool {
        let fd = self.fd
        while t.cipherOffset < t.cipher.count {
            let off = t.cipherOffset
            let r: IOResult<Int>
            do {
                r = try t.cipher.withUnsafeBytes { p in
                    try syscall("send") { cflaks_send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL)) }
                }
            } catch {
                return false
            }
            guard case .done(let n) = r else { return false }
            t.cipherOffset += n
        }
        if !t.cipher.isEmpty { t.cipher.removeAll(keepingCapacity: true); t.cipherOffset = 0 }
        while t.session.pendingOutput > 0 {
            let buffer = loop.tlsBuffer
            let n = t.session.takeOutput(into: buffer)
            guard n > 0 else { break }
            var sent = 0
            while sent < n {
                let r: IOResult<Int>
                do { r = try syscall("send") { cflaks_send(fd, buffer.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) } } catch {
                    return false
                }
                guard case .done(let k) = r else { break }
                sent += k
            }
            if sent < n {
                t.cipher.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[sent..<n]))
                // The rest of the session's output stays in it until the socket drains.
                return false
            }
        }
        return true
    }

    /// Writes the output queue through the session: consecutive chunks gathered into one
    /// `writePlaintext` (a head and a small body make one TLS record, not two: measured ~9,000
    /// instructions and a system call saved per small response), file bytes read with pread,
    /// then the ciphertext sent in one go as far as the socket takes it.
    func writeQueuedTLS(_ t: TLSTransport) {
        while true {
            while output.hasQueued && t.session.outputCapacity > 0 {
                let accepted = tlsEncryptQueued(t, room: min(TLSTransport.stageSize, t.session.outputCapacity))
                if accepted < 0 { close(); return }
                if accepted == 0 { break }
                output.advance(by: accepted)
            }
            guard tlsSendPending(t) else {
                output.blocked = true
                machine.outputBlocked(now: loop.now)
                rearm()
                return
            }
            if output.blocked { machine.outputProgress(now: loop.now) }
            guard output.hasQueued else { break }
        }
        output.reset()
        if machine.isTunnel { tunnelDrained(); return }
        perform(machine.outputDrained(now: loop.now, unreadInput: unreadInput))
    }

    /// Gathers up to `room` bytes from the front of the output queue into the loop's staging
    /// buffer (a single chunk that fits is passed as it is) and encrypts them; returns how many the
    /// session took, -1 on a failure (or a file that shrank).
    private func tlsEncryptQueued(_ t: TLSTransport, room: Int) -> Int {
        // The common case, one byte chunk: no copy.
        if output.index + 1 == output.chunks.count {
            switch output.chunks[output.index] {
            case .head: return tlsEncrypt(t, output.head, from: output.offset, limit: room)
            case .bytes(let b): return tlsEncrypt(t, b, from: output.offset, limit: room)
            case .file: break
            }
        }
        let stage = loop.tlsStage
        var filled = 0
        var index = output.index, offset = output.offset
        gathering: while filled < room && index < output.chunks.count {
            switch output.chunks[index] {
            case .head, .bytes:
                let taken: Int
                if case .bytes(let b) = output.chunks[index] {
                    taken = Connection.copy(b, from: offset, into: stage, at: filled, max: room - filled)
                } else {
                    taken = Connection.copy(output.head, from: offset, into: stage, at: filled, max: room - filled)
                }
                filled += taken
                if offset + taken < output.length(output.chunks[index]) { break gathering }
            case .file(let f):
                let want = min(f.length - offset, room - filled)
                let got = pread(f.file.fd, stage.baseAddress! + filled, want, off_t(f.offset + offset))
                guard got > 0 else { return filled > 0 ? tlsEncrypt(t, stage, count: filled) : -1 }
                filled += got
                if got < want || offset + got < f.length { break gathering }
            }
            index += 1
            offset = 0
        }
        return tlsEncrypt(t, stage, count: filled)
    }

    private static func copy(_ b: [UInt8], from offset: Int, into stage: UnsafeMutableRawBufferPointer, at: Int, max: Int) -> Int {
        let n = min(b.count - offset, max)
        guard n > 0 else { return 0 }
        b.withUnsafeBytes { p in (stage.baseAddress! + at).copyMemory(from: p.baseAddress! + offset, byteCount: n) }
        return n
    }

    /// Encrypts bytes from `offset` (at most `limit`); returns how many the session took (-1: it failed).
    private func tlsEncrypt(_ t: TLSTransport, _ bytes: [UInt8], from offset: Int, limit: Int) -> Int {
        let r = bytes.withUnsafeBytes { p in
            t.session.writePlaintext(UnsafeRawBufferPointer(rebasing: p[offset..<min(p.count, offset + limit)]))
        }
        switch r {
        case .accepted(let n): return n
        case .failed: return -1
        }
    }

    private func tlsEncrypt(_ t: TLSTransport, _ stage: UnsafeMutableRawBufferPointer, count: Int) -> Int {
        guard count > 0 else { return 0 }
        switch t.session.writePlaintext(UnsafeRawBufferPointer(rebasing: stage[0..<count])) {
        case .accepted(let n): return n
        case .failed: return -1
        }
    }

    /// Before the descriptor closes: close_notify, sent if the socket takes it now.
    /// Shuts the write side, after close_notify on TLS. A socket that refuses the alert now (full,
    /// or over its TCP_NOTSENT_LOWAT) takes it at the next writable event, and the side is shut
    /// then (`shutdownAfterAlert`): shut at once, the alert would be lost and a client reading to
    /// the end of the stream would see it cut short.
    func shutdownWrite() {
        if let t = tls {
            tlsClose(t)
            if t.cipherOffset < t.cipher.count { shutdownAfterAlert = true; return }
        }
        shutdown(fd, Int32(SHUT_WR))
    }

    func tlsClose(_ t: TLSTransport) {
        guard t.established else { return }
        t.session.shutdown()
        _ = tlsSendPending(t)
    }
}
