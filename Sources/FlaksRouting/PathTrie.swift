import FlaksHTTP

/// The routes of every host: a hash table for exact paths and a segment trie for patterns and
/// prefix mounts. Built once by `RouteTreeBuilder`, then only read.
///
/// Not generic: routes are numbered in declaration order across all hosts and the caller keeps
/// the targets in an array under the same numbers, so a lookup never touches generic metadata.
/// Nodes hold only integers (copying one is a few loads, no reference counting); the static
/// children of every node are in one `ByteTable` keyed by `(parent node, segment bytes)`, and
/// the exact paths in another keyed by `(host, path bytes)`. A lookup reads the path's UTF-8
/// bytes in place and records no parameter values on the way: once a route wins, its
/// parameters are cut from the path by segment number.
///
/// Lookup cost depends on the depth of the path and the number of converter kinds, never on
/// the number of routes: static children are a hash lookup and each node has at most one
/// child per converter. Ideas from golang/go `src/net/http/routing_tree.go` and hummingbird
/// `Sources/Hummingbird/Router/TrieRouter.swift`.
struct PathTrie: Sendable {
    /// A declared route. Its index in `routes` is its number.
    struct Route: Sendable {
        var pattern: RoutePattern
        var parameterNames: [String]
        /// The path segment (0 = first after the leading "/") that holds each parameter.
        var parameterSegments: [Int]
        /// The last parameter is `<path:...>`: it takes the rest of the path from its segment on.
        var endsWithRest: Bool

        init(_ pattern: RoutePattern) {
            self.pattern = pattern
            var names: [String] = [], segments: [Int] = [], rest = false
            for (i, seg) in pattern.segments.enumerated() {
                if case .parameter(let name, let converter) = seg {
                    names.append(name); segments.append(i); rest = converter == .path
                }
            }
            parameterNames = names; parameterSegments = segments; endsWithRest = rest
        }
    }

    /// A trie node: children are indices into `nodes`, routes into `routes`, `none` if absent.
    /// Static (literal) children are in `edges`.
    struct Node: Sendable {
        static let none: Int32 = -1
        /// Converter children, tried in precedence order: int, float, uuid, then string.
        var int = none, float = none, uuid = none, string = none
        /// A pattern whose last segment is `<path:...>` and whose other segments led here.
        var pathRoute = none
        /// A pattern (not a prefix) that ends exactly here.
        var patternRoute = none
        /// A prefix mount whose segments end here.
        var prefixRoute = none
        /// Number of route segments from the root.
        var depth: Int32
        /// Whether `edges` holds literal children of this node (if not, no need to hash).
        var hasStatics = false

        /// Whether a path continuing below this node could match anything here or deeper.
        var hasChildren: Bool {
            hasStatics || int != Node.none || float != Node.none || uuid != Node.none || string != Node.none
                || pathRoute != Node.none
        }
    }

    /// A winning route: its number and, for a prefix mount, the byte offset where the rest of
    /// the path begins.
    struct Match {
        var route: Int
        var rest: Int?
    }

    private(set) var routes: [Route] = []
    /// The route numbers of each host, in declaration order.
    private(set) var hostRoutes: [Range<Int>] = []
    /// Root node of each host.
    private var roots: [Int] = []
    private var nodes: [Node] = []
    /// `(host, exact path)` -> route, for paths without parameters or trailing "/".
    private var exact = ByteTable()
    /// Per host, bit `min(n, 63)` is set when an exact path of `n` bytes exists: most paths
    /// that are not exact skip hashing for `exact`.
    private var exactLengths: [UInt64] = []
    /// `(node, literal segment)` -> child node.
    private var edges = ByteTable()

    /// Number of trie nodes, for diagnostics and tests.
    var nodeCount: Int { nodes.count }

    // MARK: building

