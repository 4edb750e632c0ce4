#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking HTTP/1.1 GET for `flaks probe` (numeric hosts and localhost only).
public enum HTTPProbe {
    public enum Outcome { case success(Int), failure(String) }

    public static func get(_ url: String, timeoutSeconds: Double) -> Outcome {
        guard url.hasPrefix("http://") else { return .failure("only http:// URLs are supported") }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = authority, port = 80
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":"), let p = Int(after.dropFirst()) { port = p }
        } else if let c = authority.lastIndex(of: ":") {
            host = String(authority[..<c])
            guard let p = Int(authority[authority.index(after: c)...]) else { return .failure("bad port in \(url)") }
            port = p
        }
        if host == "localhost" { host = "127.0.0.1" }
        guard let addr = SocketAddress(host: host, port: port) else { return .failure("host must be numeric or localhost: \(host)") }
        let fd = socket(addr.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure("socket failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeoutSeconds), tv_usec: Int((timeoutSeconds - Double(Int(timeoutSeconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var st = addr.storage
        let r = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, addr.length) } }
        guard r == 0 else { return .failure("cannot connect to \(authority) (errno \(errno))") }
        let req = Array("GET \(path) HTTP/1.1\r\nHost: \(authority)\r\nConnection: close\r\nUser-Agent: flaks-probe\r\n\r\n".utf8)
        guard req.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == req.count else {
            return .failure("send failed")
        }
        var buf = [UInt8](repeating: 0, count: 512)
        var got = 0
        while got < 12 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, 512 - got, 0) }
            if n <= 0 { return .failure("no answer") }
            got += n
        }
        // "HTTP/1.1 200"
        let digits = buf[9..<12]
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return .failure("not an HTTP response") }
        return .success(digits.reduce(0) { $0 * 10 + Int($1 - 48) })
    }
}
