/// A group of views under a name and a URL prefix, with its own hooks and error handlers, like a
/// Flask blueprint. Register it on an app with `app.register(blueprint)`; its endpoints are then
/// named "NAME.endpoint" (`app.url(for: "api.user", ...)`), and the app's handler registry also
/// holds the blueprint alone under NAME, for a manifest route `handler: NAME`.
///
/// Hooks: for a view of the blueprint, the app's before-request hooks run first, then the
/// blueprint's; after-request hooks run the blueprint's first, then the app's. Error handlers of
/// the blueprint are tried before the app's.
public final class Blueprint: ViewRegistrar {
    /// The blueprint's name: the endpoint qualifier and its handler registry name.
    public let name: String
    /// Prepended to every pattern when registered on an app ("/api"); "" for none.
    public let urlPrefix: String
    let box = RouteSetBox()

    /// `urlPrefix` is normalised to start with "/" and not end with one ("" stays "").
    public init(_ name: String, urlPrefix: String = "") {
        precondition(!name.isEmpty && !name.contains("."), "Flaks: a blueprint name must be non-empty and contain no \".\"")
        self.name = name
        self.urlPrefix = Blueprint.normalisePrefix(urlPrefix)
    }

    static func normalisePrefix(_ p: String) -> String {
        var s = p
        while s.hasSuffix("/") { s.removeLast() }
        if !s.isEmpty && !s.hasPrefix("/") { s = "/" + s }
        return s
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
}
