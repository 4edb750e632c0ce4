import FlaksConfig
import FlaksHTTP

/// `respond:` routes: a fixed status, body and content type, prepared once at load time.
public struct RespondHandler: Handler {
    let response: Response

    public init(_ route: RespondRoute) {
        // The same answer for the whole generation: the server may send its bytes again.
        response = Response(status: HTTPStatus(route.status), headers: ["Content-Type": route.contentType],
                            body: .bytes(Array(route.body.utf8)), reusableFor: UInt64.max / 4)
    }

    public func handle(_ request: Request) -> HandlerOutcome { .response(response) }
}
