import FlaksHTTP

/// The manifest's `compress:` block, resolved: which codings, from what size, for which types.
///
/// Response rules (config-schema.md, "compress"): never `text/event-stream` (even under `text/*`:
/// an event stream is read as it arrives and a compressor would hold events back), never a
/// response with `Cache-Control: no-transform` (RFC 9111 §5.2.2.6), never one that already has a
/// `Content-Encoding` (no double coding), never a body known to be smaller than `minSize`.
public struct CompressionPolicy: Sendable, Hashable {
    /// `encodings`: the server's preference, first = most preferred; empty = compression off.
    /// Default `[zstd, br, gzip]`.
    public var encodings: [ContentCoding]
    /// `min_size`, bytes: a body known to be smaller goes out as it is (exactly `minSize` is
    /// compressed). Default 1 KiB: below that the coding's framing and the CPU cost more than the
    /// bytes saved.
    public var minSize: Int
    /// `types`: the media types compressed. Default `defaultTypes`.
    public var types: [MediaTypePattern]

    /// `[text/*, application/json, application/javascript, application/xml, image/svg+xml]`.
    public static let defaultTypes: [MediaTypePattern] =
        ["text/*", "application/json", "application/javascript", "application/xml", "image/svg+xml"]
            .compactMap { MediaTypePattern($0) }

    /// Compression off (`encodings: []`).
    public static let disabled = CompressionPolicy(encodings: [])

    public init(encodings: [ContentCoding] = ContentCoding.allCases, minSize: Int = 1024,
                types: [MediaTypePattern] = CompressionPolicy.defaultTypes) {
        var seen: Set<ContentCoding> = []
        self.encodings = encodings.filter { seen.insert($0).inserted }
        self.minSize = max(0, minSize)
        self.types = types
    }

    public var isEnabled: Bool { !encodings.isEmpty }

    /// Whether `contentType` is one of `types` (and not `text/event-stream`). A response without a
    /// Content-Type is not compressed: nothing says what it is.
    public func isCompressibleType(_ contentType: String?) -> Bool {
        guard let contentType, let (t, s) = MediaTypePattern.split(contentType) else { return false }
        if t == "text" && s == "event-stream" { return false }
        return types.contains { $0.matches(type: t, subtype: s) }
    }

    /// Whether a response with these fields may be compressed, by the response-side rules (the
    /// client's Accept-Encoding is `AcceptEncoding.negotiate`'s business).
    /// - Parameters:
    ///   - contentType: the `Content-Type` value, nil when absent.
    ///   - contentEncoding: the `Content-Encoding` value(s) joined, nil when absent. Any coding
    ///     other than `identity` means the body is encoded already.
    ///   - cacheControl: the `Cache-Control` values joined, nil when absent.
    ///   - knownLength: the body's length when known (Content-Length, a file's size, a whole body),
    ///     nil when it streams with no length.
    public func shouldCompress(contentType: String?, contentEncoding: String?, cacheControl: String?,
                               knownLength: Int?) -> Bool {
        guard isEnabled else { return false }
        if let contentEncoding, Self.hasCoding(contentEncoding) { return false }
        if let cacheControl, Self.hasNoTransform(cacheControl) { return false }
        if let knownLength, knownLength < minSize { return false }
        return isCompressibleType(contentType)
    }

    /// `shouldCompress` with the values read from response header fields. When `knownLength` is nil,
    /// a valid `Content-Length` field is used.
    public func shouldCompress(responseHeaders h: HeaderFields, knownLength: Int? = nil) -> Bool {
        let length = knownLength ?? Self.contentLength(h)
        // Every condition is a veto: the cheap one first, before the fields are looked up and joined
        // (~1,100 instructions for each small proxied answer).
        if let length, length < minSize { return false }
        return shouldCompress(contentType: h["Content-Type"], contentEncoding: Self.joined(h, "Content-Encoding"),
                              cacheControl: Self.joined(h, "Cache-Control"), knownLength: length)
    }

    /// Decides what happens to one response: the response-side rules, then the request's Range,
    /// then Accept-Encoding negotiation. See `CompressionDecision` for what each outcome changes.
    ///
    /// - `HEAD` is decided exactly like `GET`, so it gets GET's headers (RFC 9110 §9.3.2).
    /// - 1xx, 204: unchanged (no content). 206 or a `Content-Range`: identity (a part of the
    ///   identity bytes; compressing it would make a part of nothing the client can reassemble).
    /// - A GET with `Range` is answered from identity (ranges of a compressed stream are not offered),
    ///   with Vary, since the same GET without Range would have been compressed.
    /// - 304 (from an upstream that saw the stripped tags): `.notModified(c)` when the request's
    ///   If-None-Match holds the response's tag with the negotiated coding's suffix, so the 304 goes
    ///   back with the tag the client has; unchanged otherwise.
    public func decide(method: HTTPMethod, requestHeaders: HeaderFields, status: Int,
                       responseHeaders: HeaderFields, knownLength: Int? = nil) -> CompressionDecision {
        guard isEnabled else { return .unchanged }
        if status < 200 || status == 204 { return .unchanged }
        if status == 304 {
            guard let etag = responseHeaders["ETag"],
                  let c = AcceptEncoding.negotiate(requestHeaders, offered: encodings).coding,
                  EntityTagCoding.listContains(requestHeaders.values("If-None-Match"), etag: etag, coding: c)
            else { return .unchanged }
            return .notModified(c)
        }
        guard shouldCompress(responseHeaders: responseHeaders, knownLength: knownLength) else { return .unchanged }
        if status == 206 || responseHeaders.contains("Content-Range") { return .identity(.partialContent) }
        if method == .GET && requestHeaders.contains("Range") { return .identity(.range) }
        switch AcceptEncoding.negotiate(requestHeaders, offered: encodings) {
        case .coding(let c): return .compress(c)
        case .identity: return .identity(.notAccepted)
        case .identityRefused: return .identity(.identityRefused)
        }
    }

