/// Writes response heads and chunked framing into a byte buffer (RFC 9112 §4, §7.1), appending
/// UTF-8 bytes directly: no String interpolation or formatting on the hot path.
///
/// Response splitting: the serializer never emits a CR, LF or NUL that the caller put into a header.
/// In a field *value* each CR, LF and NUL is replaced by SP (the same repair RFC 9110 §5.5 allows a
/// recipient to make); a field whose *name* is not a valid token (RFC 9110 §5.1) is left out entirely.
/// Other bytes are written as given; framing headers (Content-Length, Transfer-Encoding) are the
/// caller's job.
public enum ResponseSerializer {
    /// Appends `HTTP/1.1 200 OK\r\n`, each field as `name: value\r\n`, and the empty line `\r\n`.
    /// The status code is written as three digits (codes outside 100...999 are clamped to 500);
    /// the reason phrase comes from `status.reason`, with CR/LF/NUL replaced like values.
    public static func writeHead(status: HTTPStatus, version: HTTPVersion, headers: HeaderFields,
                                 into buffer: inout [UInt8]) {
        writeStatusLine(status: status, version: version, into: &buffer)
        for field in headers { writeField(name: field.name, value: field.value, into: &buffer) }
        buffer.append(ASCII.cr)
        buffer.append(ASCII.lf)
    }

    /// Appends the status line `HTTP/x.y code reason\r\n`.
    private static let okLine = Array("HTTP/1.1 200 OK\r\n".utf8)

    public static func writeStatusLine(status: HTTPStatus, version: HTTPVersion, into buffer: inout [UInt8]) {
        // Nearly every response: one copy of bytes serialized once.
        if status == .ok && version == .http1_1 { buffer.append(contentsOf: okLine); return }
        buffer.append(contentsOf: "HTTP/".utf8)
        buffer.append(digit(version.major))
        buffer.append(0x2E)
        buffer.append(digit(version.minor))
        buffer.append(ASCII.sp)
        let code = (100...999).contains(status.code) ? status.code : 500
        buffer.append(digit(code / 100))
        buffer.append(digit(code / 10 % 10))
        buffer.append(digit(code % 10))
        buffer.append(ASCII.sp)
        appendSanitized(status.reason, into: &buffer)
        buffer.append(ASCII.cr)
        buffer.append(ASCII.lf)
    }

    /// Appends one field line `name: value\r\n` (see the type's doc for invalid names and values).
    public static func writeField(name: String, value: String, into buffer: inout [UInt8]) {
        // Checked and copied from the contiguous UTF-8 (a small string's on the stack): appending a
        // `String.UTF8View` goes through a generic per-element path. ~680 instructions a field
        // before, ~570 after (bench/proxy-instructions.sh: every field of a proxied request and answer).
        let written = name.utf8.withContiguousStorageIfAvailable { n -> Bool in
            guard !n.isEmpty, n.allSatisfy(ASCII.isTChar) else { return true }
            buffer.append(contentsOf: n)
            buffer.append(ASCII.colon)
            buffer.append(ASCII.sp)
            return false
        }
        switch written {
        case true?: return   // not a token: left out
        case false?: break
        case nil:
            guard !name.isEmpty, name.utf8.allSatisfy(ASCII.isTChar) else { return }
            buffer.append(contentsOf: name.utf8)
            buffer.append(ASCII.colon)
            buffer.append(ASCII.sp)
        }
        appendSanitized(value, into: &buffer)
        buffer.append(ASCII.cr)
        buffer.append(ASCII.lf)
    }

    /// Appends a chunk-size line for `length` bytes of data: lowercase hex and CRLF (`1a\r\n`).
    /// `length` must be positive: a zero-size chunk ends the body, use `writeLastChunk`.
    public static func writeChunkHeader(length: Int, into buffer: inout [UInt8]) {
        precondition(length > 0, "a zero-length chunk would end the body; use writeLastChunk")
        var shift = (Int.bitWidth - length.leadingZeroBitCount - 1) / 4 * 4
        while shift >= 0 {
            let nibble = (length >> shift) & 0xF
            buffer.append(nibble < 10 ? UInt8(0x30 + nibble) : UInt8(0x61 + nibble - 10))
            shift -= 4
        }
        buffer.append(ASCII.cr)
        buffer.append(ASCII.lf)
    }

    /// Appends the CRLF that closes a chunk's data.
    public static func writeChunkTrailer(into buffer: inout [UInt8]) {
        buffer.append(ASCII.cr)
        buffer.append(ASCII.lf)
    }

    /// Appends the last chunk and the empty trailer section: `0\r\n\r\n`.
    public static func writeLastChunk(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: [0x30, ASCII.cr, ASCII.lf, ASCII.cr, ASCII.lf])
    }

    /// Appends `text`, replacing CR, LF and NUL with SP. Clean text (the usual case) is one bulk copy.
    static func appendSanitized(_ text: String, into buffer: inout [UInt8]) {
        let utf8 = text.utf8
        let done = utf8.withContiguousStorageIfAvailable { p -> Bool in
            for b in p where b <= ASCII.cr && (b == ASCII.cr || b == ASCII.lf || b == 0) { return false }
            buffer.append(contentsOf: p)   // clean: one bulk copy from the contiguous bytes
            return true
        }
        if done == true { return }
        if done == nil && !utf8.contains(where: { $0 == ASCII.cr || $0 == ASCII.lf || $0 == 0 }) {
            buffer.append(contentsOf: utf8)
            return
        }
        for b in utf8 { buffer.append(b == ASCII.cr || b == ASCII.lf || b == 0 ? ASCII.sp : b) }
    }

    @inline(__always)
    static func digit(_ d: Int) -> UInt8 { UInt8(truncatingIfNeeded: 0x30 + (d % 10 + 10) % 10) }
}
