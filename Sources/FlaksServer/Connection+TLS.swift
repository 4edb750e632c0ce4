#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksHandlers
import FlaksHTTP
import FlaksTLS

/// A TLS connection's transport: its `TLSSession` (OpenSSL over memory BIOs, FlaksTLS), the
/// ciphertext not yet taken by the socket, and a buffer for file bytes (files cannot go through
/// sendfile on a TLS connection without kernel TLS, which this machine's kernel does not offer:
/// they are read with pread, 64 KiB at a time, and encrypted). The connection's reads and writes go
/// through it: plaintext in and out for the HTTP machine, ciphertext on the socket.
final class TLSTransport {
    let session: TLSSession
    /// Ciphertext the socket has not taken yet, and how much of it went.
    var cipher: [UInt8] = []
    var cipherOffset = 0
    /// Plaintext read from a file, not yet taken by the session.
    var fileBytes: [UInt8] = []
    var fileOffset = 0
    /// Ciphertext read from the socket before it is fed (one record or so).
    let input: UnsafeMutableRawBufferPointer
    /// The handshake's outcome, for the access log and the 421 check.
    var info: TLSConnectionInfo?

    init(session: TLSSession) {
        self.session = session
        input = .allocate(byteCount: 17 * 1024, alignment: 16)
    }

    deinit { input.deallocate() }

    static let fileChunk = 64 * 1024
}

extension Connection {
    /// Reads plaintext into `buffer`: drives the handshake, feeds the socket's ciphertext to the
    /// session, decrypts. `.wouldBlock` when the socket has nothing more; `.done(0)` at the end
    /// (close_notify or EOF). A failed handshake or bad record throws (the connection closes).
    func tlsRead(_ t: TLSTransport, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        while true {
            if t.info == nil {
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

    /// Sends the session's pending ciphertext (after the queued ciphertext); keeps what the socket
    /// does not take. Returns false when the socket is full.
    @discardableResult
    func tlsSendPending(_ t: TLSTransport) -> Bool {
        if t.session.pendingOutput > 0 {
            if t.cipherOffset == t.cipher.count { t.cipher.removeAll(keepingCapacity: true); t.cipherOffset = 0 }
            t.cipher.append(contentsOf: t.session.takeOutput())
        }
        while t.cipherOffset < t.cipher.count {
            let fd = self.fd, off = t.cipherOffset
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
        return true
    }

    /// Writes the output queue through the session: each chunk encrypted as far as the session
    /// takes it, the ciphertext sent as far as the socket takes it. Files are read with pread.
    func writeQueuedTLS(_ t: TLSTransport) {
        while true {
            guard tlsSendPending(t) else {
                output.blocked = true
                machine.outputBlocked(now: loop.now)
                rearm()
                return
            }
            if output.blocked { machine.outputProgress(now: loop.now) }
            guard output.hasQueued else { break }
            let accepted: Int
            switch output.chunks[output.index] {
            case .head:
                accepted = tlsEncrypt(t, output.head, from: output.offset)
            case .bytes(let b):
                accepted = tlsEncrypt(t, b, from: output.offset)
            case .file(let f):
                if t.fileOffset == t.fileBytes.count {
                    let want = min(TLSTransport.fileChunk, f.length - output.offset)
                    t.fileBytes = [UInt8](repeating: 0, count: want)
                    let got = t.fileBytes.withUnsafeMutableBytes { p in
                        pread(f.file.fd, p.baseAddress, want, off_t(f.offset + output.offset))
                    }
                    guard got > 0 else { close(); return }   // the file shrank: the length cannot be kept
                    if got < want { t.fileBytes.removeLast(want - got) }
                    t.fileOffset = 0
                }
                let n = tlsEncrypt(t, t.fileBytes, from: t.fileOffset)
                t.fileOffset += n
                accepted = n
            }
            if accepted < 0 { close(); return }
            output.advance(by: accepted)
        }
        output.reset()
        if machine.isTunnel { tunnelDrained(); return }
        perform(machine.outputDrained(now: loop.now, unreadInput: unreadInput))
    }

    /// Encrypts bytes from `offset`; returns how many the session took (-1: it failed).
    private func tlsEncrypt(_ t: TLSTransport, _ bytes: [UInt8], from offset: Int) -> Int {
        let r = bytes.withUnsafeBytes { p in t.session.writePlaintext(UnsafeRawBufferPointer(rebasing: p[offset...])) }
        switch r {
        case .accepted(let n): return n
        case .failed: return -1
        }
    }

    /// Before the descriptor closes: close_notify, sent if the socket takes it now.
    func tlsClose(_ t: TLSTransport) {
        guard t.info != nil else { return }
        t.session.shutdown()
        _ = tlsSendPending(t)
    }
}
