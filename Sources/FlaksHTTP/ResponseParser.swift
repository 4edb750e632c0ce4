/// Incremental HTTP/1.1 response parser (RFC 9112) for the upstream side of the reverse proxy.
/// A value: no I/O, no clock. Built like `RequestParser` and sharing its head scan, field-line
/// checks and chunked decoder.
///
/// ## Calling protocol
/// A response only makes sense for a request: call `startResponse(to:upgradeRequested:)` when a
/// request has been sent (for pipelined requests, once per request, each after the previous
/// response's `.end`). Then, as for the request parser, keep a buffer of received, not-yet-consumed
/// bytes and call `parse` on all of it. Each call returns one event and how many bytes from the
/// front it consumed; drop exactly that many and call again. `.needMoreBytes` means the unconsumed
/// bytes cannot produce another event: append more from the socket, then call again. Any split of
/// the input gives the same events (body ranges may be split differently).
///
/// Per request: zero or more `.interim` (1xx other than 101, no body), then either
/// `.switchingProtocols` (a 101; parsing stops, the rest is tunnel bytes), or `.head`, zero or more
/// `.body(range)` (non-empty, de-chunked, a range of the buffer passed to *that* call), `.trailers`
/// if a chunked body had any, and `.end`. A response without a body gets `.end` on the call after
/// `.head`, consuming 0 bytes. After `.end` the parser is idle: bytes given to it then (the upstream
/// sent something nobody asked for) are an error, so a connection with leftover bytes after `.end`
/// must not be reused.
///
/// When the upstream closes the connection, call `inputEnded()`: it returns `.end` if that close
/// ends a close-delimited body, nil if no response was in progress, and throws `.truncated` when the
/// close cuts a head, a Content-Length body or a chunked body short.
///
/// After a thrown error the parser stays failed (rethrows it). The proxy answers 502 (or, once the
/// response head went out, closes the client connection without finishing the message), logs the
/// error's description and closes the upstream connection. Nothing of a bad head is passed on.
///
/// ## Limits
/// See `ResponseParseLimits`: `maxHead` bounds each head (interim ones included), the trailer
/// section and the chunk extensions of a body; `maxHeaderCount` the field lines of each; `maxBody`
/// (unlimited by default) the de-chunked body.
///
/// ## Strictness decisions (a proxy must never pass on a message two parsers could frame differently)
/// - CRLF only: a bare LF or bare CR anywhere in a head, the chunk framing or the trailers is
///   `.malformed` (RFC 9112 §2.2 makes accepting a bare LF optional; a bare CR is invalid).
///   No empty lines are skipped before a status line (RFC 9112 §2.2's allowance is for servers
///   reading a request-line).
/// - Status line (RFC 9112 §4): `HTTP/1.0` or `HTTP/1.1` exactly (another well-formed version is
///   `.unsupported`), one SP, three digits 100–999, then SP and a reason phrase of HTAB / SP / VCHAR /
///   obs-text, possibly empty. The SP before an empty reason may be missing (`HTTP/1.1 200\r\n`):
///   the grammar asks for it, but RFC 9112 §4 says a client SHOULD ignore the reason, and a missing
///   SP cannot move a message boundary.
/// - Field lines: exactly as for requests (RFC 9112 §5): no whitespace before the colon, no
///   obs-fold, token names, no NUL / controls / DEL in values. Host and Expect are not special.
/// - Framing fields are checked whatever the status and request method, since the proxy passes the
///   head on: Content-Length must be digits, a list or repeated fields must agree (RFC 9112 §6.3
///   item 5); Content-Length with Transfer-Encoding is `.malformed` (§6.3 item 3: "ought to be
///   handled as an error"); Transfer-Encoding in HTTP/1.0 is `.malformed` (§6.1: "MUST treat the
///   message as if the framing is faulty"); `chunked` twice is `.malformed` (§6.1); any other coding,
///   and a Transfer-Encoding whose final coding is not chunked, is `.unsupported` (see below).
/// - Body length, RFC 9112 §6.3 in its order: a response to HEAD, and any 1xx, 204 or 304, has no
///   body "regardless of the header fields present" (item 1); a 2xx to CONNECT would be a tunnel,
///   which Flaks never asks for (`.unsupported`, item 2); chunked (item 4); Content-Length (item 6);
///   otherwise the body runs until the upstream closes (item 8).
/// - A Transfer-Encoding that does not end in chunked: for a response, §6.3 item 4 says the body
///   "is determined by reading the connection until it is closed by the server". We refuse it
///   instead. The body would still carry a coding we do not decode (gzip, ...), which the proxy
///   could neither remove nor pass on without Transfer-Encoding; and `chunked, x` style values are
///   exactly the shapes other agents disagree on. Upstream apps that behave send chunked or
///   Content-Length.
/// - Chunks: 1 to 16 hex digits, extensions checked and ignored, trailer fields checked like header
///   fields and reported (`.trailers`), all as in `RequestParser`.
/// - A 101 is reported only when the request asked to upgrade, and only as HTTP/1.1 with an `Upgrade`
///   field and `Connection: upgrade`; otherwise it is `.malformed` (RFC 9110 §7.8: a server "MUST NOT
///   switch to a protocol that was not indicated by the client", and MUST send both fields). Whether
///   the `Upgrade` it names is the one requested is for the proxy to check.
public struct ResponseParser: Sendable {
    /// Where the parser is between calls.
    enum State: Sendable {
        /// No request outstanding: `startResponse` comes next.
        case idle
        /// Looking for (or at) the next response head for the outstanding request.
        case head
        /// A head without body was returned (or the trailers of one with); `.end` comes next.
        case endPending
        /// Content-Length body with this many bytes still to come (> 0).
        case fixedBody(remaining: Int)
        /// Chunked body.
        case chunked(ChunkedDecoder<KeptTrailers>)
        /// Close-delimited body, with this many bytes passed on so far.
        case untilClose(received: Int)
        /// After a 101: the bytes are not HTTP any more.
        case tunnel
        /// An error was thrown; every later call rethrows it.
        case failed(ResponseParseError)
    }

