import FlaksConfig

/// A human-readable listing of a manifest's hosts and routes, for `flaks check`.
public enum RouteTable {
    public static func describe(_ config: ServerConfig) -> String {
        var lines: [String] = []
        lines.append("listen: \(config.server.listen.map(\.description).joined(separator: ", "))")
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
