import FlaksAccess
import FlaksHTTP

/// The request head a proxy route sends upstream, built from the client's head by the rules of
/// RFC 9110 §7.6 and RFC 9112 §7, and the decisions of config-schema.md ("proxy"). A value: build
/// it once per request (again unchanged for a retry), encode it into one buffer, write it.
///
/// What goes upstream, in this order:
/// 1. `METHOD target HTTP/1.1` (see `UpstreamTarget` for the target: as received, absolute-form
///    made origin-form, the mount path cut with `strip_prefix`; a dot-segment is refused).
/// 2. `Host`: the route's `host` if set, else the client's (the authority of an absolute-form
///    target wins over the Host field, RFC 9112 §3.2.2), else empty (RFC 9112 §3.2: "MUST send a
///    Host header field with an empty field value"). First, as RFC 9112 §3.2 asks.
/// 3. The client's other fields in order, repeats kept, less: hop-by-hop fields (RFC 9110 §7.6.1:
///    Connection and every field it names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
///    Proxy-Connection), Proxy-Authorization (RFC 9110 §11.7.2: consumed by the proxy it is for),
///    HTTP2-Settings (RFC 9113 §3.2.1, only meaningful with `Upgrade: h2c`), the client's framing
///    (Content-Length), Host and Expect (set below), and the forwarding fields handled in 4.
/// 4. Forwarding fields. From a trusted peer: X-Forwarded-For gets the peer appended
///    (`<their value>, <peer>`); X-Forwarded-Proto, X-Forwarded-Host, Forwarded, X-Real-IP,
///    X-Forwarded-Port and X-Forwarded-Prefix pass as sent. From any other peer: X-Forwarded-For
///    is the peer's address alone, and Forwarded, X-Real-IP, X-Forwarded-Port, X-Forwarded-Prefix
///    are removed. X-Forwarded-Proto (`https` on TLS, else `http`) and X-Forwarded-Host (the
///    client's Host) are set from the connection unless a trusted peer sent them.
/// 5. `Via: <client's version> flaks` after any Via the client sent (RFC 9110 §7.6.3: "An
///    HTTP-to-HTTP gateway MUST send an appropriate Via header field in each inbound request
///    message"; the pseudonym hides the host name).
/// 6. Connection: `upgrade` with `Upgrade: websocket` for a WebSocket being tunnelled; `close` when
///    the executor will not keep the connection (`keepAlive: false`, e.g. `keepalive: 0`); none
///    otherwise (HTTP/1.1 persists by default, RFC 9112 §9.3).
/// 7. `Expect: 100-continue` when the executor passes it on (it then relays the upstream's 100).
/// 8. The framing the executor uses: `Content-Length: n` or `Transfer-Encoding: chunked`.
/// 9. The route's `request_headers`, replacing fields of the same name; an empty value removes
///    the field (nginx's `proxy_set_header` rule). Names that would break the framing or the
///    connection (`isReservedRequestField`) are ignored here and refused by the manifest loader.
public struct UpstreamRequest: Sendable, Hashable {
    /// What a proxy route says about the requests it forwards.
    public struct Rules: Sendable, Hashable {
        /// The route's path as configured (`/app/` for a prefix mount).
        public var mountPath: String
        /// `strip_prefix` (default false): remove `mountPath` from the target.
        public var stripPrefix: Bool
        /// `host` (default ""): the Host sent upstream; empty means the client's.
        public var host: String
        /// `request_headers` (default none): set on every request, last.
        public var requestHeaders: HeaderFields

        public init(mountPath: String = "/", stripPrefix: Bool = false, host: String = "",
                    requestHeaders: HeaderFields = HeaderFields()) {
            self.mountPath = mountPath; self.stripPrefix = stripPrefix; self.host = host
            self.requestHeaders = requestHeaders
        }
    }

    /// What the proxy knows about the client connection.
    public struct ClientConnection: Sendable, Hashable {
        /// The peer's address (the TCP peer, not the resolved client).
        public var peer: IPAddress
        /// Whether `peer` is in `server.trusted_proxies`.
        public var peerIsTrusted: Bool
        /// Whether the client connection is TLS (X-Forwarded-Proto).
        public var isTLS: Bool

