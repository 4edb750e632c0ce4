/// Encodes the records a web server sends (spec §5): BEGIN_REQUEST, the PARAMS stream, the
/// STDIN stream, ABORT_REQUEST. Pure: appends bytes to the caller's buffer.
///
/// Every record is padded so that content + padding is a multiple of 8 (spec §3.3 recommends
/// it; nginx and php-fpm do it). Padding bytes are zero.
///
/// Stream records (spec §3.3): a stream is one or more non-empty records of its type, closed by
/// an empty one. PARAMS records hold whole name-value pairs and at most
/// `FastCGI.maxParamsContentLength` (65528) bytes, because php-fpm parses each PARAMS record on
/// its own and rejects content + padding over 65535. STDIN records hold up to 65535 bytes
/// (`FastCGI.maxContentLength`); php-fpm reads STDIN as a byte stream.
public enum FastCGIEncoder {
    /// Appends one record with `content` (at most 65535 bytes) and its padding.
    public static func appendRecord(_ type: FastCGI.RecordType, requestID: UInt16,
                                    content: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        precondition(content.count <= FastCGI.maxContentLength, "FastCGI record content over 65535 bytes")
        let padding = FastCGI.padding(forContentLength: content.count)
        FastCGIRecordHeader(type: type.rawValue, requestID: requestID,
                            contentLength: content.count, paddingLength: padding).append(to: &out)
        out.append(contentsOf: content)
        appendZeros(padding, to: &out)
    }

    /// Appends an empty record of `type`: the end of a PARAMS or STDIN stream, or ABORT_REQUEST.
    public static func appendEmptyRecord(_ type: FastCGI.RecordType, requestID: UInt16, to out: inout [UInt8]) {
        FastCGIRecordHeader(type: type.rawValue, requestID: requestID, contentLength: 0, paddingLength: 0).append(to: &out)
    }

    /// Appends BEGIN_REQUEST (spec §5.1): role, then flags (FCGI_KEEP_CONN when `keepConnection`),
    /// then 5 reserved bytes. 16 bytes in all, no padding needed.
    public static func appendBeginRequest(requestID: UInt16, role: FastCGI.Role = .responder,
                                          keepConnection: Bool, to out: inout [UInt8]) {
        FastCGIRecordHeader(type: FastCGI.RecordType.beginRequest.rawValue, requestID: requestID,
                            contentLength: 8, paddingLength: 0).append(to: &out)
        out.append(UInt8(truncatingIfNeeded: role.rawValue >> 8))
        out.append(UInt8(truncatingIfNeeded: role.rawValue))
        out.append(keepConnection ? FastCGI.keepConnectionFlag : 0)
        appendZeros(5, to: &out)
    }

    /// Appends the whole PARAMS stream (spec §5.2): the pairs packed greedily into records of at
    /// most 65528 content bytes, never splitting a pair, then the empty PARAMS record.
    /// Throws when a single pair does not fit in one record; nothing is appended then.
    public static func appendParams(_ params: [FastCGIParam], requestID: UInt16,
                                    to out: inout [UInt8]) throws(FastCGIEncodingError) {
        // First pass: check every pair and find where records end, so each header can be
        // written before its content without moving bytes.
        var recordEnds: [Int] = []        // index one past the last pair of each record
        var recordLengths: [Int] = []
        var current = 0
        var total = 0
        for (i, param) in params.enumerated() {
            let n = param.encodedLength
            guard n <= FastCGI.maxParamsContentLength else {
                throw .paramTooLong(name: String(decoding: param.name, as: UTF8.self), encodedLength: n)
            }
            if current + n > FastCGI.maxParamsContentLength {
                recordEnds.append(i)
                recordLengths.append(current)
                current = 0
            }
            current += n
            total += n
        }
        if current > 0 {
            recordEnds.append(params.count)
            recordLengths.append(current)
        }
        out.reserveCapacity(out.count + total + (recordEnds.count + 1) * (FastCGI.headerLength + 7))
        var start = 0
        for (end, length) in zip(recordEnds, recordLengths) {
            let padding = FastCGI.padding(forContentLength: length)
            FastCGIRecordHeader(type: FastCGI.RecordType.params.rawValue, requestID: requestID,
                                contentLength: length, paddingLength: padding).append(to: &out)
            for param in params[start..<end] { param.append(to: &out) }
            appendZeros(padding, to: &out)
            start = end
        }
        appendEmptyRecord(.params, requestID: requestID, to: &out)
    }

