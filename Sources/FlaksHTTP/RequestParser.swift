/// Incremental HTTP/1.1 request parser (RFC 9112). A value: no I/O, no clock, no allocation per byte.
///
/// ## Calling protocol
/// The caller keeps a buffer of received, not-yet-consumed bytes and calls `parse` on all of it.
/// Each call returns one event and how many bytes from the front it consumed; the caller drops exactly
/// that many and calls again. `.needMoreBytes` means the *unconsumed* bytes cannot produce another
/// event: append more from the socket, then call again. Any split of the input gives the same events
/// (body ranges may be split differently). After a thrown error the parser stays failed (rethrows it);
/// the connection must be answered with `error.status` and closed.
///
/// Per request: `.head`, then zero or more `.body(range)` (non-empty, de-chunked, a range of the
/// buffer passed to *that* call), then `.end`. A request without a body gets `.end` on the call after
/// `.head`, consuming 0 bytes. After `.end` the parser reads the next pipelined request.
///
/// ## The head
/// Like picohttpparser, head bytes stay in the caller's buffer (`.needMoreBytes`, consumed 0) until
/// the terminating empty line is there; the parser remembers how far it has checked, so trickled
/// bytes are looked at once. Then the whole head is parsed in one pass.
/// Empty lines (CRLF) before a request line are consumed and ignored (RFC 9112 §2.2); they do not
/// count toward the limits.
///
/// ## Limits (exact definitions)
/// - The *head* is the request line, the field lines and the final empty line, every CRLF included.
///   A head of exactly `maxBuffer` bytes is accepted; `maxBuffer + 1` is rejected.
/// - Over the limit: `.uriTooLong` (414) when the request line including its CRLF alone is longer
///   than `maxBuffer`, else `.headersTooLarge` (431). Detected as soon as more than `maxBuffer`
///   head bytes are buffered without a complete head among the first `maxBuffer`, so a slow
///   endless line is cut off at `maxBuffer + 1` bytes.
/// - More than `maxHeaderCount` field lines: `.headersTooLarge` (431).
/// - Body (after de-chunking) longer than `maxBody`: `.bodyTooLarge` (413), at head time for
///   Content-Length, and for chunked as soon as a chunk-size line declares more than what is left.
///   Exactly `maxBody` bytes are accepted.
/// - Chunked trailer section (field lines and final CRLF) over `maxBuffer` bytes or
///   `maxHeaderCount` fields: 431. Chunk extensions over `maxBuffer` bytes in total per body: 400.
///
/// ## Strictness decisions
/// - Line endings are CRLF only. A bare LF (without CR before it) or a bare CR (not followed by LF)
///   anywhere in the head, in chunk framing or in trailers is a 400. RFC 9112 §2.2 lets recipients
///   accept a bare LF; we do not, because peers that disagree on line ends enable request smuggling.
/// - Exactly one SP between request-line parts (RFC 9112 §3); anything else is 400.
/// - CONNECT is answered with 501: this is an origin server, not a proxy, so authority-form
///   (RFC 9112 §3.2.3) is never accepted. `*` is accepted only with OPTIONS (RFC 9112 §3.2.4).
/// - Versions: HTTP/1.0 and HTTP/1.1. HTTP/1.2–1.9 are processed as 1.1 and reported as 1.1
///   (RFC 9110 §2.5); other majors (0.9, 2.0, ...) are 505; anything not `HTTP/DIGIT.DIGIT` is 400.
/// - Order of checks in a head: request-line syntax (400), version (505), method (501), target form
///   (400), then each field line in order (400, or 431 for the count), then Host, framing and
///   Content-Length size (400/501/413).
/// - `Expect`: `100-continue` (case-insensitive, any member of the list) sets `expectContinue` for
///   HTTP/1.1 requests that have content; it is ignored for HTTP/1.0 (RFC 9110 §10.1.1). Other
///   expectations are ignored (RFC 9110 §10.1.1 makes 417 optional).
/// - Field lines (RFC 9112 §5): whitespace between name and colon, obs-fold, an empty or non-token
///   name, and NUL / controls other than HTAB / DEL in a value are 400. obs-text (>= 0x80) is accepted;
///   values are stored as Strings decoded as UTF-8, invalid sequences becoming U+FFFD.
/// - Content-Length: digits only; a list or repeated fields must all agree; overflow is 400.
///   Transfer-Encoding: with Content-Length, in HTTP/1.0, not ending in `chunked`, or `chunked` twice
///   is 400; any other coding before `chunked` is 501 (we decode none).
/// - Chunk-size lines: 1 to 16 hex digits (no sign, `0x`, or whitespace before the CRLF), then
///   optional extensions (`;name`, `;name=token`, `;name="quoted"`, BWS around `;` and `=`), which
///   are checked and ignored. Trailer fields are checked like header fields and discarded.
public struct RequestParser: Sendable {
    /// Where the parser is between calls.
    enum State: Sendable {
        /// Looking for (or at) the next request head.
        case head
        /// A head without body was returned; `.end` comes next.
        case endPending
        /// Content-Length body with this many bytes still to come (> 0).
        case fixedBody(remaining: Int)
        /// Chunked body.
        case chunked(ChunkedDecoder<DiscardedTrailers>)
        /// An error was thrown; every later call rethrows it.
        case failed(HTTPParseError)
    }

    let limits: ParseLimits
    var state: State = .head
    /// Progress of the current head search, relative to the head's first byte.
    var scan = HeadScan()

    public init(limits: ParseLimits = ParseLimits()) { self.limits = limits }

    /// Parse from the front of `bytes` (the caller's buffer of not-yet-consumed bytes).
    /// Returns an event and how many bytes were consumed; the caller drops that many bytes and calls again.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseResult {
        do throws(HTTPParseError) {
            switch state {
            case .head:
                return try parseHead(bytes)
            case .endPending:
                state = .head
                return ParseResult(event: .end, consumed: 0)
            case .fixedBody(let remaining):
                let k = min(remaining, bytes.count)
                guard k > 0 else { return ParseResult(event: .needMoreBytes, consumed: 0) }
                state = k == remaining ? .endPending : .fixedBody(remaining: remaining - k)
                return ParseResult(event: .body(0..<k), consumed: k)
            case .chunked(var decoder):
                state = .head  // leave no second copy of the decoder while it is mutated
                let result = try decoder.decode(bytes)
                state = result.event == .end ? .head : .chunked(decoder)
                return result
            case .failed(let error):
                throw error
            }
        } catch {
            state = .failed(error)
            throw error
        }
    }
}
