/// What one call of `ResponseParser.parse` found.
public enum ResponseEvent: Sendable, Hashable {
    /// The input holds no complete next item; call again with more bytes (keeping the unconsumed ones).
    case needMoreBytes
    /// An interim 1xx response (100 Continue, 102 Processing, 103 Early Hints, ...; not 101). It has
    /// no body; the parser goes on to the next head for the same request (RFC 9110 §15.2).
    case interim(ResponseHead)
    /// The final response head. Body events, then `.end`, follow.
    case head(ResponseHead)
    /// A 101 Switching Protocols answering a request that asked to upgrade. Parsing stops here: every
    /// byte after this head (the unconsumed rest of the buffer, and all later input) belongs to the
    /// new protocol and must be relayed untouched. The parser takes no more input.
    case switchingProtocols(ResponseHead)
    /// Body bytes: this range of the buffer passed to `parse` (de-chunked, never empty).
    case body(Range<Int>)
    /// The trailer fields of a chunked body, when there were any; `.end` follows.
    case trailers(HeaderFields)
    /// The end of the response (after its body, or right after a head without body). The parser
    /// is then idle until `startResponse` is called for the next request.
    case end
}

/// The result of one `ResponseParser.parse` call: an event and how many input bytes it consumed.
/// The caller drops `consumed` bytes from the front of its buffer before the next call.
public struct ResponseParseResult: Sendable, Hashable {
    public var event: ResponseEvent
    public var consumed: Int
    public init(event: ResponseEvent, consumed: Int) { self.event = event; self.consumed = consumed }
}
