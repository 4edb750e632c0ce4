import Yams

/// The `server`, `limits`, `cgi` and `log` sections. Absent keys keep the type's default.
extension ManifestReader {
    static let serverKeys = ["listen", "backlog", "loops", "threads", "max_connections", "drain_timeout",
                            "idle_release", "trusted_proxies", "tls_listen"]
    static let limitsKeys = ["max_buffer", "max_body", "header_timeout", "body_timeout", "keepalive_timeout",
                             "max_keepalive_requests"]
    static let cgiKeys = ["timeout", "max_processes"]
    static let logKeys = ["access", "format", "level"]

    func server(_ node: Node) -> ServerSettings {
        var s = ServerSettings()
        guard let f = fields(node, "server", keys: Self.serverKeys) else { return s }
        if let n = f["listen"], let v = listen(n, f.path("listen")) { s.listen = v }
        if let n = f["backlog"], let v = int(n, f.path("backlog"), min: 1) { s.backlog = v }
        if let n = f["loops"] {
            if case .scalar(let sc) = n, sc.string == "auto" { s.loops = nil } else {
                let p = f.path("loops")
                if let t = text(n, p, expected: "\"auto\" or an integer >= 1") {
                    if let v = Int(t), v >= 1 { s.loops = v } else { report(n, p, "expected \"auto\" or an integer >= 1, found \"\(t)\"") }
                }
            }
        }
        if let n = f["threads"], let v = int(n, f.path("threads"), min: 1) { s.threads = v }
        if let n = f["max_connections"], let v = int(n, f.path("max_connections"), min: 1) { s.maxConnections = v }
        if let n = f["drain_timeout"], let v = duration(n, f.path("drain_timeout"), allowZero: true) { s.drainTimeout = v }
        if let n = f["idle_release"], let v = duration(n, f.path("idle_release"), allowZero: true) { s.idleRelease = v }
        if let n = f["trusted_proxies"], let v = addressList(n, f.path("trusted_proxies")) { s.trustedProxies = v }
        if let n = f["tls_listen"], let v = listen(n, f.path("tls_listen"), allowEmpty: true) {
            // One address cannot be bound twice, once plain and once for TLS.
            var clean: [ListenAddress] = []
            for (a, (en, ep)) in zip(v, listEntries(n, f.path("tls_listen"))) {
                if s.listen.contains(a) { report(en, ep, "listen address \"\(a)\" is also in server.listen") } else { clean.append(a) }
            }
            s.tlsListen = clean
        }
        return s
    }

    /// A scalar as a list of one, or a list's items (no report: `listen` reported already).
    private func listEntries(_ node: Node, _ path: String) -> [(Node, String)] {
        if case .sequence(let seq) = node { return seq.enumerated().map { ($0.element, "\(path)[\($0.offset)]") } }
        return [(node, path)]
    }

    /// `listen` (and `tls_listen`, which may be empty): one address or a list; duplicates are an
    /// error (the second bind would fail).
    func listen(_ node: Node, _ path: String, allowEmpty: Bool = false) -> [ListenAddress]? {
        let entries: [(Node, String)]
        if case .scalar = node { entries = [(node, path)] } else {
            guard let items = items(node, path) else { return nil }
            entries = items
        }
        if entries.isEmpty && !allowEmpty { report(node, path, "expected at least one listen address"); return nil }
        var out: [ListenAddress] = [], ok = true
        for (n, p) in entries {
            let expected = "\"host:port\" with a numeric host, \"[v6]:port\" or \":port\" (port 0-65535)"
            guard let t = text(n, p, expected: expected) else { ok = false; continue }
            guard let a = ListenAddress(parsing: t) else { report(n, p, "expected \(expected), found \"\(t)\""); ok = false; continue }
            if out.contains(a) { report(n, p, "listen address \"\(a)\" is listed twice"); ok = false; continue }
            out.append(a)
        }
        return ok ? out : nil
    }

    func limits(_ node: Node) -> Limits {
        var l = Limits()
        guard let f = fields(node, "limits", keys: Self.limitsKeys) else { return l }
        if let n = f["max_buffer"], let v = size(n, f.path("max_buffer"), min: 1) { l.maxBuffer = v }
        if let n = f["max_body"], let v = size(n, f.path("max_body")) { l.maxBody = v }
        if let n = f["header_timeout"], let v = duration(n, f.path("header_timeout")) { l.headerTimeout = v }
        if let n = f["body_timeout"], let v = duration(n, f.path("body_timeout")) { l.bodyTimeout = v }
        if let n = f["keepalive_timeout"], let v = duration(n, f.path("keepalive_timeout")) { l.keepaliveTimeout = v }
        if let n = f["max_keepalive_requests"], let v = int(n, f.path("max_keepalive_requests"), min: 1) {
            l.maxKeepaliveRequests = v
        }
        return l
    }

    func cgi(_ node: Node) -> CGISettings {
        var c = CGISettings()
        guard let f = fields(node, "cgi", keys: Self.cgiKeys) else { return c }
        if let n = f["timeout"], let v = duration(n, f.path("timeout")) { c.timeout = v }
        if let n = f["max_processes"], let v = int(n, f.path("max_processes"), min: 1) { c.maxProcesses = v }
        return c
    }

    func log(_ node: Node) -> LogSettings {
        var l = LogSettings()
        guard let f = fields(node, "log", keys: Self.logKeys) else { return l }
        if let n = f["access"], let t = string(n, f.path("access")) {
            switch t {
            case "stdout": l.access = .stdout
            case "stderr": l.access = .stderr
            case "off": l.access = .off
            default: l.access = .file(FileSystem.resolve(t, against: directory))
            }
        }
        if let n = f["format"], let v = choice(n, f.path("format"), [("combined", LogSettings.Format.combined), ("json", .json)]) {
            l.format = v
        }
        if let n = f["level"], let v = choice(n, f.path("level"), [("debug", LogSettings.Level.debug), ("info", .info),
                                                                ("warning", .warning), ("error", .error)]) {
            l.level = v
        }
        return l
    }
}
