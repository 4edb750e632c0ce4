extension ResponseParser {
    /// Head state: find the end of the head (CRLF only, within `maxHead`), then parse it in one pass
    /// and decide what follows: another head (1xx), a tunnel (101), a body, or `.end`.
    mutating func parseHead(_ bytes: UnsafeRawBufferPointer) throws(ResponseParseError) -> ResponseParseResult {
        let found: Int?
        do {
            found = try scan.findEnd(bytes, limit: limits.maxHead)
        } catch {
            switch error {
            case .bareCR: throw .malformed("bare CR in response head")
            case .bareLF: throw .malformed("bare LF in response head")
            }
        }
        guard let headLength = found else {
            if bytes.count > limits.maxHead { throw .headTooLarge }
            pendingHeadBytes = bytes.count
            return ResponseParseResult(event: .needMoreBytes, consumed: 0)
        }
        scan = HeadScan()
        pendingHeadBytes = 0
        let head = try ResponseHeadParser.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<headLength]),
                                                limits: limits, requestMethod: requestMethod, upgradeRequested: upgradeRequested)
        let code = head.status.code
        if code == 101 {
            state = .tunnel
            return ResponseParseResult(event: .switchingProtocols(head), consumed: headLength)
        }
        if code < 200 {
            // RFC 9110 §15.2: interim; the final response for the same request follows. State stays .head.
            return ResponseParseResult(event: .interim(head), consumed: headLength)
        }
        switch head.framing {
        case .none, .length(0): state = .endPending
        case .length(let n): state = .fixedBody(remaining: n)
        case .chunked: state = .chunked(ChunkedDecoder(limits: limits.shared))
        case .untilClose: state = .untilClose(received: 0)
        }
        return ResponseParseResult(event: .head(head), consumed: headLength)
    }
}

/// Parses one complete response head (status line through the final empty line) into a
/// `ResponseHead`. The caller has checked the size limit and the line endings (CRLF only).
enum ResponseHeadParser {
    static func parse(_ head: UnsafeRawBufferPointer, limits: ResponseParseLimits, requestMethod: HTTPMethod,
                      upgradeRequested: Bool) throws(ResponseParseError) -> ResponseHead {
        let lineEnd = HeadParser.nextCR(head, from: 0)
        let line = try StatusLine(head, 0..<lineEnd)
        var fields = FieldAccumulator(version: line.version, isRequest: false)
        let headers: HeaderFields
        do {
            headers = try HeadParser.fieldLines(head, from: lineEnd + 2, maxCount: limits.maxHeaderCount, into: &fields)
        } catch {
            throw ResponseParseError(error)
        }
        if line.code == 101 {
            // RFC 9110 §7.8: a server "MUST NOT switch to a protocol that was not indicated by the
            // client in the corresponding request's Upgrade header field".
            guard upgradeRequested else { throw .malformed("101 Switching Protocols to a request without Upgrade") }
            // RFC 9110 §7.8: "A server that sends a 101 (Switching Protocols) response MUST send an
            // Upgrade header field", and "When Upgrade is sent, the sender MUST also send a Connection
            // header field that contains an "upgrade" connection option". Upgrade is an HTTP/1.1
            // mechanism: an HTTP/1.0 recipient ignores it (same section), so it never answers with 101.
            guard line.version == .http1_1 else { throw .malformed("101 Switching Protocols in HTTP/1.0") }
            guard fields.upgradeSeen else { throw .malformed("101 Switching Protocols without Upgrade") }
            guard fields.connectionUpgrade else { throw .malformed("101 Switching Protocols without Connection: upgrade") }
        }
        let framing = try Self.framing(status: line.code, version: line.version, requestMethod: requestMethod,
                                       fields: fields, limits: limits)
        // RFC 9112 §9.3 for persistence; a close-delimited body ends with the connection (§6.3 item 8),
        // and after a 101 the connection belongs to the new protocol.
        let keepAlive = line.code != 101 && framing != .untilClose && fields.keepAlive(version: line.version)
        return ResponseHead(
            version: line.version,
            status: HTTPStatus(line.code),
            reason: String(decoding: UnsafeRawBufferPointer(rebasing: head[line.reason]), as: UTF8.self),
            headers: headers,
            framing: framing,
            keepAlive: keepAlive)
    }

