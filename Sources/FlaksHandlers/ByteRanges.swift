/// A satisfiable byte range: `length` bytes from `offset` (never empty).
public struct ByteRange: Sendable, Hashable {
    public var offset: Int
    public var length: Int
    public init(offset: Int, length: Int) { self.offset = offset; self.length = length }
    /// The last byte position (inclusive), as in `Content-Range: bytes first-last/complete`.
    public var last: Int { offset + length - 1 }
    /// `bytes first-last/complete` (RFC 9110 §14.4).
    public func contentRange(of complete: Int) -> String {
        "bytes \(offset)-\(last)/\(complete)"
    }
}

/// Parsing and resolving the Range header (RFC 9110 §14.1.2, §14.2) against a representation length.
public enum ByteRanges {
    /// What to do with a Range header.
    public enum Resolution: Sendable, Equatable {
        /// No usable Range (absent, another unit, invalid syntax, or too many pieces): send 200 with everything.
        case ignore
        /// Send 206 with these ranges: sorted, overlapping/adjacent ones coalesced, at least one.
        case partial([ByteRange])
        /// No range overlaps the representation: 416 with `Content-Range: bytes */length`.
        case unsatisfiable
    }

    /// Range specs parsed before the header is ignored as abusive (RFC 9110 §14.2 allows ignoring).
    public static let maxSpecs = 256
    /// Ranges left after coalescing beyond which the header is ignored (a 200 is cheaper than many parts).
    public static let maxRanges = 16

    /// One parsed range-spec (RFC 9110 §14.1.1), before it meets a length.
    enum Spec: Equatable {
        case fromTo(Int, Int)
        case from(Int)
        case suffix(Int)
    }

    /// Resolves `header` (the Range field value) against a representation of `length` bytes.
    public static func resolve(_ header: Substring, length: Int) -> Resolution {
        guard let specs = parse(header) else { return .ignore }
        var ranges: [ByteRange] = []
        for spec in specs {
            switch spec {
            case .fromTo(let first, let last):
                if first < length { ranges.append(ByteRange(offset: first, length: min(last, length - 1) - first + 1)) }
            case .from(let first):
                if first < length { ranges.append(ByteRange(offset: first, length: length - first)) }
            case .suffix(let n):
                // A suffix longer than the representation selects all of it (§14.1.2); `-0` selects nothing.
                if n > 0 && length > 0 { let k = min(n, length); ranges.append(ByteRange(offset: length - k, length: k)) }
            }
        }
        if ranges.isEmpty { return .unsatisfiable }
        let merged = coalesce(ranges)
        if merged.count > maxRanges { return .ignore }
        return .partial(merged)
    }

    /// Sorts and merges ranges that overlap or touch (RFC 9110 §14.2 lets a server coalesce; it also
    /// defeats requests that ask for the same bytes many times).
    static func coalesce(_ ranges: [ByteRange]) -> [ByteRange] {
        if ranges.count == 1 { return ranges }
        let sorted = ranges.sorted { $0.offset < $1.offset }
        var out: [ByteRange] = [sorted[0]]
        for r in sorted.dropFirst() {
            let end = out[out.count - 1].offset + out[out.count - 1].length
            if r.offset <= end {
                out[out.count - 1].length = max(end, r.offset + r.length) - out[out.count - 1].offset
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// `bytes=` then comma-separated specs with optional whitespace; nil when the unit is not
    /// `bytes` or any spec is malformed (`5-2`, `abc`, empty set): the header is then ignored (§14.2).
    static func parse(_ header: Substring) -> [Spec]? {
        let u = Array(header.utf8)
        var i = 0
        while i < u.count, u[i] == 32 || u[i] == 9 { i += 1 }
        let unit: [UInt8] = Array("bytes".utf8)
        guard i + 6 <= u.count else { return nil }
        for k in 0..<5 where (u[i + k] | 0x20) != unit[k] { return nil }
        i += 5
        while i < u.count, u[i] == 32 || u[i] == 9 { i += 1 }
        guard i < u.count, u[i] == UInt8(ascii: "=") else { return nil }
        i += 1
        var specs: [Spec] = []
        func ows() { while i < u.count, u[i] == 32 || u[i] == 9 { i += 1 } }
        func number() -> Int?? {
            // nil = no digits; .some(nil) = overflow.
            let start = i
            var v = 0, overflow = false
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int(u[i] - 48))
                if o1 || o2 { overflow = true } else { v = a }
                i += 1
            }
            if i == start { return nil }
            return overflow ? .some(nil) : .some(v)
        }
        while true {
            ows()
            if i == u.count { break }
            if u[i] == UInt8(ascii: ",") { i += 1; continue }
            if specs.count >= maxSpecs { return nil }
            if u[i] == UInt8(ascii: "-") {
                i += 1
                guard let n = number() else { return nil }
                // A suffix too large to represent selects the whole representation.
                specs.append(.suffix(n ?? Int.max))
            } else {
                guard let f = number(), let first = f else { return nil }
                guard i < u.count, u[i] == UInt8(ascii: "-") else { return nil }
                i += 1
                if let l = number() {
                    let last = l ?? Int.max
                    if last < first { return nil }
                    specs.append(.fromTo(first, last))
                } else {
                    specs.append(.from(first))
                }
            }
            ows()
            guard i == u.count || u[i] == UInt8(ascii: ",") else { return nil }
        }
        return specs.isEmpty ? nil : specs
    }
}