    /// `appendParams` for (name, value) pairs, as `CGIEnvironment.unsortedParams` makes them: the
    /// same records byte for byte as `appendParams(FastCGIParam.list(pairs))`, written in one pass
    /// straight from the strings' UTF-8 (no "NAME=value" string per pair to build and split again,
    /// no array per name and value: ~25,000 instructions less per PHP request, docs/fastcgi.md).
    /// A pair with an empty name is skipped. On a throw, `out` is left as it was.
    public static func appendParams(pairs: [FastCGIPair], requestID: UInt16,
                                    to out: inout [UInt8]) throws(FastCGIEncodingError) {
        // First pass: check every pair and size the records exactly (a record closes when the
        // next pair would not fit), so the bytes are written in place with no growth and no
        // per-piece append (~7,000 instructions less for a PHP request's ~20 pairs).
        var size = 0, length = 0, open = false
        for pair in pairs {
            let nameLength = pair.name.utf8.count, valueLength = pair.value.utf8.count
            guard nameLength > 0 else { continue }
            let n = FastCGIParam.lengthFieldSize(nameLength) + FastCGIParam.lengthFieldSize(valueLength) + nameLength + valueLength
            guard n <= FastCGI.maxParamsContentLength else { throw .paramTooLong(name: pair.name, encodedLength: n) }
            if open && length + n > FastCGI.maxParamsContentLength {
                size += FastCGI.headerLength + length + FastCGI.padding(forContentLength: length)
                open = false
            }
            if !open { open = true; length = 0 }
            length += n
        }
        if open { size += FastCGI.headerLength + length + FastCGI.padding(forContentLength: length) }
        let base = out.count
        out.append(contentsOf: repeatElement(0, count: size))
        out.withUnsafeMutableBufferPointer { buffer in
            guard let p = buffer.baseAddress else { return }
            let written = writeParams(pairs, requestID: requestID, into: p + base)
            assert(written == size)
        }
        appendEmptyRecord(.params, requestID: requestID, to: &out)
    }

    /// Writes the PARAMS records of `pairs` at `p` (zeroed, sized by `appendParams(pairs:)`'s first
    /// pass); returns the bytes written. No closures capture the cursor: a captured one is checked
    /// for exclusive access at run time on every write (~150 instructions a piece).
    private static func writeParams(_ pairs: [FastCGIPair], requestID: UInt16,
                                    into p: UnsafeMutablePointer<UInt8>) -> Int {
        var at = 0, headerAt = -1, length = 0
        for pair in pairs {
            let nameLength = pair.name.utf8.count, valueLength = pair.value.utf8.count
            guard nameLength > 0 else { continue }
            let n = FastCGIParam.lengthFieldSize(nameLength) + FastCGIParam.lengthFieldSize(valueLength) + nameLength + valueLength
            if headerAt >= 0 && length + n > FastCGI.maxParamsContentLength {
                at += closeParamsRecord(p + headerAt, length: length, requestID: requestID)
                headerAt = -1
            }
            if headerAt < 0 {
                headerAt = at
                at += FastCGI.headerLength
                length = 0
            }
            at += writeLength(nameLength, p + at)
            at += writeLength(valueLength, p + at)
            at += copyUTF8(pair.name, p + at)
            at += copyUTF8(pair.value, p + at)
            length += n
        }
        if headerAt >= 0 { at += closeParamsRecord(p + headerAt, length: length, requestID: requestID) }
        return at
    }

    /// Fills in a PARAMS record header for `length` content bytes; returns its padding (zeros already there).
    private static func closeParamsRecord(_ h: UnsafeMutablePointer<UInt8>, length: Int, requestID: UInt16) -> Int {
        let padding = FastCGI.padding(forContentLength: length)
        h[0] = FastCGI.version
        h[1] = FastCGI.RecordType.params.rawValue
        h[2] = UInt8(truncatingIfNeeded: requestID >> 8)
        h[3] = UInt8(truncatingIfNeeded: requestID)
        h[4] = UInt8(truncatingIfNeeded: length >> 8)
        h[5] = UInt8(truncatingIfNeeded: length)
        h[6] = UInt8(truncatingIfNeeded: padding)
        return padding
    }

