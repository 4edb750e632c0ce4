import FlaksRouting
import Yams

/// The `hosts` list: names (unique across hosts), routes (unique paths within a host), error pages.
extension ManifestReader {
    static let hostKeys = ["names", "routes", "errors", "tls"]

    func hosts(_ node: Node?, root: Node) -> [HostConfig] {
        guard let node else { report(root, "hosts", "expected at least one host"); return [] }
        guard let list = items(node, "hosts") else { return [] }
        if list.isEmpty { report(node, "hosts", "expected at least one host"); return [] }
        var seenNames: [String: String] = [:]   // canonical name -> key path of first use
        var out: [HostConfig] = []
        for (item, path) in list {
            if let h = host(item, path, seenNames: &seenNames) { out.append(h) }
        }
        return out
    }

    private func host(_ node: Node, _ path: String, seenNames: inout [String: String]) -> HostConfig? {
        guard let f = fields(node, path, keys: Self.hostKeys) else { return nil }
        var ok = true
        var names: [String] = []
        if let n = f["names"] {
            let p = f.path("names")
            let entries: [(Node, String)] = if case .scalar = n { [(n, p)] } else { items(n, p) ?? [] }
            if case .sequence = n, entries.isEmpty { report(n, p, "expected at least one host name"); ok = false }
            for (en, ep) in entries {
                guard let raw = string(en, ep) else { ok = false; continue }
                do {
                    let canonical = try HostName.canonical(raw)
                    if let first = seenNames[canonical] {
                        report(en, ep, "host name \"\(raw)\" is already used by \(first)"); ok = false
                    } else {
                        seenNames[canonical] = ep
                    }
                } catch {
                    report(en, ep, error.message); ok = false
                }
                names.append(raw)
            }
        } else {
            report(node, path, "missing key \"names\" (a list of host names, \"*.suffix\" or \"*\")"); ok = false
        }

        var tls: HostTLS?
        var tlsOrigin: String?
        if let n = f["tls"] {
            tlsOrigin = position(n)
            tls = hostTLS(n, f.path("tls"), names: names)
            if tls == nil { ok = false }
        }

        var routes: [Route] = []
        if let n = f["routes"], let list = items(n, f.path("routes")) {
            var seenPaths: [String: (path: String, source: String)] = [:]   // shape -> first route
            for (item, p) in list {
                if let r = route(item, p, seen: &seenPaths) { routes.append(r) } else { ok = false }
            }
        } else if f.has("routes") { ok = false }

        var errorPages: [Int: String] = [:]
        if let n = f["errors"] {
            let pages = map(n, f.path("errors"), key: { k in
                guard let code = Int(k), (400...599).contains(code) else {
                    return "expected an error status from 400 to 599, found \"\(k)\""
                }
                return nil
            }, value: { urlPath($0, $1) })
            if let pages { for p in pages { errorPages[Int(p.key) ?? 0] = p.value } } else { ok = false }
        }
        return ok ? HostConfig(names: names, routes: routes, errorPages: errorPages, tls: tls, tlsOrigin: tlsOrigin) : nil
    }
}
