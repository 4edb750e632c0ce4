import FlaksHandlers

/// Where a FastCGI request's responder is reached, looked up per request on the loop (no blocking
/// call: a TCP host name was resolved when the site was built).
///
/// `{service: NAME}` responders are the services supervisor's to answer (the port of a ready
/// instance); until services are served, such a route answers 502 with a log line saying so. The
/// lookup is the one place that changes when they are: `.service` then asks the supervisor's
/// directory for a ready instance (and may have to wait for one, like a request waits for a slot).
enum FastCGIResponders {
    enum Located {
        /// Connect here. `key` names the responder in the pool and the slot table
        /// (`unix:/run/php/php-fpm.sock`, `127.0.0.1:9000`).
        case address(SocketAddress, key: String)
        /// No responder can be reached: 502, and this reason in the error log.
        case unavailable(String)
    }

    static func locate(_ responder: FastCGIInvocation.Responder) -> Located {
        switch responder {
        case .unix(let path):
            guard let a = SocketAddress(unixPath: path) else { return .unavailable("socket path too long: \(path)") }
            return .address(a, key: "unix:" + path)
        case .tcp(let host, let port):
            guard let a = SocketAddress(host: host, port: port) else {
                return .unavailable("\(host) is not a numeric address (host names are resolved when the site loads)")
            }
            return .address(a, key: a.description)
        case .service(let name):
            return .unavailable("services are not served yet (fastcgi: {service: \(name)})")
        }
    }
}
