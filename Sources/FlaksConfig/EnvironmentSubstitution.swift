/// Expands environment variables in a scalar value: `${NAME}`, `${NAME:-default}` (the default
/// when NAME is unset or empty, as in sh), and `$$` for a literal `$`. Any other `$` is kept.
/// Keys are never expanded. The environment is a parameter so tests can pass their own.
enum EnvironmentSubstitution {
    /// Why a value could not be expanded; the message is shown at the scalar's position.
    struct Failure: Error { var message: String }

    static func expand(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.first == "$" {
                out += "$"; rest = after.dropFirst(); continue
            }
            guard after.first == "{" else { out += "$"; rest = after; continue }
            guard let close = after.firstIndex(of: "}") else {
                throw Failure(message: "unterminated \"${\" (write \"$$\" for a literal \"$\")")
            }
            let inner = after[after.index(after: after.startIndex)..<close]
            let name: Substring, fallback: Substring?
            if let sep = inner.firstRange(of: ":-") {
                name = inner[..<sep.lowerBound]; fallback = inner[sep.upperBound...]
            } else {
                name = inner; fallback = nil
            }
            guard isVariableName(name) else {
                throw Failure(message: "bad variable name \"\(name)\" in \"${\(inner)}\" (letters, digits, \"_\")")
            }
            if let fallback {
                let value = environment[String(name)] ?? ""
                out += value.isEmpty ? String(fallback) : value
            } else if let value = environment[String(name)] {
                out += value
            } else {
                throw Failure(message: "environment variable \"\(name)\" is not set (write ${\(name):-default} to give a default)")
            }
            rest = after[after.index(after: close)...]
        }
        out += rest
        return out
    }

    static func isVariableName(_ s: Substring) -> Bool {
        guard let f = s.unicodeScalars.first, f == "_" || (f.isASCII && f.properties.isAlphabetic) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
