#if canImport(Glibc)
import Glibc
#endif
import FlaksAccess
import FlaksConfig
import FlaksTLS

/// What `flaks check` verifies beyond the manifest's shape: the files the runtime reads. Each host's
/// certificate and key are loaded and matched (subject, SANs, issuer and expiry printed; an expired
/// certificate, or one that does not cover a host name, is a warning), and every htpasswd file is read.
public enum SiteChecks {
    public struct Outcome: Sendable {
        /// Lines to print (one block per TLS host).
        public var report: [String] = []
        public var warnings: [String] = []
        /// Problems that make the manifest unusable, with file:line:col.
        public var errors: [String] = []
    }

    public static func run(_ config: ServerConfig, now: Int64 = Int64(time(nil))) -> Outcome {
        var out = Outcome()
        for host in config.hosts {
            let place = host.tlsOrigin.map { $0 + ": " } ?? ""
            switch host.tls {
            case .files(let cert, let key)?:
                do {
                    let c = try ServerCertificate.loadPEM(certPath: cert, keyPath: key)
                    out.report.append("tls \(host.names.joined(separator: ", ")):\n" + c.info.description
                        .split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
                    for w in c.warnings(names: host.names, now: now) { out.warnings.append("\(place)warning: tls: \(w)") }
                } catch {
                    out.errors.append("\(place)tls: \(error)")
                }
            case .acme?:
                var line = "tls \(host.names.joined(separator: ", ")): from the ACME CA (\(config.tls.acme?.directory ?? ""))"
                if let c = SiteTLS.storedACMECertificate(host, settings: config.tls.acme) {
                    line += "; in storage:\n" + c.info.description.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
                } else {
                    line += "; none in storage yet: ordered when the server starts"
                }
                out.report.append(line)
            case nil:
                break
            }
            for r in host.routes {
                guard let auth = r.access.auth else { continue }
                do { _ = try Htpasswd.load(path: auth.users) } catch {
                    out.errors.append("\(r.origin.map { $0 + ": " } ?? "")auth.users: \(error)")
                }
            }
        }
        if config.hosts.contains(where: { $0.tls != nil }) && config.server.tlsListen.isEmpty {
            out.warnings.append("warning: hosts have tls but server.tls_listen is empty: no TLS listener")
        }
        return out
    }
}

/// `flaks cert`: a self-signed certificate for local development.
public enum DevelopmentCertificate {
    /// Writes `certPath` (PEM certificate) and `keyPath` (PEM key, mode 0600) for `names`, valid `days`.
    public static func write(names: [String], certPath: String, keyPath: String, days: Int = 365) throws -> String {
        let made = try CertificateFactory.makeSelfSigned(names: names, now: Int64(time(nil)), days: days)
        try writeFile(certPath, made.certificate.pem, mode: 0o644)
        try writeFile(keyPath, made.key.pem, mode: 0o600)
        return made.certificate.info.description
    }

    private static func writeFile(_ path: String, _ text: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        defer { close(fd) }
        _ = fchmod(fd, mode)
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw SystemError("write \(path)", errno: errno) }
            off += n
        }
    }
}
