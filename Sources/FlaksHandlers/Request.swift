import FlaksHTTP

/// A complete request as a handler sees it: head, buffered body, connection facts and the route match.
public struct Request: Sendable {
    public var head: RequestHead
    /// The percent-decoded, normalised path used for routing (always starts with "/").
    public var path: String
    /// The request body, de-chunked (empty when none).
    public var body: [UInt8]
    /// Client address (numeric) and port.
    public var remoteAddress: String
    public var remotePort: Int
    /// Local address and port the request arrived on.
    public var localAddress: String
    public var localPort: Int
    /// The route's path as declared in the manifest (`/cgi-bin/`, `/u/<int:id>`).
    public var routePath: String
    /// For a prefix mount: the part of `path` after the route's prefix (no leading "/"); else "".
    public var remainder: String
    /// Values of the route pattern's named parameters, in pattern order.
    public var parameters: [(name: String, value: String)]
    /// A server-wide unique id, for logs.
    public var id: UInt64
    /// The request came over TLS (HTTPS=on, REQUEST_SCHEME=https for scripts).
    public var isTLS = false
    /// The user a route's `auth` authenticated (HTTP Basic); nil when the route has no `auth`.
    /// When set, the Authorization field was consumed: it is not passed on to scripts.
    public var remoteUser: String?

    public init(head: consuming RequestHead, path: consuming String, body: consuming [UInt8] = [], remoteAddress: String = "127.0.0.1",
                remotePort: Int = 0, localAddress: String = "127.0.0.1", localPort: Int = 0,
                routePath: String = "/", remainder: String = "",
                parameters: [(name: String, value: String)] = [], id: UInt64 = 0) {
        self.head = head; self.path = path; self.body = body
        self.remoteAddress = remoteAddress; self.remotePort = remotePort
        self.localAddress = localAddress; self.localPort = localPort
        self.routePath = routePath; self.remainder = remainder; self.parameters = parameters; self.id = id
    }

    public var method: HTTPMethod { head.method }

    /// The Host header without its port, lowercased (brackets of an IPv6 literal removed);
    /// the local address when the request has no Host.
    public var serverName: String {
        guard let h = head.host, !h.isEmpty else { return localAddress }
        // Byte searches (the parser allows only ASCII in Host): ~3,000 instructions less than
        // Character searches and a Unicode lowercasing, per CGI/FastCGI request.
        let u = h.utf8
        var start = u.startIndex, end = u.endIndex
        if u.first == UInt8(ascii: "[") {
            if let e = u.firstIndex(of: UInt8(ascii: "]")) { start = u.index(after: start); end = e }
        } else if let c = u.lastIndex(of: UInt8(ascii: ":")) {
            end = c
        }
        let name = h[start..<end]
        if name.utf8.allSatisfy({ $0 < 0x80 && !($0 >= 0x41 && $0 <= 0x5A) }) { return String(name) }
        return name.lowercased()
    }
    public var headers: HeaderFields { head.headers }
    public var query: Substring? { head.query }

    /// The value of the route parameter `name`, or nil.
    public func parameter(_ name: String) -> String? {
        parameters.first { $0.name == name }?.value
    }
}
