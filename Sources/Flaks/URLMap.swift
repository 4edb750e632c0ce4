import FlaksRouting

/// Why `url(for:)` could not build a URL (Flask's BuildError).
public struct URLBuildError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Endpoint name -> pattern, for reverse routing. Immutable once built.
struct URLMap: Sendable {
    struct Entry: Sendable {
        var pattern: RoutePattern
        var trailingSlash: Bool
    }
    var entries: [String: Entry] = [:]

    /// Fills the pattern's parameters from `values` (each checked against its converter and
    /// percent-encoded; `<path:>` keeps its slashes); the other values become the query, sorted
    /// by name. `root` ("/api") goes in front.
    func build(_ endpoint: String, values: [String: any Sendable & CustomStringConvertible], root: String) throws(URLBuildError) -> String {
        guard let e = entries[endpoint] else {
            throw URLBuildError(message: "no endpoint named \"\(endpoint)\" (known: \(entries.keys.sorted().joined(separator: ", ")))")
        }
        var path = root
        var used: Set<String> = []
        for seg in e.pattern.segments {
            switch seg {
            case .literal(let l):
                path += "/" + PercentCoding.encode(l)
            case .parameter(let name, let converter):
                guard let v = values[name] else {
                    throw URLBuildError(message: "endpoint \"\(endpoint)\" needs a value for \"\(name)\"")
                }
                let s = v.description
                guard converter.matches(Substring(s)) else {
                    throw URLBuildError(message: "endpoint \"\(endpoint)\": \"\(s)\" is not a valid <\(converter.rawValue):\(name)>")
                }
                path += "/" + PercentCoding.encode(s, keepSlash: converter == .path)
                used.insert(name)
            }
        }
        if e.pattern.segments.isEmpty || e.trailingSlash { path += "/" }
        let extra = values.filter { !used.contains($0.key) }.sorted { $0.key < $1.key }
        if !extra.isEmpty {
            path += "?" + extra.map { PercentCoding.encode($0.key) + "=" + PercentCoding.encode($0.value.description) }.joined(separator: "&")
        }
        return path
    }
}
