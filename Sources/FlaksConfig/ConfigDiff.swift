/// A human summary of what a reload changed, for the reload log line.
extension ServerConfig {
    /// One line per change: listen addresses, other server settings, limits (field by field),
    /// cgi, log, hosts added or removed (named by their first name), and per host the routes
    /// added, removed or changed (by path; where a route is declared does not count) plus
    /// changed names or error pages. Empty when nothing changed.
    public func changes(from old: ServerConfig) -> [String] {
        var out: [String] = []
        if server.listen != old.server.listen {
            out.append("listen: \(list(old.server.listen)) -> \(list(server.listen))")
        }
        var s = server, o = old.server
        s.listen = []; o.listen = []
        if s != o { out.append(contentsOf: fieldChanges("server", [
            ("backlog", o.backlog, s.backlog), ("loops", o.loops.map(String.init) ?? "auto", s.loops.map(String.init) ?? "auto"),
            ("threads", o.threads, s.threads), ("max_connections", o.maxConnections, s.maxConnections),
            ("drain_timeout", Units.format(duration: o.drainTimeout), Units.format(duration: s.drainTimeout)),
            ("idle_release", Units.format(duration: o.idleRelease), Units.format(duration: s.idleRelease))])) }
        let l = limits, ol = old.limits
        out.append(contentsOf: fieldChanges("limits", [
            ("max_buffer", size(ol.maxBuffer), size(l.maxBuffer)), ("max_body", size(ol.maxBody), size(l.maxBody)),
            ("header_timeout", time(ol.headerTimeout), time(l.headerTimeout)),
            ("body_timeout", time(ol.bodyTimeout), time(l.bodyTimeout)),
            ("keepalive_timeout", time(ol.keepaliveTimeout), time(l.keepaliveTimeout)),
            ("max_keepalive_requests", ol.maxKeepaliveRequests, l.maxKeepaliveRequests)]))
        out.append(contentsOf: fieldChanges("cgi", [
            ("timeout", time(old.cgi.timeout), time(cgi.timeout)), ("max_processes", old.cgi.maxProcesses, cgi.maxProcesses)]))
        if log != old.log { out.append("log settings changed") }

        let oldHosts = Dictionary(old.hosts.map { ($0.names.first ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        let newHosts = Dictionary(hosts.map { ($0.names.first ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        for h in old.hosts where newHosts[h.names.first ?? ""] == nil {
            out.append("host removed: \(h.names.first ?? "")")
        }
        for h in hosts {
            let name = h.names.first ?? ""
            guard let before = oldHosts[name] else { out.append("host added: \(name)"); continue }
            if h.names != before.names { out.append("host \(name): names \(before.names) -> \(h.names)") }
            if h.errorPages != before.errorPages { out.append("host \(name): error pages changed") }
            out.append(contentsOf: routeChanges(host: name, old: before.routes, new: h.routes))
        }
        return out
    }

    private func routeChanges(host: String, old: [Route], new: [Route]) -> [String] {
        var out: [String] = []
        let before = Dictionary(old.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        for r in old where after[r.path] == nil { out.append("host \(host): route removed \(r.path)") }
        for r in new {
            guard let b = before[r.path] else { out.append("host \(host): route added \(r.path)"); continue }
            if b.kind != r.kind || b.headers != r.headers || b.headersAlways != r.headersAlways {
                out.append("host \(host): route changed \(r.path)")
            }
        }
        return out
    }

    private func size(_ b: Int) -> String { Units.format(size: b) }
    private func time(_ d: Duration) -> String { Units.format(duration: d) }

    private func list(_ a: [ListenAddress]) -> String { a.map(\.description).joined(separator: ", ") }

    private func fieldChanges(_ section: String, _ fields: [(String, any CustomStringConvertible & Equatable,
                                                              any CustomStringConvertible & Equatable)]) -> [String] {
        fields.compactMap { name, a, b in
            a.description == b.description ? nil : "\(section).\(name): \(a) -> \(b)"
        }
    }
}
