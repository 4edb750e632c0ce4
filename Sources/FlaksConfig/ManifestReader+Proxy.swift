import FlaksHTTP
import Yams

/// The `proxy:` route kind: a URL, or a mapping with `to` (or `service`) and the options.
extension ManifestReader {
    static let proxyKeys = ["to", "service", "balance", "strip_prefix", "host", "request_headers", "connect_timeout",
                            "timeout", "keepalive", "keepalive_timeout", "max_connections", "health", "fail_timeout",
                            "websocket", "tunnel_timeout"]
    static let healthKeys = ["path", "interval", "timeout", "fails", "passes"]
    /// Fields `request_headers` may not set: the framing and hop-by-hop fields Flaks writes itself
    /// for every request (RFC 9110 §7.6.1, RFC 9112 §6), and Host (the `host` key's job).
    static let reservedRequestFields = ["content-length", "transfer-encoding", "connection", "keep-alive", "te",
                                        "trailer", "upgrade", "proxy-connection", "host"]

    func proxyRoute(_ node: Node, _ f: Fields) -> ProxyRoute? {
        let path = f.path("proxy")
        guard case .mapping = node else {
            return upstreamURL(node, path).map { ProxyRoute(upstreams: .addresses([$0])) }
        }
        guard let p = fields(node, path, keys: Self.proxyKeys) else { return nil }
        var ok = true
        var upstreams: ProxyRoute.Upstreams?
        switch (p["to"], p["service"]) {
        case (let to?, nil):
            upstreams = upstreamList(to, p.path("to")).map { .addresses($0) }
        case (nil, let s?):
            upstreams = serviceReference(s, p.path("service")).map { .service($0) }
        case (.some, .some):
            report(node, path, "expected either \"to\" or \"service\", not both")
        case (nil, nil):
            report(node, path, "missing key \"to\" (upstream URLs) or \"service\" (the name of a service in \"services\")")
        }
        if upstreams == nil { ok = false }
        var r = ProxyRoute(upstreams: upstreams ?? .addresses([]))
        if let n = p["balance"] {
            if let v = choice(n, p.path("balance"), ProxyRoute.Balance.allCases.map { ($0.rawValue, $0) }) { r.balance = v } else { ok = false }
        }
        if let n = p["strip_prefix"] { if let v = bool(n, p.path("strip_prefix")) { r.stripPrefix = v } else { ok = false } }
        if let n = p["host"] { if let v = upstreamHost(n, p.path("host")) { r.host = v } else { ok = false } }
        if let n = p["request_headers"] {
            let hp = p.path("request_headers")
            if let v = headerFields(n, hp) {
                for field in v where Self.reservedRequestFields.contains(field.name.lowercased()) {
                    let why = field.name.lowercased() == "host" ? "set it with the proxy's \"host\" key"
                        : "Flaks sets it for each request"
                    report(n, hp, "\"\(field.name)\" cannot be set in request_headers: \(why)"); ok = false
                }
                r.requestHeaders = v
            } else { ok = false }
        }
        if let n = p["connect_timeout"] { if let v = duration(n, p.path("connect_timeout")) { r.connectTimeout = v } else { ok = false } }
        if let n = p["timeout"] { if let v = duration(n, p.path("timeout")) { r.timeout = v } else { ok = false } }
        if let n = p["keepalive"] { if let v = int(n, p.path("keepalive")) { r.keepalive = v } else { ok = false } }
        if let n = p["keepalive_timeout"] {
            if let v = duration(n, p.path("keepalive_timeout")) { r.keepaliveTimeout = v } else { ok = false }
        }
        if let n = p["max_connections"] { if let v = int(n, p.path("max_connections")) { r.maxConnections = v } else { ok = false } }
        if let n = p["health"] { if let v = healthCheck(n, p.path("health")) { r.health = v } else { ok = false } }
        if let n = p["fail_timeout"] {
            if let v = duration(n, p.path("fail_timeout"), allowZero: true) { r.failTimeout = v } else { ok = false }
        }
        if let n = p["websocket"] { if let v = bool(n, p.path("websocket")) { r.websocket = v } else { ok = false } }
        if let n = p["tunnel_timeout"] {
            if let v = duration(n, p.path("tunnel_timeout"), allowZero: true) { r.tunnelTimeout = v } else { ok = false }
        }
        return ok ? r : nil
    }

