import FlaksAccess
import FlaksHTTP
import Testing

/// Fake-clock units (monotonic nanoseconds).
let s: UInt64 = 1_000_000_000
let ms: UInt64 = 1_000_000

/// Parses one request head from raw bytes with the real request parser, so the heads the tests
/// rewrite are the ones the server would hand over (framing, keep-alive, expect derived).
func parseHead(_ raw: String) -> RequestHead? {
    var parser = RequestParser()
    let bytes = Array(raw.utf8)
    let result = try? bytes.withUnsafeBytes { try parser.parse($0) }
    if case .head(let h)? = result?.event { return h }
    return nil
}

/// An IPv4 or IPv6 address literal known to be valid.
func ip(_ text: String) -> IPAddress {
    guard let a = IPAddress(text) else {
        Issue.record("bad address literal \(text)")
        return IPAddress(v4: 0)
    }
    return a
}

/// Header fields from (name, value) pairs, repeats and order kept.
func fields(_ list: [(String, String)]) -> HeaderFields {
    HeaderFields(list.map { HeaderField(name: $0.0, value: $0.1) })
}

/// The field lines of `headers` as (name, value) pairs, for comparisons.
func pairs(_ headers: HeaderFields) -> [[String]] {
    headers.map { [$0.name, $0.value] }
}

extension String {
    /// The string's UTF-8 bytes.
    var bytes: [UInt8] { Array(utf8) }
}
