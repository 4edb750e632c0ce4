/// How the body of a response is delimited (RFC 9112 §6.3).
public enum ResponseFraming: Sendable, Hashable {
    /// No body: a response to HEAD, a 1xx, 204 or 304 (whatever its fields say), or a 101.
    case none
    /// Exactly this many bytes (Content-Length).
    case length(Int)
    /// Chunked transfer coding; the parser removes it.
    case chunked
    /// Everything until the upstream closes the connection (neither field present, RFC 9112 §6.3
    /// item 8). Such a connection is never reused.
    case untilClose
}

/// A parsed status line and header section of an upstream response, plus what the parser
/// derived from them.
public struct ResponseHead: Sendable, Hashable {
    /// HTTP/1.0 or HTTP/1.1 (nothing else is accepted).
    public var version: HTTPVersion
    /// The status code as received: three digits, 100...999. Codes 600...999 are outside the range
    /// RFC 9110 §15 defines; a client "SHOULD process the response as if it had a 5xx status code".
    public var status: HTTPStatus
    /// The reason phrase as received (possibly empty), decoded as UTF-8 with U+FFFD for invalid
    /// sequences. RFC 9112 §4: a client SHOULD ignore it.
    public var reason: String
    /// The header fields in order, names in their original case, values with OWS trimmed.
    public var headers: HeaderFields
    /// How the body that follows this head is delimited.
    public var framing: ResponseFraming
    /// Whether the upstream connection may carry another request after this response
    /// (RFC 9112 §9.3): HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive` (and no `close`); never with `.untilClose` framing; never after a 101.
    /// Only the final response's value matters (an interim head's is computed the same way).
    public var keepAlive: Bool

    public init(version: HTTPVersion, status: HTTPStatus, reason: String, headers: HeaderFields,
                framing: ResponseFraming, keepAlive: Bool) {
        self.version = version; self.status = status; self.reason = reason; self.headers = headers
        self.framing = framing; self.keepAlive = keepAlive
    }
}
