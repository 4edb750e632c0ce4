import FlaksHandlers

/// Where a FastCGI request's responder is reached, looked up per request on the loop (no blocking
/// call: a TCP host name was resolved when the site was built).
///
/// `{service: NAME}` responders are supervised services (docs/services.md): a ready instance is
/// taken from the `ServiceDirectory` round-robin and held for the request (a roll waits for it);
/// when none is ready the request is answered 503 with Retry-After at once (a php-fpm service
/// is ready when its port accepts).
enum FastCGIResponders {
    enum Located {
        /// Connect here. `key` names the responder in the pool and the slot table
        /// (`unix:/run/php/php-fpm.sock`, `127.0.0.1:9000`, `service:NAME#ID`); `instance`, a
        /// service's instance held for the request (release it when the request is over).
        case address(SocketAddress, key: String, instance: ServiceEndpoint?)
        /// No responder can be reached: 502, and this reason in the error log.
        case unavailable(String)
        /// A service with no ready instance: 503 with this Retry-After.
        case noInstance(service: String, retryAfter: Int)
    }

    /// The address and key of the unix or TCP responder located last on a loop: a site has one or
    /// a few, so this saves the socket address and the key string of almost every request (~1,200
    /// instructions of a PHP request).
    struct Memo {
        var responder: FastCGIInvocation.Responder
        var address: SocketAddress
        var key: String
    }

    /// `locate`, remembering a unix or TCP responder's address in `memo` (the loop's).
    static func locate(_ responder: FastCGIInvocation.Responder, directory: ServiceDirectory, memo: inout Memo?) -> Located {
        if let m = memo, m.responder == responder { return .address(m.address, key: m.key, instance: nil) }
        let located = locate(responder, directory: directory)
        if case .address(let a, let key, nil) = located, !responder.isService {
            memo = Memo(responder: responder, address: a, key: key)
        }
        return located
    }

    static func locate(_ responder: FastCGIInvocation.Responder, directory: ServiceDirectory) -> Located {
        switch responder {
        case .unix(let path):
            guard let a = SocketAddress(unixPath: path) else { return .unavailable("socket path too long: \(path)") }
            return .address(a, key: "unix:" + path, instance: nil)
        case .tcp(let host, let port):
            guard let a = SocketAddress(host: host, port: port) else {
                return .unavailable("\(host) is not a numeric address (host names are resolved when the site loads)")
            }
            return .address(a, key: a.description, instance: nil)
        case .service(let name):
            guard let e = directory.acquire(name) else {
                return .noInstance(service: name, retryAfter: directory.retryAfter(of: name))
            }
            guard let a = SocketAddress(host: e.host, port: e.port) else {
                e.release()
                return .unavailable("service \(name): bad instance address \(e.host):\(e.port)")
            }
            return .address(a, key: "service:\(name)#\(e.id)", instance: e)
        }
    }
}

extension FastCGIInvocation.Responder {
    var isService: Bool { if case .service = self { true } else { false } }
}
