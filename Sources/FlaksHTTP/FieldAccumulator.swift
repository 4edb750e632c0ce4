/// Collects what the parser derives from header fields (Host, Content-Length, Transfer-Encoding,
/// Connection, Expect) while the head is parsed, then decides framing and persistence.
/// Shared by both parsers: the Content-Length, Transfer-Encoding and Connection rules are the same
/// for requests and responses (RFC 9112 §6, §9.3); Host and Expect are request fields and are
/// only looked at when `isRequest` (in a response they are ordinary fields).
struct FieldAccumulator {
    let version: HTTPVersion
    let isRequest: Bool
    var hostCount = 0
    var contentLength: Int?
    var transferEncodingSeen = false
    var chunkedCount = 0
    var lastCodingIsChunked = false
    var otherCoding = false
    var connectionClose = false
    var connectionKeepAlive = false
    /// `Connection: upgrade` and a non-empty `Upgrade` field (looked at in responses only, for a 101).
    var connectionUpgrade = false
    var upgradeSeen = false
    var expectContinue = false

    init(version: HTTPVersion, isRequest: Bool = true) { self.version = version; self.isRequest = isRequest }

    /// Looks at one field line; only names that matter for framing and persistence are examined.
    mutating func note(_ b: UnsafeRawBufferPointer, _ field: FieldLine) throws(HTTPParseError) {
        let name = field.name
        switch name.count {
        case 4 where isRequest && ASCII.equalsIgnoringCase(b, name, "host"):
            hostCount += 1
            try Self.checkHostValue(b, field.value)
        case 6 where isRequest && ASCII.equalsIgnoringCase(b, name, "expect"):
            try Self.forEachElement(b, field.value) { e throws(HTTPParseError) in
                if ASCII.equalsIgnoringCase(b, e, "100-continue") { expectContinue = true }
            }
        case 10 where ASCII.equalsIgnoringCase(b, name, "connection"):
            try Self.forEachElement(b, field.value) { e throws(HTTPParseError) in
                if ASCII.equalsIgnoringCase(b, e, "close") { connectionClose = true }
                if ASCII.equalsIgnoringCase(b, e, "keep-alive") { connectionKeepAlive = true }
                if ASCII.equalsIgnoringCase(b, e, "upgrade") { connectionUpgrade = true }
            }
        case 7 where !isRequest && ASCII.equalsIgnoringCase(b, name, "upgrade"):
            if !field.value.isEmpty { upgradeSeen = true }
        case 14 where ASCII.equalsIgnoringCase(b, name, "content-length"):
            try noteContentLength(b, field.value)
        case 17 where ASCII.equalsIgnoringCase(b, name, "transfer-encoding"):
            try noteTransferEncoding(b, field.value)
        default:
            break
        }
    }

