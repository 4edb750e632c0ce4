/// Writes a response head: the status line, the handler's fields, the route's extra fields, the
/// server's own fields and the framing fields of a `ResponsePlan`. The one encoder every response
/// path uses (RFC 9112 §4, §6).
public enum ResponseHeadEncoder {
    /// Fields the server writes itself and drops from what a handler, a script or an upstream gives
    /// it: the framing (Content-Length, Transfer-Encoding), the connection's own management
    /// (Connection, Keep-Alive) and the two fields on every response (Date, Server). The one list.
    public static func isServerField(_ name: String) -> Bool {
        switch name.utf8.count {
        case 4: return HeaderFields.equalsIgnoringCase(name, "Date")
        case 6: return HeaderFields.equalsIgnoringCase(name, "Server")
        case 10: return HeaderFields.equalsIgnoringCase(name, "Connection") || HeaderFields.equalsIgnoringCase(name, "Keep-Alive")
        case 14: return HeaderFields.equalsIgnoringCase(name, "Content-Length")
        case 17: return HeaderFields.equalsIgnoringCase(name, "Transfer-Encoding")
        default: return false
        }
    }

    /// Extra fields a route adds to its responses (manifest `headers:` and `headers_always:`).
    public struct RouteFields: Sendable {
        /// Added to 2xx and 3xx responses (nginx's `add_header` rule): a cache policy must not make
        /// an error cacheable.
        public var success: HeaderFields
        /// Added to every response of the route, errors included (CSP, CORS).
        public var always: HeaderFields
        public init(success: HeaderFields = HeaderFields(), always: HeaderFields = HeaderFields()) {
            self.success = success; self.always = always
        }
        public var isEmpty: Bool { success.isEmpty && always.isEmpty }
    }

    /// Appends the whole head for `status` framed by `plan`.
    /// - Parameters:
    ///   - fields: the handler's fields; server fields among them are left out.
    ///   - preEncoded: the handler's fields already serialized (`name: value\r\n`, no server fields,
    ///     a Content-Type included); used instead of `fields` when given.
    ///   - route: the route's extra fields, each added unless the response has that field already.
    ///   - common: the serialized Date and Server fields.
    public static func encode(status: HTTPStatus, plan: ResponsePlan, fields: HeaderFields, preEncoded: [UInt8]?,
                              route: RouteFields?, common: [UInt8], into b: inout [UInt8]) {
        ResponseSerializer.writeStatusLine(status: status, version: .http1_1, into: &b)
        var hasType = false
        if let preEncoded {
            b.append(contentsOf: preEncoded)
            hasType = true  // part of the preEncoded contract
        } else {
            for f in fields {
                let n = f.name.utf8.count
                if n == 12 && HeaderFields.equalsIgnoringCase(f.name, "Content-Type") {
                    hasType = true
                } else if (n == 4 || n == 6 || n == 10 || n == 14 || n == 17) && isServerField(f.name) {
                    continue
                }
                ResponseSerializer.writeField(name: f.name, value: f.value, into: &b)
            }
        }
        if let route {
            if status.code < 400 { appendAbsent(route.success, from: fields, into: &b) }
            appendAbsent(route.always, from: fields, into: &b)
        }
        b.append(contentsOf: common)
        appendFraming(plan, hasContentType: hasType, into: &b)
    }

    /// Appends the framing fields of `plan`, the Connection field when needed (RFC 9112 §9.3) and
    /// the empty line that ends the head. A body without a Content-Type gets
    /// `application/octet-stream` (RFC 9110 §8.3 lets the recipient guess otherwise).
    public static func appendFraming(_ plan: ResponsePlan, hasContentType: Bool, into b: inout [UInt8]) {
        switch plan.delimiter {
        case .length(let n):
            b.append(contentsOf: contentLengthLabel)
            appendDecimal(n, to: &b)
            b.append(ASCII.cr); b.append(ASCII.lf)
            if !hasContentType && n > 0 { b.append(contentsOf: octetStreamLine) }
        case .chunked:
            b.append(contentsOf: chunkedLine)
        case .none, .close:
            break
        }
        appendConnection(plan, into: &b)
    }

    /// Appends the Connection field when needed (RFC 9112 §9.3) and the empty line ending the head.
    public static func appendConnection(_ plan: ResponsePlan, into b: inout [UInt8]) {
        if !plan.keepAlive {
            b.append(contentsOf: closeLine)
        } else if plan.version == .http1_0 {
            b.append(contentsOf: keepAliveLine)
        }
        b.append(ASCII.cr); b.append(ASCII.lf)
    }

    /// Appends an interim response (1xx other than 101): status line, fields, empty line.
    public static func encodeInformational(status: HTTPStatus, fields: HeaderFields, into b: inout [UInt8]) {
        ResponseSerializer.writeStatusLine(status: status, version: .http1_1, into: &b)
        for f in fields where !isServerField(f.name) { ResponseSerializer.writeField(name: f.name, value: f.value, into: &b) }
        b.append(ASCII.cr); b.append(ASCII.lf)
    }

    private static func appendAbsent(_ extra: HeaderFields, from fields: HeaderFields, into b: inout [UInt8]) {
        for f in extra where !fields.contains(f.name) {
            ResponseSerializer.writeField(name: f.name, value: f.value, into: &b)
        }
    }

    /// `100 Continue` (RFC 9110 §15.2.1).
    public static let continueBytes: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    /// The last chunk and an empty trailer section.
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    static let contentLengthLabel = Array("Content-Length: ".utf8)
    static let chunkedLine = Array("Transfer-Encoding: chunked\r\n".utf8)
    static let octetStreamLine = Array("Content-Type: application/octet-stream\r\n".utf8)
    static let closeLine = Array("Connection: close\r\n".utf8)
    static let keepAliveLine = Array("Connection: keep-alive\r\n".utf8)

    /// Appends `v` (non-negative) in decimal: digits right to left into a stack buffer, one append.
    public static func appendDecimal(_ v: Int, to b: inout [UInt8]) {
        if v < 10 { b.append(UInt8(48 + max(v, 0))); return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var n = UInt(v), i = 20
            repeat {
                i -= 1
                buf[i] = UInt8(truncatingIfNeeded: 48 + n % 10)
                n /= 10
            } while n > 0
            b.append(contentsOf: UnsafeBufferPointer(rebasing: buf[i...]))
        }
    }

    /// Frames `data` as one chunk (`size CRLF data CRLF`) appended to `b`.
    public static func appendChunk(_ data: UnsafeRawBufferPointer, to b: inout [UInt8]) {
        guard !data.isEmpty else { return }
        ResponseSerializer.writeChunkHeader(length: data.count, into: &b)
        b.append(contentsOf: data)
        ResponseSerializer.writeChunkTrailer(into: &b)
    }
}
