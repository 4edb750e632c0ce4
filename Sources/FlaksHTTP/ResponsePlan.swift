/// How a response body is delimited on the wire (RFC 9112 §6.3), decided once per response by
/// `ResponsePlan.decide` so that every response path (static, fixed, CGI, views, streams, and next
/// the proxy and FastCGI) follows the same rules.
public enum BodyDelimiter: Sendable, Hashable {
    /// The status never has a body (1xx, 204, 304): no Content-Length, no Transfer-Encoding.
    case none
    /// `Content-Length: n`; exactly n body bytes follow (none for HEAD).
    case length(Int)
    /// `Transfer-Encoding: chunked` (HTTP/1.1 only); the body ends with the last chunk.
    case chunked
    /// No framing field: the body ends when the connection closes (HTTP/1.0 without a known length).
    case close
}

/// The framing decision for one response.
public struct ResponsePlan: Sendable, Hashable {
    /// What the head announces.
    public var delimiter: BodyDelimiter
    /// False for HEAD and bodyless statuses: the head announces the body GET would have, none follows.
    public var sendsBody: Bool
    /// Whether the connection stays open after this response (a close-delimited body cannot).
    public var keepAlive: Bool
    /// The request's version: an HTTP/1.0 client that keeps the connection is told so.
    public var version: HTTPVersion

    public init(delimiter: BodyDelimiter, sendsBody: Bool, keepAlive: Bool, version: HTTPVersion) {
        self.delimiter = delimiter; self.sendsBody = sendsBody; self.keepAlive = keepAlive; self.version = version
    }
}

/// The framing rules of RFC 9112 §6 and RFC 9110 §15 in one place.
extension ResponsePlan {
    /// Decides how a response is framed.
    /// - Parameters:
    ///   - status: the final status (1xx other than 101 go through `informational` instead).
    ///   - method: the request's method as the client sent it: a HEAD answer has no body even when
    ///     its handler ran as a GET (an internal redirect).
    ///   - version: the request's version (chunked exists only in HTTP/1.1, RFC 9112 §7.1).
    ///   - bodyLength: the body length when known up front; nil for a stream of unknown length.
    ///   - keepAlive: whether the connection may stay open, as decided from the request.
    public static func decide(status: HTTPStatus, method: HTTPMethod, version: HTTPVersion,
                            bodyLength: Int?, keepAlive: Bool) -> ResponsePlan {
        // RFC 9110 §15.2, §15.3.5, §15.4.5: 1xx, 204 and 304 have no content and no framing fields.
        if status.forbidsBody {
            return ResponsePlan(delimiter: .none, sendsBody: false, keepAlive: keepAlive, version: version)
        }
        let isHead = method == .HEAD
        if let n = bodyLength {
            return ResponsePlan(delimiter: .length(n), sendsBody: !isHead, keepAlive: keepAlive, version: version)
        }
        if version == .http1_1 {
            return ResponsePlan(delimiter: .chunked, sendsBody: !isHead, keepAlive: keepAlive, version: version)
        }
        // HTTP/1.0 and a body of unknown length: only closing the connection can end it (RFC 9112 §6.3
        // rule 8). A HEAD answer sends no body, so the connection can stay.
        return ResponsePlan(delimiter: isHead ? .none : .close, sendsBody: !isHead,
                            keepAlive: keepAlive && isHead, version: version)
    }
}

/// Frames the body of a streamed response for its plan, with the tested chunk writers: chunks for
/// `chunked`, a cap for `Content-Length` (a producer cannot send more than the head announced), and
/// nothing at all when no body is sent (HEAD, 204, 304).
public struct BodyFramer: Sendable {
    public let plan: ResponsePlan
    /// Bytes still owed for a Content-Length body.
    public private(set) var remaining: Int
    /// Body bytes accepted so far (before framing).
    public private(set) var written = 0

    public init(plan: ResponsePlan) {
        self.plan = plan
        if case .length(let n) = plan.delimiter { remaining = n } else { remaining = Int.max }
    }

    /// Appends `data`, framed, to `out`. Returns how many bytes of `data` count as body (bytes beyond a
    /// Content-Length, and every byte of a bodyless response, are dropped).
    @discardableResult
    public mutating func frame(_ data: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Int {
        guard plan.sendsBody, !data.isEmpty, remaining > 0 else { return 0 }
        switch plan.delimiter {
        case .chunked:
            ResponseHeadEncoder.appendChunk(data, to: &out)
            written += data.count
            return data.count
        case .length:
            let n = min(remaining, data.count)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[0..<n]))
            remaining -= n
            written += n
            return n
        case .close:
            out.append(contentsOf: data)
            written += data.count
            return data.count
        case .none:
            return 0
        }
    }

    /// Appends the end of the body (the last chunk). Returns false when the message cannot end
    /// cleanly: fewer bytes were written than its Content-Length announced.
    public mutating func finish(into out: inout [UInt8]) -> Bool {
        guard plan.sendsBody else { return true }
        switch plan.delimiter {
        case .chunked:
            out.append(contentsOf: ResponseHeadEncoder.lastChunk)
            return true
        case .length:
            return remaining == 0
        case .close, .none:
            return true
        }
    }
}