        public init(peer: IPAddress, peerIsTrusted: Bool, isTLS: Bool) {
            self.peer = peer; self.peerIsTrusted = peerIsTrusted; self.isTLS = isTLS
        }
    }

    /// The client's method, sent as is.
    public let method: HTTPMethod
    /// The request-target sent upstream (origin-form).
    public let target: String
    /// Every field sent, in order (Host first, framing fields included).
    public let headers: HeaderFields
    /// The body framing announced upstream; the executor sends the body accordingly (see
    /// `ProxyExchange.requestBodyBytes`).
    public let framing: BodyFraming
    /// Whether `Upgrade: websocket` was sent (give it to `ResponseParser.startResponse(upgradeRequested:)`).
    public let upgradesToWebSocket: Bool
    /// Whether `Expect: 100-continue` was sent.
    public let expectsContinue: Bool
    /// Whether the connection may be kept for another request: false when the executor said so
    /// (`Connection: close` was sent, or for a WebSocket `Connection: upgrade` alone, since one
    /// field cannot ask for both; an upgrade refused with a plain answer then closes).
    public let keepAlive: Bool

    /// Builds the upstream head.
    /// - Parameters:
    ///   - head: the client's request head, as parsed.
    ///   - rules: the route's settings.
    ///   - connection: the client connection's facts.
    ///   - framing: how the executor will send the body: `.length(n)` (`Content-Length: n`, also
    ///     `.length(0)`), `.chunked`, or `.none` (no framing field: a request without body).
    ///   - webSocket: the request is a WebSocket upgrade being tunnelled (`WebSocketUpgrade.decide`
    ///     said `.tunnel`).
    ///   - passExpectContinue: send `Expect: 100-continue` if the client sent it and a body follows.
    ///   - keepAlive: false sends `Connection: close` (the connection will not be pooled).
    /// - Throws: `UpstreamRequestError` (answer its status without connecting).
    public init(client head: RequestHead, rules: Rules, connection: ClientConnection, framing: BodyFraming,
                webSocket: Bool = false, passExpectContinue: Bool = false, keepAlive: Bool = true) throws(UpstreamRequestError) {
        if head.method == .CONNECT { throw .connectMethod }
        method = head.method
        target = try UpstreamTarget.rewrite(head.target, mountPath: rules.mountPath, stripPrefix: rules.stripPrefix)
        self.framing = framing
        upgradesToWebSocket = webSocket
        self.keepAlive = keepAlive
        let bodyFollows = framing != .none && framing != .length(0)
        expectsContinue = passExpectContinue && head.expectContinue && bodyFollows

        let clientHost = head.host
        let trusted = connection.peerIsTrusted
        // Names classified in place (`FieldLists.requestRole`), no lowercased String or Set per field,
        // and the fields collected in one array: this init cost 14,300 instructions for a 3-field GET,
        // 3,500 now (bench/proxy-instructions.sh).
        let named = FieldLists.connectionNames(head.headers)

        var kept: [HeaderField] = []
        kept.reserveCapacity(head.headers.count + 8)
        kept.append(HeaderField(name: "Host", value: rules.host.isEmpty ? (clientHost ?? "") : rules.host))
        var forwardedFor: [String] = []
        var keptProto = false, keptHost = false
        for field in head.headers {
            let role = FieldLists.requestRole(field.name)
            if role == .drop || FieldLists.names(named, contain: field.name) { continue }
            switch role {
            case .forwardedFor:
                if trusted { forwardedFor.append(field.value) }
                continue
            case .forwardedProto:
                guard trusted else { continue }
                keptProto = true
            case .forwardedHost:
                guard trusted else { continue }
                keptHost = true
            case .trustedOnly:
                guard trusted else { continue }
            case .pass, .drop:
                break
            }
            kept.append(field)
        }

        // X-Forwarded-For is not standardised; RFC 7239 §5.2 describes the same chain for
        // `Forwarded: for=`: each proxy appends the address it received the request from. Every
        // line of a trusted peer counts, in order, as one list; empty elements are dropped
        // (RFC 9110 §5.6.1).
        let peer = connection.peer.description
        let chain = forwardedFor.isEmpty ? [] : forwardedFor.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map(FieldLists.trimOWS).filter { !$0.isEmpty }
        kept.append(HeaderField(name: "X-Forwarded-For", value: chain.isEmpty ? peer : chain.joined(separator: ", ") + ", " + peer))
        if !keptProto { kept.append(HeaderField(name: "X-Forwarded-Proto", value: connection.isTLS ? "https" : "http")) }
        if !keptHost, let clientHost, !clientHost.isEmpty { kept.append(HeaderField(name: "X-Forwarded-Host", value: clientHost)) }

        switch (head.version.major, head.version.minor) {
        case (1, 1): kept.append(HeaderField(name: "Via", value: "1.1 flaks"))   // literals: the interpolation cost ~300 instructions a request
        case (1, 0): kept.append(HeaderField(name: "Via", value: "1.0 flaks"))
        case let (major, minor): kept.append(HeaderField(name: "Via", value: "\(major).\(minor) flaks"))
        }
        if webSocket {
            kept.append(HeaderField(name: "Connection", value: "upgrade"))
            kept.append(HeaderField(name: "Upgrade", value: "websocket"))
        } else if !keepAlive {
            kept.append(HeaderField(name: "Connection", value: "close"))
        }
        if expectsContinue { kept.append(HeaderField(name: "Expect", value: "100-continue")) }
        switch framing {
        case .length(let n): kept.append(HeaderField(name: "Content-Length", value: String(n)))
        case .chunked: kept.append(HeaderField(name: "Transfer-Encoding", value: "chunked"))
        case .none: break
        }

        var out = HeaderFields(consume kept)

        for field in rules.requestHeaders where !Self.isReservedRequestField(field.name) {
            out.remove(field.name)
        }
        for field in rules.requestHeaders where !Self.isReservedRequestField(field.name) && !field.value.isEmpty {
            out.add(field.name, field.value)
        }
        headers = out
    }

