import FlaksConfig

/// A human-readable listing of a manifest's services, hosts and routes, for `flaks check`.
public enum RouteTable {
    public static func describe(_ config: ServerConfig) -> String {
        var lines: [String] = []
        lines.append("listen: \(config.server.listen.map(\.description).joined(separator: ", "))")
        for s in config.services { lines.append(describe(s)) }
        for host in config.hosts {
            lines.append("host \(host.names.joined(separator: ", "))")
            for r in host.routes {
                let what: String
                switch r.kind {
                case .staticFiles(let s): what = "static \(s.root)"
                case .cgi(let c): what = "cgi \(c.root)"
                case .redirect(let d): what = "redirect \(d.status) -> \(d.target)\(d.keepPath ? " (+path)" : "")"
                case .respond(let p): what = "respond \(p.status) \(p.contentType) (\(p.body.utf8.count) bytes)"
                case .handler(let n): what = "handler \(n)"
                case .proxy(let p):
                    switch p.upstreams {
                    case .addresses(let a): what = "proxy \(a.map(\.description).joined(separator: ", "))"
                    case .service(let name): what = "proxy service \(name)"
                    }
                case .fastcgi(let c):
                    switch c.responder {
                    case .address(let a): what = "fastcgi \(a) root \(c.root)"
                    case .service(let name): what = "fastcgi service \(name) root \(c.root)"
                    }
                }
                lines.append("  \(r.path)  \(what)")
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension RouteTable {
    /// `service hello: /usr/bin/python3 hello.py (cwd /srv/sites/services), 2 instances, ready GET /healthz`.
    static func describe(_ s: ServiceConfig) -> String {
        let argv = ([s.executable] + s.command.dropFirst()).map { a in
            a.isEmpty || a.contains(where: { $0 == " " || $0 == "\"" }) ? "\"\(a)\"" : a
        }.joined(separator: " ")
        var parts = ["\(s.instances) instance\(s.instances == 1 ? "" : "s")",
                     s.ready.map { "ready GET \($0)" } ?? "ready when the port accepts"]
        if s.restart != .always { parts.append("restart \(s.restart.rawValue)") }
        if let log = s.log { parts.append("log \(log)") }
        return "service \(s.name): \(argv) (cwd \(s.cwd)), \(parts.joined(separator: ", "))"
    }
}
