import FlaksHTTP

/// The immutable route table of one manifest load: hosts, then paths. Sendable; a request takes
/// the current tree once and keeps it.
///
/// Precedence within a host: an exact path, then a pattern (at each position a literal segment
/// beats a typed converter — int, float, uuid — which beats string; `<path:>` comes last), then
/// the longest prefix mount. A prefix `/docs/` matches `/docs/` (remainder "") and `/docs/a/b`
/// (remainder "a/b"), not `/docs`.
public struct RouteTree<Target: Sendable>: Sendable {
    /// A host as declared: names and routes in manifest order.
    struct Host: Sendable {
        var names: [String]
        var paths: PathTrie<Target>
    }

    var hostTable: HostTable
    var hosts: [Host]

    /// Finds the route for a Host header value (port, case and trailing dot ignored; nil or empty
    /// picks the default host) and a normalised path (see `PathNormalizer`).
    public func lookup(host: String?, path: String) -> RouteLookup<Target> {
        var visited = 0
        return lookup(host: host, path: path, visited: &visited)
    }

    /// Trie nodes (plus one for a hash hit on an exact path) entered by one lookup: a
    /// deterministic measure of lookup cost, for tests.
    func lookupCost(host: String?, path: String) -> Int {
        var visited = 0
        _ = lookup(host: host, path: path, visited: &visited)
        return visited
    }

    func lookup(host: String?, path: String, visited: inout Int) -> RouteLookup<Target> {
        guard let h = hostTable.resolve(host) else { return .unknownHost }
        guard let m = hosts[h].paths.lookup(path, visited: &visited) else { return .notFound }
        return .found(m)
    }

    /// Hosts and routes in manifest order, for `flaks check` and logs.
    public var entries: [(names: [String], routes: [(path: String, target: Target)])] {
        hosts.map { h in (h.names, h.paths.routes.map { ($0.pattern.source, $0.target) }) }
    }

    /// A readable listing: one line per host, then one indented line per route with its kind.
    public func describe() -> String {
        var out = ""
        for h in hosts {
            out += "host " + h.names.joined(separator: ", ") + "\n"
            for r in h.paths.routes {
                let kind = switch r.pattern.kind { case .exact: "exact"; case .pattern: "pattern"; case .prefix: "prefix" }
                out += "  \(r.pattern.source) (\(kind))\n"
            }
        }
        return out
    }
}
