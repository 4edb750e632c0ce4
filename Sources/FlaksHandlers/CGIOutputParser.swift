import FlaksHTTP

/// What a CGI script's header section asks the server to do (RFC 3875 §6.2).
public enum CGIReply: Sendable, Equatable {
    /// document-response or client-redirect response (§6.2.1, §6.2.3, §6.2.4): send `status` and
    /// `headers`, then stream the rest of the script's output as the body.
    case document(status: HTTPStatus, headers: HeaderFields)
    /// local-redirect response (§6.2.2): a `Location` that is a local path and no `Status`; the
    /// server serves that path itself as a GET and ignores the script's body.
    case localRedirect(String)
}

extension CGIReply {
    /// What a complete header section means for the answer (RFC 3875 §6.2), for a CGI script and a
    /// FastCGI responder alike; each machine turns it into its own phase and actions.
    enum Outcome: Equatable {
        /// §6.2.2: the server serves `target` itself; the script's body is read and dropped.
        case internalRedirect(String)
        /// A status without a body (1xx aside: 204, 304): the head is the answer, the body dropped.
        case respond(HTTPStatus, HeaderFields)
        /// HEAD: GET's head (with the script's length, if it gave one), the body drained and dropped.
        case headOnly(HTTPStatus, HeaderFields, length: Int?)
        /// The head, then the script's output as the body.
        case stream(HTTPStatus, HeaderFields, length: Int?)
    }

    func outcome(method: HTTPMethod) -> Outcome {
        switch self {
        case .localRedirect(let target):
            return .internalRedirect(target)
        case .document(let status, let headers):
            if status.forbidsBody { return .respond(status, headers) }
            let length = headers["Content-Length"].flatMap { Int($0) }
            return method == .HEAD ? .headOnly(status, headers, length: length) : .stream(status, headers, length: length)
        }
    }
}

/// Why a script's output is not a valid CGI response; the client gets 502 (RFC 3875 §6).
public enum CGIOutputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No blank line ended the header section within the size limit.
    case headerTooLarge(limit: Int)
    /// The output ended before the blank line that ends the header section.
    case incompleteHeader
    /// A header line that is not `name: value` (or a folded continuation line).
    case badHeaderLine(String)
    /// A `Status` field that is not a 3-digit code 200...599 with an optional reason.
    case badStatus(String)
    /// A `Content-Length` that is not a decimal number.
    case badContentLength(String)
    /// `Status`, `Location`, `Content-Type` or `Content-Length` given twice.
    case duplicateField(String)
    /// None of Content-Type, Location, Status: not any response type of §6.2.
    case noResponseType

    public var description: String {
        switch self {
        case .headerTooLarge(let n): "no end of the header section within \(n) bytes"
        case .incompleteHeader: "output ended inside the header section"
        case .badHeaderLine(let l): "invalid header line \(CGIOutputError.quote(l))"
        case .badStatus(let s): "invalid Status \(CGIOutputError.quote(s))"
        case .badContentLength(let s): "invalid Content-Length \(CGIOutputError.quote(s))"
        case .duplicateField(let n): "\(n) given more than once"
        case .noResponseType: "none of Content-Type, Location or Status in the header section"
        }
    }

    /// A short, printable rendering of script output for the error log.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars.prefix(80) {
            if u.value < 0x20 || u.value == 0x7F { out += "\\x" + String(u.value, radix: 16) } else { out.unicodeScalars.append(u) }
        }
        return out + (s.unicodeScalars.count > 80 ? "…\"" : "\"")
    }
}

/// Incremental parser for the header section of a CGI script's output (RFC 3875 §6.3).
///
/// Feed stdout bytes with `append`; once the blank line arrives it returns the reply and how many of
/// the appended bytes belong to the body. Lines may end in LF or CRLF (§6.3 says NL; scripts written
/// for Unix print bare LF). The header section is bounded by `limit` (default 64 KiB) so a script that
/// never ends its header cannot grow server memory.
///
/// Decisions (RFC 3875 §6.2, §6.3):
/// - `Status: NNN [reason]` sets the status; the reason phrase is replaced by the server's own.
/// - `Location` starting with a single "/" and no `Status` → local redirect.
/// - Any other `Location` without `Status` → 302 (client redirect), other fields passed on.
/// - A response needs at least one of Content-Type, Location, Status.
/// - Hop-by-hop fields (Connection, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade,
///   Proxy-Connection) and Date/Server (the server sets them) are dropped.
public struct CGIOutputParser: Sendable {
    /// The result of feeding bytes.
    public enum Event: Sendable, Equatable {
        /// No blank line yet: feed more.
        case needMoreBytes
        /// The header section is complete. The last `bodyBytes` bytes of the data just appended are
        /// body bytes and must be passed on.
        case head(CGIReply, bodyBytes: Int)
    }

