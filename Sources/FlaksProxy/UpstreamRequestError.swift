import FlaksHTTP

/// Why a client request cannot be sent upstream. The executor answers `status` without connecting.
public enum UpstreamRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The path has a `.` or `..` segment (also percent-encoded, or hidden behind an encoded
    /// separator or a `;` parameter). Routing and access rules saw the normalised path; the upstream
    /// would resolve the segment itself and reach a path nobody checked (config-schema, "proxy").
    case dotSegment
    /// A target that cannot be forwarded: asterisk-form (`OPTIONS *`), a fragment (`#`, not part of
    /// a request-target, RFC 9112 §3.2), userinfo in an absolute-form authority (RFC 9110 §4.2.4).
    case badTarget(String)
    /// `strip_prefix` is on but the raw path does not begin with the route's mount path (the router
    /// matched a spelling the prefix cannot be cut from, such as an encoded `/` inside it).
    case mountMismatch
    /// CONNECT asks for a tunnel to an arbitrary authority: never forwarded (RFC 9110 §9.3.6).
    case connectMethod

    /// 405 for CONNECT, 400 for everything else.
    public var status: HTTPStatus {
        switch self {
        case .connectMethod: .methodNotAllowed
        case .dotSegment, .badTarget, .mountMismatch: .badRequest
        }
    }

    public var description: String {
        switch self {
        case .dotSegment: "request target has a dot-segment (\".\" or \"..\"); not forwarded"
        case .badTarget(let why): "request target cannot be forwarded: \(why)"
        case .mountMismatch: "request path does not start with the route's mount path; cannot strip the prefix"
        case .connectMethod: "CONNECT is not forwarded"
        }
    }
}
