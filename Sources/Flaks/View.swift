import FlaksHandlers
import FlaksRouting

/// An async view function. `nonisolated(nonsending)`: it runs on the executor of the task that
/// calls it, its request's task, so calling it makes no executor hop on the way in. A hop asks the
/// task's executor preference under a lock (~250 instructions): four per request before, two now,
/// the ones the compiler still emits after an `await`.
public typealias AsyncView = nonisolated(nonsending) @Sendable (ViewRequest) async throws -> Response

/// A view function: blocking (runs on the worker pool) or async (runs as a Task).
public enum View: Sendable {
    /// A synchronous view; may block (database calls, file I/O): it runs on a worker thread.
    case blocking(@Sendable (ViewRequest) throws -> Response)
    /// An async view; runs as a Task that starts on a worker thread and continues on the worker
    /// pool after it suspends. Blocking inside it holds a worker, as a blocking view does.
    case async(AsyncView)
}

/// Runs before the view (on the view's thread or task). Returning a response short-circuits:
/// the view does not run, after-request hooks still do (as in Flask).
public typealias BeforeRequestHook = @Sendable (ViewRequest) throws -> Response?

/// Runs after the view with its response and returns the response to send (add a header, a cookie).
public typealias AfterRequestHook = @Sendable (ViewRequest, Response) throws -> Response

/// Turns an error into a response.
public typealias ErrorHandler = @Sendable (ViewRequest, any Error) throws -> Response

/// One registered view: where, for which methods, under which endpoint name.
struct ViewRoute: Sendable {
    var pattern: String
    var methods: [HTTPMethod]
    /// The endpoint name without a blueprint qualifier.
    var endpoint: String
    var view: View
}

/// Error handlers of an app or a blueprint: by error type (first registered match wins), then by status.
struct ErrorHandlers: Sendable {
    var byType: [(matches: @Sendable (any Error) -> Bool, handler: ErrorHandler)] = []
    var byStatus: [Int: ErrorHandler] = [:]

    var isEmpty: Bool { byType.isEmpty && byStatus.isEmpty }
}

/// What `App` and `Blueprint` collect: routes, hooks, error handlers.
struct RouteSet: Sendable {
    var routes: [ViewRoute] = []
    var before: [BeforeRequestHook] = []
    var after: [AfterRequestHook] = []
    var errors = ErrorHandlers()
}

/// Something view functions are registered on: an `App` or a `Blueprint`.
///
/// Pass a closure without `await` and it is a blocking view; with `await` (or written
/// `{ req async throws in ... }`) it is an async view. Register everything before the app's
/// `registry` is built (`run` builds it); later registrations are not seen by a running server.
public protocol ViewRegistrar: AnyObject, Sendable {
    /// Registers `view` for `methods` on `pattern` (Flask syntax: `/u/<int:id>`, converters int,
    /// float, uuid, string, path). `endpoint` names it for `url(for:)` and the handler registry;
    /// without one, the pattern itself is the endpoint name. A bad pattern is a programmer error
    /// and stops the program with the pattern's error.
    func add(_ pattern: String, methods: [HTTPMethod], endpoint: String?, view: View)
    /// Adds a before-request hook (run in registration order).
    func beforeRequest(_ hook: @escaping BeforeRequestHook)
    /// Adds an after-request hook (run in registration order).
    func afterRequest(_ hook: @escaping AfterRequestHook)
    /// Handles errors with `status`: a thrown `HTTPError`, an unmatched path (404), a wrong method (405),
    /// or any other error (500).
    func errorHandler(_ status: HTTPStatus, _ handler: @escaping ErrorHandler)
    /// Handles errors of type `E` thrown by views and hooks (checked before status handlers).
    func errorHandler<E: Error>(for type: E.Type, _ handler: @escaping @Sendable (ViewRequest, E) throws -> Response)
}

