/// A parsed form body: its fields and, for multipart/form-data, its files.
public struct Form: Sendable {
    /// Text fields (urlencoded pairs, or multipart parts without a filename), in order.
    public var fields: FormFields
    /// Multipart parts with a filename, in order.
    public var files: [UploadedFile]

    public init(fields: FormFields = FormFields(), files: [UploadedFile] = []) { self.fields = fields; self.files = files }

    /// The first value of the text field `name`.
    public subscript(name: String) -> String? { fields[name] }

    /// The first file uploaded under the field `name`.
    public func file(_ name: String) -> UploadedFile? { files.first { $0.field == name } }
}

/// One file of a multipart/form-data body (RFC 7578 §4.2).
public struct UploadedFile: Sendable, Equatable {
    /// The form field it was sent under.
    public var field: String
    /// The file name the client gave (may be empty; never trust it as a path).
    public var filename: String
    /// The part's Content-Type; "application/octet-stream" when it had none (RFC 7578 §4.4).
    public var contentType: String
    /// The file's bytes.
    public var bytes: [UInt8]
}

/// A small multipart/form-data parser (RFC 7578 on the RFC 2046 §5.1.1 syntax).
///
/// Hand-written rather than taken from vapor/multipart-kit because that package depends on
/// SwiftNIO (ByteBuffer), which Flaks deliberately does not use. The body is already complete and
/// bounded by `limits.max_body` when a view reads it, so this is a plain scan over one array:
/// no streaming state, no copies beyond each part's value. Every other size is bounded by
/// `FormLimits` (parts, fields, bytes of one part's header block); anything malformed is a 400.
enum MultipartParser {
    /// The boundary parameter of a multipart Content-Type (quoted or not, 1 to 70 characters, RFC 2046 §5.1.1).
    static func boundary(contentType: String) -> String? {
        for param in contentType.split(separator: ";").dropFirst() {
            let p = Substring(param).trimmingASCIISpaces()
            guard let eq = p.firstIndex(of: "="), p[..<eq].trimmingASCIISpaces().lowercased() == "boundary" else { continue }
            var v = p[p.index(after: eq)...].trimmingASCIISpaces()
            if v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") { v = v.dropFirst().dropLast() }
            guard (1...70).contains(v.utf8.count), v.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
            return String(v)
        }
        return nil
    }

    static func parse(_ body: [UInt8], boundary: String, limits: FormLimits) throws(HTTPError) -> Form {
        func bad(_ why: String) -> HTTPError { HTTPError(.badRequest, "malformed multipart body: \(why)") }
        let dash = Array(("--" + boundary).utf8)
        let delimiter = [13, 10] + dash  // CRLF "--" boundary: ends every part's content
        // The first boundary may follow a preamble; it starts the body or a line.
        var pos: Int
        if body.starts(with: dash) {
            pos = dash.count
        } else if let d = find(delimiter, in: body, from: 0) {
            pos = d + delimiter.count
        } else {
            throw bad("no boundary")
        }
        var form = Form()
        var parts = 0
        while true {
            // After a boundary: "--" closes the body; else optional whitespace (transport padding) and CRLF.
            if pos + 2 <= body.count, body[pos] == UInt8(ascii: "-"), body[pos + 1] == UInt8(ascii: "-") { return form }
            while pos < body.count, body[pos] == UInt8(ascii: " ") || body[pos] == UInt8(ascii: "\t") { pos += 1 }
            guard pos + 2 <= body.count, body[pos] == 13, body[pos + 1] == 10 else { throw bad("expected CRLF after a boundary") }
            pos += 2
            parts += 1
            guard parts <= limits.maxParts else { throw HTTPError(.contentTooLarge, "more than \(limits.maxParts) multipart parts") }
            // Header block: up to an empty line (it may be empty itself).
            let headerEnd: Int
            if body.count - pos >= 2, body[pos] == 13, body[pos + 1] == 10 {
                headerEnd = pos
            } else {
                guard let e = find([13, 10, 13, 10], in: body, from: pos, limit: limits.maxPartHeaderBytes + 4) else {
                    throw body.count - pos > limits.maxPartHeaderBytes
                        ? HTTPError(.contentTooLarge, "a multipart part's headers exceed \(limits.maxPartHeaderBytes) bytes")
                        : bad("unterminated part headers")
                }
                headerEnd = e + 2
            }
            let headers = parseHeaders(body[pos..<headerEnd])
            let contentStart = headerEnd + 2
            guard let contentEnd = find(delimiter, in: body, from: contentStart) else { throw bad("missing closing boundary") }
            pos = contentEnd + delimiter.count

            guard let disposition = headers["Content-Disposition"],
                  disposition.split(separator: ";").first?.trimmingASCIISpaces().lowercased() == "form-data",
                  let name = dispositionParameter(disposition, "name") else {
                throw bad("a part without Content-Disposition: form-data; name=...")
            }
            if let filename = dispositionParameter(disposition, "filename") {
                form.files.append(UploadedFile(field: name, filename: filename,
                                               contentType: headers["Content-Type"] ?? "application/octet-stream",
                                               bytes: Array(body[contentStart..<contentEnd])))
            } else {
                guard form.fields.count < limits.maxFields else { throw HTTPError(.contentTooLarge, "more than \(limits.maxFields) form fields") }
                form.fields.append(name, String(decoding: body[contentStart..<contentEnd], as: UTF8.self))
            }
        }
    }

