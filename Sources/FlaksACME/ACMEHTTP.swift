/// One header field of an ACME exchange.
public struct ACMEHeader: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

/// An HTTP request the machine wants sent. The executor sends it with Flaks' upstream client
/// (over TLS for `https:` URLs, trusting the system roots plus `tls.acme.ca_roots`) and hands
/// the response back with `received`. The URL is absolute; `ACMEURL` splits it.
public struct ACMEHTTPRequest: Sendable, Hashable {
    public enum Method: String, Sendable, Hashable { case get = "GET", head = "HEAD", post = "POST" }
    public var method: Method
    public var url: String
    /// Fields to send besides Host and Content-Length (which the client frames): User-Agent
    /// (RFC 8555 §6.1 requires one), Content-Type for POST, Accept for the certificate.
    public var headers: [ACMEHeader]
    public var body: [UInt8]

    public init(method: Method, url: String, headers: [ACMEHeader] = [], body: [UInt8] = []) {
        self.method = method; self.url = url; self.headers = headers; self.body = body
    }

    /// The first field named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.name.lowercased() == n }?.value
    }
}

/// What came back: status, fields (repeats kept) and the whole body. The executor reads at most
/// `ACMELimits.maxResponseBody` bytes of body and reports a longer one as a transport failure.
public struct ACMEHTTPResponse: Sendable, Hashable {
    public var status: Int
    public var headers: [ACMEHeader]
    public var body: [UInt8]

    public init(status: Int, headers: [ACMEHeader] = [], body: [UInt8] = []) {
        self.status = status; self.headers = headers; self.body = body
    }

    /// The first field named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.name.lowercased() == n }?.value
    }
}

/// An absolute `http:`/`https:` URL split for the executor's client: what to connect to and what
/// goes on the request line. Only what ACME needs: no user info, no fragment; IPv6 literals in
/// brackets.
public struct ACMEURL: Sendable, Hashable {
    public var isHTTPS: Bool
    /// Host name or IP literal (without brackets), lowercased.
    public var host: String
    public var port: Int
    /// Path and query, starting with `/`.
    public var target: String
    /// The Host header value (`host` or `host:port` for a non-default port, brackets kept).
    public var authority: String

    /// Longest URL accepted from a CA.
    public static let maxLength = 2048

    /// nil for anything that is not a plain absolute http(s) URL of at most `maxLength` bytes
    /// with printable ASCII only.
    public init?(_ text: String) {
        let b = Array(text.utf8)
        guard b.count <= Self.maxLength, b.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        let rest: ArraySlice<UInt8>
        if text.lowercased().hasPrefix("https://") { isHTTPS = true; rest = b[8...] }
        else if text.lowercased().hasPrefix("http://") { isHTTPS = false; rest = b[7...] }
        else { return nil }
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? rest.endIndex
        let auth = rest[rest.startIndex..<authorityEnd]
        guard !auth.isEmpty, !auth.contains(UInt8(ascii: "@")) else { return nil }
        var afterAuthority = rest[authorityEnd...]
        if let hash = afterAuthority.firstIndex(of: UInt8(ascii: "#")) { afterAuthority = afterAuthority[..<hash] }
        var t = String(decoding: afterAuthority, as: UTF8.self)
        if t.isEmpty || t.hasPrefix("?") { t = "/" + t }
        target = t
        authority = String(decoding: auth, as: UTF8.self).lowercased()
        var hostPart: Substring
        var portPart: Substring?
        let a = Substring(authority)
        if a.hasPrefix("[") {
            guard let close = a.firstIndex(of: "]") else { return nil }
            hostPart = a[a.index(after: a.startIndex)..<close]
            let after = a[a.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portPart = after.dropFirst()
            }
        } else if let colon = a.firstIndex(of: ":") {
            hostPart = a[..<colon]
            portPart = a[a.index(after: colon)...]
        } else {
            hostPart = a
        }
        guard !hostPart.isEmpty else { return nil }
        host = String(hostPart)
        if let portPart {
            guard let p = Int(portPart), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            port = isHTTPS ? 443 : 80
        }
    }
}