extension ViewRegistrar {
    /// A blocking view for `methods` (GET by default).
    public func route(_ pattern: String, methods: [HTTPMethod] = [.GET], endpoint: String? = nil,
                      _ view: @escaping @Sendable (ViewRequest) throws -> Response) {
        add(pattern, methods: methods, endpoint: endpoint, view: .blocking(view))
    }
    /// An async view for `methods` (GET by default).
    public func route(_ pattern: String, methods: [HTTPMethod] = [.GET], endpoint: String? = nil,
                      _ view: @escaping AsyncView) {
        add(pattern, methods: methods, endpoint: endpoint, view: .async(view))
    }
    /// A blocking GET view (HEAD is served by it too).
    public func get(_ pattern: String, endpoint: String? = nil, _ view: @escaping @Sendable (ViewRequest) throws -> Response) {
        add(pattern, methods: [.GET], endpoint: endpoint, view: .blocking(view))
    }
    /// An async GET view (HEAD is served by it too).
    public func get(_ pattern: String, endpoint: String? = nil, _ view: @escaping AsyncView) {
        add(pattern, methods: [.GET], endpoint: endpoint, view: .async(view))
    }
    /// A blocking POST view.
    public func post(_ pattern: String, endpoint: String? = nil, _ view: @escaping @Sendable (ViewRequest) throws -> Response) {
        add(pattern, methods: [.POST], endpoint: endpoint, view: .blocking(view))
    }
    /// An async POST view.
    public func post(_ pattern: String, endpoint: String? = nil, _ view: @escaping AsyncView) {
        add(pattern, methods: [.POST], endpoint: endpoint, view: .async(view))
    }
    /// A blocking PUT view.
    public func put(_ pattern: String, endpoint: String? = nil, _ view: @escaping @Sendable (ViewRequest) throws -> Response) {
        add(pattern, methods: [.PUT], endpoint: endpoint, view: .blocking(view))
    }
    /// An async PUT view.
    public func put(_ pattern: String, endpoint: String? = nil, _ view: @escaping AsyncView) {
        add(pattern, methods: [.PUT], endpoint: endpoint, view: .async(view))
    }
    /// A blocking PATCH view.
    public func patch(_ pattern: String, endpoint: String? = nil, _ view: @escaping @Sendable (ViewRequest) throws -> Response) {
        add(pattern, methods: [.PATCH], endpoint: endpoint, view: .blocking(view))
    }
    /// An async PATCH view.
    public func patch(_ pattern: String, endpoint: String? = nil, _ view: @escaping AsyncView) {
        add(pattern, methods: [.PATCH], endpoint: endpoint, view: .async(view))
    }
    /// A blocking DELETE view.
    public func delete(_ pattern: String, endpoint: String? = nil, _ view: @escaping @Sendable (ViewRequest) throws -> Response) {
        add(pattern, methods: [.DELETE], endpoint: endpoint, view: .blocking(view))
    }
    /// An async DELETE view.
    public func delete(_ pattern: String, endpoint: String? = nil, _ view: @escaping AsyncView) {
        add(pattern, methods: [.DELETE], endpoint: endpoint, view: .async(view))
    }
    /// Handles errors with the status `code` (see `errorHandler(_:_:)`).
    public func errorHandler(_ code: Int, _ handler: @escaping ErrorHandler) {
        errorHandler(HTTPStatus(code), handler)
    }
}

/// The shared storage behind `App` and `Blueprint`: a RouteSet behind a lock.
final class RouteSetBox: Sendable {
    private let storage = Locked(RouteSet())
    var snapshot: RouteSet { storage.withLock { $0 } }

    func add(_ pattern: String, methods: [HTTPMethod], endpoint: String?, view: View) {
        do { _ = try RoutePattern.parse(pattern) } catch { preconditionFailure("Flaks: \(error.description)") }
        precondition(!methods.isEmpty, "Flaks: route \(pattern) has no methods")
        let route = ViewRoute(pattern: pattern, methods: methods, endpoint: endpoint ?? pattern, view: view)
        storage.withLock { $0.routes.append(route) }
    }
    func before(_ h: @escaping BeforeRequestHook) { storage.withLock { $0.before.append(h) } }
    func after(_ h: @escaping AfterRequestHook) { storage.withLock { $0.after.append(h) } }
    func error(_ status: HTTPStatus, _ h: @escaping ErrorHandler) { storage.withLock { $0.errors.byStatus[status.code] = h } }
    func error<E: Error>(_ type: E.Type, _ h: @escaping @Sendable (ViewRequest, E) throws -> Response) {
        let entry: (matches: @Sendable (any Error) -> Bool, handler: ErrorHandler) = (
            { $0 is E },
            { req, err in
                guard let e = err as? E else { throw err }
                return try h(req, e)
            })
        storage.withLock { $0.errors.byType.append(entry) }
    }
}
