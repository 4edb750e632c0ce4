/// What went wrong between Flaks and a FastCGI responder. Every case means the same to the
/// server: answer 502 if no response byte has gone to the client yet (else cut the response),
/// log `reason`, and close that responder connection: never pass bytes of a stream we no longer
/// understand on to a client, and never reuse a connection whose framing we lost.
public enum FastCGIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A record header's version byte is not FCGI_VERSION_1 (spec §3.3, §8). Usually a lost
    /// framing (we read a header where there is none) or not a FastCGI server at all.
    case unsupportedVersion(UInt8)
    /// A record type the spec does not define (0 or above 11). Spec §4.2 has the *responder*
    /// answer unknown types with UNKNOWN_TYPE; a web server has nothing to answer and gives up.
    case unknownRecordType(UInt8)
    /// A record type that only a web server sends (BEGIN_REQUEST, ABORT_REQUEST, PARAMS, STDIN,
    /// DATA, GET_VALUES) arrived from the responder.
    case recordTypeFromWebServer(FastCGI.RecordType)
    /// A record for another request id than ours (we run one request per connection), or a
    /// management record (GET_VALUES_RESULT, UNKNOWN_TYPE) whose id is not 0 (spec §3.3, §4).
    case unexpectedRequestID(type: FastCGI.RecordType, received: UInt16, expected: UInt16)
    /// paddingLength above the decoder's `maxPadding` (default 7: php-fpm, libfcgi, Go and
    /// nginx pad to the next multiple of 8; spec §3.3 allows up to 255, so the bound is a knob).
    case paddingTooLong(Int, limit: Int)
    /// END_REQUEST whose content is not the 8-byte FCGI_EndRequestBody (spec §5.5).
    case badEndRequestLength(Int)
    /// UNKNOWN_TYPE whose content is not the 8-byte FCGI_UnknownTypeBody (spec §4.2).
    case badUnknownTypeLength(Int)
    /// END_REQUEST with a protocolStatus other than 0...3 (spec §5.5).
    case unknownProtocolStatus(UInt8)
    /// The responder sent UNKNOWN_TYPE (spec §4.2) for a record type we sent: it does not speak
    /// the part of the protocol we used, and will not answer the request.
    case typeNotUnderstood(UInt8)
    /// A name-value pair length runs past the end of its record (spec §3.4).
    case malformedNameValuePairs
    /// A byte arrived after this request's END_REQUEST. One request at a time runs on a
    /// connection, so the responder has nothing left to say.
    case contentAfterEndRequest
    /// The responder closed the connection before sending a single byte. On a connection taken
    /// from the keep-alive pool this is php-fpm's idle close racing our write: the executor may
    /// retry once on a fresh connection, if the request body can be sent again.
    case closedBeforeAnyByte
    /// The responder closed the connection after some bytes but before END_REQUEST (a crashed
    /// worker, `pm.max_requests` reached mid-request, a record cut in half).
    case closedBeforeEndRequest

    /// A sentence for the error log.
    public var reason: String {
        switch self {
        case .unsupportedVersion(let v):
            "FastCGI record with version \(v) (expected 1): not a FastCGI responder, or the stream lost its framing"
        case .unknownRecordType(let t):
            "FastCGI record of unknown type \(t)"
        case .recordTypeFromWebServer(let t):
            "FastCGI responder sent a \(t) record, which only a web server sends"
        case .unexpectedRequestID(let type, let received, let expected):
            "FastCGI \(type) record for request id \(received), expected \(expected)"
        case .paddingTooLong(let n, let limit):
            "FastCGI record with \(n) padding bytes (at most \(limit) accepted)"
        case .badEndRequestLength(let n):
            "FastCGI END_REQUEST with \(n) content bytes (expected 8)"
        case .badUnknownTypeLength(let n):
            "FastCGI UNKNOWN_TYPE with \(n) content bytes (expected 8)"
        case .unknownProtocolStatus(let s):
            "FastCGI END_REQUEST with unknown protocolStatus \(s)"
        case .typeNotUnderstood(let t):
            "FastCGI responder did not understand record type \(t) (UNKNOWN_TYPE)"
        case .malformedNameValuePairs:
            "FastCGI name-value pairs run past the end of their record"
        case .contentAfterEndRequest:
            "FastCGI responder sent bytes after END_REQUEST"
        case .closedBeforeAnyByte:
            "FastCGI responder closed the connection before answering"
        case .closedBeforeEndRequest:
            "FastCGI responder closed the connection before END_REQUEST"
        }
    }

    public var description: String { reason }
}

/// A request that cannot be put into FastCGI records.
public enum FastCGIEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One name-value pair encodes to more than `FastCGI.maxParamsContentLength` bytes. php-fpm
    /// decodes each PARAMS record on its own, so a pair cannot be split across records, and it
    /// rejects a record longer than that. In practice: a request header of about 64 KiB.
    case paramTooLong(name: String, encodedLength: Int)

    public var description: String {
        switch self {
        case .paramTooLong(let name, let n):
            "FastCGI parameter \(name) takes \(n) bytes, more than the \(FastCGI.maxParamsContentLength) a PARAMS record may hold"
        }
    }
}