    /// Parses the route paths of one host and rejects duplicates and shape conflicts.
    static func parse(_ paths: [String]) throws(RouteError) -> [RoutePattern] {
        var patterns: [RoutePattern] = []
        var shapes: [String: Int] = [:]
        for path in paths {
            let pattern = try RoutePattern.parse(path)
            if let other = shapes[pattern.shape] {
                let o = patterns[other].source
                throw RouteError(o == pattern.source ? "route \"\(o)\" is declared twice"
                                                     : "route \"\(pattern.source)\" conflicts with \"\(o)\"")
            }
            shapes[pattern.shape] = patterns.count
            patterns.append(pattern)
        }
        return patterns
    }

    /// Adds a host with routes checked by `parse(_:)`; returns its number.
    mutating func addHost(_ patterns: [RoutePattern]) -> Int {
        let host = roots.count
        roots.append(makeNode(depth: 0))
        exactLengths.append(0)
        let first = routes.count
        for p in patterns { insert(p, host: host) }
        hostRoutes.append(first..<routes.count)
        return host
    }

    private mutating func insert(_ pattern: RoutePattern, host: Int) {
        let index = routes.count
        routes.append(Route(pattern))
        if pattern.kind == .exact {
            exact.set(owner: host, pattern.source, to: index)
            exactLengths[host] |= Self.lengthBit(pattern.source.utf8.count)
            return
        }

        var n = roots[host]
        for seg in pattern.segments {
            switch seg {
            case .literal(let l):
                if let c = edges.find(owner: n, l) {
                    n = c
                } else {
                    let c = makeNode(depth: nodes[n].depth + 1)
                    edges.set(owner: n, l, to: c)
                    nodes[n].hasStatics = true
                    n = c
                }
            case .parameter(_, .path):
                nodes[n].pathRoute = Int32(index)   // always last (RoutePattern.parse checks)
                return
            case .parameter(_, .int): n = child(of: n, \.int)
            case .parameter(_, .float): n = child(of: n, \.float)
            case .parameter(_, .uuid): n = child(of: n, \.uuid)
            case .parameter(_, .string): n = child(of: n, \.string)
            }
        }
        if pattern.isPrefix { nodes[n].prefixRoute = Int32(index) } else { nodes[n].patternRoute = Int32(index) }
    }

    private mutating func child(of n: Int, _ key: WritableKeyPath<Node, Int32>) -> Int {
        let c = nodes[n][keyPath: key]
        if c != Node.none { return Int(c) }
        let new = makeNode(depth: nodes[n].depth + 1)
        nodes[n][keyPath: key] = Int32(new)
        return new
    }

    private mutating func makeNode(depth: Int32) -> Int {
        precondition(nodes.count < Int(Int32.max), "PathTrie: too many nodes")
        nodes.append(Node(depth: depth))
        return nodes.count - 1
    }

    // MARK: lookup

    /// Finds the route of `host` for a normalised path (its UTF-8 bytes, starting with "/"):
    /// exact, then the first pattern in precedence order, then the deepest prefix mount.
    /// `visited` counts trie nodes entered (plus one for a hash hit on an exact path).
    func lookup(host: Int, path: UnsafeBufferPointer<UInt8>, visited: inout Int) -> Match? {
        if exactLengths[host] & Self.lengthBit(path.count) != 0, let r = exact.find(owner: host, path) {
            visited += 1
            return Match(route: r, rest: nil)
        }
        guard path.first == UInt8(ascii: "/") else { return nil }
        var search = Search(path: path)
        let found = visit(roots[host], at: 1, &search)
        visited += search.visited
        if let r = found { return Match(route: r, rest: nil) }
        if search.bestPrefix != Node.none { return Match(route: Int(search.bestPrefix), rest: search.bestRest) }
        return nil
    }

    @inline(__always)
    private static func lengthBit(_ n: Int) -> UInt64 { 1 << UInt64(min(n, 63)) }

