/// Where a `ChunkedDecoder` puts the bytes of the trailer section's field lines.
/// A type parameter rather than a stored optional, so the request side stays a plain value (no
/// reference counting on the request path) while the response side keeps its trailers.
protocol TrailerSink: Sendable {
    init()
    /// One byte of a trailer field line (name, colon, value, CR, LF), in order.
    mutating func append(_ b: UInt8)
}

/// Trailer fields are checked and dropped (requests: RFC 9112 §7.1.2 lets a recipient discard them).
struct DiscardedTrailers: TrailerSink {
    init() {}
    @inline(__always) mutating func append(_ b: UInt8) {}
}

/// Trailer fields are kept (responses, so a proxy can pass them on), at most `maxBuffer` bytes.
struct KeptTrailers: TrailerSink {
    var lines: [UInt8] = []
    init() {}
    mutating func append(_ b: UInt8) { lines.append(b) }

    /// The kept trailer fields, in order, with the value's OWS trimmed like a header field's.
    /// Every line was checked byte by byte while it was decoded (token name, colon, value bytes).
    func fields() throws(HTTPParseError) -> [HeaderField] {
        guard !lines.isEmpty else { return [] }
        // withUnsafeBytes is not typed-throws: carry the error out in a Result.
        let result = lines.withUnsafeBytes { b in
            Result { () throws(HTTPParseError) -> [HeaderField] in
                var fields: [HeaderField] = []
                var start = 0
                while start < b.count {
                    let end = HeadParser.nextCR(b, from: start)
                    let field = try FieldLine(b, start..<end)
                    fields.append(HeaderField(
                        name: String(decoding: UnsafeRawBufferPointer(rebasing: b[field.name]), as: UTF8.self),
                        value: String(decoding: UnsafeRawBufferPointer(rebasing: b[field.value]), as: UTF8.self)))
                    start = end + 2
                }
                return fields
            }
        }
        return try result.get()
    }
}

/// Decodes a chunked body (RFC 9112 §7.1) one small state at a time, consuming framing bytes as it
/// goes and returning data as ranges of the caller's buffer. Trailer fields are checked like header
/// fields, then handed to `Trailers`: discarded by `RequestParser` (RFC 9112 §7.1.2: a recipient may
/// discard them), kept by `ResponseParser`.
struct ChunkedDecoder<Trailers: TrailerSink>: Sendable {
    /// Position inside the chunked grammar. The `ext*` states follow
    /// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`.
    enum State: Sendable {
        /// In `chunk-size = 1*HEXDIG`, with this many digits read so far.
        case size(digits: Int)
        /// After a quoted extension value: BWS, `;` or CR.
        case extAfterValue
        /// Whitespace after the size or an extension: only more BWS or `;` may follow
        /// (BWS is allowed only before `;` or `=`, not before CRLF).
        case extBeforeSemicolon
        /// After `;`: BWS, then an extension name.
        case extBeforeName
        case extName
        /// After an extension name: BWS, `=`, `;` or CR.
        case extAfterName
        /// After `=`: BWS, then a token or quoted-string.
        case extBeforeValue
        case extToken
        case extQuoted
        case extQuotedPair
        /// CR of the chunk-size line seen; LF must follow.
        case sizeLF
        /// Chunk data with this many bytes still to come (> 0).
        case data(remaining: Int)
        /// After chunk data: CR, then LF.
        case dataCR
        case dataLF
        /// Trailer section (RFC 9112 §7.1.2): at the start of a line (a CR here starts the final CRLF).
        case trailerLineStart
        case trailerName
        case trailerValue
        case trailerLF
        /// CR of the final empty line seen; LF ends the body.
        case finalLF
    }

    let limits: ParseLimits
    var state: State = .size(digits: 0)
    /// The size of the chunk being read.
    var chunkSize = 0
    /// Sum of all chunk sizes declared so far (checked against `maxBody`).
    var declared = 0
    /// Bytes of chunk extensions seen in this body (checked against `maxBuffer`).
    var extensionBytes = 0
    /// Bytes and field lines of the trailer section (checked against `maxBuffer` / `maxHeaderCount`).
    var trailerBytes = 0
    var trailerCount = 0
    /// The trailer section's field lines, if kept.
    var trailers = Trailers()

    init(limits: ParseLimits) { self.limits = limits }

