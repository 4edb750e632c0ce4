/// How far the search for the end of the current head got, so bytes that arrive one at a time are
/// checked once (no quadratic rescans). Offsets are relative to the head's first byte.
struct HeadScan: Sendable {
    /// Bytes already checked for bare CR / bare LF and the empty line.
    var scanned = 0
    /// Offset of the first byte of the line being scanned.
    var lineStart = 0
    /// Length of the request line including its CRLF, once its LF has been seen; else 0.
    var requestLineLength = 0
}

extension RequestParser {
    /// Head state: skip leading empty lines, find the end of the head, enforce the size limits,
    /// then parse the complete head in one pass.
    mutating func parseHead(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseResult {
        let n = bytes.count
        var start = 0
        if scan.scanned == 0 {
            // RFC 9112 §2.2: a server SHOULD ignore at least one empty line received before the request-line.
            while n - start >= 2 && bytes[start] == ASCII.cr && bytes[start + 1] == ASCII.lf { start += 2 }
            if n - start == 1 && bytes[start] == ASCII.cr {
                return ParseResult(event: .needMoreBytes, consumed: start)
            }
        }
        let head = UnsafeRawBufferPointer(rebasing: bytes[start...])
        guard let headLength = try findHeadEnd(head) else {
            if head.count > limits.maxBuffer { throw limitError() }
            return ParseResult(event: .needMoreBytes, consumed: start)
        }
        scan = HeadScan()
        let parsed = try HeadParser.parse(UnsafeRawBufferPointer(rebasing: head[0..<headLength]), limits: limits)
        switch parsed.framing {
        case .none, .length(0): state = .endPending
        case .length(let n): state = .fixedBody(remaining: n)
        case .chunked: state = .chunked(ChunkedDecoder(limits: limits))
        }
        return ParseResult(event: .head(parsed), consumed: start + headLength)
    }

    /// Continues the scan of `head` (which starts at the head's first byte) and returns the length of
    /// the head through its final CRLF, or nil if it is not complete within the first `maxBuffer` bytes.
    /// Throws on a bare LF or a bare CR (RFC 9112 §2.2: we accept CRLF only; see the type's doc).
    /// Only the first `maxBuffer` bytes are ever looked at, so the outcome does not depend on how the
    /// input was split.
    mutating func findHeadEnd(_ head: UnsafeRawBufferPointer) throws(HTTPParseError) -> Int? {
        let end = min(head.count, limits.maxBuffer)
        var i = scan.scanned
        var lineStart = scan.lineStart
        defer { scan.scanned = i; scan.lineStart = lineStart }
        while i < end {
            let b = head[i]
            // Most bytes are above CR: one comparison each.
            if b > ASCII.cr { i += 1; continue }
            if b == ASCII.cr {
                // A CR must be followed by LF; wait here (the scan resumes at the CR) for the next byte.
                guard i + 1 < end else { break }
                guard head[i + 1] == ASCII.lf else { throw .badRequest("bare CR in request head") }
                if scan.requestLineLength == 0 { scan.requestLineLength = i + 2 }
                if i == lineStart { i += 2; return i }  // the empty line: end of head
                i += 2
                lineStart = i
                continue
            }
            // Every LF after a CR was taken with it above.
            if b == ASCII.lf { throw .badRequest("bare LF in request head") }
            i += 1
        }
        return nil
    }

    /// The error for a head over `maxBuffer`: 414 if the request line itself did not end in time.
    func limitError() -> HTTPParseError {
        scan.requestLineLength == 0 ? .uriTooLong : .headersTooLarge
    }
}
