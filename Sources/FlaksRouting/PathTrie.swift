/// One host's routes: a hash table for exact paths and a segment trie for patterns and prefix
/// mounts. Built once by `RouteTreeBuilder`, then only read.
///
/// Lookup cost depends on the depth of the path and the number of converter kinds, never on
/// the number of routes: each trie node holds its static children in a hash table keyed by
/// segment, and at most one child per converter. Ideas from golang/go
/// `src/net/http/routing_tree.go` and hummingbird `Sources/Hummingbird/Router/TrieRouter.swift`.
struct PathTrie<Target: Sendable>: Sendable {
    /// A declared route. `index` into `routes` is what nodes refer to.
    struct Route: Sendable {
        var pattern: RoutePattern
        var target: Target
    }

    /// A trie node. Children are indices into `nodes`.
    struct Node: Sendable {
        /// Literal segment -> child.
        var statics: [Substring: Int] = [:]
        /// Converter children, tried in precedence order: int, float, uuid, then string.
        var typed: [(converter: RoutePattern.Converter, child: Int)] = []
        var string: Int?
        /// A pattern whose last segment is `<path:...>` and whose other segments led here.
        var pathRoute: Int?
        /// A pattern (not a prefix) that ends exactly here.
        var patternRoute: Int?
        /// A prefix mount whose segments end here.
        var prefixRoute: Int?
        /// Number of route segments from the root.
        var depth: Int
    }

    private(set) var routes: [Route] = []
    /// Exact paths (no parameters, no trailing "/") -> route index.
    private var exact: [String: Int] = [:]
    private var nodes: [Node] = [Node(depth: 0)]
    /// Shape -> route index, to report conflicts.
    private var shapes: [String: Int] = [:]

    /// Number of trie nodes, for diagnostics and tests.
    var nodeCount: Int { nodes.count }

    mutating func insert(_ pattern: RoutePattern, target: Target) throws(RouteError) {
        if let other = shapes[pattern.shape] {
            let o = routes[other].pattern.source
            throw RouteError(o == pattern.source ? "route \"\(o)\" is declared twice"
                                                 : "route \"\(pattern.source)\" conflicts with \"\(o)\"")
        }
        let index = routes.count
        routes.append(Route(pattern: pattern, target: target))
        shapes[pattern.shape] = index
        if pattern.kind == .exact { exact[pattern.source] = index; return }

        var n = 0
        for seg in pattern.segments {
            switch seg {
            case .literal(let l):
                n = child(of: n, key: \.statics[Substring(l)])
            case .parameter(_, .path):
                nodes[n].pathRoute = index   // always last (RoutePattern.parse checks)
                return
            case .parameter(_, .string):
                n = child(of: n, key: \.string)
            case .parameter(_, let c):
                if let existing = nodes[n].typed.first(where: { $0.converter == c }) {
                    n = existing.child
                } else {
                    let new = makeNode(depth: nodes[n].depth + 1)
                    nodes[n].typed.append((c, new))
                    nodes[n].typed.sort { $0.converter.rank < $1.converter.rank }
                    n = new
                }
            }
        }
        if pattern.isPrefix { nodes[n].prefixRoute = index } else { nodes[n].patternRoute = index }
    }

    private mutating func child(of n: Int, key: WritableKeyPath<Node, Int?>) -> Int {
        if let c = nodes[n][keyPath: key] { return c }
        let c = makeNode(depth: nodes[n].depth + 1)
        nodes[n][keyPath: key] = c
        return c
    }

    private mutating func makeNode(depth: Int) -> Int {
        nodes.append(Node(depth: depth))
        return nodes.count - 1
    }

    // MARK: lookup

    /// Finds the route for a normalised path (starting with "/"): exact, then the first pattern
    /// in precedence order, then the deepest prefix mount. `visited` counts trie nodes entered.
    func lookup(_ path: String, visited: inout Int) -> RouteMatch<Target>? {
        if let i = exact[path] {
            visited += 1
            return RouteMatch(target: routes[i].target, routePath: routes[i].pattern.source)
        }
        guard path.utf8.first == UInt8(ascii: "/") else { return nil }
        var search = Search(path: Substring(path))
        let start = path.utf8.index(after: path.utf8.startIndex)
        if let (route, captures) = visit(0, at: start, &search, &visited) {
            return match(route, captures: captures, remainder: "")
        }
        if let best = search.bestPrefix {
            return match(best.route, captures: best.captures, remainder: String(search.path[best.rest...]))
        }
        return nil
    }

    private func match(_ route: Int, captures: [Substring], remainder: String) -> RouteMatch<Target> {
        let r = routes[route]
        var params: [(name: String, value: String)] = []
        if !captures.isEmpty {
            params.reserveCapacity(captures.count)
            for (name, value) in zip(r.pattern.parameterNames, captures) { params.append((name, String(value))) }
        }
        return RouteMatch(target: r.target, routePath: r.pattern.source, remainder: remainder, parameters: params)
    }

    /// State of one depth-first search.
    private struct Search {
        var path: Substring
        /// Parameter values on the current branch.
        var captures: [Substring] = []
        var bestPrefix: (route: Int, depth: Int, rest: String.Index, captures: [Substring])?
    }

    /// Visits node `n` with the path left to match starting at `pos` (just after a "/"), or
    /// nil once the whole path is consumed. Children are tried static first, then typed
    /// converters, then string, then `<path:>`; the first complete pattern wins, while prefix
    /// mounts seen on the way are remembered (the deepest, then the first found).
    private func visit(_ n: Int, at pos: String.Index?, _ s: inout Search,
                       _ visited: inout Int) -> (Int, [Substring])? {
        visited += 1
        let node = nodes[n]
        guard let pos else {
            if let r = node.patternRoute { return (r, s.captures) }
            return nil
        }
        if let r = node.prefixRoute, node.depth > (s.bestPrefix?.depth ?? -1) {
            s.bestPrefix = (r, node.depth, pos, s.captures)
        }
        let u = s.path.utf8
        let end = u[pos...].firstIndex(of: UInt8(ascii: "/")) ?? u.endIndex
        let segment = s.path[pos..<end]
        let next: String.Index? = end == u.endIndex ? nil : u.index(after: end)

        if let c = node.statics[segment], let found = visit(c, at: next, &s, &visited) { return found }
        for (converter, c) in node.typed where converter.matches(segment) {
            s.captures.append(segment)
            if let found = visit(c, at: next, &s, &visited) { return found }
            s.captures.removeLast()
        }
        if let c = node.string, !segment.isEmpty {
            s.captures.append(segment)
            if let found = visit(c, at: next, &s, &visited) { return found }
            s.captures.removeLast()
        }
        if let r = node.pathRoute, pos != u.endIndex {
            return (r, s.captures + [s.path[pos...]])
        }
        return nil
    }
}

extension RoutePattern.Converter {
    /// Precedence among converters at one position: typed before string, path last.
    var rank: Int {
        switch self {
        case .int: 0
        case .float: 1
        case .uuid: 2
        case .string: 3
        case .path: 4
        }
    }
}
