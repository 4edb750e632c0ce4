import Yams

/// Walks the composed YAML `Node` tree of one manifest, turning it into typed values and
/// collecting every problem (it never stops at the first one). Each helper reports its own
/// error at the node's mark and returns nil, so callers just skip what failed.
final class ManifestReader {
    let file: String
    let directory: String
    let environment: [String: String]
    private(set) var errors: [ManifestError] = []
    private(set) var warnings: [ManifestWarning] = []
    /// Every `{service: NAME}` read in a route, checked against `services` once both are read.
    var serviceReferences: [(name: String, node: Node, path: String)] = []
    /// Every host `tls` read, for the checks against `tls.acme` and `server.tls_listen`.
    var hostTLSUses: [(tls: HostTLS, node: Node, path: String)] = []
    /// Where `tls.redirect_http` was set, for its warning.
    var redirectHTTPNode: Node?

    init(file: String, directory: String, environment: [String: String]) {
        self.file = file; self.directory = directory; self.environment = environment
    }

    // MARK: errors and positions

    func report(_ mark: Mark?, _ keyPath: String, _ message: String) {
        report(line: mark?.line ?? 1, column: mark?.column ?? 1, keyPath, message)
    }

    func report(line: Int, column: Int, _ keyPath: String, _ message: String) {
        errors.append(ManifestError(file: file, line: line, column: column, keyPath: keyPath, message: message))
    }

    func report(_ node: Node, _ keyPath: String, _ message: String) { report(node.mark, keyPath, message) }

    /// Records a warning at the node: the manifest still loads.
    func warn(_ node: Node, _ keyPath: String, _ message: String) {
        warnings.append(ManifestWarning(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1,
                                        keyPath: keyPath, message: message))
    }

    /// Warnings in document order (stable for one position).
    var sortedWarnings: [ManifestWarning] {
        warnings.enumerated().sorted {
            ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
        }.map(\.element)
    }

    /// "file:line:col" of a node, for `Route.origin` and "first used at" messages.
    func position(_ node: Node) -> String {
        "\(file):\(node.mark?.line ?? 1):\(node.mark?.column ?? 1)"
    }

    /// Errors in document order (stable for one position).
    var sortedErrors: [ManifestError] {
        errors.enumerated().sorted {
            ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
        }.map(\.element)
    }

    // MARK: mappings

    /// A mapping's values by key. Unknown keys are reported (with a did-you-mean) and left out.
    struct Fields {
        var node: Node
        var path: String
        var values: [String: Node] = [:]
        var keyNodes: [String: Node] = [:]
        subscript(key: String) -> Node? { values[key] }
        func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        func has(_ key: String) -> Bool { values[key] != nil }
    }

    /// Reads a mapping with the given known keys; nil (reported) when `node` is not a mapping.
    func fields(_ node: Node, _ path: String, keys: [String], what: String = "a mapping") -> Fields? {
        guard case .mapping(let mapping) = node else {
            report(node, path, "expected \(what), found \(describe(node))")
            return nil
        }
        var f = Fields(node: node, path: path)
        for (key, value) in mapping {
            guard case .scalar(let k) = key else {
                report(key, path, "expected a key name, found \(describe(key))")
                continue
            }
            guard keys.contains(k.string) else {
                if let guess = EditDistance.suggestion(for: k.string, among: keys) {
                    report(key, path, "unknown key \"\(k.string)\"; did you mean \"\(guess)\"?")
                } else {
                    report(key, path, "unknown key \"\(k.string)\"; expected one of \(keys.joined(separator: ", "))")
                }
                continue
            }
            f.values[k.string] = value
            f.keyNodes[k.string] = key
        }
        return f
    }

    // MARK: scalars

