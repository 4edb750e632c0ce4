#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksHTTP

/// Streaming a request body to its consumer, and the tunnel a connection becomes after `101
/// Switching Protocols` (a WebSocket relayed to an upstream): bytes pass both ways untouched, with
/// back-pressure each way. Tunnels are not tied to a site generation: a reload leaves them open; a
/// drain closes them at `server.drain_timeout` with every other connection.
extension Connection {
    /// The body's consumer can take more: read the client again.
    func resumeRequestBody() {
        guard !isClosed else { return }
        machine.holdBody(false, now: loop.now)
        rearm()
        // Parse once even with nothing kept: a Content-Length body held on its last piece has no
        // byte left to read, and its end (`.end`) comes only from that call. Without it the end
        // waited for the next request's bytes, the answer found the request unfinished, and the
        // connection was closed under the client's next request.
        if !inInput { readInput(parseKept: true) }
    }

    /// Sends the 101 head and turns the connection into a tunnel to `peer`. Client bytes already
    /// received after the request go to the peer at once.
    func startTunnel(status: HTTPStatus, fields: HeaderFields, peer: any TunnelPeer) {
        guard machine.awaitsResponse else { return }
        var b: [UInt8] = []
        ResponseSerializer.writeHead(status: status, version: .http1_1, headers: fields, into: &b)
        exchange.status = status.code
        exchange.bytesSent = b.count
        exchange.producer = nil
        exchange.tunnel = peer
        machine.startTunnel()
        loop.schedule(self, at: 0)
        output.append(.bytes(b))
        writeQueued()
        if !pending.isEmpty {
            let bytes = pending
            pending = []
            tunnelInput(bytes)
        }
        if !inInput { readTunnel() }
    }

    /// Bytes from the peer for the client. Returns false when the client is slow (wait for
    /// `tunnelClientDrained`).
    @discardableResult
    func tunnelWrite(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard machine.isTunnel, !isClosed, !bytes.isEmpty else { return !isClosed }
        output.append(.bytes(Array(bytes)))
        exchange.bodyBytesSent += bytes.count
        exchange.bytesSent += bytes.count
        writeQueued()
        return !isClosed && output.queuedBytes < Connection.highWater
    }

    /// The peer finished sending: once what is queued is written, the client reads EOF.
    func tunnelShutdownWrite() {
        tunnelShutdownPending = true
        if !output.hasQueued { shutdownWrite() }
    }


    /// The peer can take client bytes again.
    func resumeTunnelInput() {
        tunnelPaused = false
        if !inInput { readTunnel() }
    }

    /// Reads client bytes and hands them to the peer until the socket is empty or the peer is full.
    func readTunnel() {
        guard !inInput else { return }
        inInput = true
        defer { inInput = false }
        while readHint && !tunnelPaused && !isClosed {
            loop.ensureScratch(16 * 1024)
            let scratch = loop.scratch
            let r: IOResult<Int>
            do {
                if let t = tls { r = try tlsRead(t, into: scratch) } else {
                    r = try syscall("read") { cflaks_read(fd, scratch.baseAddress!, scratch.count) }
                }
            } catch {
                close(); return
            }
            switch r {
            case .wouldBlock:
                readHint = false
            case .done(0):
                readHint = false
                exchange.tunnel?.tunnelClientClosed()
                return
            case .done(let n):
                if n < scratch.count && !peerFIN && tls == nil { readHint = false }
                if let peer = exchange.tunnel, !peer.tunnelFromClient(UnsafeRawBufferPointer(rebasing: scratch[0..<n])) {
                    tunnelPaused = true
                }
            }
        }
    }

    private func tunnelInput(_ bytes: [UInt8]) {
        guard let peer = exchange.tunnel else { return }
        if !bytes.withUnsafeBytes({ peer.tunnelFromClient($0) }) { tunnelPaused = true }
    }

    /// The output queue drained while a tunnel: tell the peer, finish a pending shutdown.
    func tunnelDrained() {
        if tunnelShutdownPending { shutdownWrite() }
        exchange.tunnel?.tunnelClientDrained()
    }
}
