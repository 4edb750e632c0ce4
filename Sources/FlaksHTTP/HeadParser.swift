/// Parses one complete request head (request line through the final empty line) into a `RequestHead`;
/// its field-line loop is shared with the response head parser.
/// The caller has already checked the size limit and that every LF is preceded by CR and every CR
/// followed by LF, so lines are found by looking for CR alone.
enum HeadParser {
    static func parse(_ head: UnsafeRawBufferPointer, limits: ParseLimits) throws(HTTPParseError) -> RequestHead {
        let lineEnd = nextCR(head, from: 0)
        let line = try RequestLine(head, 0..<lineEnd)
        var fields = FieldAccumulator(version: line.version)
        let headerFields = try fieldLines(head, from: lineEnd + 2, maxCount: limits.maxHeaderCount, into: &fields)

        let framing = try fields.framing(version: line.version, limits: limits)
        try fields.checkHost(version: line.version)
        let hasContent = switch framing {
        case .none, .length(0): false
        default: true
        }
        return RequestHead(
            method: line.method,
            target: String(utf8Bytes: UnsafeRawBufferPointer(rebasing: head[line.target])),
            version: line.version,
            headers: headerFields,
            framing: framing,
            keepAlive: fields.keepAlive(version: line.version),
            expectContinue: fields.expectContinue && line.version == .http1_1 && hasContent)
    }

    /// Parses the field lines from `start` (the first byte after the start line) up to the empty
    /// line that ends the head, noting each in `fields`. More than `maxCount` lines: 431.
    /// Shared by the request and the response head parsers.
    static func fieldLines(_ head: UnsafeRawBufferPointer, from start: Int, maxCount: Int,
                           into fields: inout FieldAccumulator) throws(HTTPParseError) -> HeaderFields {
        var headerFields: [HeaderField] = []
        headerFields.reserveCapacity(16)
        var start = start
        while start < head.count && head[start] != ASCII.cr {  // up to the empty line
            guard headerFields.count < maxCount else { throw .headersTooLarge }
            // One pass over the line finds its end as it checks it (a CR search first, then the
            // checks, walked every field line twice: ~250 instructions a line, bench/proxy-instructions.sh).
            var end = start
            let field = try FieldLine(head, from: start, end: &end)
            try fields.note(head, field)
            headerFields.append(HeaderField(
                name: FieldNames.string(UnsafeRawBufferPointer(rebasing: head[field.name])),
                value: String(utf8Bytes: UnsafeRawBufferPointer(rebasing: head[field.value]))))
            start = end + 2
        }
        return HeaderFields(headerFields)
    }

    /// Index of the next CR at or after `from`. The head always ends in CRLFCRLF, so one exists.
    @inline(__always)
    static func nextCR(_ head: UnsafeRawBufferPointer, from: Int) -> Int {
        var i = from
        while i < head.count && head[i] != ASCII.cr { i += 1 }
        return i
    }
}

/// `method SP request-target SP HTTP-version` (RFC 9112 §3), syntax and semantics checked.
struct RequestLine {
    var method: HTTPMethod
    var target: Range<Int>
    var version: HTTPVersion

    init(_ b: UnsafeRawBufferPointer, _ line: Range<Int>) throws(HTTPParseError) {
        // method = token (RFC 9112 §3.1)
        var i = line.lowerBound
        while i < line.upperBound && ASCII.isTChar(b[i]) { i += 1 }
        let methodRange = line.lowerBound..<i
        guard !methodRange.isEmpty, i < line.upperBound, b[i] == ASCII.sp else {
            throw .badRequest("malformed method in request line")
        }
        // request-target: visible ASCII only (RFC 9112 §3.2; no controls, spaces or bytes >= 0x7F)
        i += 1
        let targetStart = i
        while i < line.upperBound && ASCII.isVisible(b[i]) { i += 1 }
        let targetRange = targetStart..<i
        guard !targetRange.isEmpty, i < line.upperBound, b[i] == ASCII.sp else {
            throw .badRequest("malformed request target")
        }
        i += 1
        version = try Self.version(b, i..<line.upperBound)
        guard let m = HTTPMethod(bytes: UnsafeRawBufferPointer(rebasing: b[methodRange])) else {
            throw .notImplemented("method " + String(decoding: UnsafeRawBufferPointer(rebasing: b[methodRange]), as: UTF8.self))
        }
        // We are an origin server, not a proxy: no tunnels (RFC 9110 §9.3.6), hence no authority-form.
        if m == .CONNECT { throw .notImplemented("method CONNECT") }
        method = m
        target = targetRange
        try Self.checkTargetForm(b, targetRange, method: m)
    }

    /// `HTTP-version = "HTTP" "/" DIGIT "." DIGIT` (RFC 9112 §2.3; "HTTP" is case-sensitive).
    static func version(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) throws(HTTPParseError) -> HTTPVersion {
        guard let (major, minor) = versionDigits(b, r) else { throw .badRequest("malformed HTTP version") }
        guard major == 1 else { throw .versionNotSupported }
        // RFC 9110 §2.5: a higher minor version is processed as the highest one we implement.
        return minor == 0 ? .http1_0 : .http1_1
    }

