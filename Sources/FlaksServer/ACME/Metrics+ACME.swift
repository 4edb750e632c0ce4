import FlaksACME

/// The ACME families of `metrics` and the `acme` object of `status` (config-schema.md: each
/// certificate's names, issuer, expiry and next renewal).
extension MetricsSnapshot {
    /// Prometheus text of the ACME hosts (only when there are some).
    var acmeText: String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func label(_ r: ACMEHostReport) -> String { "host=\"\(Self.escape(r.host))\"" }
        family("flaks_acme_certificate_not_after_seconds", "gauge", "Expiry (Unix time) of the certificate an ACME host serves; absent before the first.")
        for r in acme { if let t = r.status.notAfter { out += "flaks_acme_certificate_not_after_seconds{\(label(r))} \(t)\n" } }
        family("flaks_acme_next_attempt_seconds", "gauge", "When (Unix time) the next order for an ACME host is due.")
        for r in acme { out += "flaks_acme_next_attempt_seconds{\(label(r))} \(r.status.nextAttempt)\n" }
        family("flaks_acme_failures", "gauge", "Consecutive failed orders of an ACME host since its last certificate.")
        for r in acme { out += "flaks_acme_failures{\(label(r))} \(r.status.failures)\n" }
        family("flaks_acme_orders_total", "counter", "ACME orders since the server started, by result.")
        for r in acme {
            out += "flaks_acme_orders_total{\(label(r)),result=\"issued\"} \(r.issued)\n"
            out += "flaks_acme_orders_total{\(label(r)),result=\"failed\"} \(r.failed)\n"
        }
        return out
    }

    /// `"acme":{"a.test":{"names":[…],"issuer":…,"not_before":…,"not_after":…,"next_attempt":…,
    /// "ordering":false,"failures":0,"last_error":null,"orders":{"issued":1,"failed":0}}}`;
    /// times are Unix seconds, null when unknown.
    var acmeJSON: String {
        func string(_ s: String?) -> String { s.map { "\"\(escapeJSON($0))\"" } ?? "null" }
        func number(_ n: Int64?) -> String { n.map(String.init) ?? "null" }
        let hosts = acme.map { r in
            let s = r.status
            return "\"\(escapeJSON(r.host))\":{\"names\":[\(s.names.map { string($0) }.joined(separator: ","))],"
                + "\"issuer\":\(string(s.issuer)),\"not_before\":\(number(s.notBefore)),\"not_after\":\(number(s.notAfter)),"
                + "\"next_attempt\":\(s.nextAttempt),\"ordering\":\(s.ordering),\"failures\":\(s.failures),"
                + "\"last_error\":\(string(s.lastError)),\"ari_start\":\(number(s.ariStart)),\"ari_end\":\(number(s.ariEnd)),"
                + "\"orders\":{\"issued\":\(r.issued),\"failed\":\(r.failed)}}"
        }
        return "{" + hosts.joined(separator: ",") + "}"
    }
}
