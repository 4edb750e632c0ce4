/// How far the search for the end of the current head got, so bytes that arrive one at a time are
/// checked once (no quadratic rescans). Offsets are relative to the head's first byte.
/// Shared by `RequestParser` and `ResponseParser`: a head is a start line, field lines and an
/// empty line, every line ended by CRLF (RFC 9112 §2.1).
struct HeadScan: Sendable {
    /// A line-ending error found by the scan; each parser words it for its own error type.
    enum LineEndError: Error, Sendable {
        /// A CR not followed by LF (RFC 9112 §2.2: invalid, we never read it as a line end).
        case bareCR
        /// An LF without a CR before it (RFC 9112 §2.2 lets a recipient accept it; we do not).
        case bareLF
    }

    /// Bytes already checked for bare CR / bare LF and the empty line.
    var scanned = 0
    /// Offset of the first byte of the line being scanned.
    var lineStart = 0
    /// Length of the start line (request line or status line) including its CRLF, once its LF has
    /// been seen; else 0.
    var startLineLength = 0

    /// Continues the scan of `head` (which starts at the head's first byte) and returns the length of
    /// the head through its final CRLF, or nil if it is not complete within the first `limit` bytes.
    /// Throws on a bare LF or a bare CR. Only the first `limit` bytes are ever looked at, so the
    /// outcome does not depend on how the input was split.
    @inline(__always)
    mutating func findEnd(_ head: UnsafeRawBufferPointer, limit: Int) throws(LineEndError) -> Int? {
        let end = min(head.count, limit)
        var i = scanned
        var lineStart = self.lineStart
        defer { scanned = i; self.lineStart = lineStart }
        while i < end {
            // Most bytes are above CR: eight at a time. A word's flag bits are those of its bytes
            // below 0x0E (`hasless` of Bit Twiddling Hacks); the lowest is exactly the first such
            // byte, because no borrow comes from the bytes below it. 313 -> 192 instructions for a
            // view's ~50-byte head (callgrind, `bench/instructions.sh`, the async JSON view).
            if i &+ 8 <= end {
                let w = UInt64(littleEndian: head.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let low = (w &- 0x0E0E_0E0E_0E0E_0E0E) & ~w & 0x8080_8080_8080_8080
                if low == 0 { i &+= 8; continue }
                i &+= low.trailingZeroBitCount &>> 3
            }
            let b = head[i]
            if b > ASCII.cr { i += 1; continue }
            if b == ASCII.cr {
                // A CR must be followed by LF; wait here (the scan resumes at the CR) for the next byte.
                guard i + 1 < end else { break }
                guard head[i + 1] == ASCII.lf else { throw .bareCR }
                if startLineLength == 0 { startLineLength = i + 2 }
                if i == lineStart { i += 2; return i }  // the empty line: end of head
                i += 2
                lineStart = i
                continue
            }
            // Every LF after a CR was taken with it above.
            if b == ASCII.lf { throw .bareLF }
            i += 1
        }
        return nil
    }
}
