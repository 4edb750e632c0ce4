import FlaksAccess
import FlaksHTTP

/// The whole manifest after loading and validation: immutable, Sendable, paths absolute.
/// Defaults match `shared/design/config-schema.md`.
public struct ServerConfig: Sendable, Equatable {
    public var server: ServerSettings
    public var limits: Limits
    public var cgi: CGISettings
    public var log: LogSettings
    /// `compress`: on-the-fly response compression. Default on (`CompressSettings()`).
    public var compress: CompressSettings
    /// `tls`: settings of every TLS listener and the ACME account. Default `TLSSettings()`.
    public var tls: TLSSettings
    /// `services`: programs Flaks starts and proxies to, in manifest order. Default none.
    public var services: [ServiceConfig]
    public var hosts: [HostConfig]
    /// The manifest file this was loaded from (absolute), or nil when built in code.
    public var sourceFile: String?
    /// What the loader found dangerous but allowed (a static root that resolves to "/"), in
    /// document order: `flaks check` prints them, `flaks serve` logs them. Empty when built in code.
    public var warnings: [ManifestWarning]

    public init(server: ServerSettings = .init(), limits: Limits = .init(), cgi: CGISettings = .init(),
                log: LogSettings = .init(), compress: CompressSettings = .init(), tls: TLSSettings = .init(),
                services: [ServiceConfig] = [], hosts: [HostConfig] = [], sourceFile: String? = nil,
                warnings: [ManifestWarning] = []) {
        self.server = server; self.limits = limits; self.cgi = cgi; self.log = log; self.compress = compress
        self.tls = tls; self.services = services
        self.hosts = hosts; self.sourceFile = sourceFile; self.warnings = warnings
    }
}

/// A listen address: `host:port`, `[v6]:port`, or `:port` (all IPv4).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// Numeric host ("0.0.0.0", "127.0.0.1", "::", "::1").
    public var host: String
    public var port: Int
    public var isIPv6: Bool { host.contains(":") }
    public init(host: String, port: Int) { self.host = host; self.port = port }
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The `server` section.
public struct ServerSettings: Sendable, Equatable {
    /// Addresses to listen on. Default `0.0.0.0:8080`.
    public var listen: [ListenAddress]
    /// `tls_listen`: TLS listeners (certificate chosen by SNI among hosts with `tls`); none of
    /// them is also in `listen`. Default none.
    public var tlsListen: [ListenAddress]
    /// listen(2) backlog. Default 511.
    public var backlog: Int
    /// Selector loops; nil = `auto` (one per CPU core).
    public var loops: Int?
    /// Worker threads for blocking work. Default 16.
    public var threads: Int
    /// Open client connections, all loops together. Default 10000.
    public var maxConnections: Int
    /// `drain_timeout` (extension): how long SIGTERM waits for requests in flight. Default 10 s; `0s` allowed.
    public var drainTimeout: Duration
    /// `idle_release` (extension): after this long without a finished request, `flaks serve` gives
    /// back the resident code pages and freed heap it is not using. Default 60 s; `0s` never.
    public var idleRelease: Duration
    /// `trusted_proxies`: peers whose X-Forwarded-For/-Proto/-Host are believed and appended to
    /// (config-schema.md, "The client address"). Default empty: nobody is trusted.
    public var trustedProxies: AddressList

    public init(listen: [ListenAddress] = [ListenAddress(host: "0.0.0.0", port: 8080)], backlog: Int = 511,
                loops: Int? = nil, threads: Int = 16, maxConnections: Int = 10000,
                drainTimeout: Duration = .seconds(10), idleRelease: Duration = .seconds(60),
                trustedProxies: AddressList = .empty, tlsListen: [ListenAddress] = []) {
        self.listen = listen; self.backlog = backlog; self.loops = loops; self.threads = threads
        self.maxConnections = maxConnections; self.drainTimeout = drainTimeout; self.idleRelease = idleRelease
        self.trustedProxies = trustedProxies; self.tlsListen = tlsListen
    }
}

