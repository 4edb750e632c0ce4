import Yams

/// The top-level `compress` section. Absent keys keep `CompressSettings`' defaults.
extension ManifestReader {
    static let compressKeys = ["encodings", "min_size", "types"]

    func compress(_ node: Node) -> CompressSettings {
        var c = CompressSettings()
        guard let f = fields(node, "compress", keys: Self.compressKeys) else { return c }
        if let n = f["encodings"], let v = encodings(n, f.path("encodings")) { c.encodings = v }
        if let n = f["min_size"], let v = size(n, f.path("min_size")) { c.minSize = v }
        if let n = f["types"], let v = mediaTypePatterns(n, f.path("types")) { c.types = v }
        return c
    }

    /// `encodings`: a list (or one name) of zstd, br, gzip, each at most once; `[]` turns compression off.
    private func encodings(_ node: Node, _ path: String) -> [CompressSettings.Encoding]? {
        let entries: [(Node, String)]
        if case .scalar = node { entries = [(node, path)] } else {
            guard let list = items(node, path) else { return nil }
            entries = list
        }
        let options = CompressSettings.Encoding.allCases.map { ($0.rawValue, $0) }
        var out: [CompressSettings.Encoding] = [], ok = true
        for (n, p) in entries {
            guard let e = choice(n, p, options) else { ok = false; continue }
            if out.contains(e) { report(n, p, "encoding \"\(e.rawValue)\" is listed twice"); ok = false; continue }
            out.append(e)
        }
        return ok ? out : nil
    }

    /// `types`: media-type patterns `type/subtype`, `type/*` or `*/*` (RFC 9110 §8.3.1: tokens,
    /// compared case-insensitively, so stored lowercased); parameters are not allowed.
    private func mediaTypePatterns(_ node: Node, _ path: String) -> [String]? {
        let entries: [(Node, String)]
        if case .scalar = node { entries = [(node, path)] } else {
            guard let list = items(node, path) else { return nil }
            entries = list
        }
        if entries.isEmpty {
            report(node, path, "expected at least one media type (encodings: [] turns compression off)"); return nil
        }
        var out: [String] = [], ok = true
        for (n, p) in entries {
            let expected = "a media type like \"text/html\", \"text/*\" or \"*/*\""
            guard let t = text(n, p, expected: expected) else { ok = false; continue }
            guard let pattern = Self.mediaTypePattern(t) else { report(n, p, "expected \(expected), found \"\(t)\""); ok = false; continue }
            out.append(pattern)
        }
        return ok ? out : nil
    }

    /// `type/subtype`, `type/*` or `*/*` lowercased, or nil for any other shape (`text`, `*/json`,
    /// `text/ht*`, `text/html; charset=utf-8`).
    static func mediaTypePattern(_ text: String) -> String? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ Self.isToken(String($0)) }) else { return nil }
        let (type, subtype) = (parts[0].lowercased(), parts[1].lowercased())
        if type == "*" && subtype != "*" { return nil }
        if type.contains("*") && type != "*" { return nil }
        if subtype.contains("*") && subtype != "*" { return nil }
        return "\(type)/\(subtype)"
    }
}
