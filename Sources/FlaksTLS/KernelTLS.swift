import COpenSSL

/// Whether kernel TLS (kTLS: the kernel encrypts records, so `sendfile` works on a TLS
/// connection) could be used on this machine.
///
/// kTLS needs three things: the kernel's `tls` upper-layer protocol (CONFIG_TLS, module `tls`,
/// listed in /proc/sys/net/ipv4/tcp_available_ulp once loaded), an OpenSSL built with
/// `enable-ktls` (Debian's 3.0 is), and an `SSL` whose BIO is the socket when the traffic keys
/// are installed, because OpenSSL hands the keys to the kernel at that moment
/// (`SSL_OP_ENABLE_KTLS`, then `SSL_sendfile`). `TLSSession` runs over memory BIOs, so it always
/// takes the buffered path; a kTLS path would be a second session type created over the
/// descriptor when `status()` is `.available`, with the same results plus `wantsWrite`
/// (docs/tls.md). On the machine this was built on the ULP list is `mptcp` only and
/// `setsockopt(TCP_ULP, "tls")` fails with ENOENT: kTLS is unavailable.
public enum KernelTLS {
    /// The answer, with the reason when unavailable (logged once at start).
    public enum Status: Sendable, Hashable, CustomStringConvertible {
        case available
        case unavailable(String)

        public var description: String {
            switch self {
            case .available: return "available"
            case .unavailable(let why): return "unavailable (\(why))"
            }
        }
    }

    /// Decides from the contents of tcp_available_ulp (nil: unreadable) and the OpenSSL build.
    public static func status(availableULPs: String?, openSSLHasKTLS: Bool) -> Status {
        guard openSSLHasKTLS else { return .unavailable("OpenSSL built without kTLS") }
        guard let ulps = availableULPs else { return .unavailable("cannot read /proc/sys/net/ipv4/tcp_available_ulp") }
        let names = ulps.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        guard names.contains("tls") else { return .unavailable("the kernel's tls ULP is not loaded (available: \(names.joined(separator: " ")))") }
        return .available
    }

    /// `status` for this machine and this libssl.
    public static func status() -> Status {
        let text = (try? readSmallFile("/proc/sys/net/ipv4/tcp_available_ulp", limit: 4096)).map { String(decoding: $0, as: UTF8.self) }
        return status(availableULPs: text, openSSLHasKTLS: copenssl_built_with_ktls() == 1)
    }
}
