import FlaksAccess
import Yams

/// Upstream addresses (`HOST:PORT`, `[v6]:PORT`, `unix:/path`, `http://HOST:PORT`) and service
/// references, shared by `proxy` and `fastcgi`.
extension ManifestReader {
    /// `sun_path` holds 108 bytes on Linux, the terminating NUL included.
    static let maxUnixPathBytes = 107

    /// `unix:PATH` with PATH resolved against the manifest's directory; nil (reported) when it is
    /// empty or too long for a socket address. `text` starts with "unix:".
    func unixAddress(_ text: String, _ node: Node, _ path: String) -> UpstreamAddress? {
        let raw = String(text.dropFirst("unix:".count))
        guard !raw.isEmpty else { report(node, path, "expected a socket path after \"unix:\""); return nil }
        let socket = FileSystem.resolve(raw, against: directory)
        guard socket.utf8.count <= Self.maxUnixPathBytes else {
            report(node, path, "socket path \"\(socket)\" is \(socket.utf8.count) bytes; a Unix socket path is at most \(Self.maxUnixPathBytes)")
            return nil
        }
        return .unix(path: socket)
    }

    /// `HOST:PORT` or `[IPv6]:PORT` as a TCP address, or nil when it is not that shape. HOST is an
    /// IPv4 literal, an IPv6 literal in brackets (kept in RFC 5952 form, without the brackets) or a
    /// DNS name (lowercased); PORT is 1-65535, and may be left out only when `defaultPort` is given.
    static func tcpAddress(_ text: String, defaultPort: Int? = nil) -> UpstreamAddress? {
        var host: String, port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let literal = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { port = nil } else {
                guard rest.hasPrefix(":") else { return nil }
                port = rest.dropFirst()
            }
            guard literal.contains(":"), let a = IPAddress(String(literal)) else { return nil }
            host = a.description
        } else {
            let name: Substring
            if let colon = text.lastIndex(of: ":") {
                name = text[..<colon]
                port = text[text.index(after: colon)...]
            } else {
                name = Substring(text); port = nil
            }
            guard isHostName(name) else { return nil }
            host = name.lowercased()
        }
        let number: Int
        if let port {
            guard !port.isEmpty, port.count <= 5, port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let p = Int(port), (1...65535).contains(p) else { return nil }
            number = p
        } else {
            guard let defaultPort else { return nil }
            number = defaultPort
        }
        return .tcp(host: host, port: number)
    }

    /// An IPv4 literal (four decimal parts, no leading zeros) or a DNS name: labels of letters,
    /// digits and "-" (not at either end), 1-63 bytes each, 253 in all, not all digits and dots.
    static func isHostName(_ host: Substring) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        if host.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }) {
            return IPAddress(String(host)).map(\.isV4) ?? false
        }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { b in
                    (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A) || b == 0x2D
                }
        }
    }

    /// A service name as written in `services[].name` and `{service: NAME}`: `[a-z0-9_-]+`.
    static func isServiceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
        }
    }

    /// `service: NAME` inside a `proxy` or `fastcgi` mapping: the name's shape is checked here,
    /// whether the service exists once the whole manifest is read (`checkServiceReferences`).
    func serviceReference(_ node: Node, _ path: String) -> String? {
        let expected = "a service name (lowercase letters, digits, \"_\", \"-\")"
        guard let t = text(node, path, expected: expected) else { return nil }
        guard Self.isServiceName(t) else { report(node, path, "expected \(expected), found \"\(t)\""); return nil }
        serviceReferences.append((t, node, path))
        return t
    }
}
