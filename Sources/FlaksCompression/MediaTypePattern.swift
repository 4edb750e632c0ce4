/// One entry of `compress.types`: an exact media type (`application/json`), a whole top-level type
/// (`text/*`), or everything (`*/*`). Compared ASCII case-insensitively (RFC 9110 §8.3.1: type and
/// subtype are case-insensitive); parameters (`; charset=utf-8`) are ignored on both sides.
public struct MediaTypePattern: Sendable, Hashable, CustomStringConvertible {
    /// Lowercased top-level type, or "*".
    public let type: String
    /// Lowercased subtype, or "*" for any.
    public let subtype: String

    /// Parses `type/subtype` or `type/*` or `*/*`; nil for anything else (`text`, `*/json`, `a/b/c`).
    public init?(_ text: some StringProtocol) {
        guard let (t, s) = MediaTypePattern.split(text), !t.isEmpty, !s.isEmpty else { return nil }
        guard t.utf8.allSatisfy({ AcceptEncoding.isTChar($0) }), s.utf8.allSatisfy({ AcceptEncoding.isTChar($0) }) else { return nil }
        if t == "*" && s != "*" { return nil }
        if t != "*" && s.contains("*") && s != "*" { return nil }
        type = t
        subtype = s
    }

    public var description: String { "\(type)/\(subtype)" }

    /// Whether `contentType` (a `Content-Type` field value, parameters allowed) is covered.
    public func matches(_ contentType: some StringProtocol) -> Bool {
        guard let (t, s) = Self.split(contentType) else { return false }
        return matches(type: t, subtype: s)
    }

    func matches(type t: String, subtype s: String) -> Bool {
        (type == "*" || type == t) && (subtype == "*" || subtype == s)
    }

    /// `type/subtype` of a media type with its parameters and surrounding whitespace dropped,
    /// lowercased; nil when there is no single `/`.
    static func split(_ text: some StringProtocol) -> (String, String)? {
        var bytes: [UInt8] = []
        for b in text.utf8 {
            if b == UInt8(ascii: ";") { break }
            bytes.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
        }
        while let f = bytes.first, f == 0x20 || f == 0x09 { bytes.removeFirst() }
        while let l = bytes.last, l == 0x20 || l == 0x09 { bytes.removeLast() }
        guard let slash = bytes.firstIndex(of: UInt8(ascii: "/")),
              !bytes[(slash + 1)...].contains(UInt8(ascii: "/")) else { return nil }
        return (String(decoding: bytes[..<slash], as: UTF8.self), String(decoding: bytes[(slash + 1)...], as: UTF8.self))
    }
}
