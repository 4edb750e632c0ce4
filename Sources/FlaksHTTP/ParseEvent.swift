/// What one call of `RequestParser.parse` found.
public enum ParseEvent: Sendable, Equatable {
    /// The input holds no complete next item; call again with more bytes (keeping the unconsumed ones).
    case needMoreBytes
    /// A complete request head.
    case head(RequestHead)
    /// Body bytes: this range of the buffer passed to `parse` (de-chunked, never empty).
    case body(Range<Int>)
    /// The end of the current request (after its body, or right after a head without body).
    /// The parser is then ready for the next request on the connection.
    case end

    public static func == (a: ParseEvent, b: ParseEvent) -> Bool {
        switch (a, b) {
        case (.needMoreBytes, .needMoreBytes), (.end, .end): true
        case (.body(let x), .body(let y)): x == y
        case (.head(let x), .head(let y)):
            x.method == y.method && x.target == y.target && x.version == y.version
                && x.headers == y.headers && x.framing == y.framing && x.keepAlive == y.keepAlive
                && x.expectContinue == y.expectContinue
        default: false
        }
    }
}

/// The result of one `RequestParser.parse` call: an event and how many input bytes it consumed.
/// The caller drops `consumed` bytes from the front of its buffer before the next call.
public struct ParseResult: Sendable, Equatable {
    public var event: ParseEvent
    public var consumed: Int
    public init(event: ParseEvent, consumed: Int) { self.event = event; self.consumed = consumed }
}
