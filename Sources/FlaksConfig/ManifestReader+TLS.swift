import Yams

/// The top-level `tls` section, `hosts[].tls`, and the checks between them and `server.tls_listen`.
extension ManifestReader {
    static let tlsKeys = ["min_version", "redirect_http", "hsts", "acme"]
    static let acmeKeys = ["email", "directory", "ca_roots", "storage", "challenges", "renew_before"]
    static let hostTLSKeys = ["cert", "key"]

    func tls(_ node: Node) -> TLSSettings {
        var t = TLSSettings()
        guard let f = fields(node, "tls", keys: Self.tlsKeys) else { return t }
        if let n = f["min_version"],
           let v = choice(n, f.path("min_version"), TLSSettings.Version.allCases.map { ($0.rawValue, $0) }) {
            t.minVersion = v
        }
        if let n = f["redirect_http"], let v = bool(n, f.path("redirect_http")) { t.redirectHTTP = v; redirectHTTPNode = n }
        if let n = f["hsts"], let v = duration(n, f.path("hsts"), allowZero: true) {
            if v.components.attoseconds != 0 {
                report(n, f.path("hsts"), "expected whole seconds (max-age counts seconds), found \"\(Units.format(duration: v))\"")
            } else {
                t.hsts = v
            }
        }
        if let n = f["acme"] { t.acme = acme(n, f.path("acme")) }
        return t
    }

    private func acme(_ node: Node, _ path: String) -> ACMESettings? {
        guard let f = fields(node, path, keys: Self.acmeKeys) else { return nil }
        var a = ACMESettings()
        if let n = f["email"], let v = string(n, f.path("email")) {
            let parts = v.split(separator: "@", omittingEmptySubsequences: false)
            if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !v.contains(where: { $0 == " " || $0.isNewline || $0 == "," }) {
                a.email = v
            } else {
                report(n, f.path("email"), "expected an email address like \"ops@example.test\", found \"\(v)\"")
            }
        }
        if let n = f["directory"], let v = string(n, f.path("directory")) {
            // RFC 8555 §6.1: the ACME server is reached over HTTPS only.
            if v.lowercased().hasPrefix("https://"), v.count > "https://".count {
                a.directory = v
            } else {
                report(n, f.path("directory"), "expected the https:// URL of an ACME directory (RFC 8555 §7.1.1), found \"\(v)\"")
            }
        }
        if let n = f["ca_roots"], let v = filePath(n, f.path("ca_roots")) { a.caRoots = v }
        if let n = f["storage"], let v = filePath(n, f.path("storage")) { a.storage = v }
        if let n = f["challenges"], let v = challenges(n, f.path("challenges")) { a.challenges = v }
        if let n = f["renew_before"], let v = duration(n, f.path("renew_before")) { a.renewBefore = v }
        return a
    }

    /// `challenges`: a non-empty subset of http-01, tls-alpn-01, each once.
    private func challenges(_ node: Node, _ path: String) -> [ACMESettings.Challenge]? {
        let entries: [(Node, String)]
        if case .scalar = node { entries = [(node, path)] } else {
            guard let list = items(node, path) else { return nil }
            entries = list
        }
        if entries.isEmpty { report(node, path, "expected at least one challenge type (http-01, tls-alpn-01)"); return nil }
        var out: [ACMESettings.Challenge] = [], ok = true
        for (n, p) in entries {
            guard let c = choice(n, p, ACMESettings.Challenge.allCases.map { ($0.rawValue, $0) }) else { ok = false; continue }
            if out.contains(c) { report(n, p, "challenge \"\(c.rawValue)\" is listed twice"); ok = false; continue }
            out.append(c)
        }
        return ok ? out : nil
    }

    /// A host's `tls`: `acme`, or `{cert, key}` (paths resolved, files left to the runtime).
    /// `names` are the host's names as written: `acme` cannot cover a wildcard or `*`.
    func hostTLS(_ node: Node, _ path: String, names: [String]) -> HostTLS? {
        if case .scalar(let s) = node, !isNull(s) {
            guard let t = text(node, path, expected: "\"acme\" or a mapping with cert and key") else { return nil }
            guard t == "acme" else {
                report(node, path, "expected \"acme\" or a mapping with cert and key, found \"\(t)\""); return nil
            }
            var ok = true
            for name in names where name.hasPrefix("*") {
                if name == "*" {
                    report(node, path, "tls: acme cannot cover the default host \"*\": it has no name to order a certificate for")
                } else {
                    report(node, path, "tls: acme cannot cover \"\(name)\": a wildcard certificate needs the DNS-01 challenge, which is not supported")
                }
                ok = false
            }
            guard ok else { return nil }
            hostTLSUses.append((.acme, node, path))
            return .acme
        }
        guard let f = fields(node, path, keys: Self.hostTLSKeys, what: "\"acme\" or a mapping with cert and key") else { return nil }
        var cert: String?, key: String?
        if let n = f["cert"] { cert = filePath(n, f.path("cert")) } else {
            report(node, path, "missing key \"cert\" (the PEM certificate chain)")
        }
        if let n = f["key"] { key = filePath(n, f.path("key")) } else {
            report(node, path, "missing key \"key\" (the PEM private key)")
        }
        guard let cert, let key else { return nil }
        let tls = HostTLS.files(cert: cert, key: key)
        hostTLSUses.append((tls, node, path))
        return tls
    }

    /// Once everything is read: `tls: acme` needs `tls.acme.storage`; a host with `tls` but no
    /// `server.tls_listen` (or `redirect_http` without it) loads with a warning.
    func checkTLS(settings: TLSSettings, tlsListen: [ListenAddress]) {
        for use in hostTLSUses {
            if use.tls == .acme && settings.acme?.storage == nil {
                report(use.node, use.path, "tls: acme needs tls.acme.storage (the directory for the account key and certificates)")
            }
            if tlsListen.isEmpty {
                warn(use.node, use.path, "the host has tls but server.tls_listen is empty: it is served over plain HTTP only")
            }
        }
        if settings.redirectHTTP && tlsListen.isEmpty, let redirectNode = redirectHTTPNode {
            warn(redirectNode, "tls.redirect_http", "redirect_http does nothing without server.tls_listen (there is no https port to send to)")
        }
    }
}