    /// The two digits of `HTTP-version = "HTTP" "/" DIGIT "." DIGIT` (RFC 9112 §2.3; "HTTP" is
    /// case-sensitive) spelled by exactly `b[r]`, or nil. Shared with the status line.
    static func versionDigits(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> (major: Int, minor: Int)? {
        guard r.count == 8,
              b[r.lowerBound] == 0x48, b[r.lowerBound + 1] == 0x54, b[r.lowerBound + 2] == 0x54,
              b[r.lowerBound + 3] == 0x50, b[r.lowerBound + 4] == ASCII.slash, b[r.lowerBound + 6] == 0x2E,
              b[r.lowerBound + 5] >= 0x30, b[r.lowerBound + 5] <= 0x39,
              b[r.lowerBound + 7] >= 0x30, b[r.lowerBound + 7] <= 0x39
        else { return nil }
        return (Int(b[r.lowerBound + 5] - 0x30), Int(b[r.lowerBound + 7] - 0x30))
    }

    /// RFC 9112 §3.2: origin-form (`/...`), absolute-form (`http(s)://authority...`), or `*` for OPTIONS.
    static func checkTargetForm(_ b: UnsafeRawBufferPointer, _ t: Range<Int>, method: HTTPMethod) throws(HTTPParseError) {
        let first = b[t.lowerBound]
        if first == ASCII.slash { return }
        if first == ASCII.star {
            guard t.count == 1, method == .OPTIONS else { throw .badRequest("asterisk-form is only for OPTIONS") }
            return
        }
        // absolute-form: RFC 9112 §3.2.2 (a server MUST accept it). Only the http and https schemes,
        // with a non-empty authority (RFC 9110 §4.2.1).
        var i = t.lowerBound
        while i < t.upperBound && b[i] != ASCII.colon { i += 1 }
        let scheme = t.lowerBound..<i
        guard ASCII.equalsIgnoringCase(b, scheme, "http") || ASCII.equalsIgnoringCase(b, scheme, "https"),
              t.upperBound - i > 3, b[i + 1] == ASCII.slash, b[i + 2] == ASCII.slash,
              b[i + 3] != ASCII.slash, b[i + 3] != 0x3F, b[i + 3] != 0x23
        else { throw .badRequest("request target is not origin-form, absolute-form or *") }
    }
}

/// One `field-name ":" OWS field-value OWS` line (RFC 9112 §5), with the value's OWS trimmed.
struct FieldLine {
    var name: Range<Int>
    var value: Range<Int>

    /// The field line that starts at `start` and ends at the next CR, which it finds as it checks
    /// the line (`end`): the same checks and errors as `init(_:_:)` over `start..<end`, in one pass.
    /// The head holds a CR after every line (the caller checked CR/LF pairing).
    init(_ b: UnsafeRawBufferPointer, from start: Int, end lineEnd: inout Int) throws(HTTPParseError) {
        let n = b.count
        var i = start
        // RFC 9112 §5.2: obs-fold is rejected with 400 in requests.
        if i < n && ASCII.isWhitespace(b[i]) { throw .badRequest("obsolete line folding") }
        while i < n && ASCII.isTChar(b[i]) { i += 1 }
        name = start..<i
        guard i < n, b[i] != ASCII.cr else { throw .badRequest("field line without colon") }
        guard b[i] == ASCII.colon else {
            // RFC 9112 §5.1: no whitespace between field name and colon; MUST reject with 400.
            if ASCII.isWhitespace(b[i]) { throw .badRequest("whitespace between field name and colon") }
            throw .badRequest("invalid character in field name")
        }
        if name.isEmpty { throw .badRequest("empty field name") }
        i += 1
        while i < n && ASCII.isWhitespace(b[i]) { i += 1 }
        let valueStart = i
        var valueEnd = i  // after the last byte that is not whitespace
        while i < n {
            let c = b[i]
            if ASCII.isFieldValueByte(c) {
                i += 1
                if !ASCII.isWhitespace(c) { valueEnd = i }
                continue
            }
            if c == ASCII.cr { break }
            // RFC 9110 §5.5: NUL, CR, LF and other controls are not allowed in a value; we reject them.
            throw .badRequest("control character in field value")
        }
        value = valueStart..<valueEnd
        lineEnd = i
    }

    init(_ b: UnsafeRawBufferPointer, _ line: Range<Int>) throws(HTTPParseError) {
        var i = line.lowerBound
        // RFC 9112 §5.2: obs-fold is rejected with 400 in requests.
        if ASCII.isWhitespace(b[i]) { throw .badRequest("obsolete line folding") }
        while i < line.upperBound && ASCII.isTChar(b[i]) { i += 1 }
        name = line.lowerBound..<i
        guard i < line.upperBound else { throw .badRequest("field line without colon") }
        guard b[i] == ASCII.colon else {
            // RFC 9112 §5.1: no whitespace between field name and colon; MUST reject with 400.
            if ASCII.isWhitespace(b[i]) { throw .badRequest("whitespace between field name and colon") }
            throw .badRequest("invalid character in field name")
        }
        if name.isEmpty { throw .badRequest("empty field name") }
        i += 1
        while i < line.upperBound && ASCII.isWhitespace(b[i]) { i += 1 }
        var end = line.upperBound
        while end > i && ASCII.isWhitespace(b[end - 1]) { end -= 1 }
        // RFC 9110 §5.5: NUL, CR, LF and other controls are not allowed in a value; we reject them.
        for j in i..<end where !ASCII.isFieldValueByte(b[j]) {
            throw .badRequest("control character in field value")
        }
        value = i..<end
    }
}
