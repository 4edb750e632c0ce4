/// The bytes of a readiness probe and the reading of its answer. Pure.
///
/// The probe is `GET <ready> HTTP/1.1` with `Host: localhost` and `Connection: close`; the instance
/// is ready when the status line says 2xx. Only the start of the status line is read (RFC 9112 §4:
/// `status-line = HTTP-version SP status-code SP [ reason-phrase ]`, `status-code = 3DIGIT`):
/// 13 bytes decide it, the rest of the answer is not needed.
enum ReadinessCheck {
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

    private static let version = Array("HTTP/1.".utf8)

    /// Reads the status line at the start of `bytes` (all the answer received so far). Each byte
    /// is judged as soon as it is there, so garbage fails at once; the answer never changes from
    /// `.status` or `.invalid` once given, however the bytes arrive.
    static func answer(_ bytes: some Collection<UInt8>) -> Answer {
        func digit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        var code = 0
        var count = 0
        for b in bytes.prefix(13) {
            let ok: Bool
            switch count {
            case 0..<7: ok = b == version[count]
            case 7: ok = digit(b)                                        // HTTP/1.x
            case 8: ok = b == UInt8(ascii: " ")
            case 9...11:
                ok = digit(b)
                code = code * 10 + Int(b &- UInt8(ascii: "0"))
            default: ok = b == UInt8(ascii: " ") || b == UInt8(ascii: "\r")   // a bare "200\r\n" is common
            }
            if !ok { return .invalid }
            count += 1
        }
        guard count == 13 else { return .needMore }
        return code >= 100 ? .status(code) : .invalid
    }

    /// Whether the answer makes the instance ready.
    static func isReady(_ status: Int) -> Bool { (200...299).contains(status) }
}
