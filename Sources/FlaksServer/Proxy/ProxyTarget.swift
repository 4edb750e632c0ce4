import FlaksConfig
import FlaksHTTP
import FlaksProxy

/// A `proxy:` route, ready to serve: its upstreams resolved to socket addresses at load time (names
/// are looked up here, on the reloading thread, never on a loop), the balancer over the server-wide
/// `Upstream` objects (health and in-flight counts shared by every route and kept across reloads),
/// and the route's settings in the units the executor needs.
final class ProxyTarget: Sendable {
    /// One upstream of the route.
    struct Endpoint: Sendable {
        /// The manifest's spelling (`127.0.0.1:9000`, `unix:/run/app.sock`): the pool and registry key.
        let key: String
        /// Every address the name resolved to (tried in order on a failed connect).
        let addresses: [SocketAddress]
    }

    let route: ProxyRoute
    let endpoints: [Endpoint]
    let balancer: Balancer
    let rules: UpstreamRequest.Rules
    let configuration: ProxyExchange.Configuration
    let keepaliveTimeout: UInt64
    let failTimeout: UInt64

    init(route: ProxyRoute, endpoints: [Endpoint], balancer: Balancer, mountPath: String) {
        self.route = route; self.endpoints = endpoints; self.balancer = balancer
        rules = UpstreamRequest.Rules(mountPath: mountPath, stripPrefix: route.stripPrefix, host: route.host,
                                      requestHeaders: route.requestHeaders)
        configuration = ProxyExchange.Configuration(connectTimeout: route.connectTimeout.nanoseconds,
                                                    timeout: route.timeout.nanoseconds,
                                                    tunnelTimeout: route.tunnelTimeout.nanoseconds)
        keepaliveTimeout = route.keepaliveTimeout.nanoseconds
        failTimeout = route.failTimeout.nanoseconds
    }

    /// Builds the target of a proxy route; resolves host names (blocking). Throws a message naming the
    /// route when an upstream cannot be resolved or the route names a service (not served yet).
    static func build(_ route: ProxyRoute, path: String, origin: String?, registry: UpstreamRegistry) throws(SiteError) -> ProxyTarget {
        let place = origin.map { $0 + ": " } ?? ""
        guard case .addresses(let addresses) = route.upstreams else {
            throw SiteError(messages: ["\(place)proxy: {service: ...} is not served by this build yet"])
        }
        var endpoints: [Endpoint] = []
        for a in addresses {
            let resolved: [SocketAddress]
            switch a {
            case .tcp(let host, let port): resolved = SocketAddress.resolve(host: host, port: port)
            case .unix(let p): resolved = SocketAddress(unixPath: p).map { [$0] } ?? []
            }
            guard !resolved.isEmpty else {
                throw SiteError(messages: ["\(place)proxy: cannot resolve the upstream \(a)"])
            }
            endpoints.append(Endpoint(key: a.description, addresses: resolved))
        }
        let upstreams = endpoints.map { registry.upstream(for: $0.key, startsDown: false) }
        let policy = Balancer.Policy(rawValue: route.balance.rawValue) ?? .roundRobin
        let mount = path.hasSuffix("/") ? path : path
        return ProxyTarget(route: route, endpoints: endpoints, balancer: Balancer(upstreams: upstreams, policy: policy),
                           mountPath: mount)
    }
}
