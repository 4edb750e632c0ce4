import FlaksACME
import FlaksConfig
import FlaksTLS

/// A site's TLS: the certificates of its hosts (loaded and checked at load time: a key that does not
/// match its certificate or an unreadable file makes the manifest fail, and the old site keeps
/// serving), the OpenSSL context the TLS listeners take sessions from, and the policy fields
/// (`hsts`, `redirect_http`). Connections keep the context they were accepted with, so a reload
/// changes the certificates of new handshakes only.
final class SiteTLS: Sendable {
    let context: TLSServerContext
    let store: CertificateStore
    /// Manifest host indices that have `tls`.
    let tlsHosts: Set<Int>
    /// `Strict-Transport-Security: max-age=N\r\n` when `hsts` is more than 0.
    let hstsField: [UInt8]?
    /// `redirect_http` and the port the redirect names (the first `tls_listen`; nil: 443).
    let redirectHTTP: Bool
    let httpsPort: Int?

    init(context: TLSServerContext, store: CertificateStore, tlsHosts: Set<Int>, hstsField: [UInt8]?,
         redirectHTTP: Bool, httpsPort: Int?) {
        self.context = context; self.store = store; self.tlsHosts = tlsHosts; self.hstsField = hstsField
        self.redirectHTTP = redirectHTTP; self.httpsPort = httpsPort
    }

    /// The TLS of `config`, or nil when no host has `tls`. Reads every certificate and key.
    /// `hostOrigins`: where each host's `tls` key is, for the error message.
    static func build(_ config: ServerConfig, tickets: TicketKeyRing) throws(SiteError) -> SiteTLS? {
        var hosts: [CertificateStore.Host] = []
        var errors: [String] = []
        var tlsHosts: Set<Int> = []
        for (i, host) in config.hosts.enumerated() {
            guard let tls = host.tls else { continue }
            tlsHosts.insert(i)
            switch tls {
            case .files(let cert, let key):
                do {
                    let c = try ServerCertificate.loadPEM(certPath: cert, keyPath: key)
                    hosts.append(CertificateStore.Host(index: i, names: host.names, certificate: c))
                } catch {
                    errors.append("\(host.tlsOrigin ?? "hosts[\(i)]"): tls (\(host.names.joined(separator: ", "))): \(error)")
                }
            case .acme:
                // A certificate in storage (an earlier run, or a replica) serves at once, with no
                // new order; otherwise the ACME executor orders one and until then these names'
                // handshakes fail (docs/acme.md). An unreadable or half-written one counts as none.
                hosts.append(CertificateStore.Host(index: i, names: host.names,
                                                   certificate: storedACMECertificate(host, settings: config.tls.acme)))
            }
        }
        if !errors.isEmpty { throw SiteError(messages: errors) }
        guard !hosts.isEmpty else { return nil }
        let store: CertificateStore
        do { store = try CertificateStore(hosts: hosts) } catch { throw SiteError(messages: ["tls: \(error)"]) }
        let policy = TLSPolicy(minVersion: config.tls.minVersion == .tls13 ? .tls13 : .tls12)
        let context: TLSServerContext
        do { context = try TLSServerContext(policy: policy, store: store, tickets: tickets) } catch {
            throw SiteError(messages: ["tls: \(error)"])
        }
        let seconds = config.tls.hsts.components.seconds
        let hsts = seconds > 0 ? Array("Strict-Transport-Security: max-age=\(seconds)\r\n".utf8) : nil
        let port = config.server.tlsListen.first?.port
        return SiteTLS(context: context, store: store, tlsHosts: tlsHosts, hstsField: hsts,
                       redirectHTTP: config.tls.redirectHTTP, httpsPort: port == 443 ? nil : port)
    }

    /// The certificate `tls.acme.storage` holds for an ACME host (by its first name), if any.
    static func storedACMECertificate(_ host: HostConfig, settings: ACMESettings?) -> ServerCertificate? {
        guard let root = settings?.storage, let first = host.names.first else { return nil }
        guard case .found(let stored) = try? ACMEStorage(root: root).loadCertificate(name: ACMEManager.key(first)) else { return nil }
        return stored.certificate
    }
}
