/// Builds a `RouteTree`, one host at a time; errors name the host name or route at fault.
public struct RouteTreeBuilder<Target: Sendable> {
    private var hostTable = HostTable()
    private var hosts: [RouteTree<Target>.Host] = []

    public init() {}

    /// Adds a host. Names: exact (`example.com`, `[::1]`), `*.suffix`, or `*` (the default
    /// host); a name may appear in only one host. Paths: see `RoutePattern`; two routes with the
    /// same path, or the same shape (`/u/<int:a>`, `/u/<int:b>`), are an error.
    /// On error the builder is unchanged.
    public mutating func addHost(names: [String], routes: [(path: String, target: Target)]) throws(RouteError) {
        var paths = PathTrie<Target>()
        for r in routes { try paths.insert(try RoutePattern.parse(r.path), target: r.target) }
        var table = hostTable
        try table.add(names: names, host: hosts.count)
        hostTable = table
        hosts.append(.init(names: names, paths: paths))
    }

    public func build() -> RouteTree<Target> { RouteTree(hostTable: hostTable, hosts: hosts) }
}
