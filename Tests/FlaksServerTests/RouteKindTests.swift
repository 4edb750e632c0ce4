import FlaksAccess
import FlaksConfig
import FlaksServer
import Foundation
import Testing

/// Every route kind is served: a manifest with proxy, FastCGI and access-ruled routes builds (start
/// and reload would refuse one that did not), and `flaks route` explains them.
@Suite struct RouteKindTests {
    @Test func everyRouteKindIsBuilt() throws {
        let allow = try AddressList(parsing: ["10.0.0.0/8"])
        let config = ServerConfig(hosts: [HostConfig(names: ["*"], routes: [
            Route(path: "/p/", kind: .proxy(ProxyRoute(upstreams: .addresses([.tcp(host: "127.0.0.1", port: 9000)]))),
                  origin: "config.yaml:4:9"),
            Route(path: "/f/", kind: .fastcgi(FastCGIRoute(responder: .service("php"), root: "/srv")), origin: "config.yaml:5:9"),
            Route(path: "/a/", kind: .respond(RespondRoute(body: "x")), access: AccessRules(allow: allow), origin: "config.yaml:6:9"),
            Route(path: "/ok", kind: .respond(RespondRoute(body: "ok"))),
        ])])
        #expect(try RouteExplainer.explain(config: config, method: "GET", url: "/ok", host: nil).matched)
        let proxied = try RouteExplainer.explain(config: config, method: "GET", url: "/p/x", host: nil)
        #expect(proxied.matched && proxied.text.contains("127.0.0.1:9000"), "\(proxied.text)")
    }

    /// `flaks route` on a fastcgi route: the script, its SCRIPT_NAME and PATH_INFO, the responder;
    /// a file next to the scripts is explained as a file.
    @Test func fastcgiRoutesAreExplained() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flaks-explain-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root + "/app", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "<?php".write(toFile: root + "/app/x.php", atomically: true, encoding: .utf8)
        try "body{}".write(toFile: root + "/style.css", atomically: true, encoding: .utf8)
        let config = ServerConfig(hosts: [HostConfig(names: ["*"], routes: [
            Route(path: "/blog/", kind: .fastcgi(FastCGIRoute(responder: .address(.unix(path: "/run/php.sock")), root: root))),
        ])])
        let script = try RouteExplainer.explain(config: config, method: "GET", url: "/blog/app/x.php/more", host: nil)
        #expect(script.matched)
        #expect(script.text.contains("FastCGI script: \(root)/app/x.php"))
        #expect(script.text.contains("SCRIPT_NAME: /blog/app/x.php") && script.text.contains("PATH_INFO: /more"))
        #expect(script.text.contains("responder: unix(\"/run/php.sock\")"), "\(script.text)")
        let file = try RouteExplainer.explain(config: config, method: "GET", url: "/blog/style.css", host: nil)
        #expect(file.text.contains("status: 200") || file.text.contains("200"), "\(file.text)")
        #expect(!file.text.contains("FastCGI script"))
    }
}
