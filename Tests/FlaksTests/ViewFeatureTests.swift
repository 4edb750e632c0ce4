import Flaks
import Foundation
import Synchronization
import Testing

@Suite struct ViewCookieTests {
    @Test func parsesTheCookieHeader() async {
        #expect(Cookie.parse(["a=1; b=\"two\"; c=x=y", "a=ignored;  d = 4 ; junk"]) == ["a": "1", "b": "two", "c": "x=y", "d": "4"])
        let app = App()
        app.get("/c") { req in .text(req.cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")) }
        #expect(await call(app, "/c", headers: ["Cookie": "session=abc; theme=dark"]).text == "session=abc,theme=dark")
    }

    @Test func buildsSetCookieWithAttributes() {
        let c = Cookie("session", "abc 123;", path: "/app", domain: ".example.com", maxAge: 3600, expires: 784111777,
                       secure: true, httpOnly: true, sameSite: .lax)
        #expect(c.headerValue == "session=abc123; Path=/app; Domain=example.com; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=3600; HttpOnly; Secure; SameSite=Lax")
        #expect(Cookie("bad name", "v").headerValue == nil)
        #expect(Cookie("n", "v", path: nil).headerValue == "n=v")
        var r = Response.text("ok")
        r.setCookie(Cookie("a", "1"))
        r.deleteCookie("old")
        #expect(r.headers.values("Set-Cookie") == ["a=1; Path=/", "old=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"])
    }
}

@Suite struct ViewHookAndErrorTests {
    struct Teapot: Error {}
    struct Other: Error {}

    @Test func beforeAfterAndShortCircuit() async {
        let app = App()
        let order = Recorder()
        app.beforeRequest { req in
            order.append("before1")
            return req.headers["X-Block"] != nil ? .text("blocked", status: .forbidden) : nil
        }
        app.beforeRequest { _ in order.append("before2"); return nil }
        app.afterRequest { _, r in order.append("after"); return r.header("X-After", "yes") }
        app.get("/v") { _ in order.append("view"); return .text("view") }

        let r = await call(app, "/v")
        #expect(r.text == "view")
        #expect(r.headers["X-After"] == "yes")
        #expect(order.all == ["before1", "before2", "view", "after"])

        order.reset()
        let blocked = await call(app, "/v", headers: ["X-Block": "1"])
        #expect(blocked.status == .forbidden)
        #expect(blocked.headers["X-After"] == "yes")
        #expect(order.all == ["before1", "after"])
    }

    @Test func appHooksRunForRoutingErrorsToo() async {
        let app = App()
        let order = Recorder()
        app.beforeRequest { req in
            order.append("before \(req.path)")
            return req.path == "/gate" ? .text("gated", status: HTTPStatus(401)) : nil
        }
        app.afterRequest { _, r in order.append("after \(r.status.code)"); return r.header("X-After", "yes") }
        app.get("/v") { _ in .text("view") }

        let missing = await call(app, "/missing")
        #expect(missing.status == .notFound)
        #expect(missing.headers["X-After"] == "yes")
        #expect(order.all == ["before /missing", "after 404"])

        order.reset()
        let wrongMethod = await call(app, .POST, "/v")
        #expect(wrongMethod.status == .methodNotAllowed)
        #expect(wrongMethod.headers["Allow"] == "GET, HEAD, OPTIONS")
        #expect(wrongMethod.headers["X-After"] == "yes")
        #expect(order.all == ["before /v", "after 405"])

        // A before hook may answer instead of the 404 (an auth gate in front of every path).
        order.reset()
        let gated = await call(app, "/gate")
        #expect(gated.status.code == 401)
        #expect(gated.text == "gated")
        #expect(order.all == ["before /gate", "after 401"])
    }

    @Test func errorHandlersByStatusAndType() async {
        let app = App()
        app.errorHandler(404) { req, _ in .text("custom 404 for \(req.path)", status: .notFound) }
        app.errorHandler(405) { _, _ in .text("nope", status: .methodNotAllowed) }
        app.errorHandler(500) { _, e in .text("500: \(type(of: e))", status: .internalServerError) }
        app.errorHandler(for: Teapot.self) { _, _ in .text("teapot", status: HTTPStatus(418)) }
        app.get("/teapot") { _ in throw Teapot() }
        app.get("/other") { _ in throw Other() }
        app.get("/abort") { _ in throw HTTPError(.notFound, "no such todo") }
        app.get("/forbidden") { _ in throw HTTPError(.forbidden, "<go away>") }

        #expect(await call(app, "/missing").text == "custom 404 for /missing")
        #expect(await call(app, "/abort").text == "custom 404 for /abort")
        let teapot = await call(app, "/teapot")
        #expect(teapot.status.code == 418)
        #expect(teapot.text == "teapot")
        #expect(await call(app, "/other").text == "500: Other")
        let f = await call(app, "/forbidden")
        #expect(f.status == .forbidden)
        #expect(f.text.contains("&lt;go away&gt;"))
        let m = await call(app, .POST, "/teapot")
        #expect(m.text == "nope")
        #expect(m.headers["Allow"] == "GET, HEAD, OPTIONS")
    }

    @Test func unknownErrorsAre500WithoutDetails() async {
        let app = App()
        app.get("/boom") { _ in throw Other() }
        let r = await call(app, "/boom")
        #expect(r.status == .internalServerError)
        #expect(!r.text.contains("Other"))
    }

    @Test func asyncViewsRunHooksAndErrors() async {
        let app = App()
        app.afterRequest { _, r in r.header("X-After", "1") }
        app.errorHandler(for: Teapot.self) { _, _ in .text("async teapot", status: HTTPStatus(418)) }
        app.get("/a") { _ async throws -> Response in
            try await Task.sleep(for: .milliseconds(1))
            throw Teapot()
        }
        let r = await call(app, "/a")
        #expect(r.text == "async teapot")
        #expect(r.headers["X-After"] == "1")
    }

    @Test func asyncViewsWithoutHooksStillGetTheirErrorHandlers() async {
        // A view with no before/after hooks takes the short job (the view awaited directly): its
        // errors still go to the handlers, by type and by status, and the rest are a 500.
        let app = App()
        app.errorHandler(for: Teapot.self) { _, _ in .text("async teapot", status: HTTPStatus(418)) }
        app.get("/teapot") { _ async throws -> Response in
            try await Task.sleep(for: .milliseconds(1))
            throw Teapot()
        }
        app.get("/gone") { _ async throws -> Response in throw HTTPError(HTTPStatus(410)) }
        app.get("/other") { _ async throws -> Response in throw Other() }
        app.get("/fine") { req async in .text("fine \(req.path)") }
        #expect(await call(app, "/teapot").text == "async teapot")
        #expect(await call(app, "/gone").status.code == 410)
        let other = await call(app, "/other")
        #expect(other.status == .internalServerError && !other.text.contains("Other"))
        #expect(await call(app, "/fine").text == "fine /fine")
    }
}

@Suite struct BlueprintTests {
    func makeApp(_ order: Recorder) -> (App, Blueprint) {
        let app = App()
        let api = Blueprint("api", urlPrefix: "/api/")
        app.beforeRequest { _ in order.append("app-before"); return nil }
        app.afterRequest { _, r in order.append("app-after"); return r }
        api.beforeRequest { _ in order.append("bp-before"); return nil }
        api.afterRequest { _, r in order.append("bp-after"); return r }
        api.errorHandler(404) { _, _ in .text("api 404", status: .notFound) }
        app.errorHandler(404) { _, _ in .text("app 404", status: .notFound) }
        api.get("/users/<int:id>", endpoint: "user") { req in
            .text("user \(req.parameter("id") ?? "") \(try req.url(for: ".user", ["id": 7])) \(req.endpoint ?? "")")
        }
        api.get("/", endpoint: "index") { _ in .text("api index") }
        api.get("/missing") { _ in throw HTTPError(.notFound) }
        app.get("/users/<int:id>", endpoint: "user") { _ in .text("app user") }
        app.register(api)
        return (app, api)
    }

    @Test func prefixHooksAndErrorScopes() async {
        let order = Recorder()
        let (app, _) = makeApp(order)
        #expect(await call(app, "/api/users/3").text == "user 3 /api/users/7 api.user")
        #expect(order.all == ["app-before", "bp-before", "bp-after", "app-after"])
        #expect(await call(app, "/api/").text == "api index")
        #expect(await call(app, "/users/3").text == "app user")
        #expect(await call(app, "/api/missing").text == "api 404")
        #expect(await call(app, "/nowhere").text == "app 404")
    }

    @Test func registryHoldsAppBlueprintsAndEndpoints() async throws {
        let (app, _) = makeApp(Recorder())
        let reg = app.registry
        #expect(Set(reg.names) == ["app", "api", "api.user", "api.index", "user"])
        // The blueprint alone, mounted at /v2/: its own patterns, no prefix.
        let bp = try #require(reg.handler(named: "api"))
        #expect(await call(bp, "/v2/users/5", mount: "/v2/").text == "user 5 /v2/users/7 api.user")
        #expect(await call(bp, "/v2/", mount: "/v2/").text == "api index")
        // One endpoint mounted at a manifest pattern: it takes the manifest's parameters.
        let one = try #require(reg.handler(named: "api.user"))
        let head = RequestHead(method: .GET, target: "/people/9", version: .http1_1, headers: [:])
        let req = Request(head: head, path: "/people/9", routePath: "/people/<int:id>", parameters: [("id", "9")])
        guard case .blocking(let job) = one.handle(req) else { Issue.record("not blocking"); return }
        #expect(job().text.hasPrefix("user 9 "))
    }

    @Test func urlFor() throws {
        let app = App()
        app.get("/u/<int:id>", endpoint: "user") { _ in .text("") }
        app.get("/files/<path:p>", endpoint: "file") { _ in .text("") }
        app.get("/", endpoint: "home") { _ in .text("") }
        app.get("/list/", endpoint: "list") { _ in .text("") }
        let api = Blueprint("api", urlPrefix: "/api")
        api.get("/users/<name>", endpoint: "user") { _ in .text("") }
        app.register(api)
        #expect(try app.url(for: "user", ["id": "42"]) == "/u/42")
        #expect(try app.url(for: "user", ["id": 42, "page": 2, "q": "a b&c"]) == "/u/42?page=2&q=a%20b%26c")
        #expect(try app.url(for: "api.user", ["name": "Jürgen"]) == "/api/users/J%C3%BCrgen")
        #expect(try app.url(for: "file", ["p": "a/b c.txt"]) == "/files/a/b%20c.txt")
        #expect(try app.url(for: "home") == "/")
        #expect(try app.url(for: "list") == "/list/")
        #expect(throws: URLBuildError.self) { try app.url(for: "user", ["id": "x"]) }
        #expect(throws: URLBuildError.self) { try app.url(for: "user") }
        #expect(throws: URLBuildError.self) { try app.url(for: "nobody") }
    }
}
