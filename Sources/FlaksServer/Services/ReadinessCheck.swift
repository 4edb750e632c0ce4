/// The bytes of a readiness probe and the reading of its answer. Pure.
///
/// The probe is `GET <ready> HTTP/1.1` with `Host: localhost` and `Connection: close`; the instance
/// is ready when the status line says 2xx. Only the status line is read (RFC 9112 §4:
/// `HTTP-version SP status-code SP [reason-phrase] CRLF`); the rest of the answer is not needed.
enum ReadinessCheck {
    /// The longest status line read before giving up on an answer.
    static let maxStatusLine = 1024

    /// What the bytes so far say.
    enum Answer: Equatable {
        case needMore
        /// The status code of a well-formed status line.
        case status(Int)
        /// Not an HTTP/1.x status line.
        case invalid
    }

    /// The request sent to `path` (which starts with `/`).
    static func request(path: String) -> [UInt8] {
        Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: flaks-readiness\r\n\r\n".utf8)
    }

    /// Reads the status line at the start of `bytes`.
    static func answer(_ bytes: some Collection<UInt8>) -> Answer {
        let prefix = Array("HTTP/1.".utf8)
        var line: [UInt8] = []
        for b in bytes {
            if b == UInt8(ascii: "\n") { break }
            line.append(b)
            if line.count > maxStatusLine { return .invalid }
        }
        // Compare what there is so far with the fixed part, so garbage fails early.
        for (i, b) in line.prefix(prefix.count).enumerated() where b != prefix[i] { return .invalid }
        // "HTTP/1.x 200" is 12 bytes; the line is usable once they are all there.
        guard line.count >= 12 else {
            return bytes.contains(UInt8(ascii: "\n")) ? .invalid : .needMore
        }
        let minor = line[7], space = line[8]
        guard minor >= UInt8(ascii: "0") && minor <= UInt8(ascii: "9"), space == UInt8(ascii: " ") else { return .invalid }
        var code = 0
        for b in line[9..<12] {
            guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") else { return .invalid }
            code = code * 10 + Int(b - UInt8(ascii: "0"))
        }
        if line.count > 12 && line[12] != UInt8(ascii: " ") && line[12] != UInt8(ascii: "\r") { return .invalid }
        return code >= 100 ? .status(code) : .invalid
    }

    /// Whether the answer makes the instance ready.
    static func isReady(_ status: Int) -> Bool { (200...299).contains(status) }
}