    /// State of one depth-first search.
    private struct Search {
        let path: UnsafeBufferPointer<UInt8>
        var visited = 0
        /// The deepest prefix mount seen so far (the first found among equals), its depth and
        /// where the rest of the path begins.
        var bestPrefix = Node.none
        var bestDepth: Int32 = -1
        var bestRest = 0

        init(path: UnsafeBufferPointer<UInt8>) { self.path = path }
    }

    /// Visits node `n` with the path left to match starting at byte `pos` (just after a "/"),
    /// or nil once the whole path is consumed. Children are tried static first, then typed
    /// converters, then string, then `<path:>`; the first complete pattern wins, while prefix
    /// mounts seen on the way are remembered (the deepest, then the first found).
    private func visit(_ n: Int, at pos: Int?, _ s: inout Search) -> Int? {
        s.visited += 1
        let node = nodes[n]
        guard let pos else { return node.patternRoute == Node.none ? nil : Int(node.patternRoute) }
        if node.prefixRoute != Node.none, node.depth > s.bestDepth {
            s.bestPrefix = node.prefixRoute; s.bestDepth = node.depth; s.bestRest = pos
        }
        guard node.hasChildren else { return nil }
        let path = s.path
        var end = pos
        while end < path.count && path[end] != UInt8(ascii: "/") { end += 1 }
        let segment = UnsafeBufferPointer(rebasing: path[pos..<end])
        let next: Int? = end == path.count ? nil : end + 1

        if node.hasStatics, !segment.isEmpty, let c = edges.find(owner: n, segment), let found = visit(c, at: next, &s) { return found }
        if node.int != Node.none, RoutePattern.Converter.int.matches(bytes: segment),
           let found = visit(Int(node.int), at: next, &s) { return found }
        if node.float != Node.none, RoutePattern.Converter.float.matches(bytes: segment),
           let found = visit(Int(node.float), at: next, &s) { return found }
        if node.uuid != Node.none, RoutePattern.Converter.uuid.matches(bytes: segment),
           let found = visit(Int(node.uuid), at: next, &s) { return found }
        if node.string != Node.none, !segment.isEmpty, let found = visit(Int(node.string), at: next, &s) { return found }
        if node.pathRoute != Node.none, pos != path.count { return Int(node.pathRoute) }
        return nil
    }

    // MARK: match values

    /// The route path, prefix remainder and parameter values of a match on `path`.
    func values(of m: Match, path: UnsafeBufferPointer<UInt8>)
        -> (routePath: String, remainder: String, parameters: [(name: String, value: String)]) {
        /// Bytes `range` of the path as a String. (Slicing the original String to skip UTF-8
        /// validation costs more in index arithmetic than the validation.)
        func string(_ range: Range<Int>) -> String {
            String(utf8Bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: path[range])))
        }

        // Fields are read through `routes[i]` one by one: binding the element would copy (and
        // retain) all of it.
        let remainder = m.rest.map { string($0..<path.count) } ?? ""
        let count = routes[m.route].parameterNames.count
        guard count > 0 else { return (routes[m.route].pattern.source, remainder, []) }
        // (`Array(unsafeUninitializedCapacity:)` would go through unspecialised stdlib code and
        // a generic metadata lookup; `reserveCapacity` + `append` are specialised here.)
        var parameters: [(name: String, value: String)] = []
        parameters.reserveCapacity(count)
        var segment = 0, pos = 1
        for k in 0..<count {
            while segment < routes[m.route].parameterSegments[k], pos <= path.count {   // to the parameter's segment
                while pos < path.count && path[pos] != UInt8(ascii: "/") { pos += 1 }
                pos += 1; segment += 1
            }
            let start = min(pos, path.count)
            var end = start
            if routes[m.route].endsWithRest && k == count - 1 {
                end = path.count
            } else {
                while end < path.count && path[end] != UInt8(ascii: "/") { end += 1 }
            }
            parameters.append((routes[m.route].parameterNames[k], string(start..<end)))
        }
        return (routes[m.route].pattern.source, remainder, parameters)
    }
}
