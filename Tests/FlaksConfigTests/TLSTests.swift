import Testing
@testable import FlaksConfig

/// `server.tls_listen`, the top-level `tls` section with `tls.acme`, and `hosts[].tls`.
@Suite struct TLSTests {
    @Test func everyKey() throws {
        let f = try Fixture()
        let config = try f.load("""
        server:
          listen: ["0.0.0.0:8080"]
          tls_listen: ["0.0.0.0:8443", "[::]:8443"]
        tls:
          min_version: "1.3"
          redirect_http: true
          hsts: 365d
          acme:
            email: ops@example.test
            directory: https://localhost:14000/dir
            ca_roots: certs/pebble.pem
            storage: acme
            challenges: [tls-alpn-01]
            renew_before: 10d
        hosts:
          - names: [example.test, www.example.test]
            tls: acme
            routes: [{path: /, respond: ok}]
          - names: [files.test]
            tls: {cert: certs/files.pem, key: /etc/keys/files.key}
            routes: [{path: /, respond: ok}]
          - names: ["*"]
            routes: [{path: /, respond: ok}]
        """)
        #expect(config.server.tlsListen == [ListenAddress(host: "0.0.0.0", port: 8443), ListenAddress(host: "::", port: 8443)])
        #expect(config.tls == TLSSettings(minVersion: .tls13, redirectHTTP: true, hsts: .seconds(365 * 86_400),
                                          acme: ACMESettings(email: "ops@example.test", directory: "https://localhost:14000/dir",
                                                             caRoots: f.dir + "/certs/pebble.pem", storage: f.dir + "/acme",
                                                             challenges: [.tlsALPN01], renewBefore: .seconds(10 * 86_400))))
        #expect(config.hosts.map(\.tls) == [.acme, .files(cert: f.dir + "/certs/files.pem", key: "/etc/keys/files.key"), nil])
        #expect(config.warnings.isEmpty)
    }

    @Test func defaults() throws {
        let f = try Fixture()
        let plain = try f.load(minimalHosts)
        #expect(plain.server.tlsListen == [])
        #expect(plain.tls == TLSSettings())
        #expect(plain.tls.minVersion == .tls12 && !plain.tls.redirectHTTP && plain.tls.hsts == .zero && plain.tls.acme == nil)
        #expect(plain.hosts[0].tls == nil)
        let config = try f.load("""
        server: {tls_listen: ":8443", listen: ":8080"}
        tls: {acme: {storage: /var/lib/flaks/acme}}
        hosts:
          - {names: [a.test], tls: acme, routes: []}
        """)
        #expect(config.server.tlsListen == [ListenAddress(host: "0.0.0.0", port: 8443)])
        let acme = try #require(config.tls.acme)
        #expect(acme == ACMESettings(storage: "/var/lib/flaks/acme"))
        #expect(acme.email == nil && acme.caRoots == nil)
        #expect(acme.directory == "https://acme-v02.api.letsencrypt.org/directory")
        #expect(acme.challenges == [.http01, .tlsALPN01] && acme.renewBefore == .seconds(30 * 86_400))
        // An empty tls_listen is allowed (no TLS listener), unlike listen.
        #expect(try f.load("server: {tls_listen: []}\n" + minimalHosts).server.tlsListen == [])
        // A tls.acme block without storage is fine while no host uses acme.
        #expect(try f.load("tls: {acme: {email: a@b.test}}\n" + minimalHosts).tls.acme == ACMESettings(email: "a@b.test"))
    }

    @Test func settingsErrors() throws {
        let f = try Fixture()
        #expect(f.errors("""
        server:
          tls_listen: ["0.0.0.0:8080", nowhere, ":9443", "0.0.0.0:9443"]
        tls:
          min_version: 1.1
          redirect_http: maybe
          hsts: 1500ms
          acme:
            email: nobody
            directory: http://acme.test/dir
            challenges: [dns-01, http-01, http-01]
            renew_before: 0s
            storge: x
        \(minimalHosts)
        """) == [
            "config.yaml:2:32: server.tls_listen[1]: expected \"host:port\" with a numeric host, \"[v6]:port\" or \":port\" (port 0-65535), found \"nowhere\"",
            "config.yaml:2:50: server.tls_listen[3]: listen address \"0.0.0.0:9443\" is listed twice",
            "config.yaml:4:16: tls.min_version: expected one of 1.2, 1.3; found \"1.1\"",
            "config.yaml:5:18: tls.redirect_http: expected true or false, found \"maybe\"",
            "config.yaml:6:9: tls.hsts: expected whole seconds (max-age counts seconds), found \"1500ms\"",
            "config.yaml:8:12: tls.acme.email: expected an email address like \"ops@example.test\", found \"nobody\"",
            "config.yaml:9:16: tls.acme.directory: expected the https:// URL of an ACME directory (RFC 8555 §7.1.1), found \"http://acme.test/dir\"",
            "config.yaml:10:18: tls.acme.challenges[0]: expected one of http-01, tls-alpn-01; found \"dns-01\"",
            "config.yaml:10:35: tls.acme.challenges[2]: challenge \"http-01\" is listed twice",
            "config.yaml:11:19: tls.acme.renew_before: expected a duration above zero, found \"0s\"",
            "config.yaml:12:5: tls.acme: unknown key \"storge\"; did you mean \"storage\"?",
        ])
        // The default listen address counts too: one address cannot be bound twice.
        #expect(f.errors("server: {tls_listen: [\"0.0.0.0:8080\", \":8443\"]}\n" + minimalHosts) == [
            "config.yaml:1:23: server.tls_listen[0]: listen address \"0.0.0.0:8080\" is also in server.listen",
        ])
        #expect(f.errors("server: {listen: \":8443\", tls_listen: [\"0.0.0.0:8080\", \":8443\"]}\n" + minimalHosts) == [
            "config.yaml:1:56: server.tls_listen[1]: listen address \"0.0.0.0:8443\" is also in server.listen",
        ])
        #expect(f.errors("tls: yes\n" + minimalHosts) == ["config.yaml:1:6: tls: expected a mapping, found \"yes\""])
        #expect(f.errors("tls: {acme: {challenges: []}, minversion: \"1.2\"}\n" + minimalHosts) == [
            "config.yaml:1:26: tls.acme.challenges: expected at least one challenge type (http-01, tls-alpn-01)",
            "config.yaml:1:31: tls: unknown key \"minversion\"; did you mean \"min_version\"?",
        ])
    }

    @Test func hostErrors() throws {
        let f = try Fixture()
        #expect(f.errors("""
        server: {tls_listen: ":8443"}
        tls: {acme: {storage: acme}}
        hosts:
          - {names: [a.test], tls: auto, routes: []}
          - {names: [b.test], tls: {cert: b.pem}, routes: []}
          - {names: [c.test], tls: [c.pem], routes: []}
          - {names: [d.test], tls: {crt: d.pem, key: d.key}, routes: []}
          - {names: ["*.e.test", e.test], tls: acme, routes: []}
          - {names: ["*"], tls: acme, routes: []}
          - {names: [g.test], tls: ~, routes: []}
        """) == [
            "config.yaml:4:28: hosts[0].tls: expected \"acme\" or a mapping with cert and key, found \"auto\"",
            "config.yaml:5:28: hosts[1].tls: missing key \"key\" (the PEM private key)",
            "config.yaml:6:28: hosts[2].tls: expected \"acme\" or a mapping with cert and key, found a list",
            "config.yaml:7:28: hosts[3].tls: missing key \"cert\" (the PEM certificate chain)",
            "config.yaml:7:29: hosts[3].tls: unknown key \"crt\"; did you mean \"cert\"?",
            "config.yaml:8:40: hosts[4].tls: tls: acme cannot cover \"*.e.test\": a wildcard certificate needs the DNS-01 challenge, which is not supported",
            "config.yaml:9:25: hosts[5].tls: tls: acme cannot cover the default host \"*\": it has no name to order a certificate for",
            "config.yaml:10:28: hosts[6].tls: expected \"acme\" or a mapping with cert and key, found nothing",
        ])
    }

    @Test func acmeNeedsStorage() throws {
        let f = try Fixture()
        let hosts = """
        hosts:
          - {names: [a.test], tls: acme, routes: []}
          - {names: [b.test], tls: {cert: b.pem, key: b.key}, routes: []}
        """
        #expect(f.errors("server: {tls_listen: \":8443\"}\n" + hosts) == [
            "config.yaml:3:28: hosts[0].tls: tls: acme needs tls.acme.storage (the directory for the account key and certificates)",
        ])
        #expect(f.errors("server: {tls_listen: \":8443\"}\ntls: {acme: {email: a@b.test}}\n" + hosts) == [
            "config.yaml:4:28: hosts[0].tls: tls: acme needs tls.acme.storage (the directory for the account key and certificates)",
        ])
    }

    @Test func tlsWithoutTLSListenIsAWarning() throws {
        let f = try Fixture()
        let config = try f.load("""
        tls: {redirect_http: true, acme: {storage: acme}}
        hosts:
          - {names: [a.test], tls: acme, routes: []}
          - {names: [b.test], tls: {cert: b.pem, key: b.key}, routes: []}
          - {names: [c.test], routes: []}
        """)
        #expect(config.warnings.map(\.description) == [
            "config.yaml:1:22: warning: tls.redirect_http: redirect_http does nothing without server.tls_listen (there is no https port to send to)",
            "config.yaml:3:28: warning: hosts[0].tls: the host has tls but server.tls_listen is empty: it is served over plain HTTP only",
            "config.yaml:4:28: warning: hosts[1].tls: the host has tls but server.tls_listen is empty: it is served over plain HTTP only",
        ])
        #expect(config.hosts.map(\.tls) == [.acme, .files(cert: f.dir + "/b.pem", key: f.dir + "/b.key"), nil])
    }

    @Test func wrongTypes() throws {
        let f = try Fixture()
        #expect(f.errors("tls: {acme: yes, hsts: [1s], min_version: {v: 1}}\n" + minimalHosts) == [
            "config.yaml:1:13: tls.acme: expected a mapping, found \"yes\"",
            "config.yaml:1:24: tls.hsts: expected a duration like 250ms, 10s, 2m or 1h, found a list",
            "config.yaml:1:43: tls.min_version: expected one of 1.2, 1.3, found a mapping",
        ])
        #expect(f.errors("tls: {acme: {storage: [a], email: {a: b}, renew_before: 1y}}\nserver: {tls_listen: {a: b}}\n" + minimalHosts) == [
            "config.yaml:1:23: tls.acme.storage: expected a string, found a list",
            "config.yaml:1:35: tls.acme.email: expected a string, found a mapping",
            "config.yaml:1:57: tls.acme.renew_before: expected a duration like 250ms, 10s, 2m or 1h, found \"1y\"",
            "config.yaml:2:22: server.tls_listen: expected a list, found a mapping",
        ])
    }
}
