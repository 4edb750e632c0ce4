/// Percent-encoding (RFC 3986 §2.1) for the URIs the server writes: Location fields, directory
/// listing links, URLs built by views. One encoder; callers choose which bytes may stay.
///
/// Decoding lives with its users: `PathNormalizer` (strict, for request paths) and the views'
/// query and form decoding (lenient, `+` as space); both use `hexDigitValue`.
public enum PercentEncoding {
    /// `unreserved` (RFC 3986 §2.3): ALPHA, DIGIT, "-", ".", "_", "~".
    @inline(__always)
    public static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    /// `pchar` less `pct-encoded` (RFC 3986 §3.3): unreserved, sub-delims (`!$&'()*+,;=`), ":" and "@".
    /// What may stand unencoded in a path segment. "%" is not in it: a decoded "%" is data.
    @inline(__always)
    public static func isPathCharacter(_ b: UInt8) -> Bool {
        if isUnreserved(b) { return true }
        switch b {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
             UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }

    /// `s` with every UTF-8 byte for which `keep` is false written as `%XX` (uppercase hex, §2.1).
    /// A string that needs no escape is returned without building a new one byte by byte.
    public static func encode(_ s: some StringProtocol, keeping keep: (UInt8) -> Bool) -> String {
        let u = s.utf8
        guard let first = u.firstIndex(where: { !keep($0) }) else { return String(s) }
        var out: [UInt8] = []
        out.reserveCapacity(u.count + 16)
        out.append(contentsOf: u[..<first])
        for b in u[first...] {
            if keep(b) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A decoded path (as `PathNormalizer` returns it, or a prefix mount's remainder) written as
    /// a URI path: `pchar` and "/" stay, everything else becomes `%XX` — "%", "?" and "#" (which
    /// would start a query or fragment), "\\" (which browsers read as "/", WHATWG URL §4.4),
    /// controls such as TAB (which browsers drop), spaces and non-ASCII bytes.
    ///
    /// A leading run of "/" is collapsed to one: a path without an authority cannot begin with
    /// "//" (RFC 3986 §3.3), and a Location of `//host/...` is a network-path reference (§4.2)
    /// that sends the client to another host. So the result of an absolute path never starts
    /// with "//" or "/\\", whatever the request contained; a relative one never starts with "/".
    public static func encodePath(_ path: some StringProtocol) -> String {
        var p = Substring(path)
        if p.utf8.first == UInt8(ascii: "/") {
            while p.utf8.dropFirst().first == UInt8(ascii: "/") { p = p.dropFirst() }
        }
        return encode(p) { isPathCharacter($0) || $0 == UInt8(ascii: "/") }
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
}
