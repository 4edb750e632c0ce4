import FlaksRouting
import Testing
@testable import FlaksConfig

/// What the server does on every load: a validated manifest must always build a tree.
@Suite struct RouteTreeFromConfigTests {
    @Test func loadedConfigBuildsAndRoutes() throws {
        let f = try Fixture()
        let config = try f.load("""
        hosts:
          - names: [Example.test., "*.example.test"]
            routes:
              - {path: /, static: sites/example}
              - {path: /u/<int:id>, handler: user}
              - {path: /healthz, handler: health}
          - names: ["*"]
            routes: [{path: /, respond: default}]
        """)
        var builder = RouteTreeBuilder<Route>()
        for h in config.hosts { try builder.addHost(names: h.names, routes: h.routes.map { ($0.path, $0) }) }
        let tree = builder.build()
        guard case .found(let m) = tree.lookup(host: "EXAMPLE.test:8080", path: "/u/7") else {
            Issue.record("no match"); return
        }
        #expect(m.target.kind == .handler("user"))
        #expect(m.parameters.map(\.value) == ["7"])
        guard case .found(let s) = tree.lookup(host: "cdn.example.test", path: "/css/a.css") else {
            Issue.record("no match"); return
        }
        #expect(s.remainder == "css/a.css")
        guard case .found(let d) = tree.lookup(host: "other", path: "/x") else { Issue.record("no match"); return }
        #expect(d.target.kind == .respond(RespondRoute(body: "default")))
    }
}