    /// How a node is named in "found ..." messages.
    func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let s): return isNull(s) ? "nothing" : "\"\(s.string)\""
        }
    }

    func isNull(_ s: Node.Scalar) -> Bool {
        s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// The scalar's text after `${VAR}` expansion; nil (reported) for non-scalars, null, or a
    /// failed expansion.
    func text(_ node: Node, _ path: String, expected: String) -> String? {
        guard case .scalar(let s) = node, !isNull(s) else {
            report(node, path, "expected \(expected), found \(describe(node))")
            return nil
        }
        do {
            return try EnvironmentSubstitution.expand(s.string, environment: environment)
        } catch {
            report(node, path, error.message)
            return nil
        }
    }

    func string(_ node: Node, _ path: String, nonEmpty: Bool = true) -> String? {
        guard let t = text(node, path, expected: "a string") else { return nil }
        if nonEmpty && t.isEmpty { report(node, path, "expected a non-empty string"); return nil }
        return t
    }

    /// A string starting with "/" (a URL path).
    func urlPath(_ node: Node, _ path: String) -> String? {
        guard let t = text(node, path, expected: "a path starting with \"/\"") else { return nil }
        guard t.hasPrefix("/") else { report(node, path, "expected a path starting with \"/\", found \"\(t)\""); return nil }
        return t
    }

    /// A file-system path, made absolute against the manifest's directory.
    func filePath(_ node: Node, _ path: String) -> String? {
        string(node, path).map { FileSystem.resolve($0, against: directory) }
    }

    func int(_ node: Node, _ path: String, min: Int = 0, max: Int = Int.max) -> Int? {
        let range = max == Int.max ? "an integer >= \(min)" : "an integer from \(min) to \(max)"
        guard let t = text(node, path, expected: range) else { return nil }
        guard let n = Int(t), n >= min, n <= max else { report(node, path, "expected \(range), found \"\(t)\""); return nil }
        return n
    }

    func bool(_ node: Node, _ path: String) -> Bool? {
        guard let t = text(node, path, expected: "true or false") else { return nil }
        switch t {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: report(node, path, "expected true or false, found \"\(t)\""); return nil
        }
    }

    func size(_ node: Node, _ path: String, min: Int = 0) -> Int? {
        let expected = "a size like 512, 16KiB, 10MiB or 1GB"
        guard let t = text(node, path, expected: expected) else { return nil }
        guard let n = Units.parseSize(t) else { report(node, path, "expected \(expected), found \"\(t)\""); return nil }
        guard n >= min else { report(node, path, "expected a size of at least \(min) bytes, found \"\(t)\""); return nil }
        return n
    }

    func duration(_ node: Node, _ path: String, allowZero: Bool = false) -> Duration? {
        let expected = "a duration like 250ms, 10s, 2m or 1h"
        guard let t = text(node, path, expected: expected) else { return nil }
        guard let d = Units.parseDuration(t) else { report(node, path, "expected \(expected), found \"\(t)\""); return nil }
        guard allowZero || d > .zero else { report(node, path, "expected a duration above zero, found \"\(t)\""); return nil }
        return d
    }

    /// One of a fixed set of words.
    func choice<T>(_ node: Node, _ path: String, _ options: [(String, T)]) -> T? {
        let names = options.map(\.0).joined(separator: ", ")
        guard let t = text(node, path, expected: "one of \(names)") else { return nil }
        guard let hit = options.first(where: { $0.0 == t }) else {
            report(node, path, "expected one of \(names); found \"\(t)\""); return nil
        }
        return hit.1
    }

    // MARK: collections

    /// A list of strings, or a single string standing for a list of one.
    func stringList(_ node: Node, _ path: String) -> [String]? {
        if case .scalar = node { return string(node, path).map { [$0] } }
        guard case .sequence(let seq) = node else {
            report(node, path, "expected a list of strings, found \(describe(node))"); return nil
        }
        var out: [String] = [], ok = true
        for (i, item) in seq.enumerated() {
            if let s = string(item, "\(path)[\(i)]") { out.append(s) } else { ok = false }
        }
        return ok ? out : nil
    }

    /// The items of a list with their key paths; nil (reported) when not a list.
    func items(_ node: Node, _ path: String) -> [(Node, String)]? {
        guard case .sequence(let seq) = node else {
            report(node, path, "expected a list, found \(describe(node))"); return nil
        }
        return seq.enumerated().map { ($0.element, "\(path)[\($0.offset)]") }
    }

    /// A mapping of string keys (not expanded) to values read by `value`, in document order.
    func map<T>(_ node: Node, _ path: String, key check: (String) -> String?,
                value: (Node, String) -> T?) -> [(key: String, keyNode: Node, value: T)]? {
        guard case .mapping(let mapping) = node else {
            report(node, path, "expected a mapping, found \(describe(node))"); return nil
        }
        var out: [(key: String, keyNode: Node, value: T)] = [], ok = true
        for (k, v) in mapping {
            guard case .scalar(let ks) = k else { report(k, path, "expected a key name, found \(describe(k))"); ok = false; continue }
            if let problem = check(ks.string) { report(k, path, problem); ok = false; continue }
            let itemPath = "\(path).\(ks.string)"
            guard let value = value(v, itemPath) else { ok = false; continue }
            out.append((ks.string, k, value))
        }
        return ok ? out : nil
    }
}
