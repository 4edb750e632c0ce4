/// The protocol version of a request line (RFC 9112 §2.3). Only 1.0 and 1.1 are accepted; others get 505.
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    public var description: String {
        // The two versions served, without string interpolation (per CGI/FastCGI request).
        if major == 1 && minor == 1 { return "HTTP/1.1" }
        if major == 1 && minor == 0 { return "HTTP/1.0" }
        return "HTTP/\(major).\(minor)"
    }
}
