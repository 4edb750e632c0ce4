import FlaksHTTP

/// The immutable route table of one manifest load: hosts, then paths. Sendable; a request takes
/// the current tree once and keeps it.
///
/// Precedence within a host: an exact path, then a pattern (at each position a literal segment
/// beats a typed converter — int, float, uuid — which beats string; `<path:>` comes last), then
/// the longest prefix mount. A prefix `/docs/` matches `/docs/` (remainder "") and `/docs/a/b`
/// (remainder "a/b"), not `/docs`.
///
/// The matching itself is not generic (`RouteIndex` answers with a route number); the tree
/// keeps the targets in an array under those numbers. `lookup` is inlinable so that a caller
/// in another module gets it specialised for its `Target`: no generic metadata at run time.
public struct RouteTree<Target: Sendable>: Sendable {
    @usableFromInline let index: RouteIndex
    /// The target of route number `i` (declaration order across all hosts).
    @usableFromInline let targets: [Target]

    init(index: RouteIndex, targets: [Target]) {
        self.index = index; self.targets = targets
    }

    /// Finds the route for a Host header value (port, case and trailing dot ignored; nil or empty
    /// picks the default host) and a normalised path (see `PathNormalizer`).
    @inlinable
    public func lookup(host: String?, path: String) -> RouteLookup<Target> {
        switch index.find(host: host, path: path) {
        case .found(let route, let routePath, let remainder, let parameters):
            return .found(RouteMatch(target: targets[route], routePath: routePath, remainder: remainder,
                                     parameters: parameters))
        case .unknownHost: return .unknownHost
        case .notFound: return .notFound
        }
    }

    /// Whether `lookup` looks at its `host` at all: false when the only host is `*`, so a caller
    /// may pass nil instead of finding the Host field.
    public var readsHost: Bool { index.hostTable.readsHeader }

    /// Trie nodes (plus one for a hash hit on an exact path) entered by one lookup: a
    /// deterministic measure of lookup cost, for tests.
    func lookupCost(host: String?, path: String) -> Int {
        var visited = 0
        _ = index.find(host: host, path: path, visited: &visited)
        return visited
    }

    /// Hosts and routes in manifest order, for `flaks check` and logs.
    public var entries: [(names: [String], routes: [(path: String, target: Target)])] {
        zip(index.hostNames, index.paths.hostRoutes).map { names, routes in
            (names, routes.map { (index.paths.routes[$0].pattern.source, targets[$0]) })
        }
    }

    /// A readable listing: one line per host, then one indented line per route with its kind.
    public func describe() -> String {
        var out = ""
        for (names, routes) in zip(index.hostNames, index.paths.hostRoutes) {
            out += "host " + names.joined(separator: ", ") + "\n"
            for r in index.paths.routes[routes] {
                let kind = switch r.pattern.kind { case .exact: "exact"; case .pattern: "pattern"; case .prefix: "prefix" }
                out += "  \(r.pattern.source) (\(kind))\n"
            }
        }
        return out
    }
}

/// The target-independent part of a `RouteTree`: host table and path trie. A final class so
/// that copying a tree, or reading it out of a shared object, costs one reference.
@usableFromInline
final class RouteIndex: Sendable {
    let hostTable: HostTable
    let paths: PathTrie
    /// The names of each host as declared.
    let hostNames: [[String]]

    init(hostTable: HostTable, paths: PathTrie, hostNames: [[String]]) {
        self.hostTable = hostTable; self.paths = paths; self.hostNames = hostNames
    }

    /// See `RouteTree.lookup(host:path:)`; the route comes back as a number into the targets.
    @usableFromInline
    func find(host: String?, path: String) -> RouteHit {
        var visited = 0
        return find(host: host, path: path, visited: &visited)
    }

    func find(host: String?, path: String, visited: inout Int) -> RouteHit {
        guard let h = hostTable.resolve(host) else { return .unknownHost }
        // (`path.utf8.span` would skip the retain/release of the path's storage that
        // `withUTF8` costs, but the compiler then retains `self`, which every thread shares.)
        var path = path
        return path.withUTF8 { find(host: h, bytes: $0, visited: &visited) }
    }

    private func find(host: Int, bytes: UnsafeBufferPointer<UInt8>, visited: inout Int) -> RouteHit {
        guard let m = paths.lookup(host: host, path: bytes, visited: &visited) else { return .notFound }
        let v = paths.values(of: m, path: bytes)
        return .found(route: m.route, routePath: v.routePath, remainder: v.remainder, parameters: v.parameters)
    }
}

/// What `RouteIndex.find` answers: `RouteLookup` with a route number in place of the target.
@usableFromInline
enum RouteHit {
    case found(route: Int, routePath: String, remainder: String, parameters: [(name: String, value: String)])
    case unknownHost
    case notFound
}
