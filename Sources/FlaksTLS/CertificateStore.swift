import FlaksRouting
import FlaksSync

/// The certificates of the hosts that have `tls`, chosen by SNI.
///
/// Selection uses FlaksRouting's `HostTable`, the matcher that routes Host headers: an exact name,
/// else the longest `*.suffix` wildcard, else the host named `*` (config-schema.md "tls"). A
/// client with no SNI or an unknown name gets the `*` host if it has `tls`, else the first host
/// with `tls`. Matching SNI and Host the same way is what makes the 421 rule
/// (`isMisdirected`) consistent: a name picks the same host in both.
///
/// The name table is fixed for the store's life (a reload builds a new store); one host's
/// certificate can be replaced at any time (`replace`, for an ACME certificate issued now) while
/// other threads handshake: each handshake takes the current value under the lock once, and an
/// `SSL` keeps its own references, so open connections are not affected.
public final class CertificateStore: Sendable {
    /// One host with `tls`, as the manifest gives it.
    public struct Host: Sendable {
        /// The host's position in the manifest's `hosts` (what the route tree resolves a Host header to).
        public var index: Int
        /// The host's manifest names (exact, `*.suffix`, `*`).
        public var names: [String]
        /// nil: no certificate yet (an ACME host before its first issue); its names then fail the
        /// handshake rather than get another host's certificate.
        public var certificate: ServerCertificate?

        public init(index: Int, names: [String], certificate: ServerCertificate?) {
            self.index = index; self.names = names; self.certificate = certificate
        }
    }

    /// What a handshake chose.
    public struct Selection: Sendable {
        /// Manifest index of the host whose certificate this is.
        public let host: Int
        /// The host's first name, canonical: identifies the host in session tickets across reloads
        /// (indexes may shift when hosts are added).
        public let identity: String
        /// nil when the host has no certificate yet.
        public let certificate: ServerCertificate?
    }

    private struct Slot: Sendable {
        var host: Int
        var names: [String]
        var identity: String
    }

    private let table: HostTable
    private let slots: [Slot]
    private let certificates: Locked<[ServerCertificate?]>        // any thread; by slot
    private let challenges: Locked<[String: ServerCertificate]>   // any thread; by canonical name

    /// Builds the table. Throws for a bad or repeated name (the manifest loader has normally
    /// rejected those already) and for two entries with the same host index.
    public init(hosts: [Host]) throws(RouteError) {
        var table = HostTable()
        var slots: [Slot] = []
        for (slot, h) in hosts.enumerated() {
            guard !slots.contains(where: { $0.host == h.index }) else { throw RouteError("host \(h.index) is listed twice") }
            try table.add(names: h.names, host: slot)
            let identity = try h.names.first.map { (n) throws(RouteError) in try HostName.canonical(n) } ?? ""
            slots.append(Slot(host: h.index, names: h.names, identity: identity))
        }
        self.table = table
        self.slots = slots
        certificates = Locked(hosts.map(\.certificate))
        challenges = Locked([:])
    }

    /// Manifest indexes of the hosts in this store, in manifest order.
    public var hostIndexes: [Int] { slots.map(\.host) }

    /// The certificate for a ClientHello's SNI (nil: none sent). nil only for an empty store.
    public func select(serverName: String?) -> Selection? {
        guard !slots.isEmpty else { return nil }
        let slot = table.resolve(serverName) ?? 0
        let s = slots[slot]
        return Selection(host: s.host, identity: s.identity, certificate: certificates.withLock { $0[slot] })
    }

    /// The current certificate of manifest host `host`.
    public func certificate(host: Int) -> ServerCertificate? {
        guard let slot = slots.firstIndex(where: { $0.host == host }) else { return nil }
        return certificates.withLock { $0[slot] }
    }

    /// Serves `certificate` for host `host` from the next handshake on; open connections keep
    /// the one they have. Returns false when the host is not in this store.
    @discardableResult
    public func replace(host: Int, with certificate: ServerCertificate) -> Bool {
        guard let slot = slots.firstIndex(where: { $0.host == host }) else { return false }
        certificates.withLock { $0[slot] = certificate }
        return true
    }

    /// RFC 8737 TLS-ALPN-01: a handshake for `name` that offers ALPN `acme-tls/1` gets this
    /// certificate (with the acmeIdentifier extension) instead of the host's. nil removes it.
    public func setChallengeCertificate(_ certificate: ServerCertificate?, forName name: String) {
        let key = Self.canonicalSNI(name)
        challenges.withLock { $0[key] = certificate }
    }

    func challengeCertificate(forName name: String?) -> ServerCertificate? {
        guard let name else { return nil }
        let key = Self.canonicalSNI(name)
        return challenges.withLock { $0[key] }
    }

    /// The 421 rule (config-schema.md "tls"; RFC 9110 §15.5.20): a request on a TLS connection
    /// whose Host resolved (by the route tree) to `requestHost`, on a connection whose
    /// certificate was chosen for `connectionHost`, is misdirected when `requestHost` is
    /// another host that has `tls`. A host without `tls` reached over TLS is not.
    public func isMisdirected(requestHost: Int, connectionHost: Int) -> Bool {
        requestHost != connectionHost && slots.contains { $0.host == requestHost }
    }

    /// One host's certificate as `flaks check` prints it.
    public struct HostReport: Sendable {
        public var host: Int
        public var names: [String]
        /// nil: no certificate yet.
        public var info: CertificateInfo?
        public var warnings: [CertificateWarning]
    }

    /// Subject, SANs, issuer, validity and warnings of every host, in manifest order.
    public func report(now: Int64) -> [HostReport] {
        let certs = certificates.withLock { $0 }
        return zip(slots, certs).map { slot, cert in
            HostReport(host: slot.host, names: slot.names, info: cert?.info,
                       warnings: cert?.warnings(names: slot.names, now: now) ?? [])
        }
    }

    static func canonicalSNI(_ name: String) -> String {
        String(HostName.stripPort(Substring(name))).lowercased()
    }
}
