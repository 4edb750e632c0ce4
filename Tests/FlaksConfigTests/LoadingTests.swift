import Foundation
import FlaksHTTP
import Testing
@testable import FlaksConfig

@Suite struct LoadingTests {
    @Test func everyKey() throws {
        let f = try Fixture()
        let config = try f.load("""
        server:
          listen: ["0.0.0.0:8080", "[::]:8443", ":9000"]
          backlog: 128
          loops: 2
          threads: 8
          max_connections: 500
          drain_timeout: 3s
          idle_release: 0s
        limits:
          max_buffer: 8KiB
          max_body: 1MB
          header_timeout: 5s
          body_timeout: 250ms
          keepalive_timeout: 2m
          max_keepalive_requests: 50
        cgi:
          timeout: 1h
          max_processes: 4
        log:
          access: logs/access.log
          format: json
          level: debug
        hosts:
          - names: ["Example.test", "www.example.test"]
            errors: {404: /404.html, 500: /oops.html}
            routes:
              - path: /
                static: sites/example
                index: [index.html, index.htm]
                listing: true
                fallback: /index.html
                dotfiles: true
                types: {.md: text/markdown, WASM: application/wasm}
                headers: {Cache-Control: "public, max-age=300", X-Frame-Options: DENY}
              - path: /cgi-bin/
                cgi: ./sites/example/cgi-bin
                interpreters: {".py": /usr/bin/python3, ".sh": sh, ".php": bin/php}
                env: {APP_MODE: production, EMPTY: ""}
                pass_authorization: true
              - path: /old
                redirect: https://example.org/new
                status: 308
                keep_path: true
              - path: /hello
                respond: "hello\\n"
                status: 201
                type: text/plain
              - path: /healthz
                handler: health
              - path: /u/<int:id>
                handler: user.show
          - names: "*"
            routes: []
        """)
        #expect(config.server == ServerSettings(
            listen: [ListenAddress(host: "0.0.0.0", port: 8080), ListenAddress(host: "::", port: 8443),
                     ListenAddress(host: "0.0.0.0", port: 9000)],
            backlog: 128, loops: 2, threads: 8, maxConnections: 500, drainTimeout: .seconds(3),
            idleRelease: .zero))
        #expect(config.limits == Limits(maxBuffer: 8192, maxBody: 1_000_000, headerTimeout: .seconds(5),
                                        bodyTimeout: .milliseconds(250), keepaliveTimeout: .seconds(120),
                                        maxKeepaliveRequests: 50))
        #expect(config.cgi == CGISettings(timeout: .seconds(3600), maxProcesses: 4))
        #expect(config.log == LogSettings(access: .file(f.dir + "/logs/access.log"), format: .json, level: .debug))
        #expect(config.sourceFile == nil)
        #expect(config.hosts.count == 2)
        let h = config.hosts[0]
        #expect(h.names == ["Example.test", "www.example.test"])
        #expect(h.errorPages == [404: "/404.html", 500: "/oops.html"])
        // A bare interpreter name is looked up at load time (no PATH given here: the default one).
        let sh = try #require(["/usr/local/bin/sh", "/usr/bin/sh", "/bin/sh"].first { FileManager.default.isExecutableFile(atPath: $0) })
        let expected: [Route] = [
            Route(path: "/", kind: .staticFiles(StaticRoute(
                root: f.dir + "/sites/example", index: ["index.html", "index.htm"], listing: true,
                fallback: "/index.html", dotfiles: true, types: ["md": "text/markdown", "wasm": "application/wasm"])),
                headers: ["Cache-Control": "public, max-age=300", "X-Frame-Options": "DENY"], origin: "config.yaml:27:9"),
            Route(path: "/cgi-bin/", kind: .cgi(CGIRoute(
                root: f.dir + "/sites/example/cgi-bin",
                interpreters: [".py": "/usr/bin/python3", ".sh": sh, ".php": f.dir + "/bin/php"],
                env: ["APP_MODE": "production", "EMPTY": ""], passAuthorization: true)), origin: "config.yaml:35:9"),
            Route(path: "/old", kind: .redirect(RedirectRoute(target: "https://example.org/new", status: 308, keepPath: true)),
                  origin: "config.yaml:40:9"),
            Route(path: "/hello", kind: .respond(RespondRoute(body: "hello\n", status: 201, contentType: "text/plain")),
                  origin: "config.yaml:44:9"),
            Route(path: "/healthz", kind: .handler("health"), origin: "config.yaml:48:9"),
            Route(path: "/u/<int:id>", kind: .handler("user.show"), origin: "config.yaml:50:9"),
        ]
        #expect(h.routes.count == expected.count)
        for (got, want) in zip(h.routes, expected) { #expect(got == want) }
        #expect(config.hosts[1] == HostConfig(names: ["*"], routes: []))
    }

    @Test func defaultsWhenAbsent() throws {
        let f = try Fixture()
        let config = try f.load("""
        hosts:
          - names: [example.test]
            routes:
              - path: /s/
                static: sites
              - path: /c/
                cgi: sites/example/cgi-bin
              - path: /r
                redirect: /elsewhere
              - path: /t
                respond: ""
        """)
        #expect(config.server == ServerSettings())
        #expect(config.server.listen == [ListenAddress(host: "0.0.0.0", port: 8080)])
        #expect(config.server.drainTimeout == .seconds(10))
        #expect(config.server.idleRelease == .seconds(60))
        #expect(config.limits == Limits())
        #expect(config.limits.maxBuffer == 16 * 1024 && config.limits.maxBody == 10 * 1024 * 1024)
        #expect(config.cgi == CGISettings())
        #expect(config.log == LogSettings(access: .stdout, format: .combined, level: .info))
        let kinds = config.hosts[0].routes.map(\.kind)
        #expect(kinds == [
            .staticFiles(StaticRoute(root: f.dir + "/sites", index: ["index.html"], listing: false, fallback: nil,
                                     dotfiles: false, types: [:])),
            .cgi(CGIRoute(root: f.dir + "/sites/example/cgi-bin", interpreters: [:], env: [:], passAuthorization: false)),
            .redirect(RedirectRoute(target: "/elsewhere", status: 301, keepPath: false)),
            .respond(RespondRoute(body: "", status: 200, contentType: "text/plain; charset=utf-8")),
        ])
        #expect(config.hosts[0].errorPages.isEmpty)
        #expect(config.hosts[0].routes.allSatisfy { $0.headers.isEmpty })
    }

    @Test func singleValuesForListsAndKeywords() throws {
        let f = try Fixture()
        let config = try f.load("""
        server: {listen: "127.0.0.1:0", loops: auto}
        log: {access: "off"}
        hosts:
          - names: only.test
            routes:
              - {path: /, static: /, index: default.html}
        """)
        #expect(config.server.listen == [ListenAddress(host: "127.0.0.1", port: 0)])
        #expect(config.server.loops == nil)
        #expect(config.log.access == .off)
        #expect(config.hosts[0].names == ["only.test"])
        #expect(config.hosts[0].routes[0].kind == .staticFiles(StaticRoute(root: "/", index: ["default.html"])))
    }

    @Test func loadFromFileResolvesAgainstItsDirectory() throws {
        let f = try Fixture()
        let path = f.dir + "/config.yaml"
        try """
        log: {access: ../access.log}
        hosts:
          - names: ["*"]
            routes: [{path: /, static: "sites/./example/"}]
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ManifestLoader.load(path: path, environment: [:])
        #expect(config.sourceFile == path)
        #expect(config.log.access == .file(FileSystem.directory(of: f.dir) + "/access.log"))
        #expect(config.hosts[0].routes[0].kind == .staticFiles(StaticRoute(root: f.dir + "/sites/example")))
        #expect(config.hosts[0].routes[0].origin == path + ":4:14")
    }

    @Test func missingFileIsOneError() {
        do throws(ManifestErrors) {
            _ = try ManifestLoader.load(path: "/nonexistent/flaks.yaml", environment: [:])
            Issue.record("loaded")
        } catch {
            #expect(error.description == "/nonexistent/flaks.yaml: cannot open: No such file or directory")
        }
    }

    @Test func processEnvironmentIsTheDefault() throws {
        setenv("FLAKS_TEST_BODY", "from-env", 1)
        let f = try Fixture()
        let path = f.dir + "/config.yaml"
        try "hosts: [{names: ['*'], routes: [{path: /, respond: '${FLAKS_TEST_BODY}'}]}]"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ManifestLoader.load(path: path)
        #expect(config.hosts[0].routes[0].kind == .respond(RespondRoute(body: "from-env")))
    }
}