    /// RFC 9110 §8.6: `Content-Length = 1*DIGIT`. A list or repeated fields are accepted only when
    /// every value is the same; differing values, empty members, signs or junk are 400 (RFC 9112 §6.3).
    mutating func noteContentLength(_ b: UnsafeRawBufferPointer, _ value: Range<Int>) throws(HTTPParseError) {
        var sawMember = false
        try Self.forEachElement(b, value, keepEmpty: true) { e throws(HTTPParseError) in
            guard !e.isEmpty else { throw .badRequest("empty Content-Length") }
            var n = 0
            for i in e {
                let d = b[i] &- 0x30
                guard d <= 9 else { throw .badRequest("invalid Content-Length") }
                let (m, o1) = n.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(d))
                guard !o1 && !o2 else { throw .badRequest("Content-Length overflow") }
                n = s
            }
            if let previous = contentLength, previous != n { throw .badRequest("conflicting Content-Length values") }
            contentLength = n
            sawMember = true
        }
        guard sawMember else { throw .badRequest("empty Content-Length") }
    }

    /// RFC 9112 §6.1: `Transfer-Encoding = #transfer-coding`, the list continuing across repeated fields.
    mutating func noteTransferEncoding(_ b: UnsafeRawBufferPointer, _ value: Range<Int>) throws(HTTPParseError) {
        transferEncodingSeen = true
        try Self.forEachElement(b, value) { e throws(HTTPParseError) in
            var i = e.lowerBound
            while i < e.upperBound && ASCII.isTChar(b[i]) { i += 1 }
            let token = e.lowerBound..<i
            while i < e.upperBound && ASCII.isWhitespace(b[i]) { i += 1 }
            let hasParameters = i < e.upperBound
            guard !token.isEmpty, !hasParameters || b[i] == ASCII.semicolon else {
                throw .badRequest("malformed transfer coding")
            }
            if ASCII.equalsIgnoringCase(b, token, "chunked") {
                // chunked takes no parameters (RFC 9112 §7).
                if hasParameters { throw .badRequest("parameters on chunked") }
                chunkedCount += 1
                lastCodingIsChunked = true
            } else {
                otherCoding = true
                lastCodingIsChunked = false
            }
        }
    }

    /// Body framing per RFC 9112 §6.3, rejecting every ambiguous combination.
    func framing(version: HTTPVersion, limits: ParseLimits) throws(HTTPParseError) -> BodyFraming {
        if transferEncodingSeen {
            // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
            if version == .http1_0 { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
            // RFC 9112 §6.1 / §11.2: both present is a smuggling vector; we reject instead of ignoring CL.
            if contentLength != nil { throw .badRequest("both Content-Length and Transfer-Encoding") }
            // RFC 9112 §6.3 item 4: chunked not last means the length cannot be determined: 400.
            guard lastCodingIsChunked else { throw .badRequest("Transfer-Encoding does not end in chunked") }
            // RFC 9112 §7: chunked must not be applied more than once.
            guard chunkedCount == 1 else { throw .badRequest("chunked applied more than once") }
            // RFC 9112 §6.1: a coding we do not understand (we decode none but chunked) gets 501.
            if otherCoding { throw .notImplemented("transfer coding other than chunked") }
            return .chunked
        }
        if let n = contentLength {
            if n > limits.maxBody { throw .bodyTooLarge }
            return .length(n)
        }
        return .none
    }

    /// RFC 9112 §3.2: an HTTP/1.1 request needs exactly one Host field, any request at most one.
    func checkHost(version: HTTPVersion) throws(HTTPParseError) {
        if hostCount > 1 { throw .badRequest("more than one Host field") }
        if hostCount == 0 && version == .http1_1 { throw .badRequest("missing Host field") }
    }

    /// RFC 9112 §9.3: 1.1 persists unless `close`; 1.0 only with `keep-alive`. `close` always wins.
    func keepAlive(version: HTTPVersion) -> Bool {
        if connectionClose { return false }
        return version == .http1_1 || connectionKeepAlive
    }

    /// Host = uri-host [ ":" port ] (RFC 9110 §7.2). Checked loosely: only characters that can appear
    /// in a reg-name, IP literal or port (RFC 3986 §3.2.2); an empty value is allowed.
    static func checkHostValue(_ b: UnsafeRawBufferPointer, _ value: Range<Int>) throws(HTTPParseError) {
        for i in value {
            switch b[i] {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: continue
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"),
                 UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
                 UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
                 UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"):
                continue
            default:
                throw .badRequest("invalid Host field value")
            }
        }
    }

    /// Calls `body` with each member of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed.
    /// Empty members are skipped unless `keepEmpty`.
    static func forEachElement(_ b: UnsafeRawBufferPointer, _ value: Range<Int>, keepEmpty: Bool = false,
                               _ body: (Range<Int>) throws(HTTPParseError) -> Void) throws(HTTPParseError) {
        var start = value.lowerBound
        while start <= value.upperBound {
            var end = start
            while end < value.upperBound && b[end] != ASCII.comma { end += 1 }
            var s = start, e = end
            while s < e && ASCII.isWhitespace(b[s]) { s += 1 }
            while e > s && ASCII.isWhitespace(b[e - 1]) { e -= 1 }
            if s < e || keepEmpty { try body(s..<e) }
            start = end + 1
        }
    }
}
