/// Turns the raw path of a request target into the one path the router and file handlers see.
///
/// In order: percent-decode once (RFC 3986 §2.1; a `%` not followed by two hex digits is an
/// error), reject NUL (raw or `%00`), reject `%2F` and `%5C` (an encoded separator inside a
/// segment would let `a%2F..%2Fb` mean something else to a file system), reject decoded bytes
/// that are not valid UTF-8, merge repeated slashes, then remove `.` and `..` segments
/// (RFC 3986 §5.2.4). Dot segments are removed after decoding, so `%2e%2e` counts as `..`.
/// `..` above the root is an error rather than being clamped, because only a broken or
/// malicious client sends it. The result starts with "/" and ends with "/" when the input
/// did (or when its last segment was `.` or `..`, as §5.2.4 does).
///
/// The caller passes the path without the query (`RequestHead.rawPath`) and answers any
/// error with 400. Pure stdlib; a path that needs no change is returned without copying bytes.
public enum PathNormalizer {
    /// Normalises `raw` (the hot path: the server passes `RequestHead.rawPath`): a path that is
    /// already normal is checked in one pass over its contiguous bytes and returned as is.
    public static func normalize(_ raw: Substring) throws(PathError) -> String {
        let clean = raw.utf8.withContiguousStorageIfAvailable { p -> Bool in
            p.first == UInt8(ascii: "/") && isAlreadyNormal(p)
        }
        if clean == true { return String(raw) }
        return try normalizeSlow(raw)
    }

    /// Normalises `raw`; see the type's documentation.
    public static func normalize(_ raw: some StringProtocol) throws(PathError) -> String {
        try normalizeSlow(raw)
    }

    private static func normalizeSlow(_ raw: some StringProtocol) throws(PathError) -> String {
        let u = raw.utf8
        guard u.first == UInt8(ascii: "/") else { throw .notAbsolute }
        if isAlreadyNormalGeneric(u) { return String(raw) }

        // 1. Percent-decode, splitting on raw "/" only.
        var decoded: [UInt8] = []
        decoded.reserveCapacity(u.count)
        var i = u.startIndex
        while i != u.endIndex {
            var b = u[i]
            if b == UInt8(ascii: "%") {
                let h1 = u.index(after: i)
                guard h1 != u.endIndex, let hi = hexDigitValue(u[h1]) else { throw .badPercentEscape }
                let h2 = u.index(after: h1)
                guard h2 != u.endIndex, let lo = hexDigitValue(u[h2]) else { throw .badPercentEscape }
                b = hi << 4 | lo
                switch b {
                case 0: throw .nul
                case UInt8(ascii: "/"): throw .encodedSlash
                case UInt8(ascii: "\\"): throw .encodedBackslash
                default: break
                }
                i = h2
            } else if b == 0 {
                throw .nul
            }
            decoded.append(b)
            i = u.index(after: i)
        }
        guard String(validating: decoded, as: UTF8.self) != nil else { throw .invalidUTF8 }

        // 2. Segments without empties, then dot-segment removal (RFC 3986 §5.2.4).
        var output: [ArraySlice<UInt8>] = []
        var trailingSlash = decoded.last == UInt8(ascii: "/")
        for segment in decoded.split(separator: UInt8(ascii: "/")) {
            if segment.elementsEqual([UInt8(ascii: ".")]) {
                trailingSlash = true
            } else if segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                guard !output.isEmpty else { throw .aboveRoot }
                output.removeLast()
                trailingSlash = true
            } else {
                output.append(segment)
                trailingSlash = false
            }
        }
        if decoded.last == UInt8(ascii: "/") { trailingSlash = true }

        var result: [UInt8] = []
        result.reserveCapacity(decoded.count)
        for segment in output {
            result.append(UInt8(ascii: "/"))
            result.append(contentsOf: segment)
        }
        if output.isEmpty || trailingSlash { result.append(UInt8(ascii: "/")) }
        return String(decoding: result, as: UTF8.self)
    }

    /// True when `u` has no `%`, NUL, `//`, or `.`/`..` segment: nothing to do.
    static func isAlreadyNormal(_ u: UnsafeBufferPointer<UInt8>) -> Bool {
        isAlreadyNormalGeneric(u)
    }

    @inline(__always)
    private static func isAlreadyNormalGeneric(_ u: some Collection<UInt8>) -> Bool {
        var previous: UInt8 = 0, segmentLength = 0, dotsOnly = true
        for b in u {
            if b == UInt8(ascii: "%") || b == 0 || b >= 0x80 { return false }
            if b == UInt8(ascii: "/") {
                if previous == UInt8(ascii: "/") { return false }
                if segmentLength > 0 && dotsOnly && segmentLength <= 2 { return false }
                segmentLength = 0; dotsOnly = true
            } else {
                segmentLength += 1
                if b != UInt8(ascii: ".") { dotsOnly = false }
            }
            previous = b
        }
        return !(segmentLength > 0 && dotsOnly && segmentLength <= 2)
    }
}

/// Why a request path was refused by `PathNormalizer`. Every case is answered with 400.
public enum PathError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The path does not start with "/".
    case notAbsolute
    /// A `%` not followed by two hex digits.
    case badPercentEscape
    /// A NUL byte, raw or `%00`.
    case nul
    /// `%2F` inside a segment.
    case encodedSlash
    /// `%5C` inside a segment.
    case encodedBackslash
    /// The decoded bytes are not valid UTF-8.
    case invalidUTF8
    /// A `..` segment would climb above "/".
    case aboveRoot

    public var status: HTTPStatus { .badRequest }

    public var description: String {
        switch self {
        case .notAbsolute: "path does not start with \"/\""
        case .badPercentEscape: "bad percent escape in path"
        case .nul: "NUL byte in path"
        case .encodedSlash: "encoded \"/\" (%2F) in path"
        case .encodedBackslash: "encoded \"\\\" (%5C) in path"
        case .invalidUTF8: "path is not valid UTF-8 after percent-decoding"
        case .aboveRoot: "path climbs above the root with \"..\""
        }
    }
}
