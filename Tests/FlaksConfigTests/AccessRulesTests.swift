import FlaksAccess
import Testing
@testable import FlaksConfig

/// `auth`, `allow` and `rate` on routes, and `server.trusted_proxies`.
@Suite struct AccessRulesTests {
    func list(_ blocks: [String]) throws -> AddressList { try AddressList(parsing: blocks) }

    @Test func everyRuleOnEveryKind() throws {
        let f = try Fixture()
        let config = try f.load("""
        hosts:
          - names: ["*"]
            routes:
              - path: /private/
                static: sites
                auth: {realm: "Staff only", users: private.htpasswd}
                allow: ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32", "::1", "192.168.1.7"]
                rate: {requests: 10, per: 1s, burst: 20}
              - {path: /c/, cgi: sites/example/cgi-bin, auth: {users: /etc/flaks/users}}
              - {path: /r, redirect: /x, allow: 10.0.0.0/8}
              - {path: /t, respond: ok, rate: {requests: 5, per: 1m}}
              - {path: /h, handler: health, rate: {requests: 1, per: 1ms, burst: 1}}
              - {path: /open, respond: ok}
        """)
        let r = config.hosts[0].routes
        let limit = try #require(RateLimit(requests: 10, per: 1_000_000_000, burst: 20))
        #expect(r[0].access == AccessRules(
            auth: AccessRules.Auth(realm: "Staff only", users: f.dir + "/private.htpasswd"),
            allow: try list(["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32", "::1/128", "192.168.1.7/32"]),
            rate: limit))
        // realm defaults to "Restricted"; an absolute path stays as it is; the file is not read here.
        #expect(r[1].access == AccessRules(auth: AccessRules.Auth(realm: "Restricted", users: "/etc/flaks/users")))
        #expect(r[2].access == AccessRules(allow: try list(["10.0.0.0/8"])))
        // burst defaults to requests.
        #expect(r[3].access.rate == RateLimit(requests: 5, per: 60_000_000_000, burst: 5))
        #expect(r[3].access.auth == nil && r[3].access.allow == nil)
        #expect(r[4].access.rate == RateLimit(requests: 1, per: 1_000_000, burst: 1))
        #expect(r[5].access == AccessRules() && r[5].access.isEmpty)
        #expect(!r[0].access.isEmpty)
    }

    @Test func trustedProxies() throws {
        let f = try Fixture()
        #expect(try f.load(minimalHosts).server.trustedProxies == .empty)
        #expect(try f.load("server: {trusted_proxies: []}\n" + minimalHosts).server.trustedProxies == .empty)
        let config = try f.load("server: {trusted_proxies: [\"10.0.0.0/8\", \"::1\", \"fd00::/8\"]}\n" + minimalHosts)
        #expect(config.server.trustedProxies == (try list(["10.0.0.0/8", "::1/128", "fd00::/8"])))
        #expect(config.server.trustedProxies.contains(try #require(IPAddress("10.9.8.7"))))
        #expect(try f.load("server: {trusted_proxies: 127.0.0.1}\n" + minimalHosts).server.trustedProxies
                == (try list(["127.0.0.1/32"])))
    }

    @Test func addressErrors() throws {
        let f = try Fixture()
        #expect(f.errors("""
        server:
          trusted_proxies: ["10.0.0.1/8", nobody]
        hosts:
          - names: ["*"]
            routes:
              - {path: /a, respond: ok, allow: ["300.1.1.1", "10.0.0.0/33", "::1/129", "010.0.0.1", "10.0.0.0/08", ~]}
              - {path: /b, respond: ok, allow: []}
              - {path: /c, respond: ok, allow: {a: b}}
              - {path: /d, respond: ok, allow: ["2001:db8::1/32", "10.0.0.0/32", "0.0.0.0/0"]}
        """) == [
            "config.yaml:2:21: server.trusted_proxies[0]: \"10.0.0.1/8\" has bits set after the prefix length (did you mean 10.0.0.0/8?)",
            "config.yaml:2:35: server.trusted_proxies[1]: \"nobody\" is not an IPv4 or IPv6 address or CIDR block",
            "config.yaml:6:41: hosts[0].routes[0].allow[0]: \"300.1.1.1\" is not an IPv4 or IPv6 address or CIDR block",
            "config.yaml:6:54: hosts[0].routes[0].allow[1]: \"10.0.0.0/33\" has an invalid prefix length (0-32 for IPv4, 0-128 for IPv6)",
            "config.yaml:6:69: hosts[0].routes[0].allow[2]: \"::1/129\" has an invalid prefix length (0-32 for IPv4, 0-128 for IPv6)",
            "config.yaml:6:80: hosts[0].routes[0].allow[3]: \"010.0.0.1\" is not an IPv4 or IPv6 address or CIDR block",
            "config.yaml:6:93: hosts[0].routes[0].allow[4]: \"10.0.0.0/08\" has an invalid prefix length (0-32 for IPv4, 0-128 for IPv6)",
            "config.yaml:6:108: hosts[0].routes[0].allow[5]: expected an IP address or CIDR block like \"10.0.0.0/8\", found nothing",
            "config.yaml:7:40: hosts[0].routes[1].allow: expected at least one address or CIDR block (a route nobody may reach: respond with status 403)",
            "config.yaml:8:40: hosts[0].routes[2].allow: expected a list, found a mapping",
            "config.yaml:9:41: hosts[0].routes[3].allow[0]: \"2001:db8::1/32\" has bits set after the prefix length (did you mean 2001:db8::/32?)",
        ])
    }

    @Test func authErrors() throws {
        let f = try Fixture()
        #expect(f.errors("""
        hosts:
          - names: ["*"]
            routes:
              - {path: /a, respond: ok, auth: users.htpasswd}
              - {path: /b, respond: ok, auth: {realm: Staff}}
              - {path: /c, respond: ok, auth: {users: [a, b], realm: ""}}
              - {path: /d, respond: ok, auth: {user: x}}
              - {path: /e, respond: ok, auths: {users: x}}
        """) == [
            "config.yaml:4:39: hosts[0].routes[0].auth: expected a mapping, found \"users.htpasswd\"",
            "config.yaml:5:39: hosts[0].routes[1].auth: missing key \"users\" (the htpasswd file)",
            "config.yaml:6:47: hosts[0].routes[2].auth.users: expected a string, found a list",
            "config.yaml:6:62: hosts[0].routes[2].auth.realm: expected a non-empty string",
            "config.yaml:7:39: hosts[0].routes[3].auth: missing key \"users\" (the htpasswd file)",
            "config.yaml:7:40: hosts[0].routes[3].auth: unknown key \"user\"; did you mean \"users\"?",
            "config.yaml:8:33: hosts[0].routes[4]: unknown key \"auths\"; did you mean \"auth\"?",
        ])
    }

    @Test func rateErrors() throws {
        let f = try Fixture()
        #expect(f.errors("""
        hosts:
          - names: ["*"]
            routes:
              - {path: /a, respond: ok, rate: {requests: 0, per: 0s, burst: 0}}
              - {path: /b, respond: ok, rate: {requests: x, per: 10}}
              - {path: /c, respond: ok, rate: {burst: 2}}
              - {path: /d, respond: ok, rate: {requests: 1, per: 1000000h, burst: 1000}}
              - {path: /e, respond: ok, rate: {requests: 1, per: 10000000h}}
              - {path: /f, respond: ok, rate: 10/s}
              - {path: /g, respond: ok, rate: {request: 1, per: 1s, bursts: 2}}
        """) == [
            "config.yaml:4:50: hosts[0].routes[0].rate.requests: expected an integer >= 1, found \"0\"",
            "config.yaml:4:58: hosts[0].routes[0].rate.per: expected a duration above zero, found \"0s\"",
            "config.yaml:4:69: hosts[0].routes[0].rate.burst: expected an integer >= 1, found \"0\"",
            "config.yaml:5:50: hosts[0].routes[1].rate.requests: expected an integer >= 1, found \"x\"",
            "config.yaml:5:58: hosts[0].routes[1].rate.per: expected a duration like 250ms, 10s, 2m or 1h, found \"10\"",
            "config.yaml:6:39: hosts[0].routes[2].rate: missing key \"requests\" (how many requests per \"per\")",
            "config.yaml:6:39: hosts[0].routes[2].rate: missing key \"per\" (the period, like 1s or 1m)",
            "config.yaml:7:39: hosts[0].routes[3].rate: burst × per ÷ requests must stay under 73 years",
            "config.yaml:8:58: hosts[0].routes[4].rate.per: expected a duration under 292 years",
            "config.yaml:9:39: hosts[0].routes[5].rate: expected a mapping, found \"10/s\"",
            "config.yaml:10:39: hosts[0].routes[6].rate: missing key \"requests\" (how many requests per \"per\")",
            "config.yaml:10:40: hosts[0].routes[6].rate: unknown key \"request\"; did you mean \"requests\"?",
            "config.yaml:10:61: hosts[0].routes[6].rate: unknown key \"bursts\"; did you mean \"burst\"?",
        ])
    }

    @Test func wrongTypes() throws {
        let f = try Fixture()
        #expect(f.errors("""
        server: {trusted_proxies: {a: b}}
        hosts:
          - names: ["*"]
            routes:
              - {path: /a, respond: ok, auth: {users: x, realm: [a]}, rate: [1], allow: [[10.0.0.0/8]]}
        """) == [
            "config.yaml:1:27: server.trusted_proxies: expected a list, found a mapping",
            "config.yaml:5:57: hosts[0].routes[0].auth.realm: expected a string, found a list",
            "config.yaml:5:69: hosts[0].routes[0].rate: expected a mapping, found a list",
            "config.yaml:5:82: hosts[0].routes[0].allow[0]: expected an IP address or CIDR block like \"10.0.0.0/8\", found a list",
        ])
    }
}
