import FlaksHandlers
import FlaksRouting
import Logging

/// One view as compiled: the closure with the hooks and error handlers that apply to it.
final class CompiledView: Sendable {
    /// Qualified endpoint name ("api.user").
    let endpoint: String
    let view: View
    /// App hooks, then the blueprint's.
    let before: [BeforeRequestHook]
    /// Blueprint hooks, then the app's.
    let after: [AfterRequestHook]
    /// The blueprint's error handlers, then the app's.
    let errors: [ErrorHandlers]

    init(endpoint: String, view: View, before: [BeforeRequestHook], after: [AfterRequestHook], errors: [ErrorHandlers]) {
        self.endpoint = endpoint; self.view = view; self.before = before; self.after = after; self.errors = errors
    }
}

/// The views of one path pattern, by method.
final class RouteEntry: Sendable {
    /// The pattern registered with a trailing "/" (`/todos/`): the request must have it too.
    let trailingSlash: Bool
    let views: [(method: HTTPMethod, view: CompiledView)]
    /// The Allow field value: the methods, plus HEAD with GET, plus OPTIONS (RFC 9110 §10.2.1).
    let allow: String

    init(trailingSlash: Bool, views: [(method: HTTPMethod, view: CompiledView)]) {
        self.trailingSlash = trailingSlash
        self.views = views
        var methods = Set(views.map(\.method))
        if methods.contains(.GET) { methods.insert(.HEAD) }
        methods.insert(.OPTIONS)
        allow = HTTPMethod.allCases.filter(methods.contains).map(\.rawValue).joined(separator: ", ")
    }

    @inline(__always) func view(for method: HTTPMethod) -> CompiledView? {
        for v in views where v.method == method { return v.view }
        return nil
    }
}

/// The error log the app writes to: the server's logger once the app is attached to one.
final class LogSink: Sendable {
    private let logger = Locked(Logger(label: "flaks.app"))
    var current: Logger { logger.withLock { $0 } }
    func set(_ l: Logger) { logger.withLock { $0 = l } }
}

/// A compiled app, blueprint or single endpoint as a server `Handler`.
///
/// `handle` runs on the selector loop: it only routes (a trie lookup) and picks the view, then
/// returns `.blocking` for a blocking view (worker pool) or `.async` for an async view (a Task).
/// User code (views, hooks, error handlers) never runs on the loop. Routing answers that need no
/// user code (404 and 405 without handlers, OPTIONS, the trailing-slash redirect) are immediate.
///
/// What is dispatched: for a prefix mount (`/api/`), "/" + `request.remainder`; for an exact or
/// pattern mount, the request's whole path. A single-endpoint handler (`only`) skips routing and
/// serves its view for whatever path the manifest mounted it on.
final class Dispatcher: Handler {
    let tree: RouteTree<RouteEntry>
    let urls: URLMap
    /// Error handlers for 404/405 found by routing: the scope's own, then the app's.
    let scopeErrors: [ErrorHandlers]
    let formLimits: FormLimits
    let log: LogSink
    /// A single-endpoint handler: serve this entry for any path it is mounted on.
    let only: RouteEntry?
    /// The app's own before/after hooks: they run for a 404 or 405 from routing too, as in Flask
    /// (no view matched, so no blueprint's hooks do).
    let appBefore: [BeforeRequestHook]
    let appAfter: [AfterRequestHook]

    init(tree: RouteTree<RouteEntry>, urls: URLMap, scopeErrors: [ErrorHandlers], formLimits: FormLimits, log: LogSink,
         only: RouteEntry? = nil, appBefore: [BeforeRequestHook] = [], appAfter: [AfterRequestHook] = []) {
        self.tree = tree; self.urls = urls; self.scopeErrors = scopeErrors.filter { !$0.isEmpty }
        self.formLimits = formLimits; self.log = log; self.only = only
        self.appBefore = appBefore; self.appAfter = appAfter
    }

