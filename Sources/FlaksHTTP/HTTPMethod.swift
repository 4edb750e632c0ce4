/// A request method the server knows (RFC 9110 §9). Anything else is answered with 501.
public enum HTTPMethod: String, Sendable, Hashable, CaseIterable {
    case GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE, CONNECT

    /// Finds the method spelled by `bytes` (case-sensitive, RFC 9110 §9.1), or nil.
    public init?(bytes: UnsafeRawBufferPointer) {
        switch bytes.count {
        case 3:
            if bytes.elementsEqual("GET".utf8) { self = .GET; return }
            if bytes.elementsEqual("PUT".utf8) { self = .PUT; return }
        case 4:
            if bytes.elementsEqual("HEAD".utf8) { self = .HEAD; return }
            if bytes.elementsEqual("POST".utf8) { self = .POST; return }
        case 5:
            if bytes.elementsEqual("PATCH".utf8) { self = .PATCH; return }
            if bytes.elementsEqual("TRACE".utf8) { self = .TRACE; return }
        case 6:
            if bytes.elementsEqual("DELETE".utf8) { self = .DELETE; return }
        case 7:
            if bytes.elementsEqual("OPTIONS".utf8) { self = .OPTIONS; return }
            if bytes.elementsEqual("CONNECT".utf8) { self = .CONNECT; return }
        default: break
        }
        return nil
    }
}