    /// Consumes framing and returns the next `.body` range, `.end` after the final CRLF, or
    /// `.needMoreBytes` having consumed everything given.
    mutating func decode(_ p: UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseResult {
        let n = p.count
        var i = 0
        while i < n {
            if case .data(let remaining) = state {
                let k = min(remaining, n - i)
                state = k == remaining ? .dataCR : .data(remaining: remaining - k)
                return ParseResult(event: .body(i..<(i + k)), consumed: i + k)
            }
            let b = p[i]
            i += 1
            if try step(b) { return ParseResult(event: .end, consumed: i) }
        }
        return ParseResult(event: .needMoreBytes, consumed: n)
    }

    /// Advances the state by one framing byte. Returns true when the body is complete.
    mutating func step(_ b: UInt8) throws(HTTPParseError) -> Bool {
        switch state {
        case .size(let digits):
            if let v = ASCII.hexValue(b) {
                // 16 hex digits cover any Int; more (even leading zeros) is not a real client.
                guard digits < 16 else { throw .badRequest("chunk size too long") }
                let (m, o1) = chunkSize.multipliedReportingOverflow(by: 16)
                let (s, o2) = m.addingReportingOverflow(v)
                guard !o1 && !o2 else { throw .badRequest("chunk size overflow") }
                chunkSize = s
                state = .size(digits: digits + 1)
                return false
            }
            // No sign, no "0x", no empty size: anything but a hex digit before the first one is junk.
            guard digits > 0 else { throw .badRequest("invalid chunk size") }
            // The size is complete: enforce maxBody as soon as it is known.
            guard chunkSize <= limits.maxBody - declared else { throw .bodyTooLarge }
            declared += chunkSize
            return try afterSizeOrExtension(b)
        case .extAfterValue:
            try countExtension(b)
            return try afterSizeOrExtension(b)
        case .extBeforeSemicolon:
            try countExtension(b)
            if ASCII.isWhitespace(b) { return false }
            guard b == ASCII.semicolon else { throw .badRequest("whitespace before end of chunk size line") }
            state = .extBeforeName
        case .extBeforeName:
            try countExtension(b)
            if ASCII.isWhitespace(b) { return false }
            guard ASCII.isTChar(b) else { throw .badRequest("invalid chunk extension name") }
            state = .extName
        case .extName:
            try countExtension(b)
            if ASCII.isTChar(b) { return false }
            if ASCII.isWhitespace(b) { state = .extAfterName; return false }
            if b == ASCII.equals { state = .extBeforeValue; return false }
            return try afterSizeOrExtension(b)
        case .extAfterName:
            try countExtension(b)
            if ASCII.isWhitespace(b) { return false }
            if b == ASCII.equals { state = .extBeforeValue; return false }
            guard b == ASCII.semicolon else { throw .badRequest("invalid character after chunk extension name") }
            state = .extBeforeName
        case .extBeforeValue:
            try countExtension(b)
            if ASCII.isWhitespace(b) { return false }
            if b == ASCII.dquote { state = .extQuoted; return false }
            guard ASCII.isTChar(b) else { throw .badRequest("invalid chunk extension value") }
            state = .extToken
        case .extToken:
            try countExtension(b)
            if ASCII.isTChar(b) { return false }
            return try afterSizeOrExtension(b)
        case .extQuoted:
            try countExtension(b)
            if b == ASCII.dquote { state = .extAfterValue; return false }
            if b == ASCII.backslash { state = .extQuotedPair; return false }
            guard ASCII.isQDText(b) else { throw .badRequest("invalid character in quoted chunk extension") }
        case .extQuotedPair:
            try countExtension(b)
            // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) (RFC 9110 §5.6.4)
            guard b == ASCII.htab || (b >= 0x20 && b != 0x7F) else { throw .badRequest("invalid quoted-pair") }
            state = .extQuoted
        case .sizeLF:
            guard b == ASCII.lf else { throw .badRequest("bare CR in chunk size line") }
            if chunkSize == 0 {
                state = .trailerLineStart
            } else {
                state = .data(remaining: chunkSize)
                chunkSize = 0
            }
        case .data:
            preconditionFailure("data is handled by decode")  // programmer error, not input
        case .dataCR:
            guard b == ASCII.cr else { throw .badRequest("missing CRLF after chunk data") }
            state = .dataLF
        case .dataLF:
            guard b == ASCII.lf else { throw .badRequest("missing CRLF after chunk data") }
            state = .size(digits: 0)
        case .trailerLineStart:
            try countTrailer()
            if b == ASCII.cr { state = .finalLF; return false }
            // RFC 9112 §5.2: obs-fold is rejected, in trailers as in headers.
            if ASCII.isWhitespace(b) { throw .badRequest("obsolete line folding in trailer") }
            if b == ASCII.colon { throw .badRequest("empty trailer field name") }
            guard ASCII.isTChar(b) else { throw .badRequest("invalid character in trailer field name") }
            trailerCount += 1
            guard trailerCount <= limits.maxHeaderCount else { throw .headersTooLarge }
            trailers.append(b)
            state = .trailerName
        case .trailerName:
            try countTrailer()
            trailers.append(b)
            if ASCII.isTChar(b) { return false }
            if b == ASCII.colon { state = .trailerValue; return false }
            if ASCII.isWhitespace(b) { throw .badRequest("whitespace between trailer field name and colon") }
            throw .badRequest("invalid character in trailer field name")
        case .trailerValue:
            try countTrailer()
            trailers.append(b)
            if b == ASCII.cr { state = .trailerLF; return false }
            guard ASCII.isFieldValueByte(b) else { throw .badRequest("control character in trailer field value") }
        case .trailerLF:
            try countTrailer()
            guard b == ASCII.lf else { throw .badRequest("bare CR in trailer") }
            trailers.append(b)
            state = .trailerLineStart
        case .finalLF:
            try countTrailer()
            guard b == ASCII.lf else { throw .badRequest("bare CR after trailer section") }
            return true
        }
        return false
    }

    /// What may follow a chunk size or a complete extension: BWS, `;` (another extension) or CR.
    mutating func afterSizeOrExtension(_ b: UInt8) throws(HTTPParseError) -> Bool {
        if ASCII.isWhitespace(b) { state = .extBeforeSemicolon; return false }
        if b == ASCII.semicolon { state = .extBeforeName; try countExtension(b); return false }
        if b == ASCII.cr { state = .sizeLF; return false }
        throw .badRequest("invalid character in chunk size line")
    }

    /// Chunk extensions are bounded per body: over `maxBuffer` bytes in total (everything after each
    /// chunk size up to, not including, the CR) is a 400.
    mutating func countExtension(_ b: UInt8) throws(HTTPParseError) {
        if b == ASCII.cr { return }
        extensionBytes += 1
        guard extensionBytes <= limits.maxBuffer else { throw .badRequest("chunk extensions too long") }
    }

    /// The trailer section is bounded like a head: over `maxBuffer` bytes is a 431.
    mutating func countTrailer() throws(HTTPParseError) {
        trailerBytes += 1
        guard trailerBytes <= limits.maxBuffer else { throw .headersTooLarge }
    }
}
