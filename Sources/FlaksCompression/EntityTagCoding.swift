import FlaksHTTP

/// Entity tags of compressed representations: the identity tag with the coding's suffix inside the
/// quotes (`"abc"` -> `"abc-gz"`, `W/"abc"` -> `W/"abc-gz"`), and the reverse for requests that go
/// to an upstream or FastCGI responder, which only know the identity tag.
///
/// Why a different tag: a strong tag names exact bytes (RFC 9110 §8.8.3), so the gzip bytes cannot
/// share the identity bytes' tag; and a cache that holds both (Vary: Accept-Encoding) must be able to
/// tell them apart when it revalidates with If-None-Match (RFC 9111 §4.3.1).
public enum EntityTagCoding {
    /// The tag of `coding`'s representation, from the identity tag `etag` (an `ETag` field value).
    /// Weakness is kept. Nil when `etag` is not one valid entity tag (the caller then drops the
    /// field rather than let two representations share it).
    public static func adding(_ coding: ContentCoding, to etag: String) -> String? {
        guard let tag = parseSingle(etag) else { return nil }
        return tag.withOpaque(tag.opaque.dropLast() + coding.etagSuffix + "\"").text
    }

    /// An `If-None-Match` / `If-Match` field value with the suffix of any of `codings` taken off every
    /// tag that carries one: what goes to an upstream, which knows only identity tags.
    ///
    /// Pass the coding negotiated for this request (`[c]`) for `If-None-Match` on GET/HEAD: then a
    /// tag of another coding's representation stays as it is and matches nothing upstream, so a client
    /// that now negotiates br but holds only the gzip bytes gets a full response rather than a 304
    /// for bytes it does not have. Pass every coding (the default) for `If-Match`, where the tag names
    /// the resource's state, whatever coding the client received it in.
    /// `*` and values that are not a valid list are returned unchanged.
    public static func stripping(_ codings: [ContentCoding] = ContentCoding.allCases, from fieldValue: String) -> String {
        guard let tags = parseList(fieldValue) else { return fieldValue }
        var changed = false
        let out = tags.map { tag -> String in
            for c in codings {
                let suffix = c.etagSuffix + "\""
                // The suffix must leave a non-empty tag: `"-gz"` is a tag of its own, not `""` + suffix.
                if tag.opaque.hasSuffix(suffix), tag.opaque.utf8.count > suffix.utf8.count + 1 {
                    changed = true
                    return tag.withOpaque(tag.opaque.dropLast(suffix.utf8.count) + "\"").text
                }
            }
            return tag.text
        }
        return changed ? out.joined(separator: ", ") : fieldValue
    }

    /// Rewrites the conditional fields of a request about to go upstream: `If-None-Match` loses the
    /// suffix of `negotiated` (nothing is stripped when the response will be identity), `If-Match`
    /// the suffix of every coding. `If-Range` is left alone on purpose: a range is always answered from
    /// identity, so a client validating a compressed copy must not be sent a part of the identity bytes.
    public static func stripConditionals(_ headers: inout HeaderFields, negotiated: ContentCoding?) {
        if let c = negotiated {
            rewrite(&headers, "If-None-Match") { stripping([c], from: $0) }
        }
        rewrite(&headers, "If-Match") { stripping(from: $0) }
    }

    /// Whether the `If-None-Match` values `fieldValues` contain `etag` with `coding`'s suffix: how a
    /// 304 from an upstream (which saw the stripped tag) is recognised as being about the
    /// compressed representation, so it can be sent back with the compressed tag.
    public static func listContains(_ fieldValues: [String], etag: String, coding: ContentCoding) -> Bool {
        guard let wanted = adding(coding, to: etag), let w = parseSingle(wanted) else { return false }
        for v in fieldValues {
            // If-None-Match uses the weak comparison (RFC 9110 §13.1.2): weakness is ignored.
            if let tags = parseList(v), tags.contains(where: { $0.opaque == w.opaque }) { return true }
        }
        return false
    }

