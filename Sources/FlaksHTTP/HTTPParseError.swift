/// Why a request could not be parsed. Each case knows the status to answer before closing.
public enum HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Malformed syntax or a smuggling vector (RFC 9112 §11.2): 400.
    case badRequest(String)
    /// Request line longer than the limit: 414.
    case uriTooLong
    /// Request head longer than `max_buffer`: 431.
    case headersTooLarge
    /// Body longer than `max_body`: 413.
    case bodyTooLarge
    /// A method the server does not know, or a transfer coding it cannot decode: 501.
    case notImplemented(String)
    /// HTTP major version other than 1: 505.
    case versionNotSupported

    public var status: HTTPStatus {
        switch self {
        case .badRequest: .badRequest
        case .uriTooLong: .uriTooLong
        case .headersTooLarge: .requestHeaderFieldsTooLarge
        case .bodyTooLarge: .contentTooLarge
        case .notImplemented: .notImplemented
        case .versionNotSupported: .httpVersionNotSupported
        }
    }

    public var description: String {
        switch self {
        case .badRequest(let why): "bad request: \(why)"
        case .uriTooLong: "request line too long"
        case .headersTooLarge: "request head too large"
        case .bodyTooLarge: "request body too large"
        case .notImplemented(let what): "not implemented: \(what)"
        case .versionNotSupported: "HTTP version not supported"
        }
    }
}
