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
        var writer = FastCGIParamsWriter(requestID: requestID)
        for pair in pairs { writer.add(pair.name, pair.value) }
        out.append(contentsOf: try writer.records())
        appendEmptyRecord(.params, requestID: requestID, to: &out)
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
        var writer = FastCGIParamsWriter(requestID: requestID)
        for pair in pairs { writer.add(pair.name, pair.value) }
        return try requestHead(params: writer, keepConnection: keepConnection, body: body)
    }

    /// `requestHead` with the PARAMS records already written (`FastCGIParamsWriter`, of the same
    /// request ID): BEGIN_REQUEST, the records, the PARAMS end, and the body as in `requestHead`.
    public static func requestHead(params: FastCGIParamsWriter, keepConnection: Bool,
                                   body: [UInt8]?) throws(FastCGIEncodingError) -> [UInt8] {
        var params = params
        let requestID = params.requestID
        return try params.withRecords { records in
            var out: [UInt8] = []
            var estimate = FastCGI.headerLength * 4 + 16 + records.count
            if let body { estimate += body.count + (body.count / FastCGI.maxContentLength + 1) * 16 }
            out.reserveCapacity(estimate)
            appendBeginRequest(requestID: requestID, keepConnection: keepConnection, to: &out)
            out.append(contentsOf: records)
            appendEmptyRecord(.params, requestID: requestID, to: &out)
            if let body {
                body.withUnsafeBytes { appendStdin($0, requestID: requestID, to: &out) }
                appendStdinEnd(requestID: requestID, to: &out)
            }
            return out
        }
    }

    static func appendZeros(_ n: Int, to out: inout [UInt8]) {
        for _ in 0..<n { out.append(0) }
    }
}