/// The `limits` section.
public struct Limits: Sendable, Equatable {
    /// Request line + header fields, bytes. Default 16 KiB.
    public var maxBuffer: Int
    /// Request body after de-chunking, bytes. Default 10 MiB.
    public var maxBody: Int
    /// The whole request head must arrive within this. Default 10 s.
    public var headerTimeout: Duration
    /// Longest wait for the next body byte. Default 30 s.
    public var bodyTimeout: Duration
    /// Idle time between requests on one connection. Default 60 s.
    public var keepaliveTimeout: Duration
    /// Requests served on one connection before it is closed. Default 1000.
    public var maxKeepaliveRequests: Int

    public init(maxBuffer: Int = 16 * 1024, maxBody: Int = 10 * 1024 * 1024, headerTimeout: Duration = .seconds(10),
                bodyTimeout: Duration = .seconds(30), keepaliveTimeout: Duration = .seconds(60),
                maxKeepaliveRequests: Int = 1000) {
        self.maxBuffer = maxBuffer; self.maxBody = maxBody; self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout; self.keepaliveTimeout = keepaliveTimeout
        self.maxKeepaliveRequests = maxKeepaliveRequests
    }

    /// The parser's view of these limits.
    public var parseLimits: ParseLimits { ParseLimits(maxBuffer: maxBuffer, maxBody: maxBody) }
}

/// The `cgi` section.
public struct CGISettings: Sendable, Equatable {
    /// A script that has not finished by then is killed. Default 30 s.
    public var timeout: Duration
    /// CGI children at once, whole server. Default 32.
    public var maxProcesses: Int
    public init(timeout: Duration = .seconds(30), maxProcesses: Int = 32) {
        self.timeout = timeout; self.maxProcesses = maxProcesses
    }
}

/// The `log` section.
public struct LogSettings: Sendable, Equatable {
    /// Where access lines go.
    public enum Destination: Sendable, Equatable { case stdout, stderr, off, file(String) }
    public enum Format: String, Sendable, Equatable { case combined, json }
    public enum Level: String, Sendable, Equatable { case debug, info, warning, error }
    public var access: Destination
    public var format: Format
    public var level: Level
    public init(access: Destination = .stdout, format: Format = .combined, level: Level = .info) {
        self.access = access; self.format = format; self.level = level
    }
}

/// One virtual host: its names and routes.
public struct HostConfig: Sendable, Equatable {
    /// Exact names, `*.suffix` wildcards, or `*` for the default host.
    public var names: [String]
    public var routes: [Route]
    /// `errors: {404: /404.html}` (extension): status (400-599) -> path served from this host's routes.
    public var errorPages: [Int: String]
    /// `tls`: the host's certificate on the TLS listeners; nil (default) = none.
    public var tls: HostTLS?
    /// Where the host's `tls` key is ("config.yaml:12:5"), for the runtime's certificate errors.
    public var tlsOrigin: String?
    public init(names: [String], routes: [Route], errorPages: [Int: String] = [:], tls: HostTLS? = nil,
                tlsOrigin: String? = nil) {
        self.names = names; self.routes = routes; self.errorPages = errorPages; self.tls = tls
        self.tlsOrigin = tlsOrigin
    }
}

/// A route: a path (exact, Flask-style pattern, or prefix ending in "/") and what serves it.
public struct Route: Sendable, Equatable {
    public var path: String
    public var kind: Kind
    /// `headers:` extra response fields for the route's 2xx and 3xx answers only (nginx's
    /// `add_header` rule: a Cache-Control meant for content must not make an error cacheable).
    public var headers: HeaderFields
    /// `headers_always:` (extension) extra response fields for every answer of the route, errors
    /// included (nginx's `add_header ... always`): Content-Security-Policy, CORS, HSTS.
    public var headersAlways: HeaderFields
    /// `compress: false` turns the server's `compress` off for this route (any kind). Default true.
    public var compress: Bool
    /// `auth`, `allow`, `rate` (any kind). Default none.
    public var access: AccessRules
    /// Where in the manifest this route was declared ("config.yaml:12:7"), for messages.
    public var origin: String?

