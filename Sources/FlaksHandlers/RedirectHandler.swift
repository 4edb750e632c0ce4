import FlaksConfig
import FlaksHTTP

/// `redirect:` routes: 301/302/303/307/308 to a relative or absolute target; with `keep_path`,
/// the rest of the matched path and the query are appended (like nginx `return 301 /new$uri`).
///
/// The rest of the path is the *decoded* remainder, so it is percent-encoded again before it goes
/// into the Location (`PercentEncoding.encodePath`): a `\` or TAB in it would otherwise make
/// browsers read `/\evil.example` or `/<TAB>/evil.example` as `//evil.example` (another host, an
/// open redirect), and a decoded `?` or `#` would start a query or fragment. Leading slashes of the
/// rest are dropped, since exactly one "/" joins it to the target: with target "/" no request
/// yields `//evil.example`. The query is appended as received (it was never decoded). The target
/// itself is written as the manifest says (a manifest may redirect to `//cdn.example/` on purpose).
public struct RedirectHandler: Handler {
    let route: RedirectRoute

    public init(_ route: RedirectRoute) { self.route = route }

    public func handle(_ request: Request) -> HandlerOutcome {
        var location = route.target
        if route.keepPath {
            let rest = request.remainder.drop { $0 == "/" }
            if !rest.isEmpty {
                if !location.hasSuffix("/") { location += "/" }
                location += PercentEncoding.encodePath(rest)
            }
            if let q = request.query { location += "?" + q }
        }
        let body = "Redirecting to \(location)\n"
        return .response(Response(status: HTTPStatus(route.status),
                                  headers: ["Location": location, "Content-Type": "text/plain; charset=utf-8"],
                                  body: .bytes(Array(body.utf8))))
    }
}