    func handle(_ request: consuming Request) -> HandlerOutcome {
        if let only {
            let parameters = request.parameters
            return serve(only, request, parameters: parameters)
        }
        // Byte comparisons, not String's hasSuffix and concatenation (~400 instructions per request).
        let slash = UInt8(ascii: "/")
        var path: String
        if Self.lastByte(request.routePath) == slash {
            // Mounted at "/": the path as it is; deeper: the part below the mount point.
            path = request.routePath.utf8.count == 1 ? request.path
                : request.remainder.isEmpty ? "/" : "/" + request.remainder
        } else {
            path = request.path
        }
        var hadSlash = false
        if path.utf8.count > 1 && Self.lastByte(path) == slash {
            path.removeLast()
            hadSlash = true
        }
        // The only prefix route of a view tree is "/" (patterns lose their trailing "/" when
        // compiled), so a match with a remainder is a miss.
        guard case .found(let m) = tree.lookup(host: nil, path: path), m.remainder.isEmpty else {
            return routingError(.notFound, request)
        }
        let entry = m.target
        if entry.trailingSlash != hadSlash {
            guard entry.trailingSlash else { return routingError(.notFound, request) }
            // Flask's strict_slashes: /todos -> 308 /todos/ (308 keeps the method and body, RFC 9110 §15.4.9).
            // The path is decoded: encode it again, or "/\\evil.example" or a decoded "?" or TAB
            // would make the Location another host, a query or a fragment (PercentEncoding.encodePath).
            var location = PercentEncoding.encodePath(request.path) + "/"
            if let q = request.query { location += "?" + q }
            return .response(Response(status: .permanentRedirect, headers: ["Location": location]))
        }
        let parameters = request.parameters.isEmpty ? m.parameters : request.parameters + m.parameters
        return serve(entry, request, parameters: parameters)
    }

    /// The last UTF-8 byte of `s` (0 for ""), read in its storage: `utf8.last` cost ~75
    /// instructions, twice per request.
    @inline(__always) static func lastByte(_ s: String) -> UInt8 {
        s.utf8.withContiguousStorageIfAvailable { $0.last ?? 0 } ?? s.utf8.last ?? 0
    }

    /// Picks the view for the method (HEAD falls back to GET; OPTIONS and other methods answer here).
    private func serve(_ entry: RouteEntry, _ request: consuming Request, parameters: [(name: String, value: String)]) -> HandlerOutcome {
        let method = request.method
        guard let cv = entry.view(for: method) ?? (method == .HEAD ? entry.view(for: .GET) : nil) else {
            if method == .OPTIONS {
                return .response(Response(status: .ok, headers: ["Allow": entry.allow]))
            }
            return routingError(.methodNotAllowed, request, allow: entry.allow)
        }
        let req = ViewRequest(request: request, parameters: Parameters(parameters), endpoint: cv.endpoint,
                              urls: urls, formLimits: formLimits)
        switch cv.view {
        case .blocking(let view):
            return .blocking { [self] in run(cv, req) { try view($0) } }
        case .async(let view):
            let call = AsyncViewCall(dispatcher: self, compiled: cv, request: req, view: view)
            // Without hooks, a job of its own: one job for both, with the hooks' calls returning
            // at once, cost ~570 instructions more per request (the `Response` copied through
            // `afterHooks` and back).
            if cv.before.isEmpty && cv.after.isEmpty {
                return .async { receiver in
                    do { receiver.receive(try await call.view(call.request)) } catch { receiver.receive(call.failed(error)) }
                }
            }
            return .async { $0.receive(await call.run()) }
        }
    }

    /// A 404 or 405 from routing: the error handler for it if there is one, else the built-in
    /// page; wrapped in the app's before/after hooks. Without handler and hooks it is answered
    /// at once; otherwise on a worker (user code never runs on the loop).
    private func routingError(_ status: HTTPStatus, _ request: consuming Request, allow: String? = nil) -> HandlerOutcome {
        let handler = scopeErrors.lazy.compactMap { $0.byStatus[status.code] }.first
        guard handler != nil || !appBefore.isEmpty || !appAfter.isEmpty else {
            var page = ErrorPage.response(status)
            if let allow { page.headers.set("Allow", allow) }
            return .response(page)
        }
        let req = ViewRequest(request: request, parameters: Parameters(request.parameters), endpoint: nil,
                              urls: urls, formLimits: formLimits)
        return .blocking { [self] in
            var r: Response
            do {
                if let early = try runHooks(appBefore, req) {
                    r = early
                } else {
                    if let handler {
                        do { r = try handler(req, HTTPError(status)) } catch { r = fallback(error, req) }
                    } else {
                        r = ErrorPage.response(status)
                    }
                    if let allow, !r.headers.contains("Allow") { r.headers.set("Allow", allow) }
                }
            } catch {
                r = handleError(error, scopeErrors, req)
            }
            do { for hook in appAfter { r = try hook(req, r) } } catch { r = handleError(error, scopeErrors, req) }
            return r
        }
    }

