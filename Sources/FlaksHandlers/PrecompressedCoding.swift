import FlaksHTTP

/// A precompressed sibling format: `FILE.br` or `FILE.gz` next to `FILE`.
public enum PrecompressedCoding: String, Sendable, CaseIterable {
    case br
    case gzip

    /// The sibling's file-name suffix.
    public var suffix: String { self == .br ? ".br" : ".gz" }

    /// The codings the client accepts, best first (RFC 9110 §12.5.3).
    ///
    /// Higher q wins; on a tie br beats gzip (smaller). `q=0` means "not acceptable"; `*` covers
    /// codings not named; `x-gzip` is gzip (§8.4.1.3). No Accept-Encoding: none (identity is always fine,
    /// and an old client without the field should not get a surprise encoding).
    public static func preferred(_ acceptEncoding: String?) -> [PrecompressedCoding] {
        guard let ae = acceptEncoding else { return [] }
        var q: [PrecompressedCoding: Int] = [:]
        var star: Int?
        for item in ae.utf8.split(separator: UInt8(ascii: ",")) {
            let parts = item.split(separator: UInt8(ascii: ";"))
            guard let first = parts.first else { continue }
            let name = trim(first)
            var weight = 1000
            for p in parts.dropFirst() {
                let param = trim(p)
                if param.count >= 2, param[0] | 0x20 == UInt8(ascii: "q"), param[1] == UInt8(ascii: "=") {
                    weight = qvalue(Array(param[2...])) ?? 0
                }
            }
            if equals(name, "br") { q[.br] = weight }
            else if equals(name, "gzip") || equals(name, "x-gzip") { q[.gzip] = max(q[.gzip] ?? -1, weight) }
            else if equals(name, "*") { star = weight }
        }
        var out: [(PrecompressedCoding, Int)] = []
        for c in PrecompressedCoding.allCases {
            let w = q[c] ?? star ?? 0
            if w > 0 { out.append((c, w)) }
        }
        // Stable: allCases order (br, gzip) breaks ties.
        return out.enumerated().sorted { a, b in a.element.1 != b.element.1 ? a.element.1 > b.element.1 : a.offset < b.offset }
            .map { $0.element.0 }
    }

    /// qvalue (§12.4.2) in thousandths; nil when malformed.
    static func qvalue(_ b: [UInt8]) -> Int? {
        guard let f = b.first, f == 48 || f == 49 else { return nil }
        var v = Int(f - 48) * 1000
        guard b.count > 1 else { return v }
        guard b[1] == UInt8(ascii: "."), b.count <= 5 else { return nil }
        var scale = 100
        for d in b[2...] {
            guard d >= 48, d <= 57 else { return nil }
            v += Int(d - 48) * scale
            scale /= 10
        }
        return min(v, 1000)
    }

    private static func trim(_ s: Substring.UTF8View.SubSequence) -> [UInt8] {
        var a = Array(s)
        while let f = a.first, f == 32 || f == 9 { a.removeFirst() }
        while let l = a.last, l == 32 || l == 9 { a.removeLast() }
        return a
    }

    private static func equals(_ a: [UInt8], _ b: StaticString) -> Bool {
        guard a.count == b.utf8CodeUnitCount else { return false }
        return b.withUTF8Buffer { zip(a, $0).allSatisfy { ($0 | 0x20) == $1 } }
    }
}
