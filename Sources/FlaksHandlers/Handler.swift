import FlaksHTTP

/// What serves a route. `handle` runs on the selector loop and must not block:
/// anything slow returns `.blocking` (worker pool) or `.async` (Swift concurrency).
public protocol Handler: Sendable {
    func handle(_ request: Request) -> HandlerOutcome
}

/// How a handler answers: now, or through the worker pool or a Task.
public enum HandlerOutcome: Sendable {
    case response(Response)
    /// Runs on a worker thread; the response goes back to the connection's loop.
    case blocking(@Sendable () -> Response)
    /// Runs as a Task; the response goes back to the connection's loop.
    case async(@Sendable () async -> Response)
}