    /// Most bytes of header section accepted. Default 64 KiB.
    public let limit: Int
    private var buffer: [UInt8] = []
    /// Where to resume the search for the end of the header section, and where the current line began.
    private var scanFrom = 0
    private var lineStart = 0
    public private(set) var isComplete = false

    public init(limit: Int = 64 * 1024) { self.limit = limit }

    /// True when no byte was appended yet (the script printed nothing).
    public var isEmpty: Bool { buffer.isEmpty && !isComplete }

    /// Appends script output; returns the reply once the header section is complete.
    /// Must not be called again after it returned `.head`.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(CGIOutputError) -> Event {
        precondition(!isComplete, "CGIOutputParser fed after the header section ended")
        buffer.append(contentsOf: bytes)
        guard let (headEnd, bodyStart) = findEnd() else {
            if buffer.count > limit { throw .headerTooLarge(limit: limit) }
            return .needMoreBytes
        }
        if headEnd > limit { throw .headerTooLarge(limit: limit) }
        isComplete = true
        let reply = try CGIOutputParser.parseHead(buffer[0..<headEnd])
        // The LF that ends the blank line is new, so every body byte is among the bytes just appended.
        let body = buffer.count - bodyStart
        buffer = []
        return .head(reply, bodyBytes: body)
    }

    /// Convenience for tests and callers holding an array.
    public mutating func append(_ bytes: [UInt8]) throws(CGIOutputError) -> Event {
        let r: Result<Event, CGIOutputError> = bytes.withUnsafeBytes { p in Result { () throws(CGIOutputError) in try append(p) } }
        return try r.get()
    }

    /// The script's output ended (EOF). Throws unless the header section was complete.
    public func finish() throws(CGIOutputError) {
        if !isComplete { throw .incompleteHeader }
    }

    /// Finds the blank line (LF or CR LF alone): returns where the header lines end and where the body
    /// starts. The blank line may be the very first line (an empty header section).
    private mutating func findEnd() -> (headEnd: Int, bodyStart: Int)? {
        var i = scanFrom
        while i < buffer.count {
            if buffer[i] == 10 {
                let contentEnd = (i > lineStart && buffer[i - 1] == 13) ? i - 1 : i
                if contentEnd == lineStart { return (lineStart, i + 1) }
                lineStart = i + 1
            }
            i += 1
        }
        scanFrom = i
        return nil
    }

    /// Hop-by-hop fields (RFC 9110 §7.6.1) and fields the server owns: never passed on from a script.
    static let droppedFields: Set<String> = ["connection", "keep-alive", "transfer-encoding", "te", "trailer",
                                             "upgrade", "proxy-connection", "date", "server"]

    enum FieldKind { case status, location, contentType, contentLength, dropped, other }

    /// What a script's field is to the parser, by its name compared without regard to case
    /// (`droppedFields` are hop-by-hop or the server's own).
    static func fieldKind(_ name: ArraySlice<UInt8>) -> FieldKind {
        func named(_ s: StaticString) -> Bool {
            guard s.utf8CodeUnitCount == name.count else { return false }
            var i = name.startIndex
            for k in 0..<s.utf8CodeUnitCount {
                let c = name[i], b = s.utf8Start[k]
                if c != b && (c | 0x20) != b { return false }
                i += 1
            }
            return true
        }
        switch name.count {
        case 2: return named("te") ? .dropped : .other
        case 4: return named("date") ? .dropped : .other
        case 6: return named("status") ? .status : named("server") ? .dropped : .other
        case 7: return named("trailer") || named("upgrade") ? .dropped : .other
        case 8: return named("location") ? .location : .other
        case 10: return named("connection") || named("keep-alive") ? .dropped : .other
        case 12: return named("content-type") ? .contentType : .other
        case 14: return named("content-length") ? .contentLength : .other
        case 16: return named("proxy-connection") ? .dropped : .other
        case 17: return named("transfer-encoding") ? .dropped : .other
        default: return .other
        }
    }

    /// Parses the header lines (without the blank line) into a reply.
    static func parseHead(_ bytes: ArraySlice<UInt8>) throws(CGIOutputError) -> CGIReply {
        var headers = HeaderFields()
        var status: HTTPStatus?
        var location: String?
        var hasType = false, hasLength = false
        // Lines found and names compared as bytes; strings only for what is kept (a split into an
        // array, a string per line for errors that rarely happen and a lowercased copy per name
        // cost ~3,500 instructions per response of two fields).
        var lineStart = bytes.startIndex
        while lineStart < bytes.endIndex {
            let lineEnd = bytes[lineStart...].firstIndex(of: 10) ?? bytes.endIndex
            var line = bytes[lineStart..<lineEnd]
            lineStart = lineEnd == bytes.endIndex ? lineEnd : lineEnd + 1
            if line.last == 13 { line = line.dropLast() }
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: 58) else { throw .badHeaderLine(String(decoding: line, as: UTF8.self)) }
            let nameBytes = line[line.startIndex..<colon]
            guard !nameBytes.isEmpty, nameBytes.allSatisfy(isTokenByte) else {
                throw .badHeaderLine(String(decoding: line, as: UTF8.self))
            }
            var valueBytes = line[(colon + 1)...]
            while let f = valueBytes.first, f == 32 || f == 9 { valueBytes = valueBytes.dropFirst() }
            while let l = valueBytes.last, l == 32 || l == 9 { valueBytes = valueBytes.dropLast() }
            guard valueBytes.allSatisfy({ $0 >= 32 && $0 != 127 || $0 == 9 || $0 >= 128 }) else {
                throw .badHeaderLine(String(decoding: line, as: UTF8.self))
            }
            let kind = fieldKind(nameBytes)
            if kind == .dropped { continue }
            let name = String(decoding: nameBytes, as: UTF8.self)
            let value = String(decoding: valueBytes, as: UTF8.self)
            switch kind {
            case .status:
                guard status == nil else { throw .duplicateField("Status") }
                status = try parseStatus(value)
            case .location:
                guard location == nil else { throw .duplicateField("Location") }
                guard !value.isEmpty else { throw .badHeaderLine(String(decoding: line, as: UTF8.self)) }
                location = value
            case .contentType:
                guard !hasType else { throw .duplicateField("Content-Type") }
                hasType = true
                headers.add(name, value)
            case .contentLength:
                guard !hasLength else { throw .duplicateField("Content-Length") }
                guard !value.isEmpty, value.utf8.count <= 18, value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                    throw .badContentLength(value)
                }
                hasLength = true
                headers.add("Content-Length", value)
            case .dropped:
                continue
            case .other:
                headers.add(name, value)
            }
        }
        if let location {
            // §6.2.2: a local path ("/", not "//host", which is a network-path reference) and no Status.
            let isLocal = location.hasPrefix("/") && !location.hasPrefix("//")
            if isLocal && status == nil { return .localRedirect(location) }
            headers.add("Location", location)
            return .document(status: status ?? .found, headers: headers)
        }
        guard hasType || status != nil else { throw .noResponseType }
        return .document(status: status ?? .ok, headers: headers)
    }

    /// `Status: 404 Not Found` → 404 (RFC 3875 §6.3.3). 1xx is refused: a script cannot switch protocols.
    static func parseStatus(_ value: String) throws(CGIOutputError) -> HTTPStatus {
        let u = Array(value.utf8)
        guard u.count >= 3, u[0...2].allSatisfy({ $0 >= 48 && $0 <= 57 }), u.count == 3 || u[3] == 32 || u[3] == 9 else {
            throw .badStatus(value)
        }
        let code = Int(u[0] - 48) * 100 + Int(u[1] - 48) * 10 + Int(u[2] - 48)
        guard (200...599).contains(code) else { throw .badStatus(value) }
        return HTTPStatus(code)
    }

    /// RFC 9110 §5.6.2 tchar.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: true
        default: false
        }
    }
}