    /// A name-value length (spec §3.4) at `p`; returns its size.
    private static func writeLength(_ n: Int, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        if n < 128 {
            p[0] = UInt8(n)
            return 1
        }
        p[0] = UInt8(truncatingIfNeeded: n >> 24) | 0x80
        p[1] = UInt8(truncatingIfNeeded: n >> 16)
        p[2] = UInt8(truncatingIfNeeded: n >> 8)
        p[3] = UInt8(truncatingIfNeeded: n)
        return 4
    }

    /// The UTF-8 of `s` at `p`; returns its length.
    private static func copyUTF8(_ s: String, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        var s = s
        return s.withUTF8 { u in
            if let b = u.baseAddress { p.update(from: b, count: u.count) }
            return u.count
        }
    }

    /// Appends `bytes` as STDIN records of at most 65535 content bytes each (spec §5.3).
    /// Appends nothing for an empty slice: an empty STDIN record would end the stream; that is
    /// `appendStdinEnd`.
    public static func appendStdin(_ bytes: UnsafeRawBufferPointer, requestID: UInt16, to out: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        let records = (bytes.count + FastCGI.maxContentLength - 1) / FastCGI.maxContentLength
        out.reserveCapacity(out.count + bytes.count + records * (FastCGI.headerLength + 7))
        var offset = 0
        while offset < bytes.count {
            let n = min(FastCGI.maxContentLength, bytes.count - offset)
            appendRecord(.stdin, requestID: requestID,
                         content: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]), to: &out)
            offset += n
        }
    }

    /// Appends the empty STDIN record that ends the request body (spec §5.3). Sent also for a
    /// request without body.
    public static func appendStdinEnd(requestID: UInt16, to out: inout [UInt8]) {
        appendEmptyRecord(.stdin, requestID: requestID, to: &out)
    }

    /// Appends ABORT_REQUEST (spec §5.4): the client went away. The responder answers with
    /// END_REQUEST; Flaks closes such a connection instead of waiting (config-schema: a
    /// connection whose client went away is never returned to the pool).
    public static func appendAbortRequest(requestID: UInt16, to out: inout [UInt8]) {
        appendEmptyRecord(.abortRequest, requestID: requestID, to: &out)
    }

    /// The whole request head in one contiguous array, so the executor does one write:
    /// BEGIN_REQUEST, the PARAMS stream and its end, and, when `body` is given (a body already
    /// read whole, possibly empty), the STDIN records and the STDIN end as well. With `body` nil
    /// the body is streamed afterwards with `appendStdin` and `appendStdinEnd`.
    public static func requestHead(requestID: UInt16, params: [FastCGIParam], keepConnection: Bool,
                                   body: [UInt8]?) throws(FastCGIEncodingError) -> [UInt8] {
        var out: [UInt8] = []
        appendBeginRequest(requestID: requestID, keepConnection: keepConnection, to: &out)
        try appendParams(params, requestID: requestID, to: &out)
        if let body {
            body.withUnsafeBytes { appendStdin($0, requestID: requestID, to: &out) }
            appendStdinEnd(requestID: requestID, to: &out)
        }
        return out
    }

    /// `requestHead` with the params as (name, value) pairs (see `appendParams(pairs:)`).
    public static func requestHead(requestID: UInt16, pairs: [FastCGIPair], keepConnection: Bool,
                                   body: [UInt8]?) throws(FastCGIEncodingError) -> [UInt8] {
        var out: [UInt8] = []
        var estimate = FastCGI.headerLength * 4 + 16
        for p in pairs { estimate += p.name.utf8.count + p.value.utf8.count + 8 }
        if let body { estimate += body.count + (body.count / FastCGI.maxContentLength + 1) * 16 }
        out.reserveCapacity(estimate)
        appendBeginRequest(requestID: requestID, keepConnection: keepConnection, to: &out)
        try appendParams(pairs: pairs, requestID: requestID, to: &out)
        if let body {
            body.withUnsafeBytes { appendStdin($0, requestID: requestID, to: &out) }
            appendStdinEnd(requestID: requestID, to: &out)
        }
        return out
    }

    static func appendZeros(_ n: Int, to out: inout [UInt8]) {
        for _ in 0..<n { out.append(0) }
    }
}
