import FlaksConfig
import FlaksHandlers
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

    init(route: Route, handler: any Handler, hostIndex: Int, hostLabel: String) {
        self.route = route; self.handler = handler; self.hostIndex = hostIndex; self.hostLabel = hostLabel
        let fields = ResponseHeadEncoder.RouteFields(success: route.headers, always: route.headersAlways)
        routeFields = fields.isEmpty ? nil : fields
        if case .respond(let r) = route.kind, r.status < 400 {
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
    /// The limits a connection accepted under this site uses, in the units its state machine needs.
    let connectionConfiguration: ConnectionStateMachine.Configuration

    init(config: ServerConfig, tree: RouteTree<MountedRoute>, errorPages: RouteTree<[Int: String]>, generation: Int) {
        self.config = config; self.tree = tree; self.errorPages = errorPages; self.generation = generation
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
    static func build(_ config: ServerConfig, registry: HandlerRegistry, generation: Int) throws(SiteError) -> Site {
        var builder = RouteTreeBuilder<MountedRoute>()
        var pages = RouteTreeBuilder<[Int: String]>()
        var errors: [String] = []
        for (hi, host) in config.hosts.enumerated() {
            var routes: [(path: String, target: MountedRoute)] = []
            for route in host.routes {
                // Fail closed: a route whose auth/allow/rate this build would not enforce is refused
                // rather than served open.
                guard route.access.isEmpty else {
                    errors.append("\(route.origin.map { $0 + ": " } ?? "")access rules (auth, allow, rate) are not enforced by this build yet")
                    continue
                }
                let handler: any Handler
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
                case .fastcgi, .proxy:
                    // The manifest model knows this kind; serving it is not wired in yet.
                    errors.append("\(route.origin.map { $0 + ": " } ?? "")route kind '\(route.kind.keyword)' is not served by this build yet")
                    continue
                }
                routes.append((route.path, MountedRoute(route: route, handler: handler, hostIndex: hi, hostLabel: host.names.first ?? "*")))
            }
            do {
                try builder.addHost(names: host.names, routes: routes)
                try pages.addHost(names: host.names, routes: [(path: "/", target: host.errorPages)])
            } catch { errors.append(error.description) }
        }
        if !errors.isEmpty { throw SiteError(messages: errors) }
        return Site(config: config, tree: builder.build(), errorPages: pages.build(), generation: generation)
    }
}
