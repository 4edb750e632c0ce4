/// `fastcgi: RESPONDER` options: PHP (php-fpm) and other FastCGI responders (config-schema.md,
/// "fastcgi"). The route's prefix maps to `root`; files with one of `extensions` run through
/// the responder, any other file under `root` is served as a static file.
public struct FastCGIRoute: Sendable, Equatable {
    /// Who answers: a fixed address, or the instances of a manifest `service`.
    public enum Responder: Sendable, Hashable {
        /// `fastcgi: unix:/path` or `fastcgi: HOST:PORT`.
        case address(UpstreamAddress)
        /// `fastcgi: {service: NAME}`: a name from the top-level `services` list.
        case service(String)
    }

    public var responder: Responder
    /// `root`: absolute directory (DOCUMENT_ROOT; SCRIPT_FILENAME = root + script path). Required.
    public var root: String
    /// `index`: file names tried for a directory. Default `["index.php"]`.
    public var index: [String]
    /// `extensions`: lowercased, each with its leading dot; matched without regard to case.
    /// Default `[".php"]`.
    public var extensions: [String]
    /// `front_controller`: a path below the mount (`/index.php`) that gets every request matching
    /// no file or directory; nil (default) = such a request is a 404.
    public var frontController: String?
    /// `env`: extra FastCGI params. Default none.
    public var env: [String: String]
    /// `timeout`: longest wait for the next byte from the responder. Default 60 s.
    public var timeout: Duration
    /// `max_connections`: connections to the responder at once, all loops together (at least 1).
    /// Default 16.
    public var maxConnections: Int

    public init(responder: Responder, root: String, index: [String] = ["index.php"], extensions: [String] = [".php"],
                frontController: String? = nil, env: [String: String] = [:], timeout: Duration = .seconds(60),
                maxConnections: Int = 16) {
        self.responder = responder; self.root = root; self.index = index; self.extensions = extensions
        self.frontController = frontController; self.env = env; self.timeout = timeout
        self.maxConnections = maxConnections
    }
}
