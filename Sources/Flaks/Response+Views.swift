#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Response {
    /// An HTML page.
    public static func html(_ html: String, status: HTTPStatus = .ok) -> Response {
        .text(html, status: status, contentType: "text/html; charset=utf-8")
    }

    /// `value` encoded as JSON (`application/json`). Throws when it does not encode (a 500).
    ///
    /// Without `encoder`, `StreamingJSONEncoder` writes the bytes directly: the same JSON as
    /// `JSONEncoder()` (keys in the order `encode(to:)` writes them), at a fraction of the cost.
    /// A given `encoder` is used as it is, for its strategies and formatting options.
    public static func json(_ value: some Encodable, status: HTTPStatus = .ok, encoder: JSONEncoder? = nil) throws -> Response {
        let bytes = if let encoder { Array(try encoder.encode(value)) } else { try StreamingJSONEncoder().encode(value) }
        // The same field every time: built and serialized once (~1,200 instructions per request:
        // no field list to build, no field to check and write, no Content-Type to parse for compression).
        return Response(status: status, headers: jsonHeaders, body: .bytes(bytes), encodedHeaders: jsonHeadersEncoded)
    }

    private static let jsonHeaders: HeaderFields = ["Content-Type": "application/json"]
    private static let jsonHeadersEncoded = Array("Content-Type: application/json\r\n".utf8)

    /// Raw bytes with a content type.
    public static func bytes(_ bytes: [UInt8], status: HTTPStatus = .ok, contentType: String = "application/octet-stream") -> Response {
        Response(status: status, headers: ["Content-Type": contentType], body: .bytes(bytes))
    }

    /// Just a status, with an empty body.
    public static func status(_ status: HTTPStatus) -> Response { Response(status: status) }

    /// A redirect to `location` (302 Found by default; 303 after a POST, 307/308 to keep the method).
    public static func redirect(to location: String, status: HTTPStatus = .found) -> Response {
        Response(status: status, headers: ["Location": location])
    }

    /// A body produced while it is sent (chunked on HTTP/1.1): `producer` runs as a Task and writes
    /// through the `BodyWriter`, whose writes wait while the client is slow and throw once it is gone.
    public static func stream(status: HTTPStatus = .ok, contentType: String = "application/octet-stream",
                              _ producer: @escaping @Sendable (any BodyWriter) async throws -> Void) -> Response {
        Response(status: status, headers: ["Content-Type": contentType], body: .stream(producer))
    }

    /// Adds a Set-Cookie field (nothing when the cookie's name is invalid; see `Cookie`).
    public mutating func setCookie(_ cookie: Cookie) {
        if let v = cookie.headerValue { headers.add("Set-Cookie", v) }
    }

    /// Adds a Set-Cookie field that deletes `name` (empty value, Max-Age=0, expired) on `path`.
    public mutating func deleteCookie(_ name: String, path: String? = "/", domain: String? = nil) {
        setCookie(Cookie(name, "", path: path, domain: domain, maxAge: 0, expires: 0))
    }

    /// This response with one more header field.
    public func header(_ name: String, _ value: String) -> Response {
        var r = self
        r.headers.add(name, value)
        return r
    }

    /// This response with one more cookie.
    public func cookie(_ cookie: Cookie) -> Response {
        var r = self
        r.setCookie(cookie)
        return r
    }
}
