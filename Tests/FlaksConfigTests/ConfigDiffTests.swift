import Testing
@testable import FlaksConfig

@Suite struct ConfigDiffTests {
    static let base = """
    server: {listen: ["0.0.0.0:8080"]}
    limits: {max_body: 10MiB}
    hosts:
      - names: [a.test]
        routes:
          - {path: /, respond: home}
          - {path: /old, redirect: /new}
      - names: [b.test]
        routes: [{path: /, respond: b}]
    """

    @Test func nothingChanged() throws {
        let f = try Fixture()
        let a = try f.load(Self.base)
        // Same content, moved down two lines: origins differ, nothing else.
        let b = try f.load("\n\n" + Self.base)
        #expect(b.changes(from: a) == [])
    }

    @Test func everyKindOfChange() throws {
        let f = try Fixture()
        let old = try f.load(Self.base)
        let new = try f.load("""
        server: {listen: ["0.0.0.0:8081", "[::]:8081"], threads: 4}
        limits: {max_body: 1MiB, header_timeout: 5s}
        hosts:
          - names: [a.test, www.a.test]
            errors: {404: /404.html}
            routes:
              - {path: /, respond: home v2}
              - {path: /api/, handler: api}
          - names: [c.test]
            routes: [{path: /, respond: c}]
        """)
        #expect(new.changes(from: old) == [
            "listen: 0.0.0.0:8080 -> 0.0.0.0:8081, [::]:8081",
            "server.threads: 16 -> 4",
            "limits.max_body: 10MiB -> 1MiB",
            "limits.header_timeout: 10s -> 5s",
            "host removed: b.test",
            "host a.test: names [\"a.test\"] -> [\"a.test\", \"www.a.test\"]",
            "host a.test: error pages changed",
            "host a.test: route removed /old",
            "host a.test: route changed /",
            "host a.test: route added /api/",
            "host added: c.test",
        ])
    }

    static let hosting = """
    server: {listen: [":8080"]}
    tls: {acme: {storage: acme}}
    services:
      - {name: api, command: [sh], instances: 1}
      - {name: old, command: [sh]}
      - {name: same, command: [sh], env: {A: b}}
    hosts:
      - names: [a.test]
        tls: acme
        routes:
          - {path: /api/, proxy: {service: api}}
          - {path: /php/, fastcgi: "127.0.0.1:9000", root: sites}
          - {path: /s/, static: sites}
          - {path: /same/, proxy: "http://127.0.0.1:1", auth: {users: u.htpasswd}}
    """

    @Test func hostingKeysUnchanged() throws {
        let f = try Fixture()
        let a = try f.load(Self.hosting)
        #expect(try f.load("\n\n" + Self.hosting).changes(from: a) == [])
    }

    @Test func hostingKeysChanged() throws {
        let f = try Fixture()
        let old = try f.load(Self.hosting)
        let new = try f.load("""
        server: {listen: [":8080"], tls_listen: [":8443"], trusted_proxies: [10.0.0.0/8]}
        compress: {encodings: [gzip], min_size: 0}
        tls: {min_version: "1.3", hsts: 1d, acme: {storage: acme2, challenges: [http-01]}}
        services:
          - {name: api, command: [sh, -c, x], instances: 2}
          - {name: new, command: [sh]}
          - {name: same, command: [sh], env: {A: b}}
        hosts:
          - names: [a.test]
            tls: {cert: a.pem, key: a.key}
            routes:
              - {path: /api/, proxy: {service: api, timeout: 5s}}
              - {path: /php/, fastcgi: "127.0.0.1:9001", root: sites}
              - {path: /s/, static: sites, compress: false}
              - {path: /same/, proxy: "http://127.0.0.1:1", auth: {users: u.htpasswd}}
        """)
        #expect(new.changes(from: old).map { $0.replacingOccurrences(of: f.dir, with: "$DIR") } == [
            "tls_listen: none -> 0.0.0.0:8443",
            "server.trusted_proxies: [] -> [10.0.0.0/8]",
            "tls.min_version: 1.2 -> 1.3",
            "tls.hsts: 0ms -> 1d",
            "tls.acme.storage: $DIR/acme -> $DIR/acme2",
            "tls.acme.challenges: [http-01, tls-alpn-01] -> [http-01]",
            "compress.encodings: [zstd, br, gzip] -> [gzip]",
            "compress.min_size: 1KiB -> 0",
            "service removed: old",
            "service changed: api (command, instances)",
            "service added: new",
            "host a.test: tls acme -> cert $DIR/a.pem, key $DIR/a.key",
            "host a.test: route changed /api/",
            "host a.test: route changed /php/",
            "host a.test: route changed /s/",
        ])
        // Access rules alone change a route; tls.acme appearing or going is one line.
        let guarded = try f.load(Self.hosting.replacingOccurrences(of: "{path: /s/, static: sites}",
                                                                   with: "{path: /s/, static: sites, allow: 10.0.0.0/8}"))
        #expect(guarded.changes(from: old) == ["host a.test: route changed /s/"])
        let plain = try f.load(minimalHosts)
        let withACME = try f.load("tls: {acme: {email: a@b.test}}\n" + minimalHosts)
        #expect(withACME.changes(from: plain) == ["tls.acme added"])
        #expect(plain.changes(from: withACME) == ["tls.acme removed"])
    }
}
