#if canImport(Glibc)
import Glibc
#endif

/// Picks a free TCP port on 127.0.0.1 for an instance: bind port 0, read the port the kernel
/// chose, close. The port is free again when the instance binds it; another program could take
/// it in between (a tiny race): the instance then fails, and its restart gets a new port.
enum LoopbackPort {
    /// A free port not in `avoiding` (ports handed to instances that may not have bound them
    /// yet), or an error after a few tries.
    static func pick(avoiding: Set<Int>) -> Result<Int, SystemError> {
        var lastError = SystemError("bind(127.0.0.1:0)", errno: EADDRINUSE)
        for _ in 0..<16 {
            switch once() {
            case .success(let port) where !avoiding.contains(port): return .success(port)
            case .success: continue
            case .failure(let e): lastError = e
            }
        }
        return .failure(lastError)
    }

    private static func once() -> Result<Int, SystemError> {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(SystemError("socket", errno: errno)) }
        defer { close(fd) }
        guard let addr = SocketAddress(host: "127.0.0.1", port: 0) else { return .failure(SystemError("inet_pton", errno: EINVAL)) }
        var st = addr.storage
        let r = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, addr.length) } }
        guard r == 0 else { return .failure(SystemError("bind(127.0.0.1:0)", errno: errno)) }
        guard let bound = Socket.localAddress(fd) else { return .failure(SystemError("getsockname", errno: errno)) }
        return .success(bound.port)
    }
}
