import FlaksHTTP

/// The WebSocket decisions of a proxy route (`websocket: true`, the default): which requests
/// become a two-way tunnel, and which 101 answer may start one.
///
/// Only WebSocket is ever tunnelled. Any other Upgrade (h2c included: Flaks speaks HTTP/1.1 to
/// upstreams, and an h2c upgrade would hand the connection to a protocol nothing here parses) is
/// ignored: the Upgrade field is dropped as the hop-by-hop field it is, and the request goes
/// upstream as plain HTTP. RFC 9110 §7.8: "A server MAY ignore a received Upgrade header field if
/// it wishes to continue using the current protocol on that connection."
///
/// With `websocket: false` a WebSocket request is treated the same way: forwarded as plain HTTP
/// without Upgrade (nginx does the same when it is not told to pass Upgrade). The application sees
/// a GET with `Sec-WebSocket-*` fields and no Upgrade and answers as it does for such a request
/// (typically 400 or 426). A 400 from Flaks was the alternative; forwarding keeps one rule for every
/// Upgrade the proxy will not tunnel, and lets an application that serves the same path to plain
/// GETs do so.
public enum WebSocketUpgrade {
    /// What to do with a request's Upgrade.
    public enum Decision: Sendable, Hashable {
        /// No Upgrade: an ordinary request.
        case none
        /// A WebSocket upgrade: send `Connection: upgrade` + `Upgrade: websocket` upstream
        /// (`UpstreamRequest(webSocket: true)`), and start a tunnel if a valid 101 comes back.
        case tunnel
        /// An Upgrade the proxy will not tunnel (another protocol, h2c, WebSocket with
        /// `websocket: false`, or not a valid WebSocket handshake shape): forward as plain HTTP,
        /// without Upgrade.
        case ignoreUpgrade
    }

    /// Whether `head` is a WebSocket opening handshake as RFC 6455 §4.1 shapes it: HTTP/1.1, GET,
    /// an Upgrade list with the token `websocket` (ASCII case-insensitive, among any others), a
    /// Connection list with `upgrade`, and no request body (the tunnel starts right after the head;
    /// body bytes would be mixed with tunnel bytes).
    public static func isWebSocketRequest(_ head: RequestHead) -> Bool {
        guard head.version == .http1_1, head.method == .GET,
              head.framing == .none || head.framing == .length(0),
              FieldLists.contains(head.headers, "Connection", token: "upgrade")
        else { return false }
        return FieldLists.contains(head.headers, "Upgrade", token: "websocket")
    }

    /// The decision for `head` on a route with `websocket: enabled`.
    public static func decide(_ head: RequestHead, enabled: Bool) -> Decision {
        guard head.headers.contains("Upgrade") else { return .none }
        return enabled && isWebSocketRequest(head) ? .tunnel : .ignoreUpgrade
    }

    /// Whether a 101 answer may start a tunnel: it answers a WebSocket upgrade we sent
    /// (`sentWebSocketUpgrade`), and its Upgrade names exactly `websocket` (RFC 9110 §7.8: the
    /// server lists the protocol it switches to; RFC 6455 §4.2.2). `ResponseParser` has already
    /// checked that it is HTTP/1.1 with Upgrade and `Connection: upgrade`. Anything else is a 502.
    public static func acceptsSwitch(_ head: ResponseHead, sentWebSocketUpgrade: Bool) -> Bool {
        guard sentWebSocketUpgrade, head.status.code == 101 else { return false }
        let protocols = FieldLists.elements(head.headers, "Upgrade")
        return protocols.count == 1 && FieldLists.equalsIgnoringCase(protocols[0], "websocket")
    }
}
