import FlaksHTTP

/// The outcome of content-coding negotiation for one response.
public enum Negotiation: Sendable, Hashable {
    /// Send the body in this coding.
    case coding(ContentCoding)
    /// Send the body as it is: the client asked for no coding, prefers identity, or accepts none of
    /// the codings offered.
    case identity
    /// None of the offered codings is acceptable and the client refused identity too
    /// (`identity;q=0`, or `*;q=0` without an `identity` entry). The server sends identity anyway:
    /// RFC 9110 §12.5.3 says a server SHOULD then respond without a content coding rather than fail
    /// (the move away from 406 for this case was deliberate in RFC 7231 and kept in RFC 9110;
    /// httpwg/http-core#980). Reported separately so a caller can log or count it.
    case identityRefused

    /// The coding to apply, or nil for identity (in both identity cases).
    public var coding: ContentCoding? {
        if case .coding(let c) = self { return c }
        return nil
    }
}

/// A parsed `Accept-Encoding` request field (RFC 9110 §12.5.3): the qvalue the client gave each coding
/// Flaks knows, `identity` and `*`.
///
/// Grammar: `Accept-Encoding = #( codings [ weight ] )`, `codings = content-coding / "identity" / "*"`,
/// `weight = OWS ";" OWS "q=" qvalue` (§12.4.2). Parsing rules:
/// - Several field lines are one list (§5.3); empty list elements are skipped (§5.6.1).
/// - Tokens compare case-insensitively (§8.4.1); `x-gzip` is gzip (§8.4.1.3); the parameter name
///   `q` too (§5.6.6).
/// - qvalue is `0[.ddd]` or `1[.000]`: at most three decimals, never above 1 (§12.4.2).
/// - An element that breaks the grammar (a bad token, a qvalue such as `2`, `0.5000` or `abc`, a
///   parameter other than `q`, spaces around `=`) is ignored as a whole, as if it were not there:
///   the RFC gives no meaning to an invalid element, and ignoring it never turns a coding on that
///   the client did not ask for validly. (Reading a bad q as 0 would instead turn `identity;q=x`
///   into a refusal of identity.)
/// - A coding listed twice keeps its first entry (`gzip` and `x-gzip` are one coding).
/// Codings Flaks does not implement (`deflate`, `compress`, ...) are valid and ignored.
public struct AcceptEncoding: Sendable, Hashable {
    /// The qvalue given to each coding, in thousandths (0...1000); nil when not listed.
    private var weights: [Int?]  // indexed by `Slot`
    /// Whether any valid element was seen (an empty or all-garbage field is "no preference but identity").
    public private(set) var isEmpty: Bool

    private enum Slot: Int, CaseIterable { case zstd, br, gzip, identity, any }

    /// Parses the values of every `Accept-Encoding` field line, in order.
    public init(_ fieldValues: [String]) {
        weights = Array(repeating: nil, count: Slot.allCases.count)
        isEmpty = true
        for v in fieldValues { parse(v) }
    }

    /// Parses one field value.
    public init(_ fieldValue: String) { self.init([fieldValue]) }

    /// Parses the request's `Accept-Encoding` fields, or returns nil when there is none.
    public init?(headers: HeaderFields) {
        let values = headers.values("Accept-Encoding")
        if values.isEmpty { return nil }
        self.init(values)
    }

    /// The qvalue (thousandths) the client gave `coding` itself, nil when it is not listed by name.
    public func listedQValue(for coding: ContentCoding) -> Int? { weights[Self.slot(coding).rawValue] }

    /// The qvalue (thousandths) that applies to `coding`: its own entry, else `*`'s (which covers
    /// codings not listed, §12.5.3), else 0 (not acceptable).
    public func qvalue(for coding: ContentCoding) -> Int {
        weights[Self.slot(coding).rawValue] ?? weights[Slot.any.rawValue] ?? 0
    }

    /// The qvalue the client gave `identity` by name, nil when not listed.
    public var identityQValue: Int? { weights[Slot.identity.rawValue] }

    /// The qvalue of `*`, nil when not listed.
    public var anyQValue: Int? { weights[Slot.any.rawValue] }

    /// Identity is refused by `identity;q=0`, or by `*;q=0` when identity is not listed (§12.5.3).
    public var refusesIdentity: Bool {
        if let q = weights[Slot.identity.rawValue] { return q == 0 }
        return weights[Slot.any.rawValue] == 0
    }