    /// Fields never copied from the client's head: hop-by-hop (RFC 9110 §7.6.1), credentials for
    /// this proxy (§11.7.2), HTTP2-Settings (RFC 9113 §3.2.1), and what the proxy sets itself
    /// (Host, framing, Expect).
    static let droppedFromRequests: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection",
        "proxy-authorization", "http2-settings", "host", "content-length", "expect",
    ]

    /// Names `request_headers` may not set (the manifest loader refuses them; `Host` has the
    /// `host` key): framing, connection management, Host, Expect and Proxy-Authorization.
    public static func isReservedRequestField(_ name: String) -> Bool {
        FieldLists.requestRole(name) == .drop   // the names of `droppedFromRequests`, compared in place
    }

    /// RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE. Only these are retried after a
    /// request byte went out (RFC 9112 §9.3.1: "A proxy MUST NOT automatically retry
    /// non-idempotent requests").
    public var isIdempotent: Bool {
        switch method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: true
        case .POST, .PATCH, .CONNECT: false
        }
    }

    /// Whether a body follows the head (the framing announces one).
    public var hasBody: Bool { framing != .none && framing != .length(0) }

    /// Appends the encoded head (request line, fields, empty line) to `buffer`. Field names that are
    /// not tokens are left out and CR/LF/NUL in values become SP (`ResponseSerializer.writeField`),
    /// so a manifest value can never split the head.
    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: method.rawValue.utf8)
        buffer.append(0x20)
        buffer.append(contentsOf: target.utf8)
        buffer.append(contentsOf: " HTTP/1.1\r\n".utf8)
        for field in headers { ResponseSerializer.writeField(name: field.name, value: field.value, into: &buffer) }
        buffer.append(0x0D)
        buffer.append(0x0A)
    }

    /// The encoded head in one buffer.
    public var encoded: [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(64 + target.utf8.count + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        encode(into: &b)
        return b
    }
}
