/// Builds a `RouteTree`, one host at a time; errors name the host name or route at fault.
public struct RouteTreeBuilder<Target: Sendable> {
    private var hostTable = HostTable()
    private var paths = PathTrie()
    private var hostNames: [[String]] = []
    private var targets: [Target] = []

    public init() {}

    /// Adds a host. Names: exact (`example.com`, `[::1]`), `*.suffix`, or `*` (the default
    /// host); a name may appear in only one host. Paths: see `RoutePattern`; two routes with the
    /// same path, or the same shape (`/u/<int:a>`, `/u/<int:b>`), are an error.
    /// On error the builder is unchanged.
    public mutating func addHost(names: [String], routes: [(path: String, target: Target)]) throws(RouteError) {
        let patterns = try PathTrie.parse(routes.map(\.path))
        var table = hostTable
        try table.add(names: names, host: hostNames.count)
        // Nothing below can fail.
        hostTable = table
        let host = paths.addHost(patterns)
        assert(host == hostNames.count)
        hostNames.append(names)
        targets.append(contentsOf: routes.map(\.target))
    }

    public func build() -> RouteTree<Target> {
        RouteTree(index: RouteIndex(hostTable: hostTable, paths: paths, hostNames: hostNames), targets: targets)
    }
}