    private static func rewrite(_ headers: inout HeaderFields, _ name: String, _ body: (String) -> String) {
        let values = headers.values(name)
        if values.isEmpty { return }
        let new = values.map(body)
        if new == values { return }
        headers.remove(name)
        for v in new { headers.add(name, v) }
    }

    // MARK: - Entity-tag grammar (RFC 9110 §8.8.3)

    struct Tag {
        var weak: Bool
        /// The opaque tag, quotes included.
        var opaque: Substring
        var text: String { weak ? "W/" + opaque : String(opaque) }
        func withOpaque(_ o: some StringProtocol) -> Tag { Tag(weak: weak, opaque: Substring(o)) }
    }

    static func parseSingle(_ text: String) -> Tag? {
        guard let tags = parseList(text), tags.count == 1 else { return nil }
        return tags[0]
    }

    /// `1#entity-tag` with optional whitespace; nil for `*` or anything invalid. Commas inside a
    /// tag are part of it (etagc allows them), so this scans rather than splits.
    static func parseList(_ text: String) -> [Tag]? {
        let u = Array(text.utf8)
        var i = 0
        var tags: [Tag] = []
        func skipOWS() { while i < u.count, u[i] == 0x20 || u[i] == 0x09 { i += 1 } }
        while true {
            skipOWS()
            if i == u.count { break }
            if u[i] == UInt8(ascii: ",") { i += 1; continue }
            var weak = false
            if u[i] == UInt8(ascii: "W"), i + 1 < u.count, u[i + 1] == UInt8(ascii: "/") { weak = true; i += 2 }
            guard i < u.count, u[i] == UInt8(ascii: "\"") else { return nil }
            let start = i
            i += 1
            while i < u.count, u[i] != UInt8(ascii: "\"") {
                // etagc = %x21 / %x23-7E / obs-text
                if u[i] < 0x21 || u[i] == 0x7F { return nil }
                i += 1
            }
            guard i < u.count else { return nil }
            i += 1
            tags.append(Tag(weak: weak, opaque: Substring(String(decoding: u[start..<i], as: UTF8.self))))
            skipOWS()
            guard i == u.count || u[i] == UInt8(ascii: ",") else { return nil }
        }
        return tags.isEmpty ? nil : tags
    }
}

/// The `Vary` field: adding `Accept-Encoding` to it (RFC 9110 §12.5.5).
public enum VaryField {
    /// The `Vary` value after adding `Accept-Encoding` to `existing` (nil: no field yet); nil when
    /// nothing is to change: `Accept-Encoding` is already listed (any case) or the value is `*`
    /// (varies on everything already).
    public static func addingAcceptEncoding(to existing: String?) -> String? {
        guard let existing else { return "Accept-Encoding" }
        var allEmpty = true
        for item in existing.split(separator: ",") {
            let name = item.trimmingOWS()
            if name.isEmpty { continue }
            allEmpty = false
            if name == "*" || HeaderFields.equalsIgnoringCase(String(name), "Accept-Encoding") { return nil }
        }
        return allEmpty ? "Accept-Encoding" : existing + ", Accept-Encoding"
    }

    /// Adds `Accept-Encoding` to the response's `Vary`: appended to the last `Vary` line when there is
    /// one (the field is a list, §5.3, so this is the same as a new line, and keeps one line), a new
    /// field otherwise; nothing when any line already lists it or says `*`.
    public static func addAcceptEncoding(_ headers: inout HeaderFields) {
        let values = headers.values("Vary")
        if values.isEmpty { headers.add("Vary", "Accept-Encoding"); return }
        for v in values where addingAcceptEncoding(to: v) == nil { return }
        var fields = headers.fields
        guard let last = fields.lastIndex(where: { HeaderFields.equalsIgnoringCase($0.name, "Vary") }),
              let merged = addingAcceptEncoding(to: fields[last].value) else { return }
        fields[last].value = merged
        headers = HeaderFields(fields)
    }
}

extension StringProtocol {
    /// Without leading and trailing SP / HTAB.
    func trimmingOWS() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
