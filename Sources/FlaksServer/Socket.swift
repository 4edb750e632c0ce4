#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig

/// Socket helpers: listening sockets, accept, addresses. All fds are close-on-exec and non-blocking.
enum Socket {
    /// About the most bytes a connection keeps queued in its socket beyond what TCP can send now
    /// (TCP_NOTSENT_LOWAT; one write may overshoot it by a segment): the socket reports writable
    /// again once less than half of it is left, and the loop writes the next part of a large body
    /// then. Without it a sendfile of a large file
    /// queues the whole file (up to the send buffer, 4 MiB), and the rest is transmitted whenever the
    /// client's acknowledgements open the window: in the client's context. On loopback that put the
    /// delivery of the data on the client's CPU, and which CPU did that work decided a run of
    /// bench/static.sh, 1 MiB keep-alive: 2,950-3,700 req/s without it (the server's core idle two
    /// thirds of the time), 6,540-6,620 with 128 KiB and 6,610-6,810 with 32 KiB (the server's core
    /// busy). 128 KiB: a 64 KiB file still goes out in one call (64 KiB files: the same req/s).
    static let unsentLowWater: Int32 = 128 * 1024

    /// Opens a non-blocking listening socket with SO_REUSEADDR. No SO_REUSEPORT: a second server
    /// started on the same address must fail with EADDRINUSE, not silently share the traffic.
    /// TCP_NODELAY and TCP_NOTSENT_LOWAT are set here and inherited by every accepted connection
    /// (one system call less per connection). Responses are written whole (writev, or head then
    /// sendfile with MSG_MORE): Nagle would only hold back the last segment waiting for an ACK.
    static func listen(on address: ListenAddress, backlog: Int) throws(SystemError) -> Int32 {
        guard let addr = SocketAddress(host: address.host, port: address.port) else {
            throw SystemError("inet_pton(\(address.host))", errno: EINVAL)
        }
        let fd = try syscallBlocking("socket") {
            socket(addr.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            // Best effort, as per connection before: a kernel or sandbox that refuses them still serves.
            try? setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            try? setOption(fd, Int32(IPPROTO_TCP), TCP_NOTSENT_LOWAT, unsentLowWater)
            if addr.family == AF_INET6 { try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            var st = addr.storage
            _ = try syscallBlocking("bind") {
                withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, addr.length) } }
            }
            _ = try syscallBlocking("listen") { Glibc.listen(fd, Int32(clamping: backlog)) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        var v = value
        _ = try syscallBlocking("setsockopt") { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// The local address of a socket (to learn an ephemeral port).
    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var st = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return r == 0 ? SocketAddress(storage: st, length: len) : nil
    }

    /// Accepts one connection (non-blocking, close-on-exec), with the peer address.
    static func accept(_ fd: Int32) throws(SystemError) -> IOResult<(Int32, SocketAddress)> {
        var st = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = try syscall("accept4") {
            withUnsafeMutablePointer(to: &st) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    cflaks_accept(fd, $0, &len)
                }
            }
        }
        switch r {
        case .wouldBlock: return .wouldBlock
        case .done(let cfd): return .done((cfd, SocketAddress(storage: st, length: len)))
        }
    }
}
