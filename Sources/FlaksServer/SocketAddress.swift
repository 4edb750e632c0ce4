#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig

/// An IPv4 or IPv6 socket address, numeric only.
struct SocketAddress: Sendable, CustomStringConvertible {
    var storage: sockaddr_storage
    var length: socklen_t

    /// Parses a numeric host and a port ("0.0.0.0", "::1"); nil when the host is not numeric.
    init?(host: String, port: Int) {
        var st = sockaddr_storage()
        if host.contains(":") {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, host, &a.sin6_addr) == 1 else { return nil }
            withUnsafeMutableBytes(of: &st) { dst in withUnsafeBytes(of: a) { dst.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host.isEmpty ? "0.0.0.0" : host, &a.sin_addr) == 1 else { return nil }
            withUnsafeMutableBytes(of: &st) { dst in withUnsafeBytes(of: a) { dst.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        storage = st
    }

    init(storage: sockaddr_storage, length: socklen_t) { self.storage = storage; self.length = length }

    var family: Int32 { Int32(storage.ss_family) }

    /// Numeric host, without brackets.
    var host: String {
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var st = storage
        return withUnsafePointer(to: &st) { p -> String in
            if family == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a -> String in
                    var addr = a.pointee.sin6_addr
                    guard inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count)) != nil else { return "?" }
                    return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a -> String in
                var addr = a.pointee.sin_addr
                guard inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count)) != nil else { return "?" }
                return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            }
        }
    }

    var port: Int {
        var st = storage
        return withUnsafePointer(to: &st) { p in
            if family == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
