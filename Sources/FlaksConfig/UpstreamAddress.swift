/// Where an upstream listens: an HTTP server for `proxy`, a FastCGI responder for `fastcgi`.
/// Shared by both route kinds (and what a `service` instance is reached at is the runtime's).
public enum UpstreamAddress: Sendable, Hashable, CustomStringConvertible {
    /// A TCP address. `host` is an IPv4 literal (`127.0.0.1`), an IPv6 literal without its
    /// brackets (`::1`), or a DNS name, lowercased (`localhost`, `php-fpm`): resolving a name
    /// is the runtime's job (off the loops). `port` is 1-65535.
    case tcp(host: String, port: Int)
    /// A Unix-domain stream socket: an absolute path (a relative one in the manifest resolves
    /// against the manifest's directory), at most 107 bytes (`sun_path`, with its NUL).
    case unix(path: String)

    /// `127.0.0.1:9000`, `[::1]:9000`, `localhost:9000`, `unix:/run/php/php-fpm.sock`.
    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }
}
