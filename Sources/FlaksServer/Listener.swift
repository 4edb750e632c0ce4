#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig

/// A listening socket watched by one loop (every loop watches a duplicate of the one socket, with
/// EPOLLEXCLUSIVE). Loop thread only.
final class Listener: Selectable {
    let fd: Int32
    let address: SocketAddress
    unowned(unsafe) let loop: EventLoop
    /// A `tls_listen` address: connections start with a TLS handshake.
    let tls: Bool
    private var closed = false

    init(fd: Int32, address: SocketAddress, loop: EventLoop, tls: Bool = false) {
        self.fd = fd; self.address = address; self.loop = loop; self.tls = tls
    }

    func close() {
        guard !closed else { return }
        closed = true
        loop.deregister(fd: fd)
        _ = Glibc.close(fd)
    }

    /// Accepts what is pending (bounded per event, so one busy listener cannot starve the loop).
    func ready(_ events: SelectorEvents) {
        let server = loop.server
        for _ in 0..<64 {
            let accepted: IOResult<(Int32, SocketAddress)>
            do { accepted = try Socket.accept(fd) } catch {
                switch error.errno {
                case EMFILE, ENFILE:
                    refuseOne(error)
                    return
                case ECONNABORTED, EPROTO, EPERM:
                    continue
                default:
                    server.logger.warning("accept on \(address): \(error)")
                    return
                }
            }
            guard case .done(let (cfd, peer)) = accepted else { return }
            let open = server.stats.openConnections.add(1, ordering: .relaxed).newValue
            if open > server.maxConnections || loop.draining {
                server.stats.openConnections.subtract(1, ordering: .relaxed)
                server.stats.rejectedConnections.add(1, ordering: .relaxed)
                _ = Glibc.close(cfd)
                continue
            }
            // TCP_NODELAY and TCP_NOTSENT_LOWAT come from the listening socket (see Socket.listen).
            if loop.adopt(fd: cfd, peer: peer, local: address, tls: tls) == nil {
                server.stats.openConnections.subtract(1, ordering: .relaxed)
                _ = Glibc.close(cfd)
            }
        }
    }

    /// Out of descriptors: free the reserve, accept and close one connection, keep the reserve again,
    /// so the listener does not spin on a connection it can never take.
    private func refuseOne(_ error: SystemError) {
        loop.server.stats.rejectedConnections.add(1, ordering: .relaxed)
        loop.server.logger.warning("accept: \(error); refusing a connection")
        loop.releaseReserve()
        let c = cflaks_accept(fd, nil, nil)
        if c >= 0 { _ = Glibc.close(c) }
        loop.restoreReserve()
    }
}
