#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a view function sees: the server's `Request` plus the route match, with Flask-like
/// accessors for the query, forms, JSON, cookies and URLs of other endpoints.
///
/// Parsing is on demand: `query`, `cookies`, `form()` and `json(_:)` parse each time they are
/// called (keep the result in a local when you use it more than once).
public struct ViewRequest: Sendable {
    /// The request as the server handed it over (head, body, addresses, manifest mount).
    public var request: Request { _read { yield storage.request } }
    /// Route parameters: the manifest mount's, then the view pattern's.
    public var parameters: Parameters { _read { yield storage.parameters } }
    /// The endpoint name of the matched view ("user", "api.user"); nil for a 404/405 answered by an error handler.
    public var endpoint: String? { storage.endpoint }
    var urls: URLMap { storage.urls }
    var formLimits: FormLimits { storage.formLimits }

    /// Everything, behind one reference. An async view's frames live on its task's allocator, and
    /// what crosses an `await` is kept there: as a 264-byte struct a `ViewRequest` was copied into
    /// the frame that calls the view (816 bytes then, 416 with the box), and the request's frames
    /// overflowed the task's first slab (984 bytes), a slab's malloc and free per request while
    /// each request had a task of its own (now tasks are kept: `ViewTaskRunner`). Passing it to
    /// hooks is one retain instead of ~15.
    private let storage: Storage

    private final class Storage: Sendable {
        let request: Request
        let parameters: Parameters
        let endpoint: String?
        let urls: URLMap
        let formLimits: FormLimits

        init(request: consuming Request, parameters: Parameters, endpoint: String?, urls: URLMap, formLimits: FormLimits) {
            self.request = request; self.parameters = parameters; self.endpoint = endpoint
            self.urls = urls; self.formLimits = formLimits
        }
    }

    init(request: consuming Request, parameters: Parameters, endpoint: String?, urls: URLMap, formLimits: FormLimits) {
        storage = Storage(request: request, parameters: parameters, endpoint: endpoint, urls: urls, formLimits: formLimits)
    }

    /// A request outside any app, for unit tests of a view function (`url(for:)` knows no endpoints).
    public init(_ request: Request, parameters: Parameters = Parameters(), formLimits: FormLimits = .default) {
        self.init(request: request, parameters: parameters, endpoint: nil, urls: URLMap(), formLimits: formLimits)
    }

    public var method: HTTPMethod { request.method }
    /// The normalised, percent-decoded path of the whole request (mount prefix included).
    public var path: String { request.path }
    public var headers: HeaderFields { request.headers }
    /// The raw request body (already de-chunked, bounded by `limits.max_body`).
    public var body: [UInt8] { request.body }
    /// The client's address.
    public var remoteAddress: String { request.remoteAddress }

    /// The first value of the header `name` (case-insensitive).
    public func header(_ name: String) -> String? { request.headers[name] }

    /// The raw value of the route parameter `name`.
    public func parameter(_ name: String) -> String? { parameters[name] }

    /// The route parameter `name` as `T` (`try req.parameter("id", as: Int.self)`); 404 when it does not convert.
    public func parameter<T: ParameterValue>(_ name: String, as type: T.Type) throws(HTTPError) -> T {
        try parameters.get(name, as: type)
    }

    /// The query string's fields, percent-decoded (`+` is a space), repeated names kept.
    /// A query with more than `FormLimits.maxFields` fields keeps only the first ones.
    public var query: FormFields {
        guard let q = request.query, !q.isEmpty else { return FormFields() }
        if let f = try? FormFields(urlEncoded: q, maxFields: formLimits.maxFields) { return f }
        return (try? FormFields(urlEncoded: q.split(separator: "&").prefix(formLimits.maxFields).joined(separator: "&"))) ?? FormFields()
    }

    /// Cookies the client sent (RFC 6265 §5.4), name -> value.
    public var cookies: [String: String] { Cookie.parse(request.headers.values("Cookie")) }

    /// The media type of the body without parameters, lowercased ("application/json"), or nil.
    public var contentType: String? {
        guard let ct = request.headers["Content-Type"] else { return nil }
        return ct.split(separator: ";", maxSplits: 1).first.map { String($0.trimmingASCIISpaces()).lowercased() }
    }

    /// The form body: application/x-www-form-urlencoded or multipart/form-data (with files).
    /// 415 for another content type, 400 for a malformed body, 413 beyond `FormLimits`.
    public func form() throws(HTTPError) -> Form {
        switch contentType {
        case "application/x-www-form-urlencoded":
            return Form(fields: try FormFields(urlEncoded: String(decoding: request.body, as: UTF8.self),
                                               maxFields: formLimits.maxFields))
        case "multipart/form-data":
            guard let ct = request.headers["Content-Type"], let boundary = MultipartParser.boundary(contentType: ct) else {
                throw HTTPError(.badRequest, "multipart/form-data without a valid boundary")
            }
            return try MultipartParser.parse(request.body, boundary: boundary, limits: formLimits)
        case nil where request.body.isEmpty:
            return Form()
        default:
            throw HTTPError(HTTPStatus(415), "expected a form body (application/x-www-form-urlencoded or multipart/form-data)")
        }
    }

    /// The body decoded from JSON. 415 unless the content type is application/json or `*+json`
    /// (as Flask's `get_json`), 400 when it does not decode (the reason goes in the message).
    public func json<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws(HTTPError) -> T {
        guard let ct = contentType, ct == "application/json" || ct.hasSuffix("+json") else {
            throw HTTPError(HTTPStatus(415), "expected Content-Type: application/json")
        }
        do { return try decoder.decode(T.self, from: Data(request.body)) } catch {
            throw HTTPError(.badRequest, "invalid JSON body: \(error)")
        }
    }

    /// The URL path of `endpoint` (like Flask's url_for), under the same mount as this request.
    /// ".name" means an endpoint of the current blueprint. See `App.url(for:_:)`.
    public func url(for endpoint: String, _ values: [String: any Sendable & CustomStringConvertible] = [:]) throws(URLBuildError) -> String {
        var name = endpoint
        if name.hasPrefix("."), let current = self.endpoint, let dot = current.firstIndex(of: ".") {
            name = String(current[..<dot]) + name
        } else if name.hasPrefix(".") {
            name.removeFirst()
        }
        return try urls.build(name, values: values, root: mountRoot)
    }

    /// The path this app (or blueprint, or endpoint) is mounted at, without a trailing "/":
    /// "/api" for a prefix mount `/api/`, "" for the root or an exact mount.
    public var mountRoot: String {
        guard request.routePath.hasSuffix("/") else { return "" }
        var root = request.path
        if !request.remainder.isEmpty, root.hasSuffix(request.remainder) { root.removeLast(request.remainder.count) }
        while root.hasSuffix("/") { root.removeLast() }
        return root
    }
}
