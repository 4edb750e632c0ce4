#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksAccess
import FlaksConfig
import FlaksHandlers
import FlaksServer
import Foundation
import Testing

/// `auth`, `allow` and `rate` over real sockets, with htpasswd files made by `htpasswd -B`.
@Suite("Access rules over real sockets")
struct AccessRulesServerTests {
    /// Makes an htpasswd file with bcrypt (cost 5 keeps the tests fast) for `users`.
    static func htpasswd(_ dir: String, _ users: [(String, String)]) throws -> String {
        let path = dir + "/users.htpasswd"
        for (i, (u, p)) in users.enumerated() {
            let proc = Process()
            proc.executableURL = URL(fileURLWithPath: "/usr/bin/htpasswd")
            proc.arguments = (i == 0 ? ["-c"] : []) + ["-B", "-C", "5", "-b", path, u, p]
            proc.standardError = FileHandle.nullDevice
            try proc.run()
            proc.waitUntilExit()
            guard proc.terminationStatus == 0 else { throw TestClient.Failure(description: "htpasswd failed") }
        }
        return path
    }

    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/htpasswd")))
    func basicAuthChallengesChecksAndPassesTheUserToCGI() async throws {
        let f = try CGIFixture()
        let users = try Self.htpasswd(f.root, [("alice", "s3cret"), ("bob", "hunter2")])
        try f.script("who.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s|%s|%s' \"$REMOTE_USER\" \"$AUTH_TYPE\" \"$HTTP_AUTHORIZATION\"\n")
        var route = Route(path: "/cgi-bin/", kind: .cgi(CGIRoute(root: f.root, passAuthorization: true)))
        route.access = AccessRules(auth: .init(realm: "Staff only", users: users))
        try await withTestServer(config([route])) { (server: Server, port: Int) async throws in
            let none = try TestClient.get(port: port, "/cgi-bin/who.sh")
            #expect(none.status == 401)
            #expect(none.header("WWW-Authenticate") == "Basic realm=\"Staff only\", charset=\"UTF-8\"")
            let wrong = try TestClient.get(port: port, "/cgi-bin/who.sh", headers: ["Authorization": Self.basic("alice", "nope")])
            #expect(wrong.status == 401)
            let unknown = try TestClient.get(port: port, "/cgi-bin/who.sh", headers: ["Authorization": Self.basic("mallory", "x")])
            #expect(unknown.status == 401)
            let ok = try TestClient.get(port: port, "/cgi-bin/who.sh", headers: ["Authorization": Self.basic("alice", "s3cret")])
            #expect(ok.status == 200)
            #expect(ok.text == "alice|Basic|", "REMOTE_USER and AUTH_TYPE set; the consumed Authorization not passed on")
            // A second request is answered from the auth cache (same result).
            let again = try TestClient.get(port: port, "/cgi-bin/who.sh", headers: ["Authorization": Self.basic("alice", "s3cret")])
            #expect(again.text == "alice|Basic|")
            for bad in ["Basic", "Basic !!!!", "Bearer abc", "Basic YWxpY2U=", "basic \u{00e9}t\u{00e9}", "Basic " + String(repeating: "A", count: 5000)] {
                let r = try TestClient.get(port: port, "/cgi-bin/who.sh", headers: ["Authorization": bad])
                #expect(r.status == 401, "malformed \(bad.prefix(20)) must be 401, not \(r.status)")
            }
            let m = server.metrics().prometheusText
            #expect(m.contains("flaks_access_denied_total{host=\"*\",status=\"401\"}"))
        }
    }

    @Test func allowListsUseTheClientAddress() async throws {
        var route = respond("/", "in\n")
        route.access = AccessRules(allow: try AddressList(parsing: ["127.0.0.2/32", "::1/128"]))
        try await withTestServer(config([route])) { (_: Server, port: Int) async throws in
            #expect(try TestClient.get(port: port, "/").status == 403)
            #expect(try TestClient.get(port: port, "/", source: "127.0.0.2").text == "in\n")
        }
    }