    let limits: ResponseParseLimits
    var state: State = .idle
    /// The method of the request being answered (HEAD answers have no body).
    var requestMethod: HTTPMethod = .GET
    /// Whether that request carried `Upgrade` (so a 101 is acceptable).
    var upgradeRequested = false
    /// Progress of the current head search, relative to the head's first byte.
    var scan = HeadScan()
    /// Unconsumed head bytes left after the last call (for the wording of an EOF error).
    var pendingHeadBytes = 0

    public init(limits: ResponseParseLimits = ResponseParseLimits()) { self.limits = limits }

    /// True when no response is in progress: before the first `startResponse`, and after `.end`.
    public var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// Prepares for the response to a request just sent. `method` decides whether the answer can
    /// have a body (not for HEAD); `upgradeRequested` whether a 101 may answer it (the request
    /// carried `Upgrade`, which the proxy sends only for WebSocket).
    /// Call it only while `isIdle` (a programmer error otherwise); after an error it does nothing,
    /// the parser stays failed.
    public mutating func startResponse(to method: HTTPMethod, upgradeRequested: Bool = false) {
        switch state {
        case .idle:
            requestMethod = method
            self.upgradeRequested = upgradeRequested
            scan = HeadScan()
            pendingHeadBytes = 0
            state = .head
        case .failed:
            return
        default:
            preconditionFailure("startResponse called while a response is in progress")
        }
    }

    /// Parse from the front of `bytes` (the caller's buffer of not-yet-consumed bytes).
    /// Returns an event and how many bytes were consumed; the caller drops that many bytes and calls again.
    /// Must not be called after `.switchingProtocols` (those bytes are not HTTP).
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(ResponseParseError) -> ResponseParseResult {
        do throws(ResponseParseError) {
            switch state {
            case .idle:
                guard bytes.isEmpty else { throw .malformed("bytes received with no request outstanding") }
                return ResponseParseResult(event: .needMoreBytes, consumed: 0)
            case .head:
                return try parseHead(bytes)
            case .endPending:
                state = .idle
                return ResponseParseResult(event: .end, consumed: 0)
            case .fixedBody(let remaining):
                let k = min(remaining, bytes.count)
                guard k > 0 else { return ResponseParseResult(event: .needMoreBytes, consumed: 0) }
                state = k == remaining ? .endPending : .fixedBody(remaining: remaining - k)
                return ResponseParseResult(event: .body(0..<k), consumed: k)
            case .chunked(var decoder):
                state = .idle  // leave no second copy of the decoder (and its trailer bytes) while it is mutated
                let result: ParseResult
                do { result = try decoder.decode(bytes) } catch { throw ResponseParseError(error) }
                switch result.event {
                case .end:
                    let trailers: [HeaderField]
                    do { trailers = try decoder.trailers.fields() } catch { throw ResponseParseError(error) }
                    if trailers.isEmpty { return ResponseParseResult(event: .end, consumed: result.consumed) }
                    state = .endPending
                    return ResponseParseResult(event: .trailers(HeaderFields(trailers)), consumed: result.consumed)
                case .body(let range):
                    state = .chunked(decoder)
                    return ResponseParseResult(event: .body(range), consumed: result.consumed)
                case .needMoreBytes, .head:  // the decoder never returns .head
                    state = .chunked(decoder)
                    return ResponseParseResult(event: .needMoreBytes, consumed: result.consumed)
                }
            case .untilClose(let received):
                guard !bytes.isEmpty else { return ResponseParseResult(event: .needMoreBytes, consumed: 0) }
                // Pass on exactly the first maxBody bytes whatever the split, then fail on the next one.
                let k = min(bytes.count, limits.maxBody - received)
                guard k > 0 else { throw .bodyTooLarge }
                state = .untilClose(received: received + k)
                return ResponseParseResult(event: .body(0..<k), consumed: k)
            case .tunnel:
                preconditionFailure("parse called after 101 Switching Protocols: the bytes belong to the tunnel")
            case .failed(let error):
                throw error
            }
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// The upstream closed its side of the connection (read returned 0). Returns `.end` when that
    /// close completes the response (a close-delimited body, or an `.end` not yet collected), nil
    /// when no response was in progress (idle, or a tunnel). Throws `.truncated` when the response was
    /// cut short: before or inside a head (interim responses do not count as an answer), short of
    /// its Content-Length, or inside a chunked body (RFC 9112 §8: "A message body that uses the
    /// chunked transfer coding is incomplete if the zero-sized chunk that terminates the encoding
    /// has not been received. A message that uses a valid Content-Length is incomplete if the size
    /// of the message body received (in octets) is less than the value given by Content-Length.").
    /// Afterwards the parser is idle (or failed).
    public mutating func inputEnded() throws(ResponseParseError) -> ResponseEvent? {
        let error: ResponseParseError
        switch state {
        case .idle, .tunnel:
            return nil
        case .endPending, .untilClose:
            state = .idle
            return .end
        case .head:
            error = .truncated(pendingHeadBytes > 0 ? "inside a response head" : "before sending a response")
        case .fixedBody(let remaining):
            error = .truncated("\(remaining) bytes short of the Content-Length")
        case .chunked:
            error = .truncated("inside a chunked body")
        case .failed(let e):
            error = e
        }
        state = .failed(error)
        throw error
    }
}
