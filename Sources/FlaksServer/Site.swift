import FlaksAccess
import FlaksCompression
import FlaksConfig
import FlaksHandlers
import FlaksProxy
import FlaksTLS
import FlaksHTTP
import FlaksRouting

/// A route as mounted in the tree: its manifest entry and the handler built for it.
final class MountedRoute: Sendable {
    let route: Route
    let handler: any Handler
    /// Index of the host in `ServerConfig.hosts` (for error pages).
    let hostIndex: Int
    /// The host's first name, the `host` label of metrics.
    let hostLabel: String

    /// For a `respond:` route (status below 400, so error pages never apply): its answer
    /// serialized once at load time, so a request to it builds no `Request` and no header list.
    let fixed: FixedResponse?
    /// The route's `headers:` (2xx and 3xx answers) and `headers_always:` (every answer); nil when none.
    let routeFields: ResponseHeadEncoder.RouteFields?
    /// `auth`, `allow`, `rate`; nil when the route has none.
    let access: RouteAccess?
    /// The server's `compress` policy, unless compression is off or the route says `compress: false`.
    let compression: CompressionPolicy?
    /// A `proxy:` route's upstreams and settings (the connection starts it when the head arrives).
    let proxy: ProxyTarget?
    /// Whether an answer of this route may become a prepared response (a static or respond: route
    /// without access rules); a loop remembers the other routes' quick requests as not preparable.
    let mayPrepare: Bool

    init(route: Route, handler: any Handler, hostIndex: Int, hostLabel: String, access: RouteAccess? = nil,
         compression: CompressionPolicy? = nil, proxy: ProxyTarget? = nil) {
        self.route = route; self.handler = handler; self.hostIndex = hostIndex; self.hostLabel = hostLabel
        self.access = access
        self.proxy = proxy
        switch route.kind {
        case .staticFiles, .respond: mayPrepare = access == nil
        default: mayPrepare = false
        }
        let policy = route.compress ? compression : nil
        self.compression = policy
        let fields = ResponseHeadEncoder.RouteFields(success: route.headers, always: route.headersAlways)
        routeFields = fields.isEmpty ? nil : fields
        let compressible: Bool = {
            guard let policy, case .respond(let r) = route.kind else { return false }
            return policy.shouldCompress(contentType: r.contentType, contentEncoding: nil, cacheControl: nil,
                                         knownLength: r.body.utf8.count)
        }()
        // The fast path serves bytes prepared at load time; an answer the client may get compressed
        // goes the general way.
        if case .respond(let r) = route.kind, r.status < 400, access == nil, !compressible {
            fixed = FixedResponse(r, route: fields)
        } else {
            fixed = nil
        }
    }
}

/// A fixed answer prepared at load time: the status line and header fields (without Date, Server
/// and Connection, which the connection adds), and the body. `head` ends with the Content-Length
/// line when the status has a body (the plan of such a response is always `.length(body.count)`).
struct FixedResponse: Sendable {
    let status: HTTPStatus
    let head: [UInt8]
    let body: [UInt8]

    init(_ r: RespondRoute, route: ResponseHeadEncoder.RouteFields) {
        status = HTTPStatus(r.status)
        var h: [UInt8] = []
        ResponseSerializer.writeStatusLine(status: status, version: .http1_1, into: &h)
        ResponseSerializer.writeField(name: "Content-Type", value: r.contentType, into: &h)
        for f in route.success.fields + route.always.fields
        where !HeaderFields.equalsIgnoringCase(f.name, "Content-Type") && !ResponseHeadEncoder.isServerField(f.name) {
            ResponseSerializer.writeField(name: f.name, value: f.value, into: &h)
        }
        body = Array(r.body.utf8)
        if !status.forbidsBody {
            h.append(contentsOf: "Content-Length: \(body.count)\r\n".utf8)
        }
        head = h
    }
}

/// One loaded manifest: the config, its route tree and its generation. Immutable; swapped whole on reload.
public final class Site: Sendable {
    public let config: ServerConfig
    let tree: RouteTree<MountedRoute>
    /// Per host, its custom error pages (status -> path); looked up with the same host rules as routes.
    let errorPages: RouteTree<[Int: String]>
    public let generation: Int
    /// `server.trusted_proxies`: peers whose X-Forwarded-* fields are believed.
    let trustedProxies: AddressList
    /// Some route is a `proxy:`: requests are routed when their head arrives (a proxied body streams).
    var hasProxyRoutes: Bool { !proxyTargets.isEmpty }
    /// The proxy routes' runtimes (for health checks and the reload's pool clean-up).
    let proxyTargets: [ProxyTarget]
    /// Every upstream address the proxy routes use.
    let upstreamKeys: Set<String>
    /// The certificates and TLS context; nil when no host has `tls`.
    let tls: SiteTLS?
    /// The limits a connection accepted under this site uses, in the units its state machine needs.
    let connectionConfiguration: ConnectionStateMachine.Configuration

    init(config: ServerConfig, tree: RouteTree<MountedRoute>, errorPages: RouteTree<[Int: String]>, generation: Int,
         tls: SiteTLS? = nil) {
        self.tls = tls
        self.config = config; self.tree = tree; self.errorPages = errorPages; self.generation = generation
        trustedProxies = config.server.trustedProxies
        proxyTargets = tree.entries.flatMap { $0.routes.compactMap(\.target.proxy) }
        upstreamKeys = Set(proxyTargets.flatMap { $0.endpoints.map(\.key) })
        let l = config.limits
        connectionConfiguration = ConnectionStateMachine.Configuration(
            parse: l.parseLimits, headerTimeout: l.headerTimeout.nanoseconds, bodyTimeout: l.bodyTimeout.nanoseconds,
            keepaliveTimeout: l.keepaliveTimeout.nanoseconds, maxKeepaliveRequests: l.maxKeepaliveRequests)
    }
}

