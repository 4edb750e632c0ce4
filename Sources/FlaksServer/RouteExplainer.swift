#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig
import FlaksHandlers
import FlaksHTTP
import FlaksRouting

/// Explains which host and route a request would match and what would serve it, for `flaks route`.
/// Uses the same site builder, normaliser and tree as the server, so it cannot disagree with it.
public enum RouteExplainer {
    /// The explanation text and whether a route matched.
    public static func explain(config: ServerConfig, registry: HandlerRegistry = HandlerRegistry(),
                               method: String, url: String, host: String?) throws(SiteError) -> (text: String, matched: Bool) {
        var reg = registry
        BuiltinHandlers.register(into: &reg, ref: ServerRef())
        let site = try SiteBuilder.build(config, registry: reg, generation: 1)
        var target = url
        var hostHeader = host
        if let r = url.firstRange(of: "://") {
            let rest = url[r.upperBound...]
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            if hostHeader == nil { hostHeader = String(rest[..<slash]) }
            target = slash == rest.endIndex ? "/" : String(rest[slash...])
        }
        guard let m = HTTPMethod(rawValue: method.uppercased()) else {
            return ("\(method): a method the server does not know → 501", false)
        }
        var headers = HeaderFields()
        if let hostHeader { headers.add("Host", hostHeader) }
        let head = RequestHead(method: m, target: target, version: .http1_1, headers: headers)
        let path: String
        do { path = try PathNormalizer.normalize(head.rawPath) } catch {
            return ("\(target): bad path (\(error)) → 400", false)
        }
        var lines = ["request: \(m.rawValue) \(target)  host: \(hostHeader ?? "(none)")  normalised path: \(path)"]
        switch site.tree.lookup(host: hostHeader, path: path) {
        case .unknownHost:
            lines.append("no host matches and there is no default host → 421")
            return (lines.joined(separator: "\n"), false)
        case .notFound:
            lines.append("the host matches but no route does → 404")
            return (lines.joined(separator: "\n"), false)
        case .found(let match):
            let mounted = match.target
            let hostNames = config.hosts[mounted.hostIndex].names.joined(separator: ", ")
            lines.append("host: \(hostNames)")
            lines.append("route: \(match.routePath) (\(mounted.route.kind.keyword))\(mounted.route.origin.map { " declared at \($0)" } ?? "")")
            if !match.remainder.isEmpty { lines.append("rest of path: \(match.remainder)") }
            for p in match.parameters { lines.append("parameter \(p.name) = \(p.value)") }
            let rules = mounted.route.access
            if let allow = rules.allow { lines.append("allow: \(allow) (other clients get 403)") }
            if let rate = rules.rate { lines.append("rate: \(rate.requests) per \(Double(rate.per) / 1e9) s, burst \(rate.burst) (over: 429)") }
            if let auth = rules.auth { lines.append("auth: Basic, realm \"\(auth.realm)\", users \(auth.users)") }
            if let c = mounted.compression {
                lines.append("compression: \(c.encodings.map(\.token).joined(separator: ", ")) (min_size \(c.minSize))")
            } else {
                lines.append("compression: off")
            }
            let request = Request(head: head, path: path, remoteAddress: "127.0.0.1", routePath: match.routePath,
                                  remainder: match.remainder, parameters: match.parameters)
            if let proxy = mounted.proxy {
                lines.append("proxied to: \(proxy.endpoints.map(\.key).joined(separator: ", ")) (\(proxy.route.balance.rawValue))")
                if proxy.route.stripPrefix { lines.append("strip_prefix: the mount path is removed upstream") }
                if let h = proxy.route.health { lines.append("health checks: GET \(h.path) every \(h.interval)") }
                return (lines.joined(separator: "\n"), true)
            }
            if case .handler(let name) = mounted.route.kind {
                lines.append("served by the handler '\(name)'")
                return (lines.joined(separator: "\n"), true)
            }
            switch mounted.handler.handle(request) {
            case .response(let r):
                lines.append("answer: \(r.status)")
                if let loc = r.headers["Location"] { lines.append("redirect to: \(loc)") }
                if let type = r.headers["Content-Type"] { lines.append("content type: \(type)") }
                switch r.body {
                case .file(let f): lines.append("file: \(filePath(f.file.fd)) (\(f.length) bytes)")
                case .parts(let ps): lines.append("\(ps.count) parts (multipart)")
                case .bytes(let b): lines.append("body: \(b.count) bytes")
                case .stream: lines.append("body: streamed")
                case .empty: break
                }
            case .cgi(let inv):
                lines.append("CGI script: \(inv.scriptPath)")
                let env = Dictionary(inv.environment.compactMap { e -> (String, String)? in
                    guard let eq = e.firstIndex(of: "=") else { return nil }
                    return (String(e[..<eq]), String(e[e.index(after: eq)...]))
                }, uniquingKeysWith: { a, _ in a })
                lines.append("SCRIPT_NAME: \(env["SCRIPT_NAME"] ?? "")")
                lines.append("PATH_INFO: \(env["PATH_INFO"] ?? "")")
                lines.append("run as: \(inv.arguments.joined(separator: " "))")
            case .fastcgi(let inv):
                lines.append("FastCGI script: \(inv.scriptPath)")
                let params = Dictionary(inv.params.pairs.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
                lines.append("SCRIPT_NAME: \(params["SCRIPT_NAME"] ?? "")")
                lines.append("PATH_INFO: \(params["PATH_INFO"] ?? "")")
                lines.append("responder: \(inv.responder)")
            case .blocking, .async:
                lines.append("answered by a view function")
            }
            return (lines.joined(separator: "\n"), true)
        }
    }

    /// The path of an open descriptor (through /proc), for showing which file would be sent.
    static func filePath(_ fd: Int32) -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/\(fd)", &buf, buf.count - 1)
        guard n > 0 else { return "fd \(fd)" }
        return buf[0..<n].withUnsafeBufferPointer { p in String(decoding: UnsafeRawBufferPointer(p), as: UTF8.self) }
    }
}
