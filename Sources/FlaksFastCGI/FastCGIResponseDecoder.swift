/// Incremental decoder for the records a FastCGI responder sends for one request (spec §3.3,
/// §4, §5.3, §5.5). A value: no I/O, no clock; STDOUT and STDERR content is returned as ranges
/// of the input, never copied.
///
/// ## Calling protocol (the same as `RequestParser`)
/// The caller keeps a buffer of received, not-yet-consumed bytes and calls `decode` on all of
/// it. Each call returns one event and how many bytes from the front it consumed; the caller
/// drops exactly that many and calls again. `.needMoreBytes` means the *unconsumed* bytes
/// cannot produce another event: append more from the socket, then call again. Any split of the
/// input gives the same events, except that STDOUT/STDERR ranges may be cut differently.
/// After a thrown error the decoder stays failed and rethrows it.
///
/// Record headers, padding and empty records are consumed inside a call without an event.
/// STDOUT and STDERR content is handed out as soon as it arrives. END_REQUEST, UNKNOWN_TYPE and
/// GET_VALUES_RESULT are returned only when the whole record (padding included) is in the
/// buffer, so the caller's buffer must be able to hold `FastCGI.maxRecordLength` bytes.
///
/// ## Strictness decisions
/// Checked on each header, in this order; each failure is a `FastCGIError`:
/// - version must be 1 (`.unsupportedVersion`);
/// - the type must be one the spec defines (`.unknownRecordType`) and one a responder sends
///   (`.recordTypeFromWebServer`);
/// - STDOUT, STDERR, END_REQUEST must carry our request id; GET_VALUES_RESULT and UNKNOWN_TYPE
///   the null id 0 (`.unexpectedRequestID`);
/// - paddingLength at most `maxPadding` (`.paddingTooLong`);
/// - END_REQUEST and UNKNOWN_TYPE content exactly 8 bytes (`.badEndRequestLength`,
///   `.badUnknownTypeLength`); END_REQUEST's protocolStatus 0...3 (`.unknownProtocolStatus`).
/// After END_REQUEST any byte is `.contentAfterEndRequest`.
///
/// Lenient where the spec and php-fpm leave room: the reserved header byte and padding bytes
/// are not looked at; an empty STDOUT/STDERR record (the end of that stream, spec §3.3) is
/// skipped, and content after it is still accepted, as nginx does; END_REQUEST does not require
/// the streams to have been closed first.
public struct FastCGIResponseDecoder: Sendable {
    enum Stream: Sendable { case stdout, stderr }

    enum State: Sendable {
        /// At a record header (or waiting for its 8 bytes).
        case header
        /// Inside STDOUT/STDERR content: `remaining` > 0 content bytes, then `padding` bytes.
        case content(Stream, remaining: Int, padding: Int)
        /// Skipping `remaining` > 0 padding bytes.
        case padding(remaining: Int)
        /// END_REQUEST was returned.
        case ended
        /// An error was thrown; every later call rethrows it.
        case failed(FastCGIError)
    }

    /// Our request id (1...65535; Flaks uses 1, one request per connection).
    public let requestID: UInt16
    /// The most padding bytes a record may carry (0...255). Default 7: see `FastCGIError.paddingTooLong`.
    public let maxPadding: Int
    var state: State = .header

    public init(requestID: UInt16, maxPadding: Int = 7) {
        precondition(requestID != FastCGI.nullRequestID, "request id 0 is reserved for management records")
        precondition((0...255).contains(maxPadding), "maxPadding is 0...255")
        self.requestID = requestID
        self.maxPadding = maxPadding
    }

    /// True once END_REQUEST has been returned.
    public var isEnded: Bool {
        if case .ended = state { return true }
        return false
    }

