#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksConfig
import FlaksHandlers
@testable import FlaksServer
import Foundation
import Testing

/// `fastcgi: {service: NAME}`: php-fpm run as a supervised service (its pool listens on the PORT
/// Flaks gives it; ready when the port accepts), PHP requests reach it, a roll moves them to the new
/// instance, and no ready instance is a 503 with Retry-After.
@Suite("FastCGI to a supervised php-fpm", .serialized)
struct FastCGIServiceTests {
    static func setUp() throws -> (dir: String, service: ServiceConfig)? {
        guard let binary = PHPFPM.binary else { return nil }
        let dir = NSTemporaryDirectory() + "flaks-fpmsvc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let root = geteuid() == 0
        try """
            [global]
            error_log = \(dir)/fpm.log
            daemonize = no
            [svc]
            \(root ? "user = root\ngroup = root" : "")
            listen = 127.0.0.1:${PORT}
            clear_env = no
            pm = static
            pm.max_children = 2
            """.write(toFile: dir + "/fpm.conf", atomically: true, encoding: .utf8)
        try #"<?php echo "php ", getenv("VERSION"), " pid ", getmypid(), " via ", $_SERVER["GATEWAY_INTERFACE"], "\n";"#
            .write(toFile: dir + "/hi.php", atomically: true, encoding: .utf8)
        let service = ServiceConfig(name: "php", command: ["php-fpm", "-n", "-F", "-y", dir + "/fpm.conf", "-p", dir] + (root ? ["-R"] : []),
                                    executable: binary, cwd: dir, env: ["VERSION": "1"], readyTimeout: .seconds(10),
                                    stopTimeout: .seconds(5))
        return (dir, service)
    }

    static func config(_ dir: String, _ services: [ServiceConfig]) -> ServerConfig {
        var cfg = FlaksServerTests.config([
            Route(path: "/php/", kind: .fastcgi(FastCGIRoute(responder: .service("php"), root: dir, timeout: .seconds(10)))),
        ])
        cfg.services = services
        cfg.server.drainTimeout = .seconds(5)
        return cfg
    }

    @Test(.enabled(if: PHPFPM.binary != nil)) func phpRequestsReachTheServiceAndFollowARoll() async throws {
        guard let (dir, service) = try Self.setUp() else { return }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await withTestServer(Self.config(dir, [service])) { (server: Server, port: Int) async throws in
            // Requests that come before the first instance is ready: 503 at once, or (once ready) PHP.
            var answer = ""
            for _ in 0..<100 {
                let r = try TestClient.get(port: port, "/php/hi.php")
                if r.status == 200 { answer = r.text; break }
                #expect(r.status == 503 && r.header("Retry-After") != nil)
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(answer.hasPrefix("php 1 pid ") && answer.hasSuffix("via CGI/1.1\n"), "\(answer)")
            var next = server.currentSite.config
            var v2 = service
            v2.env["VERSION"] = "2"
            next.services = [v2]
            guard case .reloaded = server.reload(next) else { Issue.record("reload failed"); return }
            var rolled = false
            for _ in 0..<100 {
                let r = try TestClient.get(port: port, "/php/hi.php")
                #expect(r.status == 200, "no request fails during the roll: \(r.status)")
                if r.text.hasPrefix("php 2 ") { rolled = true; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(rolled)
        }
    }
}
