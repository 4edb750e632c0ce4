import FlaksHTTP

/// An entity tag (RFC 9110 §8.8.3): an opaque quoted string, weak when prefixed with `W/`.
public struct EntityTag: Sendable, Hashable {
    /// The opaque tag including its double quotes.
    public var opaque: Substring
    public var weak: Bool

    public init(opaque: Substring, weak: Bool) { self.opaque = opaque; self.weak = weak }

    /// Strong comparison (RFC 9110 §8.8.3.2): both strong and character-for-character equal.
    public func strongMatch(_ other: EntityTag) -> Bool { !weak && !other.weak && opaque == other.opaque }
    /// Weak comparison: the opaque tags are equal, weakness ignored.
    public func weakMatch(_ other: EntityTag) -> Bool { opaque == other.opaque }

    /// A list of tags as in If-Match / If-None-Match: `*`, or `#entity-tag`.
    public enum List: Sendable, Equatable {
        case any
        case tags([EntityTag])
        /// The field was present but not a valid list: treated as matching nothing.
        case invalid
    }

    /// Parses one tag, e.g. `"abc"` or `W/"abc"`, the whole of `text` after trimming spaces.
    public static func parse(_ text: Substring) -> EntityTag? {
        if case .tags(let t) = parseList(text), t.count == 1 { return t[0] }
        return nil
    }

    /// Parses the combined field values of If-Match / If-None-Match. Commas inside a quoted tag
    /// are part of it (etagc allows them), so this is a small scanner, not a split on ",".
    public static func parseList(_ text: Substring) -> List {
        let u = text.utf8
        var i = u.startIndex
        var tags: [EntityTag] = []
        func skipOWS() { while i < u.endIndex, u[i] == 32 || u[i] == 9 { i = u.index(after: i) } }
        skipOWS()
        if i < u.endIndex, u[i] == UInt8(ascii: "*") {
            i = u.index(after: i); skipOWS()
            return i == u.endIndex ? .any : .invalid
        }
        while true {
            skipOWS()
            if i == u.endIndex { break }
            if u[i] == UInt8(ascii: ",") { i = u.index(after: i); continue }
            var weak = false
            if u[i] == UInt8(ascii: "W"), u.index(after: i) < u.endIndex, u[u.index(after: i)] == UInt8(ascii: "/") {
                weak = true
                i = u.index(i, offsetBy: 2)
            }
            guard i < u.endIndex, u[i] == UInt8(ascii: "\"") else { return .invalid }
            let start = i
            i = u.index(after: i)
            while i < u.endIndex, u[i] != UInt8(ascii: "\"") {
                // etagc = %x21 / %x23-7E / obs-text
                if u[i] < 0x21 || u[i] == 0x7F { return .invalid }
                i = u.index(after: i)
            }
            guard i < u.endIndex else { return .invalid }
            i = u.index(after: i)
            tags.append(EntityTag(opaque: Substring(u[start..<i]), weak: weak))
            skipOWS()
            guard i == u.endIndex || u[i] == UInt8(ascii: ",") else { return .invalid }
            if tags.count > 64 { break }
        }
        return tags.isEmpty ? .invalid : .tags(tags)
    }
}

/// The current representation's validators: what conditionals are evaluated against.
public struct Validators: Sendable, Equatable {
    /// The strong ETag field value, quotes included.
    public var etag: String
    /// Last modification, seconds since 1970 (the resolution of Last-Modified).
    public var lastModified: Int

    public init(etag: String, lastModified: Int) { self.etag = etag; self.lastModified = lastModified }

    /// A strong ETag from inode, size and modification time in nanoseconds, all hex:
    /// `"<ino>-<size>-<mtime ns>"`. Any rewrite (new inode with rename, or size/mtime change) changes
    /// it; it is strong because the same (inode, size, mtime ns) means the same bytes for a regular file
    /// on any file system with nanosecond timestamps (RFC 9110 §8.8.3: a server decides).
    public static func etag(inode: UInt64, size: Int, mtimeNanos: Int) -> String {
        // Built as bytes: this runs for every file response (String(radix:) + concatenation was ~10%
        // of the handler's time in a profile).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 56) { buf in
            var n = 0
            buf[n] = UInt8(ascii: "\""); n += 1
            appendHex(inode, buf, &n)
            buf[n] = UInt8(ascii: "-"); n += 1
            appendHex(UInt64(truncatingIfNeeded: size), buf, &n)
            buf[n] = UInt8(ascii: "-"); n += 1
            appendHex(UInt64(truncatingIfNeeded: mtimeNanos), buf, &n)
            buf[n] = UInt8(ascii: "\""); n += 1
            return String(decoding: UnsafeBufferPointer(rebasing: buf[0..<n]), as: UTF8.self)
        }
    }

    /// Lowercase hex without leading zeros ("0" for zero); at most 16 digits.
    private static func appendHex(_ v: UInt64, _ buf: UnsafeMutableBufferPointer<UInt8>, _ n: inout Int) {
        let digits: StaticString = "0123456789abcdef"
        var shift = 60
        while shift > 0 && (v >> UInt64(shift)) == 0 { shift -= 4 }
        while shift >= 0 {
            buf[n] = digits.utf8Start[Int((v >> UInt64(shift)) & 15)]
            n += 1
            shift -= 4
        }
    }
}

