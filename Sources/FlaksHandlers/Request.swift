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
    /// The user a route's `auth` authenticated (HTTP Basic); nil when the route has no `auth`.
    /// When set, the Authorization field was consumed: it is not passed on to scripts.
    public var remoteUser: String?
    /// The request arrived over TLS (REQUEST_SCHEME https, HTTPS=on for FastCGI). The connection
    /// sets it once TLS listeners are served; false until then.
    public var isSecure = false

    public init(head: RequestHead, path: String, body: [UInt8] = [], remoteAddress: String = "127.0.0.1",
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
        guard var h = head.host, !h.isEmpty else { return localAddress }
        if h.hasPrefix("[") {
            if let e = h.firstIndex(of: "]") { h = String(h[h.index(after: h.startIndex)..<e]) }
        } else if let c = h.lastIndex(of: ":") { h = String(h[..<c]) }
        return h.lowercased()
    }
    public var headers: HeaderFields { head.headers }
    public var query: Substring? { head.query }

    /// The value of the route parameter `name`, or nil.
    public func parameter(_ name: String) -> String? {
        parameters.first { $0.name == name }?.value
    }
}