    /// `to`: one URL or a non-empty list of them, each at most once.
    private func upstreamList(_ node: Node, _ path: String) -> [UpstreamAddress]? {
        let entries: [(Node, String)]
        if case .scalar = node { entries = [(node, path)] } else {
            guard let list = items(node, path) else { return nil }
            entries = list
        }
        if entries.isEmpty { report(node, path, "expected at least one upstream URL"); return nil }
        var out: [UpstreamAddress] = [], ok = true
        for (n, p) in entries {
            guard let a = upstreamURL(n, p) else { ok = false; continue }
            if out.contains(a) { report(n, p, "upstream \"\(a)\" is listed twice"); ok = false; continue }
            out.append(a)
        }
        return ok ? out : nil
    }

    /// `http://HOST[:PORT]` (port 80 when left out; a lone trailing "/" is allowed) or `unix:/path`.
    /// No path part (the request's own target is sent), no https (upstreams speak plain HTTP/1.1).
    func upstreamURL(_ node: Node, _ path: String) -> UpstreamAddress? {
        let expected = "\"http://HOST:PORT\" or \"unix:/path/to.sock\""
        guard let t = text(node, path, expected: expected) else { return nil }
        if t.hasPrefix("unix:") { return unixAddress(t, node, path) }
        let lower = t.lowercased()
        if lower.hasPrefix("https://") {
            report(node, path, "https upstreams are not supported: Flaks speaks plain HTTP/1.1 to upstreams; use \"http://\" (found \"\(t)\")")
            return nil
        }
        guard lower.hasPrefix("http://") else { report(node, path, "expected \(expected), found \"\(t)\""); return nil }
        var authority = Substring(t.dropFirst("http://".count))
        if let cut = authority.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
            let rest = authority[cut...]
            guard rest == "/" else {
                report(node, path, "a proxy URL has no path part (the request's own path is sent upstream); found \"\(rest)\" in \"\(t)\"")
                return nil
            }
            authority = authority[..<cut]
        }
        guard let a = Self.tcpAddress(String(authority), defaultPort: 80) else {
            report(node, path, "expected \(expected) (port 1-65535), found \"\(t)\""); return nil
        }
        return a
    }

    /// `host`: "" or a host name / IP literal with an optional port, as a Host field value
    /// (RFC 9110 §7.2); kept as written.
    private func upstreamHost(_ node: Node, _ path: String) -> String? {
        let expected = "a host with an optional port, like \"app.internal\" or \"app.internal:8080\""
        guard let t = text(node, path, expected: expected) else { return nil }
        guard t.isEmpty || Self.tcpAddress(t, defaultPort: 80) != nil else {
            report(node, path, "expected \(expected), found \"\(t)\""); return nil
        }
        return t
    }

    /// `health: {path, interval, timeout, fails, passes}`; `path` is required.
    private func healthCheck(_ node: Node, _ path: String) -> ProxyRoute.HealthCheck? {
        guard let f = fields(node, path, keys: Self.healthKeys) else { return nil }
        var ok = true
        var checkPath: String?
        if let n = f["path"] {
            checkPath = urlPath(n, f.path("path"))
            if checkPath == nil { ok = false }
        } else {
            report(node, path, "missing key \"path\" (what the health check requests, like /healthz)"); ok = false
        }
        var h = ProxyRoute.HealthCheck(path: checkPath ?? "/")
        if let n = f["interval"] { if let v = duration(n, f.path("interval")) { h.interval = v } else { ok = false } }
        if let n = f["timeout"] { if let v = duration(n, f.path("timeout")) { h.timeout = v } else { ok = false } }
        if let n = f["fails"] { if let v = int(n, f.path("fails"), min: 1) { h.fails = v } else { ok = false } }
        if let n = f["passes"] { if let v = int(n, f.path("passes"), min: 1) { h.passes = v } else { ok = false } }
        return ok ? h : nil
    }
}
