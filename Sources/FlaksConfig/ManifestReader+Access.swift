import FlaksAccess
import Yams

/// Access rules: a route's `auth`, `allow` and `rate`, and `server.trusted_proxies`.
extension ManifestReader {
    static let authKeys = ["realm", "users"]
    static let rateKeys = ["requests", "per", "burst"]

    /// The route's `auth`, `allow` and `rate` (each optional); nil (reported) when one is wrong.
    func accessRules(_ f: Fields) -> AccessRules? {
        var rules = AccessRules(), ok = true
        if let n = f["auth"] { if let v = auth(n, f.path("auth")) { rules.auth = v } else { ok = false } }
        if let n = f["allow"] {
            let p = f.path("allow")
            if let v = addressList(n, p) {
                if v.isEmpty {
                    report(n, p, "expected at least one address or CIDR block (a route nobody may reach: respond with status 403)")
                    ok = false
                } else {
                    rules.allow = v
                }
            } else { ok = false }
        }
        if let n = f["rate"] { if let v = rate(n, f.path("rate")) { rules.rate = v } else { ok = false } }
        return ok ? rules : nil
    }

    /// `auth: {realm, users}`. The htpasswd file is the runtime's to read and check.
    private func auth(_ node: Node, _ path: String) -> AccessRules.Auth? {
        guard let f = fields(node, path, keys: Self.authKeys) else { return nil }
        var ok = true
        var users: String?
        if let n = f["users"] {
            users = filePath(n, f.path("users"))
            if users == nil { ok = false }
        } else {
            report(node, path, "missing key \"users\" (the htpasswd file)"); ok = false
        }
        var realm = "Restricted"
        if let n = f["realm"] { if let v = string(n, f.path("realm")) { realm = v } else { ok = false } }
        guard ok, let users else { return nil }
        return AccessRules.Auth(realm: realm, users: users)
    }

    /// `rate: {requests, per, burst}`: requests and burst at least 1, per above zero; burst
    /// defaults to requests.
    private func rate(_ node: Node, _ path: String) -> RateLimit? {
        guard let f = fields(node, path, keys: Self.rateKeys) else { return nil }
        var ok = true
        var requests: Int?, per: Int64?, burst: Int?
        if let n = f["requests"] {
            requests = int(n, f.path("requests"), min: 1)
            if requests == nil { ok = false }
        } else {
            report(node, path, "missing key \"requests\" (how many requests per \"per\")"); ok = false
        }
        if let n = f["per"] {
            if let d = duration(n, f.path("per")) {
                per = Self.nanoseconds(d)
                if per == nil { report(n, f.path("per"), "expected a duration under 292 years"); ok = false }
            } else { ok = false }
        } else {
            report(node, path, "missing key \"per\" (the period, like 1s or 1m)"); ok = false
        }
        if let n = f["burst"] {
            burst = int(n, f.path("burst"), min: 1)
            if burst == nil { ok = false }
        }
        guard ok, let requests, let per else { return nil }
        guard let limit = RateLimit(requests: requests, per: per, burst: burst ?? requests) else {
            report(node, path, "burst × per ÷ requests must stay under 73 years"); return nil
        }
        return limit
    }

    /// A list of addresses and CIDR blocks (or one as a scalar), each checked with
    /// `CIDR(parsing:)` at its own position: host bits set is an error naming the network meant.
    /// An empty list is returned as such (the caller decides whether that is allowed).
    func addressList(_ node: Node, _ path: String) -> AddressList? {
        let entries: [(Node, String)]
        if case .scalar = node { entries = [(node, path)] } else {
            guard let list = items(node, path) else { return nil }
            entries = list
        }
        var blocks: [CIDR] = [], ok = true
        for (n, p) in entries {
            guard let t = text(n, p, expected: "an IP address or CIDR block like \"10.0.0.0/8\"") else { ok = false; continue }
            do {
                blocks.append(try CIDR(parsing: t))
            } catch {
                report(n, p, error.description); ok = false
            }
        }
        return ok ? AddressList(blocks) : nil
    }

    /// A positive duration in nanoseconds, or nil when it does not fit in an Int64.
    static func nanoseconds(_ d: Duration) -> Int64? {
        let (seconds, attoseconds) = d.components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        let (sum, overflow2) = ns.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? nil : sum
    }
}
