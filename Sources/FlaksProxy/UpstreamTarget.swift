import FlaksHTTP

/// The request-target sent upstream (RFC 9112 §3.2), derived from the client's target without
/// decoding or re-encoding it: the upstream gets the bytes the client sent (an encoded `/` stays
/// `%2F`), except for the two changes below. Pure functions.
///
/// - absolute-form (`http://host/a?b`) becomes origin-form (`/a?b`): an origin server is sent
///   origin-form (RFC 9112 §3.2.1); `http://host` and `http://host?q` become `/` and `/?q`.
/// - with `strip_prefix`, the route's mount path is removed and one leading `/` kept
///   (`/app/x` -> `/x`, `/app/` -> `/`, `/app/?q` -> `/?q`).
///
/// A target whose path has a dot-segment is refused (`UpstreamRequestError.dotSegment`): routing
/// and access rules matched the normalised path, and an upstream resolving `..` itself would
/// reach a path that was never checked. What counts as a dot-segment here is wider than
/// RFC 3986 §5.2.4, because upstreams differ in what they decode before resolving:
/// - `.` or `..`, each dot raw or percent-encoded in either case (`%2e`, `%2E`);
/// - segments are split at `/`, and also at `\` and at the encodings `%2F` / `%5C` (an upstream
///   that decodes them, or a Windows one that reads `\` as a separator, would see the segment);
/// - what follows a `;` (raw or `%3B`) in a segment is ignored, so `..;x` counts as `..` (Tomcat
///   strips such path parameters before resolving).
/// A double-encoded dot (`%252e`) is data, not a dot, to an upstream that decodes once.
public enum UpstreamTarget {
    /// The target to send upstream for `target` (as `RequestHead.target` holds it).
    /// - Parameters:
    ///   - mountPath: the route's path as configured (`/app/` for a prefix mount, `/app` for an exact one).
    ///   - stripPrefix: whether to remove `mountPath` from the front of the path.
    public static func rewrite(_ target: String, mountPath: String, stripPrefix: Bool) throws(UpstreamRequestError) -> String {
        let originForm = try originForm(target)
        let u = originForm.utf8
        if u.contains(UInt8(ascii: "#")) { throw .badTarget("a fragment (\"#\")") }
        let queryStart = u.firstIndex(of: UInt8(ascii: "?")) ?? u.endIndex
        let path = originForm[..<queryStart]
        let query = originForm[queryStart...]
        if hasDotSegment(path) { throw .dotSegment }
        guard stripPrefix else { return String(originForm) }
        guard let rest = remainder(of: path, after: mountPath) else { throw .mountMismatch }
        if rest.utf8.first == UInt8(ascii: "/") { return String(rest) + query }
        return "/" + rest + query
    }

    /// The origin-form of `target`: itself when it starts with `/`; the path and query of an
    /// absolute-form target. Throws for asterisk-form and anything else.
    static func originForm(_ target: String) throws(UpstreamRequestError) -> Substring {
        let t = Substring(target)
        if t.utf8.first == UInt8(ascii: "/") { return t }
        if t == "*" { throw .badTarget("asterisk-form (\"*\")") }
        guard let schemeEnd = t.firstRange(of: "://") else { throw .badTarget("not origin-form or absolute-form") }
        let afterScheme = t[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.utf8.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }
            ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        if authority.isEmpty { throw .badTarget("absolute-form without authority") }
        if authority.utf8.contains(UInt8(ascii: "@")) { throw .badTarget("userinfo in the authority") }
        let rest = afterScheme[authorityEnd...]
        if rest.utf8.first == UInt8(ascii: "/") { return rest }
        return "/" + rest
    }

    /// Whether the raw (still percent-encoded) path has a dot-segment, in the wide sense of the
    /// type's notes.
    public static func hasDotSegment(_ path: some StringProtocol) -> Bool {
        // Scanned in place: `Array(path.utf8)` was an allocation per proxied request.
        if let r = path.utf8.withContiguousStorageIfAvailable({ hasDotSegment(bytes: $0) }) { return r }
        return Array(path.utf8).withUnsafeBufferPointer { hasDotSegment(bytes: $0) }
    }

    private static func hasDotSegment(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var dots = 0          // decoded "." bytes in the current segment so far
        var other = false     // the segment has some other byte before its parameters
        var inParameters = false
        var i = 0
        func segmentIsDots() -> Bool { !other && (dots == 1 || dots == 2) }
        while i < bytes.count {
            var b = bytes[i]
            var width = 1
            if b == UInt8(ascii: "%"), i + 2 < bytes.count,
               let hi = hexDigitValue(bytes[i + 1]), let lo = hexDigitValue(bytes[i + 2]) {
                b = hi << 4 | lo
                width = 3
            }
            if b == UInt8(ascii: "/") || b == UInt8(ascii: "\\") {
                if segmentIsDots() { return true }
                dots = 0; other = false; inParameters = false
            } else if !inParameters {
                if b == UInt8(ascii: ";") {
                    inParameters = true
                } else if b == UInt8(ascii: ".") {
                    dots += 1
                } else {
                    other = true
                }
            }
            i += width
        }
        return segmentIsDots()
    }

    /// The raw path after the part that spells `mountPath`, or nil when it does not begin with it.
    ///
    /// The router matched the normalised path (decoded once, repeated `/` merged; dot-segments are
    /// already refused), so the raw path is walked the same way: a percent-encoded byte matches the
    /// byte it encodes (except an encoded `/`, which is data inside a segment), and each `/` of the
    /// mount path matches a run of `/`. A prefix mount (`/app/`) also covers the bare `/app`.
    static func remainder(of path: Substring, after mountPath: String) -> Substring? {
        let p = Array(path.utf8)
        let m = Array(mountPath.utf8)
        var i = 0
        var j = 0
        while j < m.count {
            if m[j] == UInt8(ascii: "/") {
                guard i < p.count, p[i] == UInt8(ascii: "/") else {
                    // `/app/` mounted and `/app` requested: nothing left.
                    if i == p.count && j == m.count - 1 { return path[path.endIndex...] }
                    return nil
                }
                while i < p.count && p[i] == UInt8(ascii: "/") { i += 1 }
                j += 1
                continue
            }
            guard i < p.count else { return nil }
            var b = p[i]
            var width = 1
            if b == UInt8(ascii: "%") {
                guard i + 2 < p.count, let hi = hexDigitValue(p[i + 1]), let lo = hexDigitValue(p[i + 2]) else { return nil }
                b = hi << 4 | lo
                if b == UInt8(ascii: "/") { return nil }
                width = 3
            }
            guard b == m[j] else { return nil }
            i += width
            j += 1
        }
        let index = path.utf8.index(path.utf8.startIndex, offsetBy: i)
        return path[index...]
    }
}