    private func runHooks(_ hooks: [BeforeRequestHook], _ req: ViewRequest) throws -> Response? {
        for hook in hooks { if let r = try hook(req) { return r } }
        return nil
    }

    // MARK: the request pipeline (worker thread or task)

    private func run(_ cv: CompiledView, _ req: ViewRequest, _ view: (ViewRequest) throws -> Response) -> Response {
        var response: Response
        do {
            response = try runBefore(cv, req) ?? view(req)
        } catch {
            response = handleError(error, cv.errors, req)
        }
        return runAfter(cv, req, response)
    }

    /// `runBefore` for an async view (`AsyncViewCall`): its answer, or its error's.
    @inline(never) fileprivate func beforeHooks(_ cv: CompiledView, _ req: ViewRequest) -> Response? {
        guard !cv.before.isEmpty else { return nil }
        do { return try runBefore(cv, req) } catch { return handleError(error, cv.errors, req) }
    }

    @inline(never) fileprivate func viewFailed(_ error: any Error, _ cv: CompiledView, _ req: ViewRequest) -> Response {
        handleError(error, cv.errors, req)
    }

    @inline(never) fileprivate func afterHooks(_ cv: CompiledView, _ req: ViewRequest, _ response: consuming Response) -> Response {
        runAfter(cv, req, response)
    }

    @inline(__always) private func runBefore(_ cv: CompiledView, _ req: ViewRequest) throws -> Response? {
        for hook in cv.before { if let r = try hook(req) { return r } }
        return nil
    }

    @inline(__always) private func runAfter(_ cv: CompiledView, _ req: ViewRequest, _ response: Response) -> Response {
        if cv.after.isEmpty { return response }
        var r = response
        do { for hook in cv.after { r = try hook(req, r) } } catch { r = handleError(error, cv.errors, req) }
        return r
    }

    /// Errors become responses here: a handler for the error's type, else for its status (an
    /// `HTTPError`'s, or 500), else the built-in page. Details of unknown errors go to the error
    /// log only, with the request id.
    func handleError(_ error: any Error, _ handlers: [ErrorHandlers], _ req: ViewRequest) -> Response {
        for hs in handlers {
            for t in hs.byType where t.matches(error) {
                do { return try t.handler(req, error) } catch { return fallback(error, req) }
            }
        }
        let status = (error as? HTTPError)?.status ?? .internalServerError
        for hs in handlers {
            if let h = hs.byStatus[status.code] {
                do { return try h(req, error) } catch { return fallback(error, req) }
            }
        }
        return fallback(error, req)
    }

    /// The built-in answer for an error no handler took (or that a handler threw).
    func fallback(_ error: any Error, _ req: ViewRequest) -> Response {
        if let e = error as? HTTPError { return ErrorPage.response(e.status, detail: e.message) }
        log.current.error("req=\(req.request.id) \(req.method.rawValue) \(req.path): view \(req.endpoint ?? "-") failed: \(String(describing: error))")
        return ErrorPage.response(.internalServerError)
    }
}

/// An async view's request in flight, the `.async` job's one capture. The job awaits the view
/// itself (`call.view`), with nothing else around the `await`: each `await` returns through an
/// executor check that reads the task's executor preference under a lock (~250 instructions), so
/// no wrapper of ours is awaited in between. The hooks and the error handling run in synchronous
/// functions that are not inlined. (Frame sizes no longer matter per request: the tasks are kept
/// between requests, `ViewTaskRunner`, and a task's allocator keeps a slab it needed once.)
private final class AsyncViewCall: Sendable {
    let dispatcher: Dispatcher
    let compiled: CompiledView
    let request: ViewRequest
    let view: AsyncView

    init(dispatcher: Dispatcher, compiled: CompiledView, request: ViewRequest, view: @escaping AsyncView) {
        self.dispatcher = dispatcher; self.compiled = compiled; self.request = request; self.view = view
    }

    /// The answer for the view's error (handlers by type, by status, else a 500).
    @inline(never) func failed(_ error: any Error) -> Response {
        dispatcher.viewFailed(error, compiled, request)
    }

    /// With hooks: the before hooks, the view (or its error's answer), the after hooks.
    nonisolated(nonsending) func run() async -> Response {
        let response: Response
        if let early = dispatcher.beforeHooks(compiled, request) {
            response = early
        } else {
            do { response = try await view(request) } catch { response = failed(error) }
        }
        return dispatcher.afterHooks(compiled, request, response)
    }
}
