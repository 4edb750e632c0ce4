import Testing
@testable import FlaksConfig

/// The `fastcgi:` route kind: responder, `root`, and the FastCGI options.
@Suite struct FastCGITests {
    func manifest(_ routes: String) -> String {
        """
        hosts:
          - names: ["*"]
            routes:
        \(routes)
        """
    }

    @Test func everyKeyAndTheDefaults() throws {
        let f = try Fixture()
        let config = try f.load(manifest("""
              - path: /blog/
                fastcgi: unix:/run/php/php-fpm.sock
                root: sites/example
                index: [index.php, index.html]
                extensions: [.php, .PHTML]
                front_controller: /index.php
                env: {APP_ENV: production, EMPTY: ""}
                timeout: 5s
                max_connections: 1
              - {path: /a/, fastcgi: "127.0.0.1:9000", root: sites}
              - {path: /b/, fastcgi: "[::1]:9000", root: sites}
              - {path: /c/, fastcgi: "Php-FPM.internal:65535", root: sites}
              - {path: /d/, fastcgi: "unix:run/php.sock", root: ./sites/}
              - {path: /e/, fastcgi: {service: php}, root: sites, index: index.php, extensions: .php5}
              - {path: /f/, fastcgi: "[2001:DB8::0:1]:1", root: sites}
        """) + "\nservices: [{name: php, command: [sh]}]")
        let r = config.hosts[0].routes
        #expect(r[0] == Route(path: "/blog/", kind: .fastcgi(FastCGIRoute(
            responder: .address(.unix(path: "/run/php/php-fpm.sock")), root: f.dir + "/sites/example",
            index: ["index.php", "index.html"], extensions: [".php", ".phtml"], frontController: "/index.php",
            env: ["APP_ENV": "production", "EMPTY": ""], timeout: .seconds(5), maxConnections: 1)),
            origin: "config.yaml:4:9"))
        let sites = f.dir + "/sites"
        let defaults = FastCGIRoute(responder: .address(.tcp(host: "127.0.0.1", port: 9000)), root: sites)
        #expect(r[1].kind == .fastcgi(defaults))
        #expect(defaults.index == ["index.php"] && defaults.extensions == [".php"] && defaults.frontController == nil
                && defaults.env.isEmpty && defaults.timeout == .seconds(60) && defaults.maxConnections == 16)
        #expect(r[2].kind == .fastcgi(FastCGIRoute(responder: .address(.tcp(host: "::1", port: 9000)), root: sites)))
        #expect(r[3].kind == .fastcgi(FastCGIRoute(responder: .address(.tcp(host: "php-fpm.internal", port: 65535)), root: sites)))
        #expect(r[4].kind == .fastcgi(FastCGIRoute(responder: .address(.unix(path: f.dir + "/run/php.sock")), root: sites)))
        #expect(r[5].kind == .fastcgi(FastCGIRoute(responder: .service("php"), root: sites, index: ["index.php"],
                                                   extensions: [".php5"])))
        #expect(r[6].kind == .fastcgi(FastCGIRoute(responder: .address(.tcp(host: "2001:db8::1", port: 1)), root: sites)))
        #expect(r.map(\.kind.keyword) == Array(repeating: "fastcgi", count: 7))
        #expect(UpstreamAddress.tcp(host: "2001:db8::1", port: 1).description == "[2001:db8::1]:1")
        #expect(UpstreamAddress.unix(path: "/run/a.sock").description == "unix:/run/a.sock")
    }

    @Test func responderErrors() throws {
        let f = try Fixture()
        let long = "unix:/" + String(repeating: "s", count: 107)
        #expect(f.errors(manifest("""
              - {path: /a/, root: sites, fastcgi: "127.0.0.1"}
              - {path: /b/, root: sites, fastcgi: "127.0.0.1:0"}
              - {path: /c/, root: sites, fastcgi: "127.0.0.1:65536"}
              - {path: /d/, root: sites, fastcgi: "unix:"}
              - {path: /e/, root: sites, fastcgi: "http://127.0.0.1:9000"}
              - {path: /f/, root: sites, fastcgi: "[::1]"}
              - {path: /g/, root: sites, fastcgi: "[1.2.3.4]:80"}
              - {path: /h/, root: sites, fastcgi: "-bad:80"}
              - {path: /i/, root: sites, fastcgi: "256.1.1.1:80"}
              - {path: /j/, root: sites, fastcgi: {service: PHP}}
              - {path: /k/, root: sites, fastcgi: {servic: php}}
              - {path: /l/, root: sites, fastcgi: [a]}
              - {path: /m/, root: sites, fastcgi: "\(long)"}
              - {path: /n/, root: sites, fastcgi: ~}
        """)) == [
            "config.yaml:4:43: hosts[0].routes[0].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME} (port 1-65535), found \"127.0.0.1\"",
            "config.yaml:5:43: hosts[0].routes[1].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME} (port 1-65535), found \"127.0.0.1:0\"",
            "config.yaml:6:43: hosts[0].routes[2].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME} (port 1-65535), found \"127.0.0.1:65536\"",
            "config.yaml:7:43: hosts[0].routes[3].fastcgi: expected a socket path after \"unix:\"",
            "config.yaml:8:43: hosts[0].routes[4].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME} (port 1-65535), found \"http://127.0.0.1:9000\"",
            "config.yaml:9:43: hosts[0].routes[5].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME} (port 1-65535), found \"[::1]\"",
            "config.yaml:10:43: hosts[0].routes[6].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME} (port 1-65535), found \"[1.2.3.4]:80\"",
            "config.yaml:11:43: hosts[0].routes[7].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME} (port 1-65535), found \"-bad:80\"",
            "config.yaml:12:43: hosts[0].routes[8].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME} (port 1-65535), found \"256.1.1.1:80\"",
            "config.yaml:13:53: hosts[0].routes[9].fastcgi.service: expected a service name (lowercase letters, digits, \"_\", \"-\"), found \"PHP\"",
            "config.yaml:14:43: hosts[0].routes[10].fastcgi: missing key \"service\" (the name of a service in \"services\")",
            "config.yaml:14:44: hosts[0].routes[10].fastcgi: unknown key \"servic\"; did you mean \"service\"?",
            "config.yaml:15:43: hosts[0].routes[11].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME}, found a list",
            "config.yaml:16:43: hosts[0].routes[12].fastcgi: socket path \"/\(String(repeating: "s", count: 107))\" is 108 bytes; a Unix socket path is at most 107",
            "config.yaml:17:43: hosts[0].routes[13].fastcgi: expected \"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME}, found nothing",
        ])
        // Exactly 107 bytes is a valid socket path.
        let edge = "unix:/" + String(repeating: "s", count: 106)
        #expect(try f.load(manifest("      - {path: /a/, root: sites, fastcgi: \"\(edge)\"}")).hosts[0].routes[0].kind
                == .fastcgi(FastCGIRoute(responder: .address(.unix(path: "/" + String(repeating: "s", count: 106))),
                                         root: f.dir + "/sites")))
    }

    @Test func optionErrors() throws {
        let f = try Fixture()
        #expect(f.errors(manifest("""
              - {path: /a/, fastcgi: "127.0.0.1:9000"}
              - {path: /b/, fastcgi: "127.0.0.1:9000", root: missing}
              - {path: /c/, fastcgi: "127.0.0.1:9000", root: sites/file.txt}
              - path: /d/
                fastcgi: "127.0.0.1:9000"
                root: sites
                index: [a/b.php]
                extensions: [php, ".", ".PHP", ".php", ""]
                front_controller: index.php
                env: {"1BAD": x}
                timeout: 0s
                max_connections: 0
              - {path: /e/, fastcgi: "127.0.0.1:9000", root: sites, extensions: [], front_controller: /a/}
              - {path: /f/, fastcgi: "127.0.0.1:9000", root: sites, front_controller: /x/../index.php}
              - {path: /g/, fastcgi: "127.0.0.1:9000", root: sites, front_controller: "/index.php?x", timeout: forever}
              - {path: /h/, fastcgi: "127.0.0.1:9000", root: sites, extension: [.php], max_conections: 2}
        """)) == [
            "config.yaml:4:9: hosts[0].routes[0]: missing key \"root\" (the directory holding the scripts, for a fastcgi route)",
            "config.yaml:5:54: hosts[0].routes[1].root: fastcgi root \"$DIR/missing\" does not exist",
            "config.yaml:6:54: hosts[0].routes[2].root: fastcgi root \"$DIR/sites/file.txt\" is not a directory",
            "config.yaml:10:16: hosts[0].routes[3].index: expected file names without \"/\", found \"a/b.php\"",
            "config.yaml:11:22: hosts[0].routes[3].extensions[0]: expected an extension starting with \".\", like \".php\", found \"php\"",
            "config.yaml:11:27: hosts[0].routes[3].extensions[1]: expected an extension starting with \".\", like \".php\", found \".\"",
            "config.yaml:11:40: hosts[0].routes[3].extensions[3]: extension \".php\" is listed twice",
            "config.yaml:11:48: hosts[0].routes[3].extensions[4]: expected a non-empty string",
            "config.yaml:12:27: hosts[0].routes[3].front_controller: expected a path starting with \"/\", found \"index.php\"",
            "config.yaml:13:15: hosts[0].routes[3].env: expected an environment variable name (letters, digits, \"_\"), found \"1BAD\"",
            "config.yaml:14:18: hosts[0].routes[3].timeout: expected a duration above zero, found \"0s\"",
            "config.yaml:15:26: hosts[0].routes[3].max_connections: expected an integer >= 1, found \"0\"",
            "config.yaml:16:73: hosts[0].routes[4].extensions: expected at least one extension, like \".php\"",
            "config.yaml:16:95: hosts[0].routes[4].front_controller: expected the path of a file below the mount, like \"/index.php\", found \"/a/\"",
            "config.yaml:17:79: hosts[0].routes[5].front_controller: expected the path of a file below the mount, like \"/index.php\", found \"/x/../index.php\"",
            "config.yaml:18:79: hosts[0].routes[6].front_controller: expected the path of a file below the mount, like \"/index.php\", found \"/index.php?x\"",
            "config.yaml:18:104: hosts[0].routes[6].timeout: expected a duration like 250ms, 10s, 2m or 1h, found \"forever\"",
            "config.yaml:19:61: hosts[0].routes[7]: unknown key \"extension\"; did you mean \"extensions\"?",
            "config.yaml:19:80: hosts[0].routes[7]: unknown key \"max_conections\"; did you mean \"max_connections\"?",
        ])
        // max_connections: exactly 1 is allowed.
        #expect(try f.load(manifest("      - {path: /a/, fastcgi: \"127.0.0.1:9000\", root: sites, max_connections: 1}"))
                .hosts[0].routes[0].kind == .fastcgi(FastCGIRoute(responder: .address(.tcp(host: "127.0.0.1", port: 9000)),
                                                                   root: f.dir + "/sites", maxConnections: 1)))
    }

    @Test func optionsOfOtherKinds() throws {
        let f = try Fixture()
        #expect(f.errors(manifest("""
              - {path: /a/, static: sites, root: sites, timeout: 1s}
              - {path: /b/, cgi: sites/example/cgi-bin, extensions: [.php], front_controller: /i.php}
              - {path: /c, respond: ok, max_connections: 2, env: {A: b}}
              - {path: /d, fastcgi: "127.0.0.1:9000", static: sites, root: sites}
        """)) == [
            "config.yaml:4:36: hosts[0].routes[0]: \"root\" applies only to fastcgi routes; this is a static route",
            "config.yaml:4:49: hosts[0].routes[0]: \"timeout\" applies only to fastcgi routes; this is a static route",
            "config.yaml:5:49: hosts[0].routes[1]: \"extensions\" applies only to fastcgi routes; this is a cgi route",
            "config.yaml:5:69: hosts[0].routes[1]: \"front_controller\" applies only to fastcgi routes; this is a cgi route",
            "config.yaml:6:33: hosts[0].routes[2]: \"max_connections\" applies only to fastcgi routes; this is a respond route",
            "config.yaml:6:53: hosts[0].routes[2]: \"env\" applies only to cgi and fastcgi routes; this is a respond route",
            "config.yaml:7:9: hosts[0].routes[3]: expected exactly one of static, cgi, redirect, respond, handler, proxy, fastcgi; found static and fastcgi",
        ])
    }

    @Test func aRootAtTheFileSystemRootIsAWarning() throws {
        let f = try Fixture()
        let config = try f.load(manifest("      - {path: /php/, fastcgi: \"127.0.0.1:9000\", root: /}"))
        #expect(config.warnings.map(\.description) == [
            "config.yaml:4:56: warning: hosts[0].routes[0].root: fastcgi root \"/\" is the file system root: every file the server can read is served to anyone, and its scripts run",
        ])
    }
}
