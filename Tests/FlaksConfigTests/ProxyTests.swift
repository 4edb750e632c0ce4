import FlaksHTTP
import Testing
@testable import FlaksConfig

/// The `proxy:` route kind: a URL, or a mapping with `to` or `service` and the options.
@Suite struct ProxyTests {
    func manifest(_ routes: String) -> String {
        """
        hosts:
          - names: ["*"]
            routes:
        \(routes)
        """
    }

    @Test func scalarFormsAndDefaults() throws {
        let f = try Fixture()
        let r = try f.load(manifest("""
              - {path: /api/, proxy: "http://127.0.0.1:9000"}
              - {path: /u/, proxy: "unix:/run/app.sock"}
              - {path: /n/, proxy: "HTTP://LocalHost"}
              - {path: /s/, proxy: "http://[::1]:8080/"}
              - {path: /r/, proxy: "unix:run/app.sock"}
              - {path: /svc/, proxy: {service: api}}
        """) + "\nservices: [{name: api, command: [sh]}]").hosts[0].routes
        #expect(r[0] == Route(path: "/api/", kind: .proxy(ProxyRoute(upstreams: .addresses([.tcp(host: "127.0.0.1", port: 9000)]))),
                              origin: "config.yaml:4:9"))
        #expect(r[1].kind == .proxy(ProxyRoute(upstreams: .addresses([.unix(path: "/run/app.sock")]))))
        #expect(r[2].kind == .proxy(ProxyRoute(upstreams: .addresses([.tcp(host: "localhost", port: 80)]))))
        #expect(r[3].kind == .proxy(ProxyRoute(upstreams: .addresses([.tcp(host: "::1", port: 8080)]))))
        #expect(r[4].kind == .proxy(ProxyRoute(upstreams: .addresses([.unix(path: f.dir + "/run/app.sock")]))))
        #expect(r.map(\.kind.keyword) == Array(repeating: "proxy", count: 6))
        guard case .proxy(let p) = r[5].kind else { Issue.record("not a proxy"); return }
        #expect(p.upstreams == .service("api"))
        // The decisions' defaults.
        #expect(p.balance == .roundRobin && !p.stripPrefix && p.host == "" && p.requestHeaders.isEmpty)
        #expect(p.connectTimeout == .seconds(5) && p.timeout == .seconds(60) && p.keepalive == 32)
        #expect(p.keepaliveTimeout == .seconds(2) && p.maxConnections == 0 && p.health == nil)
        #expect(p.failTimeout == .seconds(10) && p.websocket && p.tunnelTimeout == .zero)
    }

    @Test func everyKey() throws {
        let f = try Fixture()
        let r = try f.load(manifest("""
              - path: /app/
                proxy:
                  to: ["http://127.0.0.1:9001", "http://127.0.0.1:9002", "unix:/run/a.sock"]
                  balance: least_conn
                  strip_prefix: true
                  host: app.internal:8080
                  request_headers: {X-App: flaks, X-Empty: ""}
                  connect_timeout: 1s
                  timeout: 30s
                  keepalive: 0
                  keepalive_timeout: 500ms
                  max_connections: 100
                  health: {path: /healthz, interval: 1s, timeout: 500ms, fails: 1, passes: 3}
                  fail_timeout: 0s
                  websocket: false
                  tunnel_timeout: 1h
              - {path: /one/, proxy: {to: "http://127.0.0.1:1", health: {path: /h}, balance: ip_hash}}
              - {path: /two/, proxy: {service: api, balance: first, host: ""}}
        """) + "\nservices: [{name: api, command: [sh]}]").hosts[0].routes
        #expect(r[0].kind == .proxy(ProxyRoute(
            upstreams: .addresses([.tcp(host: "127.0.0.1", port: 9001), .tcp(host: "127.0.0.1", port: 9002),
                                   .unix(path: "/run/a.sock")]),
            balance: .leastConn, stripPrefix: true, host: "app.internal:8080",
            requestHeaders: ["X-App": "flaks", "X-Empty": ""], connectTimeout: .seconds(1), timeout: .seconds(30),
            keepalive: 0, keepaliveTimeout: .milliseconds(500), maxConnections: 100,
            health: ProxyRoute.HealthCheck(path: "/healthz", interval: .seconds(1), timeout: .milliseconds(500),
                                           fails: 1, passes: 3),
            failTimeout: .zero, websocket: false, tunnelTimeout: .seconds(3600))))
        #expect(r[1].kind == .proxy(ProxyRoute(upstreams: .addresses([.tcp(host: "127.0.0.1", port: 1)]), balance: .ipHash,
                                               health: ProxyRoute.HealthCheck(path: "/h"))))
        let h = ProxyRoute.HealthCheck(path: "/h")
        #expect(h.interval == .seconds(5) && h.timeout == .seconds(2) && h.fails == 2 && h.passes == 1)
        #expect(r[2].kind == .proxy(ProxyRoute(upstreams: .service("api"), balance: .first)))
    }

    @Test func urlErrors() throws {
        let f = try Fixture()
        #expect(f.errors(manifest("""
              - {path: /a/, proxy: "https://127.0.0.1:9000"}
              - {path: /b/, proxy: "http://127.0.0.1:9000/api"}
              - {path: /c/, proxy: "http://127.0.0.1:9000?x=1"}
              - {path: /d/, proxy: "127.0.0.1:9000"}
              - {path: /e/, proxy: "http://"}
              - {path: /f/, proxy: "http://127.0.0.1:0"}
              - {path: /g/, proxy: "http://user@host:80"}
              - {path: /h/, proxy: ["http://127.0.0.1:1"]}
              - {path: /i/, proxy: "unix:"}
              - {path: /j/, proxy: {to: ["http://127.0.0.1:1", "http://127.0.0.1:1/", "ftp://x"]}}
              - {path: /k/, proxy: {to: []}}
              - {path: /l/, proxy: {to: "http://[::1"}}
        """)) == [
            "config.yaml:4:28: hosts[0].routes[0].proxy: https upstreams are not supported: Flaks speaks plain HTTP/1.1 to upstreams; use \"http://\" (found \"https://127.0.0.1:9000\")",
            "config.yaml:5:28: hosts[0].routes[1].proxy: a proxy URL has no path part (the request's own path is sent upstream); found \"/api\" in \"http://127.0.0.1:9000/api\"",
            "config.yaml:6:28: hosts[0].routes[2].proxy: a proxy URL has no path part (the request's own path is sent upstream); found \"?x=1\" in \"http://127.0.0.1:9000?x=1\"",
            "config.yaml:7:28: hosts[0].routes[3].proxy: expected \"http://HOST:PORT\" or \"unix:/path/to.sock\", found \"127.0.0.1:9000\"",
            "config.yaml:8:28: hosts[0].routes[4].proxy: expected \"http://HOST:PORT\" or \"unix:/path/to.sock\" (port 1-65535), found \"http://\"",
            "config.yaml:9:28: hosts[0].routes[5].proxy: expected \"http://HOST:PORT\" or \"unix:/path/to.sock\" (port 1-65535), found \"http://127.0.0.1:0\"",
            "config.yaml:10:28: hosts[0].routes[6].proxy: expected \"http://HOST:PORT\" or \"unix:/path/to.sock\" (port 1-65535), found \"http://user@host:80\"",
            "config.yaml:11:28: hosts[0].routes[7].proxy: expected \"http://HOST:PORT\" or \"unix:/path/to.sock\", found a list",
            "config.yaml:12:28: hosts[0].routes[8].proxy: expected a socket path after \"unix:\"",
            "config.yaml:13:56: hosts[0].routes[9].proxy.to[1]: upstream \"127.0.0.1:1\" is listed twice",
            "config.yaml:13:79: hosts[0].routes[9].proxy.to[2]: expected \"http://HOST:PORT\" or \"unix:/path/to.sock\", found \"ftp://x\"",
            "config.yaml:14:33: hosts[0].routes[10].proxy.to: expected at least one upstream URL",
            "config.yaml:15:33: hosts[0].routes[11].proxy.to: expected \"http://HOST:PORT\" or \"unix:/path/to.sock\" (port 1-65535), found \"http://[::1\"",
        ])
    }

    @Test func optionErrors() throws {
        let f = try Fixture()
        #expect(f.errors(manifest("""
              - {path: /a/, proxy: {to: "http://127.0.0.1:1", service: api}}
              - {path: /b/, proxy: {balance: first}}
              - path: /c/
                proxy:
                  service: API
                  balance: random
                  strip_prefix: 1
                  host: "a b"
                  request_headers: {Host: x, Content-Length: "1", X-Ok: y, transfer-encoding: chunked}
                  connect_timeout: 0s
                  timeout: 0s
                  keepalive: -1
                  keepalive_timeout: 0s
                  max_connections: -1
                  health: {interval: 0s, fails: 0, passes: 0}
                  fail_timeout: soon
                  websocket: yes
                  tunnel_timeout: -1s
              - {path: /d/, proxy: {service: api, health: {path: healthz, timeout: 0s}}}
              - {path: /e/, proxy: {service: api, health: /healthz}}
              - {path: /f/, proxy: {service: api, strip_prefx: true, upstreams: [x], health: {path: /h, intervall: 1s}}}
              - {path: /g/, proxy: "http://127.0.0.1:1", timeout: 5s}
        """) + "\nservices: [{name: api, command: [sh]}]") == [
            "config.yaml:4:28: hosts[0].routes[0].proxy: expected either \"to\" or \"service\", not both",
            "config.yaml:5:28: hosts[0].routes[1].proxy: missing key \"to\" (upstream URLs) or \"service\" (the name of a service in \"services\")",
            "config.yaml:8:20: hosts[0].routes[2].proxy.service: expected a service name (lowercase letters, digits, \"_\", \"-\"), found \"API\"",
            "config.yaml:9:20: hosts[0].routes[2].proxy.balance: expected one of round_robin, least_conn, ip_hash, first; found \"random\"",
            "config.yaml:10:25: hosts[0].routes[2].proxy.strip_prefix: expected true or false, found \"1\"",
            "config.yaml:11:17: hosts[0].routes[2].proxy.host: expected a host with an optional port, like \"app.internal\" or \"app.internal:8080\", found \"a b\"",
            "config.yaml:12:28: hosts[0].routes[2].proxy.request_headers: \"Host\" cannot be set in request_headers: set it with the proxy's \"host\" key",
            "config.yaml:12:28: hosts[0].routes[2].proxy.request_headers: \"Content-Length\" cannot be set in request_headers: Flaks sets it for each request",
            "config.yaml:12:28: hosts[0].routes[2].proxy.request_headers: \"transfer-encoding\" cannot be set in request_headers: Flaks sets it for each request",
            "config.yaml:13:28: hosts[0].routes[2].proxy.connect_timeout: expected a duration above zero, found \"0s\"",
            "config.yaml:14:20: hosts[0].routes[2].proxy.timeout: expected a duration above zero, found \"0s\"",
            "config.yaml:15:22: hosts[0].routes[2].proxy.keepalive: expected an integer >= 0, found \"-1\"",
            "config.yaml:16:30: hosts[0].routes[2].proxy.keepalive_timeout: expected a duration above zero, found \"0s\"",
            "config.yaml:17:28: hosts[0].routes[2].proxy.max_connections: expected an integer >= 0, found \"-1\"",
            "config.yaml:18:19: hosts[0].routes[2].proxy.health: missing key \"path\" (what the health check requests, like /healthz)",
            "config.yaml:18:30: hosts[0].routes[2].proxy.health.interval: expected a duration above zero, found \"0s\"",
            "config.yaml:18:41: hosts[0].routes[2].proxy.health.fails: expected an integer >= 1, found \"0\"",
            "config.yaml:18:52: hosts[0].routes[2].proxy.health.passes: expected an integer >= 1, found \"0\"",
            "config.yaml:19:25: hosts[0].routes[2].proxy.fail_timeout: expected a duration like 250ms, 10s, 2m or 1h, found \"soon\"",
            "config.yaml:20:22: hosts[0].routes[2].proxy.websocket: expected true or false, found \"yes\"",
            "config.yaml:21:27: hosts[0].routes[2].proxy.tunnel_timeout: expected a duration like 250ms, 10s, 2m or 1h, found \"-1s\"",
            "config.yaml:22:58: hosts[0].routes[3].proxy.health.path: expected a path starting with \"/\", found \"healthz\"",
            "config.yaml:22:76: hosts[0].routes[3].proxy.health.timeout: expected a duration above zero, found \"0s\"",
            "config.yaml:23:51: hosts[0].routes[4].proxy.health: expected a mapping, found \"/healthz\"",
            "config.yaml:24:43: hosts[0].routes[5].proxy: unknown key \"strip_prefx\"; did you mean \"strip_prefix\"?",
            "config.yaml:24:62: hosts[0].routes[5].proxy: unknown key \"upstreams\"; expected one of to, service, balance, strip_prefix, host, request_headers, connect_timeout, timeout, keepalive, keepalive_timeout, max_connections, health, fail_timeout, websocket, tunnel_timeout",
            "config.yaml:24:97: hosts[0].routes[5].proxy.health: unknown key \"intervall\"; did you mean \"interval\"?",
            "config.yaml:25:50: hosts[0].routes[6]: \"timeout\" applies only to fastcgi routes; this is a proxy route",
        ])
    }
}
