import FlaksConfig
import FlaksHTTP

/// `redirect:` routes: 301/302/303/307/308 to a relative or absolute target; with `keep_path`,
/// the rest of the matched path and the query are appended (like nginx `return 301 /new$uri`).
public struct RedirectHandler: Handler {
    let route: RedirectRoute

    public init(_ route: RedirectRoute) { self.route = route }

    public func handle(_ request: Request) -> HandlerOutcome {
        var location = route.target
        if route.keepPath {
            if !request.remainder.isEmpty {
                if !location.hasSuffix("/") { location += "/" }
                location += request.remainder
            }
            if let q = request.query { location += "?" + q }
        }
        let body = "Redirecting to \(location)\n"
        return .response(Response(status: HTTPStatus(route.status),
                                  headers: ["Location": location, "Content-Type": "text/plain; charset=utf-8"],
                                  body: .bytes(Array(body.utf8))))
    }
}
