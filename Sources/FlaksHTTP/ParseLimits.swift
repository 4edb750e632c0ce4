/// Limits the parser enforces; mirrors the manifest's `limits` section.
public struct ParseLimits: Sendable, Hashable {
    /// Request line + header fields, in bytes. Over: 431 (414 when the request line alone is over). Default 16 KiB.
    public var maxBuffer: Int
    /// Request body after de-chunking, in bytes. Over: 413. Default 10 MiB.
    public var maxBody: Int
    /// Most header fields in one request (over: 431). Default 100.
    public var maxHeaderCount: Int

    public init(maxBuffer: Int = 16 * 1024, maxBody: Int = 10 * 1024 * 1024, maxHeaderCount: Int = 100) {
        self.maxBuffer = maxBuffer; self.maxBody = maxBody; self.maxHeaderCount = maxHeaderCount
    }
}