    /// Picks the coding for a response from `offered` (the server's `encodings`, most preferred first).
    ///
    /// The acceptable coding (qvalue above 0) with the highest qvalue wins; on equal qvalues the one
    /// earlier in `offered` wins, so `*` alone picks the server's first. Identity competes only by an
    /// explicit entry: `gzip;q=0.5, identity` gets identity, but a coding is preferred over identity
    /// whenever the client gave identity no higher qvalue (an unlisted identity is "acceptable",
    /// §12.5.3 rule 2, not "preferred"; `*` says nothing about identity except for refusing it).
    public func negotiate(_ offered: [ContentCoding]) -> Negotiation {
        var best: ContentCoding?
        var bestQ = 0
        for c in offered {
            let q = qvalue(for: c)
            if q > bestQ { best = c; bestQ = q }
        }
        if let best {
            if let iq = identityQValue, iq > bestQ { return .identity }
            return .coding(best)
        }
        return refusesIdentity ? .identityRefused : .identity
    }

    /// Negotiation for a request: no `Accept-Encoding` field means identity (the manifest contract;
    /// RFC 9110 §12.5.3 would allow any coding, but an old client without the field should not get
    /// a surprise); an empty field value means identity only (§12.5.3).
    public static func negotiate(_ requestHeaders: HeaderFields, offered: [ContentCoding]) -> Negotiation {
        guard !offered.isEmpty, let ae = AcceptEncoding(headers: requestHeaders) else { return .identity }
        return ae.negotiate(offered)
    }

    private static func slot(_ c: ContentCoding) -> Slot {
        switch c {
        case .zstd: .zstd
        case .br: .br
        case .gzip: .gzip
        }
    }

    // MARK: - Parsing

    private mutating func parse(_ value: String) {
        let bytes = Array(value.utf8)
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
            element(bytes[start..<end])
            start = end + 1
        }
    }

    /// One list element: `codings [ weight ]`, surrounded by optional whitespace.
    private mutating func element(_ raw: ArraySlice<UInt8>) {
        let e = Self.trimmed(raw)
        if e.isEmpty { return }  // "a,,b": empty elements do not count (§5.6.1)
        var semicolon = e.startIndex
        while semicolon < e.endIndex && e[semicolon] != UInt8(ascii: ";") { semicolon += 1 }
        let name = Self.trimmed(e[e.startIndex..<semicolon])
        guard !name.isEmpty, name.allSatisfy(Self.isTChar) else { return }
        var q = 1000
        if semicolon < e.endIndex {
            // Exactly one parameter, and it must be the weight.
            let param = Self.trimmed(e[(semicolon + 1)...])
            guard param.count >= 2, param[param.startIndex] | 0x20 == UInt8(ascii: "q"),
                  param[param.startIndex + 1] == UInt8(ascii: "="),
                  let v = Self.qvalue(param[(param.startIndex + 2)...]) else { return }
            q = v
        }
        isEmpty = false
        let slot: Slot
        if name.count == 1 && name[name.startIndex] == UInt8(ascii: "*") {
            slot = .any
        } else if Self.equalsIgnoringCase(name, "identity") {
            slot = .identity
        } else if let c = ContentCoding(token: String(decoding: name, as: UTF8.self)) {
            slot = Self.slot(c)
        } else {
            return  // a coding Flaks does not implement
        }
        if weights[slot.rawValue] == nil { weights[slot.rawValue] = q }
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` (RFC 9110 §12.4.2), in thousandths.
    static func qvalue(_ b: ArraySlice<UInt8>) -> Int? {
        guard let first = b.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        let whole = Int(first - UInt8(ascii: "0"))
        if b.count == 1 { return whole * 1000 }
        guard b[b.startIndex + 1] == UInt8(ascii: "."), b.count <= 5 else { return nil }
        var v = 0
        var scale = 100
        for d in b[(b.startIndex + 2)...] {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { return nil }
            v += Int(d - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        if whole == 1 { return v == 0 ? 1000 : nil }
        return v
    }

    private static func trimmed(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lo = s.startIndex, hi = s.endIndex
        while lo < hi && (s[lo] == 0x20 || s[lo] == 0x09) { lo += 1 }
        while hi > lo && (s[hi - 1] == 0x20 || s[hi - 1] == 0x09) { hi -= 1 }
        return s[lo..<hi]
    }

    private static func equalsIgnoringCase(_ a: ArraySlice<UInt8>, _ lower: StaticString) -> Bool {
        guard a.count == lower.utf8CodeUnitCount else { return false }
        return lower.withUTF8Buffer { l in
            zip(a, l).allSatisfy { (x, y) in (x >= 0x41 && x <= 0x5A ? x | 0x20 : x) == y }
        }
    }

    /// `tchar` (RFC 9110 §5.6.2).
    static func isTChar(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
        default: false
        }
    }
}