    /// `Name: value` lines of one part (no folding: RFC 7578 forbids it in practice).
    private static func parseHeaders(_ block: ArraySlice<UInt8>) -> HeaderFields {
        var h = HeaderFields()
        for line in block.split(separator: 10) {
            var l = line
            if l.last == 13 { l = l.dropLast() }
            guard let colon = l.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = Substring(String(decoding: l[..<colon], as: UTF8.self)).trimmingASCIISpaces()
            let value = Substring(String(decoding: l[(colon + 1)...], as: UTF8.self)).trimmingASCIISpaces()
            h.add(String(name), String(value))
        }
        return h
    }

    /// A parameter of Content-Disposition (`name="a b"`, `filename=x.txt`); quoted strings may
    /// contain ";" and backslash escapes.
    static func dispositionParameter(_ header: String, _ wanted: String) -> String? {
        var chars = Substring(header)
        guard let semi = chars.firstIndex(of: ";") else { return nil }
        chars = chars[chars.index(after: semi)...]
        while !chars.isEmpty {
            chars = chars.trimmingASCIISpaces()
            guard let eq = chars.firstIndex(of: "=") else { return nil }
            let key = chars[..<eq].trimmingASCIISpaces().lowercased()
            chars = chars[chars.index(after: eq)...].trimmingASCIISpaces()
            var value = ""
            if chars.first == "\"" {
                chars = chars.dropFirst()
                var escaped = false
                while let c = chars.first {
                    chars = chars.dropFirst()
                    if escaped { value.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { break } else { value.append(c) }
                }
                if let semi = chars.firstIndex(of: ";") { chars = chars[chars.index(after: semi)...] } else { chars = "" }
            } else if let semi = chars.firstIndex(of: ";") {
                value = String(chars[..<semi].trimmingASCIISpaces())
                chars = chars[chars.index(after: semi)...]
            } else {
                value = String(chars.trimmingASCIISpaces())
                chars = ""
            }
            if key == wanted { return value }
        }
        return nil
    }

    /// The first index of `needle` in `hay` at or after `from` (and starting before `from + limit`).
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int, limit: Int = .max) -> Int? {
        guard let first = needle.first, from >= 0, hay.count - from >= needle.count else { return nil }
        let lastStart = min(hay.count - needle.count, limit == .max ? .max : from + limit)
        return hay.withUnsafeBufferPointer { h -> Int? in
            needle.withUnsafeBufferPointer { n -> Int? in
                var i = from
                while i <= lastStart {
                    if h[i] == first {
                        var j = 1
                        while j < n.count && h[i + j] == n[j] { j += 1 }
                        if j == n.count { return i }
                    }
                    i += 1
                }
                return nil
            }
        }
    }
}