    /// Decode from the front of `bytes` (the caller's buffer of not-yet-consumed bytes).
    public mutating func decode(_ bytes: UnsafeRawBufferPointer) throws(FastCGIError) -> FastCGIDecodeResult {
        do throws(FastCGIError) {
            return try decodeOne(bytes)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func decodeOne(_ bytes: UnsafeRawBufferPointer) throws(FastCGIError) -> FastCGIDecodeResult {
        var pos = 0
        // Each pass consumes at least one byte or returns, so the loop ends within bytes.count passes.
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .ended:
                if pos < bytes.count { throw .contentAfterEndRequest }
                return FastCGIDecodeResult(event: .needMoreBytes, consumed: pos)
            case .padding(let remaining):
                let k = min(remaining, bytes.count - pos)
                pos += k
                guard k == remaining else {
                    state = .padding(remaining: remaining - k)
                    return FastCGIDecodeResult(event: .needMoreBytes, consumed: pos)
                }
                state = .header
            case .content(let stream, let remaining, let padding):
                let k = min(remaining, bytes.count - pos)
                guard k > 0 else { return FastCGIDecodeResult(event: .needMoreBytes, consumed: pos) }
                if k < remaining {
                    state = .content(stream, remaining: remaining - k, padding: padding)
                } else {
                    state = padding > 0 ? .padding(remaining: padding) : .header
                }
                let range = pos..<(pos + k)
                return FastCGIDecodeResult(event: stream == .stdout ? .stdout(range) : .stderr(range), consumed: pos + k)
            case .header:
                let rest = UnsafeRawBufferPointer(rebasing: bytes[pos...])
                guard let header = FastCGIRecordHeader(rest) else {
                    return FastCGIDecodeResult(event: .needMoreBytes, consumed: pos)
                }
                let type = try validate(header)
                switch type {
                case .stdout, .stderr:
                    pos += FastCGI.headerLength
                    if header.contentLength > 0 {
                        state = .content(type == .stdout ? .stdout : .stderr,
                                         remaining: header.contentLength, padding: header.paddingLength)
                    } else if header.paddingLength > 0 {
                        state = .padding(remaining: header.paddingLength)
                    }
                case .endRequest, .unknownType, .getValuesResult:
                    guard rest.count >= header.recordLength else {
                        return FastCGIDecodeResult(event: .needMoreBytes, consumed: pos)
                    }
                    let content = UnsafeRawBufferPointer(
                        rebasing: rest[FastCGI.headerLength..<(FastCGI.headerLength + header.contentLength)])
                    let event = try wholeRecordEvent(type, content)
                    pos += header.recordLength
                    if case .endRequest = event { state = .ended }
                    return FastCGIDecodeResult(event: event, consumed: pos)
                default:
                    preconditionFailure("validate lets only responder record types through")
                }
            }
        }
    }

    /// The header checks, in the documented order. Returns the record type.
    private func validate(_ header: FastCGIRecordHeader) throws(FastCGIError) -> FastCGI.RecordType {
        guard header.version == FastCGI.version else { throw .unsupportedVersion(header.version) }
        guard let type = header.recordType else { throw .unknownRecordType(header.type) }
        guard !type.isSentByWebServer else { throw .recordTypeFromWebServer(type) }
        let expectedID = type == .getValuesResult || type == .unknownType ? FastCGI.nullRequestID : requestID
        guard header.requestID == expectedID else {
            throw .unexpectedRequestID(type: type, received: header.requestID, expected: expectedID)
        }
        guard header.paddingLength <= maxPadding else { throw .paddingTooLong(header.paddingLength, limit: maxPadding) }
        if type == .endRequest, header.contentLength != 8 { throw .badEndRequestLength(header.contentLength) }
        if type == .unknownType, header.contentLength != 8 { throw .badUnknownTypeLength(header.contentLength) }
        return type
    }

    /// The event of a record that is decoded whole (its content is complete in `content`).
    private func wholeRecordEvent(_ type: FastCGI.RecordType,
                                  _ content: UnsafeRawBufferPointer) throws(FastCGIError) -> FastCGIResponseEvent {
        switch type {
        case .endRequest:
            // FCGI_EndRequestBody: appStatusB3...B0, protocolStatus, reserved[3] (spec §5.5).
            let appStatus = UInt32(content[0]) << 24 | UInt32(content[1]) << 16 | UInt32(content[2]) << 8 | UInt32(content[3])
            guard let status = FastCGI.ProtocolStatus(rawValue: content[4]) else {
                throw .unknownProtocolStatus(content[4])
            }
            return .endRequest(appStatus: appStatus, protocolStatus: status)
        case .unknownType:
            // FCGI_UnknownTypeBody: type, reserved[7] (spec §4.2).
            return .unknownType(content[0])
        case .getValuesResult:
            return .getValuesResult(try FastCGIParam.decodePairs(content))
        default:
            preconditionFailure("not a whole-record type")
        }
    }
}
