import FlaksHTTP
import FlaksRouting
import Yams

/// One route: its path, exactly one kind, the kind's options, and headers.
extension ManifestReader {
    static let kindKeys = ["static", "cgi", "redirect", "respond", "handler", "proxy", "fastcgi"]
    /// Options and the kinds they belong to.
    static let optionOwners: [(key: String, kinds: [String])] = [
        ("index", ["static", "fastcgi"]), ("listing", ["static"]), ("fallback", ["static"]), ("dotfiles", ["static"]),
        ("types", ["static"]),
        ("interpreters", ["cgi"]), ("env", ["cgi", "fastcgi"]), ("pass_authorization", ["cgi"]),
        ("status", ["redirect", "respond"]), ("keep_path", ["redirect"]), ("type", ["respond"]),
        ("root", ["fastcgi"]), ("extensions", ["fastcgi"]), ("front_controller", ["fastcgi"]), ("timeout", ["fastcgi"]),
        ("max_connections", ["fastcgi"]),
    ]
    /// Keys every route kind takes.
    static let commonRouteKeys = ["headers", "headers_always", "compress", "auth", "allow", "rate"]
    static let routeKeys = ["path"] + kindKeys + optionOwners.map(\.key) + commonRouteKeys

    func route(_ node: Node, _ path: String, seen: inout [String: (path: String, source: String)]) -> Route? {
        guard let f = fields(node, path, keys: Self.routeKeys) else { return nil }
        var ok = true

        var routePath: String?
        if let n = f["path"], let p = urlPath(n, f.path("path")) {
            do {
                let pattern = try RoutePattern.parse(p)
                if let first = seen[pattern.shape] {
                    report(n, f.path("path"), first.source == p
                        ? "route path \"\(p)\" is already used by \(first.path)"
                        : "route path \"\(p)\" conflicts with \"\(first.source)\" (\(first.path)): same shape")
                    ok = false
                } else {
                    seen[pattern.shape] = (path, p)
                }
                routePath = p
            } catch {
                report(n, f.path("path"), error.message); ok = false
            }
        } else {
            if !f.has("path") { report(node, path, "missing key \"path\"") }
            ok = false
        }

        let kinds = Self.kindKeys.filter(f.has)
        var kind: String?
        if kinds.count == 1 {
            kind = kinds[0]
            for (key, owners) in Self.optionOwners where f.has(key) && !owners.contains(kinds[0]) {
                report(f.keyNodes[key]?.mark, path,
                       "\"\(key)\" applies only to \(owners.joined(separator: " and ")) routes; this is a \(kinds[0]) route")
                ok = false
            }
        } else {
            let found = kinds.isEmpty ? "none" : kinds.dropLast().joined(separator: ", ") + " and " + kinds[kinds.count - 1]
            report(node, path, "expected exactly one of \(Self.kindKeys.joined(separator: ", ")); found \(found)")
            ok = false
        }

        var headers = HeaderFields(), headersAlways = HeaderFields()
        if let n = f["headers"] {
            if let h = headerFields(n, f.path("headers")) { headers = h } else { ok = false }
        }
        if let n = f["headers_always"] {
            if let h = headerFields(n, f.path("headers_always")) { headersAlways = h } else { ok = false }
        }

        var compress = true
        if let n = f["compress"] { if let v = bool(n, f.path("compress")) { compress = v } else { ok = false } }
        let access = accessRules(f)
        if access == nil { ok = false }

        guard let kind, let kindNode = f[kind], let routeKind = self.kind(kind, kindNode, f) else { return nil }
        guard ok, let routePath, let access else { return nil }
        return Route(path: routePath, kind: routeKind, headers: headers, headersAlways: headersAlways,
                     compress: compress, access: access, origin: position(node))
    }