    // MARK: - Field helpers

    /// Whether a Content-Encoding value names any coding but `identity`.
    static func hasCoding(_ value: String) -> Bool {
        value.split(separator: ",").contains { item in
            let t = item.trimmingOWS()
            return !t.isEmpty && !HeaderFields.equalsIgnoringCase(String(t), "identity")
        }
    }

    /// Whether a Cache-Control value has the `no-transform` directive (names are case-insensitive,
    /// RFC 9111 §5.2). A quoted argument of another directive could contain a comma; the scan
    /// skips quoted strings so `private="a, no-transform"` is not mistaken for it.
    static func hasNoTransform(_ value: String) -> Bool {
        var item: [UInt8] = []
        var inQuotes = false
        var escaped = false
        func check() -> Bool {
            var s = Substring(String(decoding: item, as: UTF8.self)).trimmingOWS()
            if let eq = s.firstIndex(of: "=") { s = s[..<eq].trimmingOWS() }
            return HeaderFields.equalsIgnoringCase(String(s), "no-transform")
        }
        for b in value.utf8 {
            if inQuotes {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inQuotes = false }
                item.append(b)
                continue
            }
            if b == UInt8(ascii: "\"") { inQuotes = true }
            if b == UInt8(ascii: ",") {
                if check() { return true }
                item.removeAll(keepingCapacity: true)
            } else {
                item.append(b)
            }
        }
        return check()
    }

    static func joined(_ h: HeaderFields, _ name: String) -> String? {
        let v = h.values(name)
        if v.isEmpty { return nil }
        return v.count == 1 ? v[0] : v.joined(separator: ", ")
    }

    /// A Content-Length of digits only (RFC 9110 §8.6), else nil.
    static func contentLength(_ h: HeaderFields) -> Int? {
        guard let v = h["Content-Length"] else { return nil }
        let t = v.trimmingOWS()
        guard !t.isEmpty, t.utf8.count <= 18, t.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(t)
    }
}

/// What to do with one response's headers and body; `apply(to:)` makes the header changes.
public enum CompressionDecision: Sendable, Hashable {
    /// Not a candidate: compression off, a type not in `types`, already encoded, `no-transform`, a
    /// body known to be under `min_size`, or a status without content. Nothing changes, no Vary.
    case unchanged
    /// A candidate that goes out as identity: only `Vary: Accept-Encoding` is added, because the
    /// same request with another Accept-Encoding (or without Range) could have been compressed.
    case identity(IdentityReason)
    /// Compress the body with the coding. Headers: `Content-Encoding`, Vary, the ETag suffixed,
    /// `Content-Length` removed (the body goes out chunked, or with the compressed length when it is
    /// compressed whole), `Accept-Ranges` removed (ranges are not offered on it).
    case compress(ContentCoding)
    /// A 304 about the coding's representation: the ETag suffixed and Vary; no Content-Encoding
    /// (a 304 has no content; RFC 9110 §15.4.5 lists what it carries).
    case notModified(ContentCoding)

    /// Why a candidate went out as identity.
    public enum IdentityReason: Sendable, Hashable {
        /// The client accepts none of the offered codings, or prefers identity.
        case notAccepted
        /// The client refused identity as well; identity is sent anyway (RFC 9110 §12.5.3).
        case identityRefused
        /// A GET with Range: answered from the identity representation.
        case range
        /// A 206 (or a response with Content-Range).
        case partialContent
    }

    /// The coding the body is compressed with, nil when it goes out as it is.
    public var coding: ContentCoding? {
        if case .compress(let c) = self { return c }
        return nil
    }

    /// Whether `Vary: Accept-Encoding` is added.
    public var varies: Bool {
        if case .unchanged = self { return false }
        return true
    }

    /// Makes the header changes the decision implies (see each case).
    public func apply(to headers: inout HeaderFields) {
        switch self {
        case .unchanged:
            return
        case .identity:
            VaryField.addAcceptEncoding(&headers)
        case .compress(let c):
            VaryField.addAcceptEncoding(&headers)
            headers.set("Content-Encoding", c.token)
            headers.remove("Content-Length")
            headers.remove("Accept-Ranges")
            // Digests of the content or representation (RFC 9530) describe the identity bytes.
            headers.remove("Content-Digest")
            headers.remove("Repr-Digest")
            Self.suffixETag(c, &headers)
        case .notModified(let c):
            VaryField.addAcceptEncoding(&headers)
            Self.suffixETag(c, &headers)
        }
    }

    /// The ETag with the coding's suffix; an ETag that is not a valid tag is dropped, so the two
    /// representations never share one.
    static func suffixETag(_ c: ContentCoding, _ headers: inout HeaderFields) {
        guard let etag = headers["ETag"] else { return }
        if let tagged = EntityTagCoding.adding(c, to: etag) {
            headers.set("ETag", tagged)
        } else {
            headers.remove("ETag")
        }
    }
}
