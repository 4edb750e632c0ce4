/// A cookie to set with `Set-Cookie` (RFC 6265 §4.1), with its attributes.
///
/// Like Go's net/http, a name that is not a token makes no header at all (`headerValue` is nil),
/// and bytes of the value outside cookie-octet (controls, space, `"`, `,`, `;`, `\`) are
/// dropped rather than quoted or encoded, so what the browser stores is what it sends back.
public struct Cookie: Sendable, Equatable {
    /// SameSite (RFC 6265bis §5.4.7). `.none` requires `secure` in current browsers.
    public enum SameSite: String, Sendable { case strict = "Strict", lax = "Lax", none = "None" }

    public var name: String
    public var value: String
    public var path: String?
    public var domain: String?
    /// Seconds until it expires; 0 or less deletes it now (`Max-Age=0`).
    public var maxAge: Int?
    /// Expiry as seconds since 1970 (sent as an IMF-fixdate).
    public var expires: Int?
    public var secure: Bool
    public var httpOnly: Bool
    public var sameSite: SameSite?

    public init(_ name: String, _ value: String, path: String? = "/", domain: String? = nil, maxAge: Int? = nil,
                expires: Int? = nil, secure: Bool = false, httpOnly: Bool = false, sameSite: SameSite? = nil) {
        self.name = name; self.value = value; self.path = path; self.domain = domain; self.maxAge = maxAge
        self.expires = expires; self.secure = secure; self.httpOnly = httpOnly; self.sameSite = sameSite
    }

    /// The Set-Cookie field value, or nil when the name is not a valid token.
    public var headerValue: String? {
        guard !name.isEmpty, name.utf8.allSatisfy(Cookie.isTokenByte) else { return nil }
        var s = name + "=" + String(decoding: value.utf8.filter(Cookie.isCookieOctet), as: UTF8.self)
        if let path, path.utf8.allSatisfy(Cookie.isAttributeByte) { s += "; Path=" + path }
        if let domain, domain.utf8.allSatisfy(Cookie.isAttributeByte) {
            s += "; Domain=" + (domain.hasPrefix(".") ? String(domain.dropFirst()) : domain)
        }
        if let expires { s += "; Expires=" + HTTPDate.format(secondsSince1970: max(expires, 0)) }
        if let maxAge { s += "; Max-Age=\(max(maxAge, 0))" }
        if httpOnly { s += "; HttpOnly" }
        if secure { s += "; Secure" }
        if let sameSite { s += "; SameSite=" + sameSite.rawValue }
        return s
    }

    /// Parses a request's Cookie header(s) (RFC 6265 §5.4: `a=1; b=2`) into name -> value; the first
    /// of repeated names wins (the most specific path, as browsers order them). Surrounding double
    /// quotes are removed; pairs without "=" are ignored.
    public static func parse(_ headers: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for h in headers {
            for piece in h.split(separator: ";") {
                guard let eq = piece.firstIndex(of: "=") else { continue }
                let name = piece[..<eq].trimmingASCIISpaces()
                var value = piece[piece.index(after: eq)...].trimmingASCIISpaces()
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = value.dropFirst().dropLast() }
                guard !name.isEmpty, out[String(name)] == nil else { continue }
                out[String(name)] = String(value)
            }
        }
        return out
    }

    /// RFC 9110 §5.6.2 tchar.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        default: "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    /// RFC 6265 §4.1.1 cookie-octet.
    static func isCookieOctet(_ b: UInt8) -> Bool {
        b == 0x21 || (0x23...0x2B).contains(b) || (0x2D...0x3A).contains(b) || (0x3C...0x5B).contains(b) || (0x5D...0x7E).contains(b)
    }

    /// Attribute values: any CHAR except CTLs and ";" (RFC 6265 §4.1.1 av-octet).
    static func isAttributeByte(_ b: UInt8) -> Bool { b >= 0x20 && b < 0x7F && b != UInt8(ascii: ";") }
}

extension Substring {
    func trimmingASCIISpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