    /// A `headers:` or `headers_always:` mapping, in document order: names are tokens (RFC 9110
    /// §5.6.2), values are strings without CR, LF or NUL (§5.5). Nil (reported) on any problem.
    func headerFields(_ node: Node, _ path: String) -> HeaderFields? {
        let list = map(node, path, key: { k in
            Self.isToken(k) ? nil : "expected a header name (letters, digits and !#$%&'*+-.^_`|~), found \"\(k)\""
        }, value: { vn, vp -> String? in
            guard let v = self.text(vn, vp, expected: "a header value") else { return nil }
            guard !v.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
                self.report(vn, vp, "a header value must not contain CR, LF or NUL"); return nil
            }
            return v
        })
        guard let list else { return nil }
        var fields = HeaderFields()
        for h in list { fields.add(h.key, h.value) }
        return fields
    }

    private func kind(_ kind: String, _ node: Node, _ f: Fields) -> Route.Kind? {
        switch kind {
        case "static": staticRoute(node, f).map { .staticFiles($0) }
        case "cgi": cgiRoute(node, f).map { .cgi($0) }
        case "redirect": redirectRoute(node, f).map { .redirect($0) }
        case "respond": respondRoute(node, f).map { .respond($0) }
        case "fastcgi": fastcgiRoute(node, f).map { .fastcgi($0) }
        case "proxy": proxyRoute(node, f).map { .proxy($0) }
        default: handlerName(node, f.path("handler")).map { .handler($0) }
        }
    }

    /// `root` must be an existing directory; `what` names it in the message. One that is "/" or a
    /// system directory, or resolves to one, loads with a warning saying what `risk` it runs.
    private func directory(_ node: Node, _ path: String, what: String, risk: String) -> String? {
        guard let dir = filePath(node, path) else { return nil }
        switch FileSystem.kind(of: dir) {
        case .directory:
            if let real = FileSystem.realPath(dir), FileSystem.isSystemDirectory(real) {
                let place = real == "/" ? "the file system root" : "a system directory"
                let resolved = real == dir ? "is \(place)" : "resolves to \"\(real)\", \(place)"
                warn(node, path, "\(what) \"\(dir)\" \(resolved): \(risk)")
            }
            return dir
        case .missing: report(node, path, "\(what) \"\(dir)\" does not exist"); return nil
        case .other: report(node, path, "\(what) \"\(dir)\" is not a directory"); return nil
        }
    }

    private func staticRoute(_ node: Node, _ f: Fields) -> StaticRoute? {
        var ok = true
        let root = directory(node, f.path("static"), what: "static root",
                             risk: "every file the server can read is served to anyone")
        var r = StaticRoute(root: root ?? "")
        if let n = f["index"] { if let v = indexFiles(n, f.path("index")) { r.index = v } else { ok = false } }
        if let n = f["listing"] { if let v = bool(n, f.path("listing")) { r.listing = v } else { ok = false } }
        if let n = f["fallback"] { if let v = urlPath(n, f.path("fallback")) { r.fallback = v } else { ok = false } }
        if let n = f["dotfiles"] { if let v = bool(n, f.path("dotfiles")) { r.dotfiles = v } else { ok = false } }
        if let n = f["types"] {
            let list = map(n, f.path("types"), key: { k in
                let ext = k.hasPrefix(".") ? k.dropFirst() : Substring(k)
                return ext.isEmpty || ext.contains("/") ? "expected a file extension like \"md\", found \"\(k)\"" : nil
            }, value: { string($0, $1) })
            if let list {
                for t in list { r.types[String(t.key.hasPrefix(".") ? t.key.dropFirst() : Substring(t.key)).lowercased()] = t.value }
            } else { ok = false }
        }
        return ok && root != nil ? r : nil
    }

    private func cgiRoute(_ node: Node, _ f: Fields) -> CGIRoute? {
        var ok = true
        let root = directory(node, f.path("cgi"), what: "cgi directory",
                             risk: "any client can run the programs in it")
        var r = CGIRoute(root: root ?? "")
        if let n = f["interpreters"] {
            let list = map(n, f.path("interpreters"), key: { k in
                k.hasPrefix(".") && k.count > 1 ? nil : "expected an extension starting with \".\", found \"\(k)\""
            }, value: { vn, vp -> String? in
                guard let program = self.string(vn, vp) else { return nil }
                return self.interpreter(program, vn, vp)
            })
            if let list { for i in list { r.interpreters[i.key] = i.value } } else { ok = false }
        }
        if let n = f["env"] { if let v = environment(n, f.path("env")) { r.env = v } else { ok = false } }
        if let n = f["pass_authorization"] {
            if let v = bool(n, f.path("pass_authorization")) { r.passAuthorization = v } else { ok = false }
        }
        return ok && root != nil ? r : nil
    }

    /// An interpreter as an absolute path. "bin/php" (with a "/") is relative to the manifest;
    /// a bare "python3" is looked up now, in the PATH of the loading process (its `environment`),
    /// and a name not found there is an error. It must not be left for the runner: posix_spawn
    /// takes a bare name as a path relative to the child's working directory, the script's own,
    /// where an executable named `python3` would run instead.
    private func interpreter(_ program: String, _ node: Node, _ path: String) -> String? {
        if program.contains("/") { return FileSystem.resolve(program, against: directory) }
        let searchPath = environment["PATH"] ?? FileSystem.defaultSearchPath
        guard let found = FileSystem.findExecutable(program, searchPath: searchPath) else {
            report(node, path, "interpreter \"\(program)\" was not found in PATH (\(searchPath)); give an absolute path or install it")
            return nil
        }
        return found
    }

    /// `index: [NAME...]` (or one name): file names, no "/".
    private func indexFiles(_ node: Node, _ path: String) -> [String]? {
        guard let v = stringList(node, path) else { return nil }
        if let bad = v.first(where: { $0.contains("/") }) {
            report(node, path, "expected file names without \"/\", found \"\(bad)\""); return nil
        }
        return v
    }

    /// `env: {NAME: value}`: variable names checked, values expanded, empty values allowed.
    func environment(_ node: Node, _ path: String) -> [String: String]? {
        let list = map(node, path, key: { k in
            EnvironmentSubstitution.isVariableName(Substring(k)) ? nil
                : "expected an environment variable name (letters, digits, \"_\"), found \"\(k)\""
        }, value: { string($0, $1, nonEmpty: false) })
        guard let list else { return nil }
        var env: [String: String] = [:]
        for e in list { env[e.key] = e.value }
        return env
    }

    /// `fastcgi: unix:/path | HOST:PORT | {service: NAME}` and its options (`root` required).
    private func fastcgiRoute(_ node: Node, _ f: Fields) -> FastCGIRoute? {
        var ok = true
        let responder = fastcgiResponder(node, f.path("fastcgi"))
        if responder == nil { ok = false }
        var root: String?
        if let n = f["root"] {
            root = directory(n, f.path("root"), what: "fastcgi root",
                             risk: "every file the server can read is served to anyone, and its scripts run")
            if root == nil { ok = false }
        } else {
            report(f.node, f.path, "missing key \"root\" (the directory holding the scripts, for a fastcgi route)"); ok = false
        }
        var r = FastCGIRoute(responder: responder ?? .service(""), root: root ?? "")
        if let n = f["index"] { if let v = indexFiles(n, f.path("index")) { r.index = v } else { ok = false } }
        if let n = f["extensions"] { if let v = extensions(n, f.path("extensions")) { r.extensions = v } else { ok = false } }
        if let n = f["front_controller"] {
            let p = f.path("front_controller")
            if let v = urlPath(n, p) {
                let segments = v.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
                if v.hasSuffix("/") || segments.contains(where: { $0 == "." || $0 == ".." || $0.isEmpty })
                    || v.contains(where: { $0 == "?" || $0 == "#" }) {
                    report(n, p, "expected the path of a file below the mount, like \"/index.php\", found \"\(v)\""); ok = false
                } else {
                    r.frontController = v
                }
            } else { ok = false }
        }
        if let n = f["env"] { if let v = environment(n, f.path("env")) { r.env = v } else { ok = false } }
        if let n = f["timeout"] { if let v = duration(n, f.path("timeout")) { r.timeout = v } else { ok = false } }
        if let n = f["max_connections"] {
            if let v = int(n, f.path("max_connections"), min: 1) { r.maxConnections = v } else { ok = false }
        }
        return ok ? r : nil
    }

    /// The responder: `unix:/path` (relative to the manifest), `HOST:PORT`, or `{service: NAME}`.
    private func fastcgiResponder(_ node: Node, _ path: String) -> FastCGIRoute.Responder? {
        if case .mapping = node {
            guard let f = fields(node, path, keys: ["service"]) else { return nil }
            guard let n = f["service"] else {
                report(node, path, "missing key \"service\" (the name of a service in \"services\")"); return nil
            }
            return serviceReference(n, f.path("service")).map { .service($0) }
        }
        let expected = "\"unix:/path/to.sock\", \"HOST:PORT\" or {service: NAME}"
        guard let t = text(node, path, expected: expected) else { return nil }
        if t.hasPrefix("unix:") { return unixAddress(t, node, path).map { .address($0) } }
        guard let a = Self.tcpAddress(t) else {
            report(node, path, "expected \(expected) (port 1-65535), found \"\(t)\""); return nil
        }
        return .address(a)
    }

    /// `extensions: [.php, ...]`: each with a leading dot, lowercased, at most once; at least one.
    private func extensions(_ node: Node, _ path: String) -> [String]? {
        let entries: [(Node, String)]
        if case .scalar = node { entries = [(node, path)] } else {
            guard let list = items(node, path) else { return nil }
            entries = list
        }
        if entries.isEmpty { report(node, path, "expected at least one extension, like \".php\""); return nil }
        var out: [String] = [], ok = true
        for (n, p) in entries {
            guard let t = string(n, p) else { ok = false; continue }
            let ext = t.lowercased()
            guard ext.hasPrefix("."), ext.count > 1, !ext.contains("/") else {
                report(n, p, "expected an extension starting with \".\", like \".php\", found \"\(t)\""); ok = false; continue
            }
            if out.contains(ext) { report(n, p, "extension \"\(t)\" is listed twice"); ok = false; continue }
            out.append(ext)
        }
        return ok ? out : nil
    }

    private func redirectRoute(_ node: Node, _ f: Fields) -> RedirectRoute? {
        var ok = true
        let target = string(node, f.path("redirect"))
        var r = RedirectRoute(target: target ?? "")
        if let n = f["status"] {
            let p = f.path("status")
            if let t = text(n, p, expected: "a redirect status 301, 302, 303, 307 or 308") {
                if let code = Int(t), [301, 302, 303, 307, 308].contains(code) { r.status = code } else {
                    report(n, p, "expected a redirect status 301, 302, 303, 307 or 308, found \"\(t)\""); ok = false
                }
            } else { ok = false }
        }
        if let n = f["keep_path"] { if let v = bool(n, f.path("keep_path")) { r.keepPath = v } else { ok = false } }
        return ok && target != nil ? r : nil
    }

    private func respondRoute(_ node: Node, _ f: Fields) -> RespondRoute? {
        var ok = true
        let body = string(node, f.path("respond"), nonEmpty: false)
        var r = RespondRoute(body: body ?? "")
        if let n = f["status"] {
            // A final status only: a 1xx is interim (RFC 9110 §15.2), so the client would keep
            // waiting for the real response and read the body as the next one.
            let p = f.path("status")
            if let t = text(n, p, expected: "a status code from 200 to 599") {
                if let code = Int(t), (200...599).contains(code) { r.status = code } else {
                    report(n, p, "expected a status code from 200 to 599, found \"\(t)\""); ok = false
                }
            } else { ok = false }
        }
        if let n = f["type"] { if let v = string(n, f.path("type")) { r.contentType = v } else { ok = false } }
        return ok && body != nil ? r : nil
    }

    /// A built-in (health, status, metrics) or an app-registered view: only the shape of the
    /// name can be checked at load time.
    private func handlerName(_ node: Node, _ path: String) -> String? {
        let expected = "a handler name (letters, digits, \"_\", \"-\", \".\"; built-ins: health, status, metrics)"
        guard let t = text(node, path, expected: expected) else { return nil }
        let ok = t.first.map { $0 == "_" || ($0.isASCII && $0.isLetter) } ?? false
            && t.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
        guard ok else { report(node, path, "expected \(expected), found \"\(t)\""); return nil }
        return t
    }

    /// RFC 9110 §5.6.2 token.
    static func isToken(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}
