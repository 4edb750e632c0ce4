/// Constants and small value types of the FastCGI 1.0 protocol (Open Market, 1996), client side.
///
/// Section numbers in this target refer to that specification ("FastCGI spec §N").
/// Flaks is a *web server* talking to a *responder* (php-fpm): it sends BEGIN_REQUEST, PARAMS,
/// STDIN and ABORT_REQUEST, and receives STDOUT, STDERR, END_REQUEST and the management records
/// GET_VALUES_RESULT and UNKNOWN_TYPE. One request per connection at a time (no multiplexing).
public enum FastCGI {
    /// FCGI_VERSION_1, the only version there is (spec §8). Any other version byte is an error.
    public static let version: UInt8 = 1
    /// FCGI_HEADER_LEN: every record starts with an 8-byte header (spec §3.3).
    public static let headerLength = 8
    /// The largest content a record can carry: contentLength is 16 bits (spec §3.3).
    public static let maxContentLength = 65535
    /// The largest PARAMS record content Flaks sends. php-fpm (main/fastcgi.c, fcgi_read_request)
    /// rejects a PARAMS or BEGIN_REQUEST record whose content *plus padding* exceeds 65535, and
    /// decodes every PARAMS record on its own (a name-value pair must not straddle two records).
    /// 65528 (0xfff8) is a multiple of 8, so any content up to it pads to at most 65528.
    public static let maxParamsContentLength = 65528
    /// The most bytes one record can occupy on the wire: header, content, padding.
    public static let maxRecordLength = headerLength + maxContentLength + 255
    /// FCGI_NULL_REQUEST_ID: management records (GET_VALUES_RESULT, UNKNOWN_TYPE) carry it (spec §3.3).
    public static let nullRequestID: UInt16 = 0

    /// Record types (spec §8). `rawValue` is the byte on the wire.
    public enum RecordType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case beginRequest = 1
        case abortRequest = 2
        case endRequest = 3
        case params = 4
        case stdin = 5
        case stdout = 6
        case stderr = 7
        case data = 8
        case getValues = 9
        case getValuesResult = 10
        case unknownType = 11

        /// True for the types only a web server sends (a responder sending one is a protocol error).
        public var isSentByWebServer: Bool {
            switch self {
            case .beginRequest, .abortRequest, .params, .stdin, .data, .getValues: true
            case .endRequest, .stdout, .stderr, .getValuesResult, .unknownType: false
            }
        }

        /// The spec's name (FCGI_STDOUT, ...), for error messages and logs.
        public var description: String {
            switch self {
            case .beginRequest: "BEGIN_REQUEST"
            case .abortRequest: "ABORT_REQUEST"
            case .endRequest: "END_REQUEST"
            case .params: "PARAMS"
            case .stdin: "STDIN"
            case .stdout: "STDOUT"
            case .stderr: "STDERR"
            case .data: "DATA"
            case .getValues: "GET_VALUES"
            case .getValuesResult: "GET_VALUES_RESULT"
            case .unknownType: "UNKNOWN_TYPE"
            }
        }
    }

    /// Roles in BEGIN_REQUEST (spec §5.1). Flaks only ever asks for `responder`.
    public enum Role: UInt16, Sendable {
        case responder = 1
        case authorizer = 2
        case filter = 3
    }

    /// FCGI_KEEP_CONN, the only BEGIN_REQUEST flag (spec §5.1): the responder leaves the
    /// connection open after END_REQUEST instead of closing it.
    public static let keepConnectionFlag: UInt8 = 1

    /// `protocolStatus` of END_REQUEST (spec §5.5).
    public enum ProtocolStatus: UInt8, Sendable, CustomStringConvertible {
        /// Normal end of the request.
        case requestComplete = 0
        /// The responder refused a second concurrent request on one connection (we never send one).
        case cantMultiplexConnection = 1
        /// The responder is out of a resource (e.g. database connections) and rejected the request.
        case overloaded = 2
        /// The responder does not do the role asked for in BEGIN_REQUEST.
        case unknownRole = 3

        public var description: String {
            switch self {
            case .requestComplete: "REQUEST_COMPLETE"
            case .cantMultiplexConnection: "CANT_MPX_CONN"
            case .overloaded: "OVERLOADED"
            case .unknownRole: "UNKNOWN_ROLE"
            }
        }
    }

    /// Padding that brings `contentLength` up to a multiple of 8 (spec §3.3 recommends aligned
    /// records; nginx, php-fpm and Go's net/http/fcgi all pad this way): 0...7.
    @inlinable
    public static func padding(forContentLength contentLength: Int) -> Int {
        (8 - (contentLength & 7)) & 7
    }
}
