#if canImport(Glibc)
import Glibc
#endif
import FlaksAccess
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

    /// A unix-domain socket path; nil when the path does not fit `sun_path` (107 bytes).
    init?(unixPath path: String) {
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: a.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &a.sun_path) { dst in
            for (i, b) in bytes.enumerated() { dst[i] = b }
            dst[bytes.count] = 0
        }
        var st = sockaddr_storage()
        withUnsafeMutableBytes(of: &st) { dst in withUnsafeBytes(of: a) { dst.copyMemory(from: $0) } }
        storage = st
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
    }

    /// Resolves `host` (a numeric address, or a name looked up with getaddrinfo: /etc/hosts, then
    /// DNS) to its addresses, IPv4 first. Blocking: call at load time, never on a loop.
    static func resolve(host: String, port: Int) -> [SocketAddress] {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if let numeric = SocketAddress(host: bare, port: port) { return [numeric] }
        if bare.lowercased() == "localhost" {
            return [SocketAddress(host: "127.0.0.1", port: port)].compactMap { $0 }
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(bare, String(port), &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var out: [SocketAddress] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            if let sa = ai.pointee.ai_addr, ai.pointee.ai_family == AF_INET || ai.pointee.ai_family == AF_INET6 {
                var st = sockaddr_storage()
                withUnsafeMutableBytes(of: &st) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(ai.pointee.ai_addrlen)))
                }
                let a = SocketAddress(storage: st, length: ai.pointee.ai_addrlen)
                if !out.contains(where: { $0.description == a.description }) { out.append(a) }
            }
            p = ai.pointee.ai_next
        }
        return out.sorted { ($0.family == AF_INET ? 0 : 1) < ($1.family == AF_INET ? 0 : 1) }
    }

    /// The IP address (nil for a unix socket).
    var ipAddress: IPAddress? {
        var st = storage
        return withUnsafeBytes(of: &st) { raw -> IPAddress? in
            if family == AF_INET { return IPAddress(bytes: raw[4..<8]) }
            if family == AF_INET6 { return IPAddress(bytes: raw[8..<24]) }
            return nil
        }
    }

    /// The unix socket path of an AF_UNIX address.
    var unixPath: String? {
        guard family == AF_UNIX else { return nil }
        var st = storage
        return withUnsafePointer(to: &st) { p in
            p.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { a in
                withUnsafeBytes(of: a.pointee.sun_path) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
            }
        }
    }

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

    var description: String {
        if let path = unixPath { return "unix:" + path }
        return family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