/// Named handlers a manifest route can mount with `handler: NAME` (built-ins and registered views).
public struct HandlerRegistry: Sendable {
    var handlers: [String: any Handler] = [:]
    public init() {}
    public mutating func register(_ name: String, _ handler: any Handler) { handlers[name] = handler }
    public func handler(named name: String) -> (any Handler)? { handlers[name] }
    public var names: [String] { handlers.keys.sorted() }
}

/// Why a manifest could not be turned into a site.
public struct SiteError: Error, Sendable, CustomStringConvertible {
    public var messages: [String]
    public var description: String { messages.joined(separator: "\n") }
}

/// Turns a validated manifest into a `Site`: builds each route's handler and the route trees.
enum SiteBuilder {
    /// Builds the handlers and the route tree for `config`.
    static func build(_ config: ServerConfig, registry: HandlerRegistry, generation: Int,
                      upstreams: UpstreamRegistry = UpstreamRegistry(), tickets: TicketKeyRing? = nil,
                      services: ServiceDirectory? = nil) throws(SiteError) -> Site {
        var builder = RouteTreeBuilder<MountedRoute>()
        var pages = RouteTreeBuilder<[Int: String]>()
        var errors: [String] = []
        let compression = CompressionPolicy(config.compress)
        for (hi, host) in config.hosts.enumerated() {
            var routes: [(path: String, target: MountedRoute)] = []
            for route in host.routes {
                let handler: any Handler
                var proxy: ProxyTarget?
                switch route.kind {
                case .respond(let r): handler = RespondHandler(r)
                case .redirect(let r): handler = RedirectHandler(r)
                case .staticFiles(let s): handler = StaticFileHandler(s)
                case .cgi(let r): handler = CGIHandler(route: r, settings: config.cgi)
                case .handler(let name):
                    guard let h = registry.handler(named: name) else {
                        errors.append("\(route.origin.map { $0 + ": " } ?? "")handler '\(name)' is not registered (known: \(registry.names.joined(separator: ", ")))")
                        continue
                    }
                    handler = h
                case .proxy(let p):
                    do { proxy = try ProxyTarget.build(p, path: route.path, origin: route.origin, registry: upstreams, directory: services) } catch {
                        errors.append(contentsOf: error.messages)
                        continue
                    }
                    handler = ProxyRouteHandler()
                case .fastcgi(let r):
                    switch SiteBuilder.fastcgiResponder(r) {
                    case .success(let responder): handler = FastCGIHandler(route: r, responder: responder)
                    case .failure(let message):
                        errors.append("\(route.origin.map { $0 + ": " } ?? "")\(message)")
                        continue
                    }
                }
                let label = host.names.first ?? "*"
                let access: RouteAccess?
                do { access = try RouteAccess.build(route.access, route: route, hostLabel: label) } catch {
                    errors.append(contentsOf: error.messages)
                    continue
                }
                routes.append((route.path, MountedRoute(route: route, handler: handler, hostIndex: hi, hostLabel: label,
                                                         access: access, compression: compression, proxy: proxy)))
            }
            do {
                try builder.addHost(names: host.names, routes: routes)
                try pages.addHost(names: host.names, routes: [(path: "/", target: host.errorPages)])
            } catch { errors.append(error.description) }
        }
        var tls: SiteTLS?
        if let tickets {
            do { tls = try SiteTLS.build(config, tickets: tickets) } catch { errors.append(contentsOf: error.messages) }
        }
        if !errors.isEmpty { throw SiteError(messages: errors) }
        return Site(config: config, tree: builder.build(), errorPages: pages.build(), generation: generation, tls: tls)
    }
}

extension SiteBuilder {
    /// A fastcgi route's responder with a TCP host name resolved now (site build, off the loops:
    /// `getaddrinfo` blocks), so the executor only parses a numeric address. A name that does not
    /// resolve fails the build (the old site keeps serving a reload), as nginx refuses an upstream
    /// host it cannot find.
    static func fastcgiResponder(_ r: FastCGIRoute) -> Result<FastCGIInvocation.Responder, SiteMessage> {
        guard case .address(.tcp(let host, let port)) = r.responder else { return .success(FastCGIHandler.responder(of: r)) }
        guard let first = SocketAddress.resolve(host: host, port: port).first else {
            return .failure(SiteMessage("fastcgi responder \(host):\(port): the host name does not resolve"))
        }
        return .success(.tcp(host: first.host, port: port))
    }
}

/// A message for `SiteError`, as a `Result` failure.
struct SiteMessage: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension CompressionPolicy {
    /// The policy of a manifest's `compress:`; nil when compression is off.
    init?(_ settings: CompressSettings) {
        guard settings.isEnabled else { return nil }
        self.init(encodings: settings.encodings.compactMap { ContentCoding(rawValue: $0.rawValue) }, minSize: settings.minSize,
                  types: settings.types.compactMap { MediaTypePattern($0) })
    }
}

/// The handler of a proxy route: never asked (the connection starts the proxy when the head arrives).
struct ProxyRouteHandler: Handler {
    func handle(_ request: Request) -> HandlerOutcome {
        .response(ErrorPage.response(.internalServerError, detail: "proxy route reached a handler"))
    }
}
