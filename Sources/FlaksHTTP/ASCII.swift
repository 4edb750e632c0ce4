/// Byte constants and character classes from the HTTP grammar (RFC 9110 §5.6, RFC 9112 §2).
/// Small `@inline(__always)` predicates so the parser's hot loops stay branch-only, no tables to initialise.
enum ASCII {
    static var cr: UInt8 { 0x0D }
    static var lf: UInt8 { 0x0A }
    static var sp: UInt8 { 0x20 }
    static var htab: UInt8 { 0x09 }
    static var colon: UInt8 { 0x3A }
    static var semicolon: UInt8 { 0x3B }
    static var comma: UInt8 { 0x2C }
    static var equals: UInt8 { 0x3D }
    static var dquote: UInt8 { 0x22 }
    static var backslash: UInt8 { 0x5C }
    static var slash: UInt8 { 0x2F }
    static var star: UInt8 { 0x2A }

    /// `tchar` (RFC 9110 §5.6.2): the characters of a token (method, field name, coding, extension name).
    @inline(__always)
    static func isTChar(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true  // DIGIT, ALPHA
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
        default: false  // "!#$%&'*+-.^_`|~" are the only punctuation allowed
        }
    }

    /// SP or HTAB: optional whitespace (OWS/BWS, RFC 9110 §5.6.3).
    @inline(__always)
    static func isWhitespace(_ b: UInt8) -> Bool { b == sp || b == htab }

    /// `VCHAR` (visible ASCII, 0x21-0x7E).
    @inline(__always)
    static func isVisible(_ b: UInt8) -> Bool { b >= 0x21 && b <= 0x7E }

    /// A byte allowed inside a field value (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text (0x80-0xFF).
    /// Everything else (NUL, other controls, DEL, CR, LF) is rejected by the parser.
    @inline(__always)
    static func isFieldValueByte(_ b: UInt8) -> Bool { b == htab || (b >= 0x20 && b != 0x7F) }

    /// `qdtext` of a quoted-string (RFC 9110 §5.6.4).
    @inline(__always)
    static func isQDText(_ b: UInt8) -> Bool {
        b == htab || b == sp || b == 0x21 || (b >= 0x23 && b <= 0x5B) || (b >= 0x5D && b <= 0x7E) || b >= 0x80
    }

    /// The value of a hex digit, or nil (`hexDigitValue`, for the chunk-size arithmetic).
    @inline(__always)
    static func hexValue(_ b: UInt8) -> Int? { hexDigitValue(b).map(Int.init) }

    /// ASCII lowercase of one byte.
    @inline(__always)
    static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }

    /// Whether `bytes[range]` equals `lowercased` ignoring ASCII case. `lowercased` must be lowercase ASCII.
    @inline(__always)
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lowercased: StaticString) -> Bool {
        guard range.count == lowercased.utf8CodeUnitCount else { return false }
        return lowercased.withUTF8Buffer { lit in
            var j = 0
            for i in range {
                if lower(bytes[i]) != lit[j] { return false }
                j &+= 1
            }
            return true
        }
    }
}

/// The value of an ASCII hex digit (`0-9`, `a-f`, `A-F`), or nil: for chunk sizes and
/// percent-escapes here, and for the query and form decoding of the `Flaks` library.
@inlinable
public func hexDigitValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: b &- 0x30
    case 0x41...0x46: b &- 0x41 &+ 10
    case 0x61...0x66: b &- 0x61 &+ 10
    default: nil
    }
}
