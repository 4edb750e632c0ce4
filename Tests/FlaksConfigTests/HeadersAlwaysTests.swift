import Testing
import FlaksHTTP
@testable import FlaksConfig

/// `headers_always:` (fields for every answer of a route, errors included) is read and checked
/// exactly like `headers:` (fields for its 2xx and 3xx answers), and kept apart from it.
@Suite struct HeadersAlwaysTests {
    @Test func readLikeHeadersAndKeptApart() throws {
        let f = try Fixture()
        let config = try f.load("""
        hosts:
          - names: ["*"]
            routes:
              - path: /
                static: sites/example
                headers: {Cache-Control: "public, max-age=300"}
                headers_always:
                  Content-Security-Policy: "default-src 'self'"
                  Access-Control-Allow-Origin: "${ORIGIN:-*}"
                  X-Empty: ""
              - {path: /api/, handler: api, headers_always: {Vary: Origin}}
              - {path: /old, redirect: /new, headers_always: {X-A: "1"}}
              - {path: /r, respond: ok}
        """)
        let routes = config.hosts[0].routes
        #expect(routes[0].headers == ["Cache-Control": "public, max-age=300"])
        let always: HeaderFields = ["Content-Security-Policy": "default-src 'self'", "Access-Control-Allow-Origin": "*", "X-Empty": ""]
        #expect(routes[0].headersAlways == always)
        #expect(Array(routes[0].headersAlways).map(\.name) == ["Content-Security-Policy", "Access-Control-Allow-Origin", "X-Empty"])
        #expect(routes[1].headersAlways == ["Vary": "Origin"])
        #expect(routes[1].headers.isEmpty)
        #expect(routes[2].headersAlways == ["X-A": "1"])
        #expect(routes[3].headersAlways.isEmpty && routes[3].headers.isEmpty)
        #expect(routes[0] == Route(path: "/", kind: routes[0].kind, headers: ["Cache-Control": "public, max-age=300"],
                                   headersAlways: always, origin: "config.yaml:4:9"))
    }

    @Test func sameValidationAsHeaders() throws {
        let f = try Fixture()
        #expect(f.errors("""
        hosts:
          - names: ["*"]
            routes:
              - path: /
                respond: ok
                headers_always: {"Bad Name": x, X-Ok: "a\\nb", X-Null: ~, X-List: [a]}
              - {path: /a, respond: ok, headers_always: [X-A]}
              - {path: /b, respond: ok, headers_always: {X-V: "${NOPE}"}}
        """) == [
            "config.yaml:6:26: hosts[0].routes[0].headers_always: expected a header name (letters, digits and !#$%&'*+-.^_`|~), found \"Bad Name\"",
            "config.yaml:6:47: hosts[0].routes[0].headers_always.X-Ok: a header value must not contain CR, LF or NUL",
            "config.yaml:6:63: hosts[0].routes[0].headers_always.X-Null: expected a header value, found nothing",
            "config.yaml:6:74: hosts[0].routes[0].headers_always.X-List: expected a header value, found a list",
            "config.yaml:7:49: hosts[0].routes[1].headers_always: expected a mapping, found a list",
            "config.yaml:8:55: hosts[0].routes[2].headers_always.X-V: environment variable \"NOPE\" is not set (write ${NOPE:-default} to give a default)",
        ])
    }

    @Test func didYouMean() throws {
        let f = try Fixture()
        #expect(f.errors("""
        hosts:
          - names: ["*"]
            routes:
              - {path: /a, respond: ok, header_always: {X-A: b}}
              - {path: /b, respond: ok, headersAlways: {X-A: b}}
              - {path: /c, respond: ok, headers_alway: {X-A: b}}
        """) == [
            "config.yaml:4:33: hosts[0].routes[0]: unknown key \"header_always\"; did you mean \"headers_always\"?",
            "config.yaml:5:33: hosts[0].routes[1]: unknown key \"headersAlways\"; did you mean \"headers_always\"?",
            "config.yaml:6:33: hosts[0].routes[2]: unknown key \"headers_alway\"; did you mean \"headers_always\"?",
        ])
    }

    @Test func aRouteWithOnlyHeadersAlwaysStillNeedsAKind() throws {
        let f = try Fixture()
        #expect(f.errors("""
        hosts:
          - names: ["*"]
            routes:
              - path: /
                headers_always: {X-A: b}
        """) == [
            "config.yaml:4:9: hosts[0].routes[0]: expected exactly one of static, cgi, redirect, respond, handler, proxy, fastcgi; found none",
        ])
    }

    @Test func aChangeIsAReloadChange() throws {
        let f = try Fixture()
        let old = try f.load("hosts: [{names: [a.test], routes: [{path: /, respond: x, headers_always: {X-A: '1'}}]}]")
        let new = try f.load("hosts: [{names: [a.test], routes: [{path: /, respond: x, headers_always: {X-A: '2'}}]}]")
        #expect(new.changes(from: old) == ["host a.test: route changed /"])
        #expect(old.changes(from: old) == [])
    }
}
