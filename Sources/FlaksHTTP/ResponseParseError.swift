/// Why an upstream response could not be parsed. Whatever the case, the proxy answers
/// 502 (Bad Gateway, RFC 9110 §15.6.3: "received an invalid response from an inbound server"), or
/// closes the client connection if the response head already went out, logs `description`, and
/// closes the upstream connection: after any of these its framing cannot be trusted, and nothing
/// of the bad response is passed on.
public enum ResponseParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Malformed syntax or framing, or a smuggling shape (RFC 9112 §11.2): Content-Length with
    /// Transfer-Encoding, differing lengths, a bad chunk size, bare CR/LF, obs-fold, a 101 nobody
    /// asked for, bytes with no request outstanding.
    case malformed(String)
    /// A head (or trailer section) over `maxHead` bytes or `maxHeaderCount` fields.
    case headTooLarge
    /// A body over `maxBody`.
    case bodyTooLarge
    /// Valid HTTP we do not handle: a version other than HTTP/1.0 and HTTP/1.1, a transfer coding
    /// other than chunked, a tunnel after CONNECT.
    case unsupported(String)
    /// The upstream closed the connection inside a response: in its head, short of its
    /// Content-Length, or inside a chunked body (RFC 9112 §8: an incomplete message).
    case truncated(String)

    /// Always 502: the client's request was fine, the upstream's answer was not.
    public var status: HTTPStatus { .badGateway }

    /// The reason for the error log.
    public var description: String {
        switch self {
        case .malformed(let why): "malformed upstream response: \(why)"
        case .headTooLarge: "upstream response head too large"
        case .bodyTooLarge: "upstream response body too large"
        case .unsupported(let what): "unsupported upstream response: \(what)"
        case .truncated(let where_): "upstream closed the connection \(where_)"
        }
    }

    /// The same error from the shared request-side code (field lines, chunked decoder).
    init(_ shared: HTTPParseError) {
        switch shared {
        case .badRequest(let why): self = .malformed(why)
        case .headersTooLarge: self = .headTooLarge
        case .bodyTooLarge: self = .bodyTooLarge
        case .uriTooLong, .notImplemented, .versionNotSupported: self = .malformed(shared.description)
        }
    }
}
