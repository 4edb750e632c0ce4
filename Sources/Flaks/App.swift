import FlaksHandlers
import FlaksRouting
import Logging

/// A Flaks application: view functions on Flask-style routes, hooks, error handlers and
/// blueprints, served by a Flaks `Server` as named handlers a manifest mounts.
///
/// ```swift
/// let app = App()
/// app.get("/todos/<int:id>", endpoint: "todo") { req in
///     try .json(store.get(try req.parameter("id", as: Int.self)))
/// }
/// try app.run(config: "config.yaml")   // the manifest mounts it: `path: /api/`, `handler: app`
/// ```
///
/// Mounting (`registry`): the whole app under `name` (default "app"), each blueprint under its
/// name, and each explicitly named endpoint under its endpoint name ("todo", "api.user"), except
/// names already taken and the server's built-ins (health, status, metrics). Mounted at a prefix
/// (`/api/`), the app routes `request.remainder` through its own route tree, so one host serves
/// views next to the manifest's static, cgi, redirect and respond routes.
public final class App: ViewRegistrar {
    /// The registry name of the whole app.
    public let name: String
    /// Bounds for `ViewRequest.form()` and `query`.
    public let formLimits: FormLimits
    let box = RouteSetBox()
    let log = LogSink()
    private let state = Locked(State())

    private struct State {
        var blueprints: [(blueprint: Blueprint, prefix: String)] = []
        /// The server this app serves in (set by `makeServer`/`run`/`attach`), for `url(for:)`.
        var server: WeakServer = WeakServer()
    }
    private struct WeakServer { weak var server: Server? }

    /// Names the server registers itself; the app never takes them.
    public static let reservedNames: Set<String> = ["health", "status", "metrics"]

    public init(name: String = "app", formLimits: FormLimits = .default) {
        precondition(!App.reservedNames.contains(name), "Flaks: \"\(name)\" is a built-in handler name")
        self.name = name
        self.formLimits = formLimits
    }

    public func add(_ pattern: String, methods: [HTTPMethod], endpoint: String?, view: View) {
        box.add(pattern, methods: methods, endpoint: endpoint, view: view)
    }
    public func beforeRequest(_ hook: @escaping BeforeRequestHook) { box.before(hook) }
    public func afterRequest(_ hook: @escaping AfterRequestHook) { box.after(hook) }
    public func errorHandler(_ status: HTTPStatus, _ handler: @escaping ErrorHandler) { box.error(status, handler) }
    public func errorHandler<E: Error>(for type: E.Type, _ handler: @escaping @Sendable (ViewRequest, E) throws -> Response) {
        box.error(type, handler)
    }

    /// Adds a blueprint; its patterns go under `urlPrefix` (default: the blueprint's own).
    public func register(_ blueprint: Blueprint, urlPrefix: String? = nil) {
        precondition(blueprint.name != name && !App.reservedNames.contains(blueprint.name),
                     "Flaks: blueprint name \"\(blueprint.name)\" is taken")
        let prefix = urlPrefix.map(Blueprint.normalisePrefix) ?? blueprint.urlPrefix
        state.withLock { s in
            precondition(!s.blueprints.contains { $0.blueprint.name == blueprint.name }, "Flaks: two blueprints named \"\(blueprint.name)\"")
            s.blueprints.append((blueprint, prefix))
        }
    }

    // MARK: mounting

    /// The handlers of this app, for `Server(config:registry:)` (see the type's documentation).
    public var registry: HandlerRegistry {
        var r = HandlerRegistry()
        register(into: &r)
        return r
    }

    /// Adds this app's handlers to `registry` (names already there are kept).
    public func register(into registry: inout HandlerRegistry) {
        for (name, handler) in compile() where registry.handler(named: name) == nil && !App.reservedNames.contains(name) {
            registry.register(name, handler)
        }
    }

    /// Remembers `server` for `url(for:)` (to find where the manifest mounts the app) and logs to its logger.
    public func attach(to server: Server) {
        state.withLock { $0.server.server = server }
        log.set(server.logger)
    }

    /// A server for `config` with this app's handlers registered (not started).
    public func makeServer(config: ServerConfig, logger: Logger? = nil) throws(SiteError) -> Server {
        let server = try Server(config: config, registry: registry, logger: logger)
        attach(to: server)
        return server
    }

    /// Loads the manifest at `path`, starts a server with this app mounted, and serves signals until
    /// SIGTERM/SIGINT/SIGQUIT has drained it: SIGHUP reloads the manifest (views stay mounted, at
    /// whatever paths the new manifest gives), SIGUSR1 reopens logs. `watch` reloads on file changes too.
    public func run(config path: String, watch: Bool = false) throws {
        let config = try ManifestLoader.load(path: path)
        SignalHandling.blockServerSignals()
        SignalHandling.becomeChildSubreaper()
        let server = try makeServer(config: config)
        for w in config.warnings { server.logger.warning("\(w.description)") }
        try server.start()
        SignalHandling.run(server, watch: watch)
    }

    // MARK: reverse routing

    /// The URL path of `endpoint` (Flask's url_for): parameters filled from `values`, the other
    /// values as the query. Blueprint endpoints are "NAME.endpoint". The path starts with where the
    /// attached server's current manifest mounts the app (`/api/` -> "/api/todos/1"); "" before
    /// the app is attached or when it is not mounted at a prefix.
    public func url(for endpoint: String, _ values: [String: any Sendable & CustomStringConvertible] = [:]) throws(URLBuildError) -> String {
        try compileURLs().build(endpoint, values: values, root: mountRoot)
    }

