#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig

/// Socket helpers: listening sockets, accept, addresses. All fds are close-on-exec and non-blocking.
enum Socket {
    /// Opens a non-blocking listening socket with SO_REUSEADDR. No SO_REUSEPORT: a second server
    /// started on the same address must fail with EADDRINUSE, not silently share the traffic.
    static func listen(on address: ListenAddress, backlog: Int) throws(SystemError) -> Int32 {
        guard let addr = SocketAddress(host: address.host, port: address.port) else {
            throw SystemError("inet_pton(\(address.host))", errno: EINVAL)
        }
        let fd = try syscallBlocking("socket") {
            socket(addr.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
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
