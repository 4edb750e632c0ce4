/// A parsed route path: an exact path (`/about`), a Flask-style pattern (`/u/<int:id>`) or a
/// prefix mount (a path ending in "/", such as `/static/`; `/` mounts everything).
///
/// Parameters are whole segments: `<name>` (= `<string:name>`), `<int:id>`, `<float:x>`,
/// `<uuid:u>`, `<string:s>` and `<path:rest>` (the rest of the path, slashes included; only as the
/// last segment of a pattern, never in a prefix mount). Parse errors read as
/// `bad path pattern "/u/<int:id": ...` so the loader can show them with a position.
public struct RoutePattern: Sendable, Hashable, CustomStringConvertible {
    /// What a parameter segment accepts. See `matches(_:)` for each.
    public enum Converter: String, Sendable, Hashable, CaseIterable {
        /// `[0-9]+` (no sign); the value is kept as the string.
        case int
        /// `[0-9]+.[0-9]+` like Flask (no sign, no exponent).
        case float
        /// `8-4-4-4-12` hex digits, any case.
        case uuid
        /// Any non-empty segment (no "/").
        case string
        /// The non-empty rest of the path, "/" included.
        case path
    }

    /// One segment of the pattern.
    public enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(name: String, converter: Converter)
    }

    /// How the route competes: exact paths beat patterns, patterns beat prefix mounts.
    public enum Kind: Sendable, Hashable { case exact, pattern, prefix }

    /// The path as written in the manifest.
    public var source: String
    /// The segments between slashes; empty for `/`.
    public var segments: [Segment]
    /// True when the path ends in "/": it matches itself and everything below it.
    public var isPrefix: Bool

    public var kind: Kind {
        if isPrefix { return .prefix }
        return parameterNames.isEmpty ? .exact : .pattern
    }

    /// Parameter names in order.
    public var parameterNames: [String] {
        segments.compactMap { if case .parameter(let n, _) = $0 { n } else { nil } }
    }

    /// The pattern without parameter names (`/u/<int>`): two routes of one host with the same
    /// shape can never both be reached, so that is a conflict.
    public var shape: String {
        var s = ""
        for seg in segments {
            switch seg {
            case .literal(let l): s += "/" + l
            case .parameter(_, let c): s += "/<" + c.rawValue + ">"
            }
        }
        return isPrefix || segments.isEmpty ? s + "/" : s
    }

    public var description: String { source }

    /// Parses a route path. Throws a `RouteError` naming the problem.
    public static func parse(_ s: String) throws(RouteError) -> RoutePattern {
        func fail(_ why: String) -> RouteError { RouteError("bad path pattern \"\(s)\": \(why)") }
        guard s.hasPrefix("/") else { throw fail("a route path must start with \"/\"") }
        var body = s.dropFirst()
        let isPrefix = body.isEmpty || body.hasSuffix("/")
        if body.hasSuffix("/") { body = body.dropLast() }
        var segments: [Segment] = []
        var names: Set<String> = []
        if !body.isEmpty {
            for raw in body.split(separator: "/", omittingEmptySubsequences: false) {
                if raw.isEmpty { throw fail("empty segment (\"//\")") }
                if raw == "." || raw == ".." { throw fail("dot segment \"\(raw)\" (request paths are normalised)") }
                if raw.contains("?") || raw.contains("#") { throw fail("\"?\" and \"#\" cannot appear in a path") }
                guard raw.contains("<") || raw.contains(">") else { segments.append(.literal(String(raw))); continue }
                guard raw.hasPrefix("<"), raw.hasSuffix(">"), raw.count >= 2 else {
                    throw fail("a parameter must be a whole segment like <name> or <int:id>, found \"\(raw)\"")
                }
                let inner = raw.dropFirst().dropLast()
                let parts = inner.split(separator: ":", omittingEmptySubsequences: false)
                let converter: Converter, name: Substring
                switch parts.count {
                case 1: converter = .string; name = parts[0]
                case 2:
                    guard let c = Converter(rawValue: String(parts[0])) else {
                        throw fail("unknown converter \"\(parts[0])\"; expected int, float, uuid, string or path")
                    }
                    converter = c; name = parts[1]
                default: throw fail("expected <name> or <converter:name>, found \"\(raw)\"")
                }
                guard isIdentifier(name) else {
                    throw fail("parameter name \"\(name)\" is not an identifier (letters, digits, \"_\")")
                }
                guard names.insert(String(name)).inserted else { throw fail("parameter \"\(name)\" appears twice") }
                segments.append(.parameter(name: String(name), converter: converter))
            }
        }
        for (i, seg) in segments.enumerated() {
            if case .parameter(_, .path) = seg, isPrefix || i != segments.count - 1 {
                throw fail("a <path:...> parameter must be the last segment and cannot end in \"/\"")
            }
        }
        return RoutePattern(source: s, segments: segments, isPrefix: isPrefix)
    }

    static func isIdentifier(_ s: Substring) -> Bool {
        guard let first = s.utf8.first, first == UInt8(ascii: "_") || isLetter(first) else { return false }
        return s.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || isDigit($0) }
    }
}

@inline(__always) func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
@inline(__always) func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
@inline(__always) func isHexDigit(_ b: UInt8) -> Bool { isDigit(b) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66) }

extension RoutePattern.Converter {
    /// Whether one path segment (or, for `.path`, the rest of the path) is accepted.
    public func matches(_ s: Substring) -> Bool {
        if let m = s.utf8.withContiguousStorageIfAvailable({ matches(bytes: $0) }) { return m }
        return Array(s.utf8).withUnsafeBufferPointer { matches(bytes: $0) }
    }

    /// `matches(_:)` on the UTF-8 bytes of the segment, as the path trie reads them.
    func matches(bytes u: UnsafeBufferPointer<UInt8>) -> Bool {
        switch self {
        case .int:
            return !u.isEmpty && u.allSatisfy(isDigit)
        case .float:
            guard let dot = u.firstIndex(of: UInt8(ascii: ".")) else { return false }
            let whole = u[..<dot], frac = u[(dot + 1)...]
            return !whole.isEmpty && !frac.isEmpty && whole.allSatisfy(isDigit) && frac.allSatisfy(isDigit)
        case .uuid:
            guard u.count == 36 else { return false }
            for (i, b) in u.enumerated() {
                if i == 8 || i == 13 || i == 18 || i == 23 {
                    if b != UInt8(ascii: "-") { return false }
                } else if !isHexDigit(b) { return false }
            }
            return true
        case .string:
            return !u.isEmpty && !u.contains(UInt8(ascii: "/"))
        case .path:
            return !u.isEmpty
        }
    }
}
