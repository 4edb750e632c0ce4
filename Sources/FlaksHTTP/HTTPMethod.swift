/// A request method the server knows (RFC 9110 §9). Anything else is answered with 501.
public enum HTTPMethod: String, Sendable, Hashable, CaseIterable {
    case GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE, CONNECT

    /// Finds the method spelled by `bytes` (case-sensitive, RFC 9110 §9.1), or nil.
    public init?(bytes: UnsafeRawBufferPointer) {
        switch bytes.count {
        case 3:
            if Self.spells(bytes, "GET") { self = .GET; return }
            if Self.spells(bytes, "PUT") { self = .PUT; return }
        case 4:
            if Self.spells(bytes, "HEAD") { self = .HEAD; return }
            if Self.spells(bytes, "POST") { self = .POST; return }
        case 5:
            if Self.spells(bytes, "PATCH") { self = .PATCH; return }
            if Self.spells(bytes, "TRACE") { self = .TRACE; return }
        case 6:
            if Self.spells(bytes, "DELETE") { self = .DELETE; return }
        case 7:
            if Self.spells(bytes, "OPTIONS") { self = .OPTIONS; return }
            if Self.spells(bytes, "CONNECT") { self = .CONNECT; return }
        default: break
        }
        return nil
    }

    /// Byte-by-byte equality with an ASCII literal of the same length (checked by the caller).
    @inline(__always)
    static func spells(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        let p = name.utf8Start
        for i in 0..<bytes.count where bytes[i] != p[i] { return false }
        return true
    }
}