    /// Response body framing per RFC 9112 §6.3, after refusing every ambiguous combination of
    /// framing fields (whatever the status: the head is passed on, so it must be unambiguous).
    /// See `ResponseParser`'s strictness decisions for the why of each rule.
    static func framing(status: Int, version: HTTPVersion, requestMethod: HTTPMethod,
                        fields: FieldAccumulator, limits: ResponseParseLimits) throws(ResponseParseError) -> ResponseFraming {
        if fields.transferEncodingSeen {
            // RFC 9112 §6.1: "MUST treat the message as if the framing is faulty".
            if version == .http1_0 { throw .malformed("Transfer-Encoding in an HTTP/1.0 response") }
            // RFC 9112 §6.3 item 3: "ought to be handled as an error"; we never forward it.
            if fields.contentLength != nil { throw .malformed("both Content-Length and Transfer-Encoding") }
            // RFC 9112 §6.1: "A sender MUST NOT apply the chunked transfer coding more than once".
            if fields.chunkedCount > 1 { throw .malformed("chunked applied more than once") }
            // RFC 9112 §6.3 item 4 would read until close; we refuse (see the type's doc).
            guard fields.lastCodingIsChunked else { throw .unsupported("Transfer-Encoding does not end in chunked") }
            if fields.otherCoding { throw .unsupported("transfer coding other than chunked") }
        }
        // RFC 9112 §6.3 item 1: no body, "regardless of the header fields present in the message".
        if requestMethod == .HEAD || status < 200 || status == 204 || status == 304 { return .none }
        // Item 2: a 2xx to CONNECT is a tunnel. Flaks never sends CONNECT upstream.
        if requestMethod == .CONNECT && status < 300 { throw .unsupported("a tunnel after CONNECT") }
        // Item 4.
        if fields.transferEncodingSeen { return .chunked }
        // Item 6 (item 5, an invalid or conflicting Content-Length, was thrown while noting it).
        if let n = fields.contentLength {
            if n > limits.maxBody { throw .bodyTooLarge }
            return .length(n)
        }
        // Item 8.
        return .untilClose
    }
}

/// `status-line = HTTP-version SP status-code SP [ reason-phrase ]` (RFC 9112 §4), checked.
struct StatusLine {
    var version: HTTPVersion
    var code: Int
    var reason: Range<Int>

    init(_ b: UnsafeRawBufferPointer, _ line: Range<Int>) throws(ResponseParseError) {
        let s = line.lowerBound
        // "HTTP/1.1 200" is 12 bytes: the shortest line we accept.
        guard line.count >= 12, let (major, minor) = RequestLine.versionDigits(b, s..<(s + 8)), b[s + 8] == ASCII.sp else {
            throw .malformed("malformed status line")
        }
        guard major == 1, minor <= 1 else { throw .unsupported("version HTTP/\(major).\(minor)") }
        version = minor == 0 ? .http1_0 : .http1_1
        // status-code = 3DIGIT; the first digit is the class, 1 to 9 (RFC 9110 §15; 6xx-9xx are
        // out of the defined range but three digits, see ResponseHead.status).
        let d0 = b[s + 9] &- 0x30, d1 = b[s + 10] &- 0x30, d2 = b[s + 11] &- 0x30
        guard d0 >= 1 && d0 <= 9, d1 <= 9, d2 <= 9 else { throw .malformed("invalid status code") }
        code = Int(d0) * 100 + Int(d1) * 10 + Int(d2)
        if line.count == 12 {
            // No SP and no reason: accepted (see ResponseParser's strictness decisions).
            reason = line.upperBound..<line.upperBound
            return
        }
        guard b[s + 12] == ASCII.sp else { throw .malformed("invalid status code") }
        // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
        for i in (s + 13)..<line.upperBound where !ASCII.isFieldValueByte(b[i]) {
            throw .malformed("control character in reason phrase")
        }
        reason = (s + 13)..<line.upperBound
    }
}
