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
    mutating func findHeadEnd(_ head: UnsafeRawBufferPointer) throws(HTTPParseError) -> Int? {
        do {
            return try scan.findEnd(head, limit: limits.maxBuffer)
        } catch {
            switch error {
            case .bareCR: throw .badRequest("bare CR in request head")
            case .bareLF: throw .badRequest("bare LF in request head")
            }
        }
    }

    /// The error for a head over `maxBuffer`: 414 if the request line itself did not end in time.
    func limitError() -> HTTPParseError {
        scan.startLineLength == 0 ? .uriTooLong : .headersTooLarge
    }

    /// Forgets how far the current head was scanned (its bytes were consumed by someone else:
    /// `ConnectionStateMachine.beginPrepared`).
    mutating func forgetHeadScan() {
        scan = HeadScan()
    }
}
