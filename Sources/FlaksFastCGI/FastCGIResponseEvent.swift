/// What one call of `FastCGIResponseDecoder.decode` found.
public enum FastCGIResponseEvent: Sendable, Equatable {
    /// The unconsumed input holds no complete next item; call again with more bytes (keeping the
    /// unconsumed ones).
    case needMoreBytes
    /// STDOUT content: this range of the buffer passed to *that* call (never empty). The bytes
    /// are the CGI response (header lines, empty line, body), not yet parsed.
    case stdout(Range<Int>)
    /// STDERR content: this range of the buffer passed to that call (never empty).
    case stderr(Range<Int>)
    /// END_REQUEST (spec §5.5): the request is over. `appStatus` is the script's exit status
    /// (php-fpm always sends 0). Any byte after it is `.contentAfterEndRequest`.
    case endRequest(appStatus: UInt32, protocolStatus: FastCGI.ProtocolStatus)
    /// GET_VALUES_RESULT (spec §4.1), decoded. Flaks never sends GET_VALUES; an exchange ignores it.
    case getValuesResult([FastCGIParam])
    /// UNKNOWN_TYPE (spec §4.2): the responder did not understand a record of this type we sent.
    case unknownType(UInt8)
}

/// The result of one `FastCGIResponseDecoder.decode` call: an event and how many input bytes it
/// consumed. The caller drops `consumed` bytes from the front of its buffer before the next call.
public struct FastCGIDecodeResult: Sendable, Equatable {
    public var event: FastCGIResponseEvent
    public var consumed: Int
    public init(event: FastCGIResponseEvent, consumed: Int) {
        self.event = event
        self.consumed = consumed
    }
}
