/// Limits the parser enforces; mirrors the manifest's `limits` section.
public struct ParseLimits: Sendable, Hashable {
    /// The request head in bytes: request line, field lines and the final empty line, every CRLF included
    /// (leading empty lines before the request line do not count). Exactly `maxBuffer` passes, one more
    /// fails: 414 when the request line with its CRLF alone is over, else 431. Also bounds a chunked
    /// body's trailer section (431) and its chunk extensions (400). Default 16 KiB.
    public var maxBuffer: Int
    /// Request body after de-chunking, in bytes. Exactly `maxBody` passes; over: 413 (for Content-Length at
    /// head time, for chunked when a chunk-size line declares more than is left). Default 10 MiB.
    public var maxBody: Int
    /// Most header field lines in one request, and separately trailer field lines (over: 431). Default 100.
    public var maxHeaderCount: Int

    public init(maxBuffer: Int = 16 * 1024, maxBody: Int = 10 * 1024 * 1024, maxHeaderCount: Int = 100) {
        self.maxBuffer = maxBuffer; self.maxBody = maxBody; self.maxHeaderCount = maxHeaderCount
    }
}
