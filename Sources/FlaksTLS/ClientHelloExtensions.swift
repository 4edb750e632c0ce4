/// Parsers for the two ClientHello extensions read before OpenSSL processes them (the
/// certificate depends on both). Bytes come from `SSL_client_hello_get0_ext` and are untrusted:
/// every length is checked against what is left.
enum ClientHelloExtensions {
    enum ServerName: Equatable {
        case absent
        case name(String)
        case malformed
    }

    /// RFC 6066 §3: `ServerNameList` = u16 length, then entries (u8 type, u16 length, bytes);
    /// the first `host_name` (type 0) entry is the name. A name must be non-empty printable ASCII
    /// without NUL (RFC 6066: "the hostname is represented as a byte string using ASCII encoding
    /// without a trailing dot").
    static func serverName(_ ext: UnsafeRawBufferPointer) -> ServerName {
        let b = ext
        guard b.count >= 2 else { return .malformed }
        let listLength = Int(b[0]) << 8 | Int(b[1])
        guard listLength == b.count - 2 else { return .malformed }
        var i = 2
        while i < b.count {
            guard b.count - i >= 3 else { return .malformed }
            let type = b[i]
            let length = Int(b[i + 1]) << 8 | Int(b[i + 2])
            i += 3
            guard length <= b.count - i else { return .malformed }
            if type == 0 {
                let bytes = UnsafeRawBufferPointer(rebasing: b[i..<(i + length)])
                guard !bytes.isEmpty, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return .malformed }
                return .name(String(decoding: bytes, as: UTF8.self).lowercased())
            }
            i += length
        }
        return .absent
    }

    /// RFC 7301 §3.1: `ProtocolNameList` = u16 length, then entries (u8 length >= 1, bytes).
    /// Returns the ranges of each protocol inside `ext`, or nil when malformed.
    static func protocols(_ ext: UnsafeRawBufferPointer) -> [Range<Int>]? {
        let b = ext
        guard b.count >= 2 else { return nil }
        let listLength = Int(b[0]) << 8 | Int(b[1])
        guard listLength == b.count - 2 else { return nil }
        return protocolList(UnsafeRawBufferPointer(rebasing: ext[2...]), offset: 2)
    }

    /// The entries of a list without its u16 prefix (what the ALPN select callback gets). More
    /// than 256 entries is treated as malformed: no real client sends that many.
    static func protocolList(_ list: UnsafeRawBufferPointer, offset: Int = 0) -> [Range<Int>]? {
        let b = list
        var out: [Range<Int>] = []
        var i = 0
        while i < b.count {
            let length = Int(b[i])
            i += 1
            guard length > 0, length <= b.count - i, out.count < 256 else { return nil }
            out.append((offset + i)..<(offset + i + length))
            i += length
        }
        return out
    }

    /// Whether `ext` (a full ALPN extension) lists `name`.
    static func offers(_ ext: UnsafeRawBufferPointer, _ name: String) -> Bool {
        guard let ranges = protocols(ext) else { return false }
        let want = Array(name.utf8)
        return ranges.contains { r in ext[r].elementsEqual(want) }
    }
}
