// PLACEHOLDER — replaced by the real incremental parser. Handles only simple bodiless requests.

/// Incremental HTTP/1.1 request parser.
public struct RequestParser: Sendable {
    var limits: ParseLimits
    var pendingEnd = false
    public init(limits: ParseLimits = ParseLimits()) { self.limits = limits }

    public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseResult {
        if pendingEnd { pendingEnd = false; return ParseResult(event: .end, consumed: 0) }
        let n = bytes.count
        var i = 0
        while i + 3 < n {
            if bytes[i] == 13 && bytes[i+1] == 10 && bytes[i+2] == 13 && bytes[i+3] == 10 { break }
            i += 1
        }
        guard i + 3 < n else {
            if n > limits.maxBuffer { throw .headersTooLarge }
            return ParseResult(event: .needMoreBytes, consumed: 0)
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<i]), as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let parts = lines.removeFirst().split(separator: " ")
        guard parts.count == 3, let m = HTTPMethod(rawValue: String(parts[0])) else { throw .badRequest("request line") }
        var h = HeaderFields()
        for l in lines { if let c = l.firstIndex(of: ":") { h.add(String(l[..<c]), String(l[l.index(after: c)...].trimmingPrefix(" "))) } }
        let v: HTTPVersion = parts[2] == "HTTP/1.0" ? .http1_0 : .http1_1
        let ka = v == .http1_1 ? h["Connection"]?.lowercased() != "close" : h["Connection"]?.lowercased() == "keep-alive"
        pendingEnd = true
        return ParseResult(event: .head(RequestHead(method: m, target: String(parts[1]), version: v, headers: h, keepAlive: ka)), consumed: i + 4)
    }
}
