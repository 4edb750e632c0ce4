import FlaksAccess
import FlaksConfig
import FlaksServer
import Testing

/// Until its runtime lands, a proxy route makes the site fail to build (start and reload refuse the
/// manifest) instead of being served wrongly. FastCGI routes are served (FastCGIServerTests).
@Suite struct NotYetServedTests {
    @Test func proxyIsRefusedFastCGIIsBuilt() throws {
        let allow = try AddressList(parsing: ["10.0.0.0/8"])
        let config = ServerConfig(hosts: [HostConfig(names: ["*"], routes: [
            Route(path: "/p/", kind: .proxy(ProxyRoute(upstreams: .addresses([.tcp(host: "127.0.0.1", port: 9000)]))),
                  origin: "config.yaml:4:9"),
            Route(path: "/f/", kind: .fastcgi(FastCGIRoute(responder: .service("php"), root: "/srv")), origin: "config.yaml:5:9"),
            Route(path: "/a/", kind: .respond(RespondRoute(body: "x")), access: AccessRules(allow: allow), origin: "config.yaml:6:9"),
            Route(path: "/ok", kind: .respond(RespondRoute(body: "ok"))),
        ])])
        #expect(throws: SiteError.self) { try RouteExplainer.explain(config: config, method: "GET", url: "/ok", host: nil) }
        do {
            _ = try RouteExplainer.explain(config: config, method: "GET", url: "/ok", host: nil)
        } catch {
            #expect(error.messages == [
                "config.yaml:4:9: route kind 'proxy' is not served by this build yet",
            ])
        }
    }
}