    @Test func trustedProxiesGiveTheForwardedClientAddress() async throws {
        var route = respond("/", "in\n")
        route.access = AccessRules(allow: try AddressList(parsing: ["10.9.9.9/32"]))
        var cfg = config([route])
        cfg.server.trustedProxies = try AddressList(parsing: ["127.0.0.1/32"])
        try await withTestServer(cfg) { (_: Server, port: Int) async throws in
            // From the trusted peer, the rightmost untrusted X-Forwarded-For address is the client.
            #expect(try TestClient.get(port: port, "/", headers: ["X-Forwarded-For": "1.2.3.4, 10.9.9.9"]).status == 200)
            #expect(try TestClient.get(port: port, "/", headers: ["X-Forwarded-For": "10.9.9.9, 1.2.3.4"]).status == 403)
            // From another peer, X-Forwarded-For is not believed.
            #expect(try TestClient.get(port: port, "/", headers: ["X-Forwarded-For": "10.9.9.9"], source: "127.0.0.2").status == 403)
        }
    }

    @Test func rateLimitsPerClientAddressWithRetryAfter() async throws {
        var route = respond("/", "ok\n")
        route.access = AccessRules(rate: RateLimit(requests: 2, per: 60_000_000_000, burst: 2))
        try await withTestServer(config([route])) { (server: Server, port: Int) async throws in
            #expect(try TestClient.get(port: port, "/").status == 200)
            #expect(try TestClient.get(port: port, "/").status == 200)
            let limited = try TestClient.get(port: port, "/")
            #expect(limited.status == 429)
            #expect(Int(limited.header("Retry-After") ?? "") ?? 0 >= 1)
            // Another client address has a bucket of its own.
            #expect(try TestClient.get(port: port, "/", source: "127.0.0.3").status == 200)
            #expect(server.metrics().prometheusText.contains("flaks_access_denied_total{host=\"*\",status=\"429\"} 1"))
        }
    }

    /// The same rules for a client on the IPv6 loopback: the server moved to [::1] by a reload,
    /// `allow` matches ::1/128 (and 127.0.0.0/8 does not), and ::1 has a rate bucket of its own.
    @Test func allowAndRateForAnIPv6Client() async throws {
        func moveToIPv6(_ server: Server) async throws -> Int {
            var v2 = server.currentSite.config
            v2.server.listen = [ListenAddress(host: "::1", port: 0)]
            let reloaded: Bool
            if case .reloaded = server.reload(v2) { reloaded = true } else { reloaded = false }
            try #require(reloaded, "reload to [::1]")
            try await Task.sleep(for: .milliseconds(100))
            return try #require(server.boundAddresses.first?.port)
        }
        func status(_ port: Int) throws -> Int {
            let c = try TestClient(port: port, host: "::1")
            try c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return try c.readResponse().status
        }
        var route = respond("/", "in\n")
        route.access = AccessRules(allow: try AddressList(parsing: ["::1/128"]),
                                   rate: RateLimit(requests: 1, per: 60_000_000_000, burst: 1))
        try await withTestServer(config([route])) { (server: Server, _: Int) async throws in
            let port = try await moveToIPv6(server)
            #expect(try status(port) == 200)
            #expect(try status(port) == 429, "::1's bucket holds one request")
        }
        var v4only = respond("/", "in\n")
        v4only.access = AccessRules(allow: try AddressList(parsing: ["127.0.0.0/8"]))
        try await withTestServer(config([v4only])) { (server: Server, _: Int) async throws in
            #expect(try status(try await moveToIPv6(server)) == 403)
        }
    }

    @Test func anUnreadableHtpasswdFailsTheLoad() throws {
        var route = respond("/", "x")
        route.access = AccessRules(auth: .init(users: "/nonexistent/users.htpasswd"))
        #expect(throws: SiteError.self) { _ = try Server(config: config([route])) }
    }
}
