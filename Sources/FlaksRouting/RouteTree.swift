import FlaksHTTP

// PLACEHOLDER (linear scan) — replaced by the trie in the routing work.

/// The immutable route table: hosts, then paths.
public struct RouteTree<Target: Sendable>: Sendable {
    struct Entry: Sendable { var path: String; var target: Target }
    struct Host: Sendable { var names: [String]; var routes: [Entry] }
    var hosts: [Host]

    /// Finds the route for a Host header value (port, case and trailing dot ignored) and a normalised path.
    public func lookup(host: String?, path: String) -> RouteLookup<Target> {
        let name = RouteTree.canonicalHost(host)
        guard let h = hosts.first(where: { $0.names.contains(name) }) ?? hosts.first(where: { $0.names.contains("*") })
        else { return .unknownHost }
        var best: (Entry, String)?
        for r in h.routes {
            if r.path == path { return .found(RouteMatch(target: r.target, routePath: r.path, remainder: "", parameters: [])) }
            if r.path.hasSuffix("/"), path.hasPrefix(r.path), r.path.count > (best?.0.path.count ?? -1) {
                best = (r, String(path.dropFirst(r.path.count)))
            }
        }
        if let (r, rest) = best { return .found(RouteMatch(target: r.target, routePath: r.path, remainder: rest, parameters: [])) }
        return .notFound
    }

    static func canonicalHost(_ host: String?) -> String {
        guard var h = host?.lowercased() else { return "" }
        if h.hasPrefix("[") { if let e = h.firstIndex(of: "]") { h = String(h[...e]) } }
        else if let c = h.lastIndex(of: ":") { h = String(h[..<c]) }
        if h.hasSuffix(".") { h.removeLast() }
        return h
    }
}

/// The outcome of a lookup.
public enum RouteLookup<Target: Sendable>: Sendable {
    case found(RouteMatch<Target>)
    /// No host matched and there is no default host.
    case unknownHost
    /// The host matched but none of its routes did.
    case notFound
}

/// A matched route with what the path told about it.
public struct RouteMatch<Target: Sendable>: Sendable {
    public var target: Target
    /// The route's path as declared (`/static/`, `/u/<int:id>`).
    public var routePath: String
    /// For prefix mounts: the rest of the path after the prefix (no leading "/").
    public var remainder: String
    /// Pattern parameters in order.
    public var parameters: [(name: String, value: String)]
}

/// Builds a `RouteTree`; errors name what is wrong with a host name or pattern.
public struct RouteTreeBuilder<Target: Sendable> {
    var hosts: [RouteTree<Target>.Host] = []
    public init() {}
    public mutating func addHost(names: [String], routes: [(path: String, target: Target)]) throws(RouteError) {
        hosts.append(.init(names: names.map { $0.lowercased() }, routes: routes.map { .init(path: $0.path, target: $0.target) }))
    }
    public func build() -> RouteTree<Target> { RouteTree(hosts: hosts) }
}

/// A host name or path pattern the tree cannot take.
public struct RouteError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
