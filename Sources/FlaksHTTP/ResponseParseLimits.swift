/// Limits the `ResponseParser` enforces on what an upstream sends. Separate from `ParseLimits`
/// because a proxy streams response bodies: a download is not bounded by the request `max_body`.
public struct ResponseParseLimits: Sendable, Hashable {
    /// The response head in bytes: status line, field lines and the final empty line, every CRLF
    /// included (each interim 1xx head is counted on its own). Exactly `maxHead` passes, one more is
    /// `.headTooLarge`, detected as soon as `maxHead + 1` bytes are buffered without a complete head.
    /// Also bounds a chunked body's trailer section (`.headTooLarge`) and its chunk extensions in
    /// total (`.malformed`). Default 16 KiB, like the request `max_buffer`.
    public var maxHead: Int
    /// Most field lines in one response head, and separately in its trailer section
    /// (over: `.headTooLarge`). Default 100.
    public var maxHeaderCount: Int
    /// Response body after de-chunking, in bytes. Exactly `maxBody` passes; over: `.bodyTooLarge`
    /// (at head time for Content-Length, when a chunk-size line declares more than is left, and when
    /// a close-delimited body passes it). Default `Int.max`: no limit, the proxy streams.
    public var maxBody: Int

    public init(maxHead: Int = 16 * 1024, maxHeaderCount: Int = 100, maxBody: Int = .max) {
        self.maxHead = maxHead; self.maxHeaderCount = maxHeaderCount; self.maxBody = maxBody
    }

    /// The same bounds in the shape the shared chunked decoder takes.
    var shared: ParseLimits { ParseLimits(maxBuffer: maxHead, maxBody: maxBody, maxHeaderCount: maxHeaderCount) }
}
