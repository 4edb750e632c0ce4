/// A human summary of what a reload changed, for the reload log line.
extension ServerConfig {
    /// One line per change: listen and tls_listen addresses, other server settings, limits (field
    /// by field), cgi, log, tls and tls.acme (field by field), compress, services added, removed
    /// or changed (by name, with the keys that changed), hosts added or removed (named by their
    /// first name), and per host the routes added, removed or changed (by path; any kind, proxy and
    /// fastcgi included, and their access rules and compress switch; where a route is declared
    /// does not count) plus changed names, error pages or tls. Empty when nothing changed.
    public func changes(from old: ServerConfig) -> [String] {
        var out: [String] = []
        if server.listen != old.server.listen {
            out.append("listen: \(list(old.server.listen)) -> \(list(server.listen))")
        }
        if server.tlsListen != old.server.tlsListen {
            out.append("tls_listen: \(list(old.server.tlsListen)) -> \(list(server.tlsListen))")
        }
        var s = server, o = old.server
        s.listen = []; o.listen = []; s.tlsListen = []; o.tlsListen = []
        if s != o { out.append(contentsOf: fieldChanges("server", [
            ("backlog", o.backlog, s.backlog), ("loops", o.loops.map(String.init) ?? "auto", s.loops.map(String.init) ?? "auto"),
            ("threads", o.threads, s.threads), ("max_connections", o.maxConnections, s.maxConnections),
            ("drain_timeout", Units.format(duration: o.drainTimeout), Units.format(duration: s.drainTimeout)),
            ("idle_release", Units.format(duration: o.idleRelease), Units.format(duration: s.idleRelease)),
            ("trusted_proxies", o.trustedProxies.description, s.trustedProxies.description)])) }
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
        out.append(contentsOf: tlsChanges(old: old.tls, new: tls))
        out.append(contentsOf: fieldChanges("compress", [
            ("encodings", "[" + old.compress.encodings.map(\.rawValue).joined(separator: ", ") + "]",
             "[" + compress.encodings.map(\.rawValue).joined(separator: ", ") + "]"),
            ("min_size", size(old.compress.minSize), size(compress.minSize)),
            ("types", "[" + old.compress.types.joined(separator: ", ") + "]", "[" + compress.types.joined(separator: ", ") + "]")]))
        out.append(contentsOf: serviceChanges(old: old.services, new: services))

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
            if h.tls != before.tls { out.append("host \(name): tls \(describe(before.tls)) -> \(describe(h.tls))") }
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
            var was = b, now = r
            was.origin = nil; now.origin = nil
            if was != now { out.append("host \(host): route changed \(r.path)") }
        }
        return out
    }

    private func tlsChanges(old: TLSSettings, new: TLSSettings) -> [String] {
        var out = fieldChanges("tls", [
            ("min_version", old.minVersion.rawValue, new.minVersion.rawValue),
            ("redirect_http", old.redirectHTTP, new.redirectHTTP), ("hsts", time(old.hsts), time(new.hsts))])
        switch (old.acme, new.acme) {
        case (nil, nil): break
        case (nil, .some): out.append("tls.acme added")
        case (.some, nil): out.append("tls.acme removed")
        case (let a?, let b?):
            let challenges = { (c: [ACMESettings.Challenge]) in "[" + c.map(\.rawValue).joined(separator: ", ") + "]" }
            out.append(contentsOf: fieldChanges("tls.acme", [
                ("email", a.email ?? "none", b.email ?? "none"), ("directory", a.directory, b.directory),
                ("ca_roots", a.caRoots ?? "none", b.caRoots ?? "none"), ("storage", a.storage ?? "none", b.storage ?? "none"),
                ("challenges", challenges(a.challenges), challenges(b.challenges)),
                ("renew_before", time(a.renewBefore), time(b.renewBefore))]))
        }
        return out
    }

    /// Services by name: removed, added, and changed with the keys that differ (a changed
    /// service is rolled; an unchanged one keeps its processes).
    private func serviceChanges(old: [ServiceConfig], new: [ServiceConfig]) -> [String] {
        var out: [String] = []
        let before = Dictionary(old.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for s in old where after[s.name] == nil { out.append("service removed: \(s.name)") }
        for s in new {
            guard let b = before[s.name] else { out.append("service added: \(s.name)"); continue }
            guard b != s else { continue }
            let keys: [(String, Bool)] = [
                ("command", b.command != s.command || b.executable != s.executable), ("cwd", b.cwd != s.cwd),
                ("env", b.env != s.env), ("instances", b.instances != s.instances), ("ready", b.ready != s.ready),
                ("ready_timeout", b.readyTimeout != s.readyTimeout), ("restart", b.restart != s.restart),
                ("stop_signal", b.stopSignal != s.stopSignal), ("stop_timeout", b.stopTimeout != s.stopTimeout),
                ("log", b.log != s.log)]
            out.append("service changed: \(s.name) (\(keys.filter(\.1).map(\.0).joined(separator: ", ")))")
        }
        return out
    }

    private func describe(_ tls: HostTLS?) -> String {
        switch tls {
        case nil: "none"
        case .acme?: "acme"
        case .files(let cert, let key)?: "cert \(cert), key \(key)"
        }
    }

    private func size(_ b: Int) -> String { Units.format(size: b) }
    private func time(_ d: Duration) -> String { Units.format(duration: d) }

    private func list(_ a: [ListenAddress]) -> String { a.isEmpty ? "none" : a.map(\.description).joined(separator: ", ") }

    private func fieldChanges(_ section: String, _ fields: [(String, any CustomStringConvertible & Equatable,
                                                              any CustomStringConvertible & Equatable)]) -> [String] {
        fields.compactMap { name, a, b in
            a.description == b.description ? nil : "\(section).\(name): \(a) -> \(b)"
        }
    }
}