/// The outcome of evaluating conditional request headers against a file.
public enum ConditionalOutcome: Sendable, Equatable {
    /// Go on; `honourRange` is false when If-Range failed (send the whole representation).
    case proceed(honourRange: Bool)
    /// 304 Not Modified.
    case notModified
    /// 412 Precondition Failed.
    case preconditionFailed
}

/// RFC 9110 §13.2.2: the order in which preconditions are evaluated.
public enum Preconditions {
    /// Evaluates If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since and If-Range,
    /// in that order, for a representation that exists.
    public static func evaluate(method: HTTPMethod, headers: HeaderFields, validators v: Validators) -> ConditionalOutcome {
        // Every precondition field is named If-*: most requests have none, and one pass says so.
        guard mayHavePreconditions(headers) else { return .proceed(honourRange: true) }
        let current = EntityTag(opaque: Substring(v.etag), weak: false)
        let isGetOrHead = method == .GET || method == .HEAD
        // Step 1: If-Match (§13.1.1), strong comparison; `*` matches any current representation.
        if let ifMatch = combined(headers, "If-Match") {
            switch EntityTag.parseList(ifMatch) {
            case .any: break
            case .tags(let tags): if !tags.contains(where: { $0.strongMatch(current) }) { return .preconditionFailed }
            case .invalid: return .preconditionFailed
            }
        } else if let ius = headers["If-Unmodified-Since"], let date = StaticDates.parse(Substring(ius)) {
            // Step 2 (§13.1.4): only without If-Match; an invalid date is ignored.
            if v.lastModified > date { return .preconditionFailed }
        }
        // Step 3: If-None-Match (§13.1.2), weak comparison.
        if let inm = combined(headers, "If-None-Match") {
            let matched: Bool
            switch EntityTag.parseList(inm) {
            case .any: matched = true
            case .tags(let tags): matched = tags.contains { $0.weakMatch(current) }
            case .invalid: matched = false
            }
            if matched { return isGetOrHead ? .notModified : .preconditionFailed }
        } else if isGetOrHead, let ims = headers["If-Modified-Since"], let date = StaticDates.parse(Substring(ims)) {
            // Step 4 (§13.1.3): only without If-None-Match, only GET/HEAD; an invalid date is ignored.
            if v.lastModified <= date { return .notModified }
        }
        // Step 5: If-Range (§13.1.5), only meaningful for GET with Range.
        if method == .GET, headers.contains("Range"), let ifRange = headers["If-Range"] {
            return .proceed(honourRange: ifRangeMatches(Substring(ifRange), validators: v, current: current))
        }
        return .proceed(honourRange: true)
    }

    /// Whether some field name starts with "If-" (ASCII case-insensitive).
    static func mayHavePreconditions(_ headers: HeaderFields) -> Bool {
        for i in headers.fields.indices {
            var it = headers.fields[i].name.utf8.makeIterator()
            if it.next().map({ $0 | 0x20 }) == UInt8(ascii: "i"), it.next().map({ $0 | 0x20 }) == UInt8(ascii: "f"),
               it.next() == UInt8(ascii: "-") { return true }
        }
        return false
    }

    /// If-Range (§13.1.5): an entity tag must match strongly; a date must equal Last-Modified exactly.
    /// Anything unparsable fails, so the client gets the whole representation (safe default).
    static func ifRangeMatches(_ value: Substring, validators v: Validators, current: EntityTag) -> Bool {
        let t = value.drop { $0 == " " || $0 == "\t" }
        if t.hasPrefix("\"") || t.hasPrefix("W/") {
            guard let tag = EntityTag.parse(t) else { return false }
            return tag.strongMatch(current)
        }
        guard let date = StaticDates.parse(t) else { return false }
        return date == v.lastModified
    }

    /// Every value of a list field joined with ", " (RFC 9110 §5.3), or nil when absent.
    static func combined(_ headers: HeaderFields, _ name: String) -> Substring? {
        let vs = headers.values(name)
        if vs.isEmpty { return nil }
        if vs.count == 1 { return Substring(vs[0]) }
        return Substring(vs.joined(separator: ", "))
    }
}