    /// Where the attached server's current manifest mounts this app at a prefix ("/api"), else "".
    public var mountRoot: String {
        guard let server = state.withLock({ $0.server.server }) else { return "" }
        for host in server.currentSite.config.hosts {
            for route in host.routes where route.kind == .handler(name) && route.path.hasSuffix("/") {
                return Blueprint.normalisePrefix(route.path)
            }
        }
        return ""
    }

    // MARK: compiling

    /// A view with where it lives: its pattern in the app, in its blueprint, and its blueprint.
    private struct Item {
        var full: String
        var relative: String
        var endpoint: String
        var explicitName: Bool
        var methods: [HTTPMethod]
        var view: CompiledView
        var blueprint: String?
    }

    private func items() -> (items: [Item], app: RouteSet, blueprints: [(Blueprint, RouteSet)]) {
        let appSet = box.snapshot
        let bps = state.withLock { $0.blueprints }
        var items: [Item] = []
        for r in appSet.routes {
            let cv = CompiledView(endpoint: r.endpoint, view: r.view, before: appSet.before, after: appSet.after, errors: [appSet.errors])
            items.append(Item(full: r.pattern, relative: r.pattern, endpoint: r.endpoint, explicitName: r.endpoint != r.pattern,
                              methods: r.methods, view: cv, blueprint: nil))
        }
        var sets: [(Blueprint, RouteSet)] = []
        for (bp, prefix) in bps {
            let s = bp.box.snapshot
            sets.append((bp, s))
            for r in s.routes {
                let qualified = bp.name + "." + r.endpoint
                let cv = CompiledView(endpoint: qualified, view: r.view, before: appSet.before + s.before,
                                      after: s.after + appSet.after, errors: [s.errors, appSet.errors])
                let full = prefix.isEmpty ? r.pattern : prefix + (r.pattern == "/" ? "/" : r.pattern)
                items.append(Item(full: full, relative: r.pattern, endpoint: qualified, explicitName: r.endpoint != r.pattern,
                                  methods: r.methods, view: cv, blueprint: bp.name))
            }
        }
        return (items, appSet, sets)
    }

    private func compileURLs() -> URLMap { App.buildTree(items().items.map { ($0.full, $0) }).urls }

    /// Builds every handler: the app, each blueprint, each explicitly named endpoint.
    func compile() -> [(String, any Handler)] {
        let (items, appSet, blueprints) = items()
        var out: [(String, any Handler)] = []
        let app = App.buildTree(items.map { ($0.full, $0) })
        out.append((name, Dispatcher(tree: app.tree, urls: app.urls, scopeErrors: [appSet.errors], formLimits: formLimits, log: log,
                                     appBefore: appSet.before, appAfter: appSet.after)))
        for (bp, set) in blueprints {
            let b = App.buildTree(items.filter { $0.blueprint == bp.name }.map { ($0.relative, $0) })
            out.append((bp.name, Dispatcher(tree: b.tree, urls: b.urls, scopeErrors: [set.errors, appSet.errors],
                                            formLimits: formLimits, log: log, appBefore: appSet.before, appAfter: appSet.after)))
        }
        var seen: Set<String> = []
        for item in items where item.explicitName && seen.insert(item.endpoint).inserted {
            let views = items.filter { $0.endpoint == item.endpoint }.flatMap { i in i.methods.map { ($0, i.view) } }
            let entry = RouteEntry(trailingSlash: false, views: views)
            out.append((item.endpoint, Dispatcher(tree: app.tree, urls: app.urls, scopeErrors: item.view.errors,
                                                  formLimits: formLimits, log: log, only: entry)))
        }
        return out
    }

    /// Groups views by pattern (one trie route serves every method of a path) and builds the tree
    /// and the URL map. Conflicts are programmer errors and stop the program with a message:
    /// the same method twice on one path, one endpoint name on two paths, two patterns of one shape.
    private static func buildTree(_ items: [(pattern: String, item: Item)]) -> (tree: RouteTree<RouteEntry>, urls: URLMap) {
        var order: [String] = []
        var groups: [String: (slash: Bool, views: [(method: HTTPMethod, view: CompiledView)])] = [:]
        var urls = URLMap()
        for (pattern, item) in items {
            let slash = pattern.count > 1 && pattern.hasSuffix("/")
            let key = slash ? String(pattern.dropLast()) : pattern
            var g = groups[key] ?? (slash, [])
            if groups[key] == nil { order.append(key) }
            precondition(g.slash == slash, "Flaks: \(key) registered both with and without a trailing \"/\"")
            for m in item.methods {
                precondition(!g.views.contains { $0.method == m }, "Flaks: \(m.rawValue) \(pattern) registered twice")
                g.views.append((m, item.view))
            }
            groups[key] = g
            let parsed: RoutePattern
            do { parsed = try RoutePattern.parse(key) } catch { preconditionFailure("Flaks: \(error.description)") }
            if let existing = urls.entries[item.endpoint] {
                precondition(existing.pattern.source == key, "Flaks: endpoint \"\(item.endpoint)\" names both \(existing.pattern.source) and \(key)")
            }
            urls.entries[item.endpoint] = URLMap.Entry(pattern: parsed, trailingSlash: slash)
        }
        var builder = RouteTreeBuilder<RouteEntry>()
        let routes = order.compactMap { key in groups[key].map { (path: key, target: RouteEntry(trailingSlash: $0.slash, views: $0.views)) } }
        do { try builder.addHost(names: ["*"], routes: routes) } catch { preconditionFailure("Flaks: \(error.description)") }
        return (builder.build(), urls)
    }
}
