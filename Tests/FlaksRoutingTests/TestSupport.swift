@testable import FlaksRouting

/// Builds a tree whose targets are the route paths, for readable expectations.
func tree(_ hosts: [(names: [String], paths: [String])]) throws -> RouteTree<String> {
    var b = RouteTreeBuilder<String>()
    for h in hosts { try b.addHost(names: h.names, routes: h.paths.map { ($0, $0) }) }
    return b.build()
}

/// A lookup result as a short string: "404", "421", or "route|remainder|name=value,...".
func outcome(_ t: RouteTree<String>, host: String? = "example.com", _ path: String) -> String {
    switch t.lookup(host: host, path: path) {
    case .unknownHost: return "421"
    case .notFound: return "404"
    case .found(let m):
        precondition(m.target == m.routePath)
        let params = m.parameters.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
        return "\(m.routePath)|\(m.remainder)|\(params)"
    }
}