    public init(path: String, kind: Kind, headers: HeaderFields = HeaderFields(),
                headersAlways: HeaderFields = HeaderFields(), compress: Bool = true, access: AccessRules = AccessRules(),
                origin: String? = nil) {
        self.path = path; self.kind = kind; self.headers = headers; self.headersAlways = headersAlways
        self.compress = compress; self.access = access; self.origin = origin
    }

    /// What serves the route.
    public enum Kind: Sendable, Equatable {
        case staticFiles(StaticRoute)
        case cgi(CGIRoute)
        case redirect(RedirectRoute)
        case respond(RespondRoute)
        case handler(String)
        /// `proxy:` a reverse proxy to HTTP/1.1 upstreams.
        case proxy(ProxyRoute)
        /// `fastcgi:` a FastCGI responder (php-fpm).
        case fastcgi(FastCGIRoute)

        /// The manifest key of this kind.
        public var keyword: String {
            switch self {
            case .staticFiles: "static"
            case .cgi: "cgi"
            case .redirect: "redirect"
            case .respond: "respond"
            case .handler: "handler"
            case .proxy: "proxy"
            case .fastcgi: "fastcgi"
            }
        }
    }
}

/// `static: DIR` options.
public struct StaticRoute: Sendable, Equatable {
    /// Absolute root directory.
    public var root: String
    /// Index file names tried for a directory. Default ["index.html"].
    public var index: [String]
    /// HTML directory listing when no index file. Default false.
    public var listing: Bool
    /// Path (under the root) served for missing files, for single-page apps.
    public var fallback: String?
    /// `dotfiles` (extension): serve dotfiles (other than /.well-known/, always allowed). Default false.
    public var dotfiles: Bool
    /// `types: {md: text/markdown}` (extension): extension (without dot, lowercase) -> content type overrides.
    /// A leading dot in the manifest is accepted and dropped.
    public var types: [String: String]
    public init(root: String, index: [String] = ["index.html"], listing: Bool = false, fallback: String? = nil,
                dotfiles: Bool = false, types: [String: String] = [:]) {
        self.root = root; self.index = index; self.listing = listing; self.fallback = fallback
        self.dotfiles = dotfiles; self.types = types
    }
}

/// `cgi: DIR` options.
public struct CGIRoute: Sendable, Equatable {
    /// Absolute directory holding the scripts.
    public var root: String
    /// Extension (with dot) -> interpreter program, an absolute path. The loader resolves a program
    /// with a "/" against the manifest directory, and looks a bare name (`python3`) up in the PATH
    /// of the loading process; the CGI handler refuses (500) a relative one set in code.
    public var interpreters: [String: String]
    /// Extra environment for the scripts.
    public var env: [String: String]
    /// `pass_authorization` (extension): pass the Authorization header as HTTP_AUTHORIZATION. Default false.
    public var passAuthorization: Bool
    public init(root: String, interpreters: [String: String] = [:], env: [String: String] = [:],
                passAuthorization: Bool = false) {
        self.root = root; self.interpreters = interpreters; self.env = env; self.passAuthorization = passAuthorization
    }
}

/// `redirect: TARGET` options.
public struct RedirectRoute: Sendable, Equatable {
    /// Relative or absolute target.
    public var target: String
    /// 301 (default), 302, 303, 307 or 308.
    public var status: Int
    /// `keep_path` (extension): append the rest of the matched path and the query to the target. Default false.
    public var keepPath: Bool
    public init(target: String, status: Int = 301, keepPath: Bool = false) {
        self.target = target; self.status = status; self.keepPath = keepPath
    }
}

/// `respond: BODY` options.
public struct RespondRoute: Sendable, Equatable {
    public var body: String
    /// A final status, 200 to 599 (the loader refuses a 1xx). Default 200.
    public var status: Int
    /// Default `text/plain; charset=utf-8`.
    public var contentType: String
    public init(body: String, status: Int = 200, contentType: String = "text/plain; charset=utf-8") {
        self.body = body; self.status = status; self.contentType = contentType
    }
}
