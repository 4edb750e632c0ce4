import FlaksConfig
import FlaksHTTP
import FlaksProxy
import FlaksSync

/// A `proxy:` route, ready to serve: its upstreams resolved to socket addresses at load time (names
/// are looked up here, on the reloading thread, never on a loop), the balancer over the server-wide
/// `Upstream` objects (health and in-flight counts shared by every route and kept across reloads),
/// and the route's settings in the units the executor needs.
///
/// A route to a supervised service (`proxy: {service: NAME}`) has no fixed upstreams: its members
/// are the service's ready instances, read from the `ServiceDirectory` per request and cached
/// with a balancer until the directory's list changes (a roll, a restart).
final class ProxyTarget: Sendable {
    /// One upstream of the route.
    struct Endpoint: Sendable {
        /// The manifest's spelling (`127.0.0.1:9000`, `unix:/run/app.sock`), or a service instance's
        /// `http://127.0.0.1:PORT`: the registry key, in metrics, status and the access log.
        let key: String
        /// Every address the name resolved to (tried in order on a failed connect).
        let addresses: [SocketAddress]
        /// The idle pool's key: `key`, or for a service instance `service:NAME#ID` (an instance's
        /// port can be handed to a later instance; its kept connections must not be).
        let poolKey: String

        init(key: String, addresses: [SocketAddress], poolKey: String? = nil) {
            self.key = key; self.addresses = addresses; self.poolKey = poolKey ?? key
        }
    }

    /// The upstreams a request chooses from: fixed for `to:`, the ready instances for a service.
    struct Members: Sendable {
        let endpoints: [Endpoint]
        let balancer: Balancer
        /// For a service: the instance behind each endpoint (acquired for a request, released after).
        let instances: [ServiceEndpoint]
        /// The directory's list version these were built from.
        let version: UInt64
    }

    let route: ProxyRoute
    /// The fixed upstreams (empty for a service route).
    let endpoints: [Endpoint]
    let balancer: Balancer
    /// The service this route sends to, with the directory that knows its instances (nil outside a
    /// running server, e.g. `flaks route`: then no instance is ever ready).
    let service: (name: String, directory: ServiceDirectory?, registry: UpstreamRegistry)?
    // protected by its lock; any loop (rebuilt when the directory's version moves)
    private let cached = Locked<Members?>(nil)
    let rules: UpstreamRequest.Rules
    let configuration: ProxyExchange.Configuration
    let keepaliveTimeout: UInt64
    let failTimeout: UInt64

    init(route: ProxyRoute, endpoints: [Endpoint], balancer: Balancer, mountPath: String,
         service: (name: String, directory: ServiceDirectory?, registry: UpstreamRegistry)? = nil) {
        self.route = route; self.endpoints = endpoints; self.balancer = balancer; self.service = service
        rules = UpstreamRequest.Rules(mountPath: mountPath, stripPrefix: route.stripPrefix, host: route.host,
                                      requestHeaders: route.requestHeaders)
        configuration = ProxyExchange.Configuration(connectTimeout: route.connectTimeout.nanoseconds,
                                                    timeout: route.timeout.nanoseconds,
                                                    tunnelTimeout: route.tunnelTimeout.nanoseconds)
        keepaliveTimeout = route.keepaliveTimeout.nanoseconds
        failTimeout = route.failTimeout.nanoseconds
    }

    /// The upstreams for a request now. For a service: its ready instances (empty when none is
    /// ready; the caller waits), the balancer rebuilt only when the directory's list changed.
    func members() -> Members {
        guard let service else { return Members(endpoints: endpoints, balancer: balancer, instances: [], version: 0) }
        guard let snap = service.directory?.snapshot(of: service.name) else {
            return Members(endpoints: [], balancer: balancer, instances: [], version: 0)
        }
        if let m = cached.withLock({ $0 }), m.version == snap.version { return m }
        let eps = snap.endpoints.map { e in
            Endpoint(key: e.url, addresses: [SocketAddress(host: "127.0.0.1", port: e.port)].compactMap { $0 },
                     poolKey: "service:\(service.name)#\(e.id)")
        }
        let policy = Balancer.Policy(rawValue: route.balance.rawValue) ?? .roundRobin
        let m = Members(endpoints: eps, balancer: Balancer(upstreams: eps.map { service.registry.upstream(for: $0.key) }, policy: policy),
                        instances: snap.endpoints, version: snap.version)
        cached.withLock { $0 = m }
        return m
    }

    /// Builds the target of a proxy route; resolves host names (blocking). Throws a message naming the
    /// route when an upstream cannot be resolved.
    static func build(_ route: ProxyRoute, path: String, origin: String?, registry: UpstreamRegistry,
                      directory: ServiceDirectory?) throws(SiteError) -> ProxyTarget {
        let place = origin.map { $0 + ": " } ?? ""
        let addresses: [UpstreamAddress]
        switch route.upstreams {
        case .addresses(let a): addresses = a
        case .service(let name):
            let policy = Balancer.Policy(rawValue: route.balance.rawValue) ?? .roundRobin
            return ProxyTarget(route: route, endpoints: [], balancer: Balancer(upstreams: [], policy: policy), mountPath: path,
                               service: (name, directory, registry))
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
