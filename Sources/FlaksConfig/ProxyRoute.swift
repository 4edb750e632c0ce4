import FlaksHTTP

/// `proxy: UPSTREAM` options: a reverse proxy to HTTP/1.1 upstreams (config-schema.md, "proxy").
/// The scalar form (`proxy: http://127.0.0.1:9000`) is one upstream with every default.
public struct ProxyRoute: Sendable, Equatable {
    /// Where requests go: fixed upstreams (`to`), or the instances of a manifest `service`.
    public enum Upstreams: Sendable, Hashable {
        /// `to:` one or more addresses, in manifest order (the order `first` uses). Never empty.
        case addresses([UpstreamAddress])
        /// `service: NAME`: a name from the top-level `services` list.
        case service(String)
    }

    /// `balance`: how an upstream is picked for a request.
    public enum Balance: String, Sendable, Hashable, CaseIterable {
        /// In turn.
        case roundRobin = "round_robin"
        /// The one with the fewest requests in flight.
        case leastConn = "least_conn"
        /// By the client address (config-schema.md, "The client address"), so a client keeps its upstream.
        case ipHash = "ip_hash"
        /// The first one that is up, in manifest order (the others are fallbacks).
        case first
    }

    /// `health: {path, interval, timeout, fails, passes}`: active checks, a GET of `path`.
    public struct HealthCheck: Sendable, Equatable {
        /// `path`: starts with "/". Required.
        public var path: String
        /// `interval`: time between checks of one upstream. Default 5 s.
        public var interval: Duration
        /// `timeout`: a check without a 2xx answer by then failed. Default 2 s.
        public var timeout: Duration
        /// `fails`: failed checks in a row that mark an upstream down (at least 1). Default 2.
        public var fails: Int
        /// `passes`: passed checks in a row that mark it up again (at least 1). Default 1.
        public var passes: Int
        public init(path: String, interval: Duration = .seconds(5), timeout: Duration = .seconds(2), fails: Int = 2,
                    passes: Int = 1) {
            self.path = path; self.interval = interval; self.timeout = timeout; self.fails = fails; self.passes = passes
        }
    }

    public var upstreams: Upstreams
    /// Default `.roundRobin` (also for `service:`).
    public var balance: Balance
    /// `strip_prefix`: remove the route's mount path, keeping one leading "/". Default false.
    public var stripPrefix: Bool
    /// `host`: the Host sent upstream; "" (default) = the client's Host.
    public var host: String
    /// `request_headers`: fields set on every request sent upstream. Default none. Framing and
    /// hop-by-hop fields and Host are refused at load time (Flaks sets them).
    public var requestHeaders: HeaderFields
    /// `connect_timeout`. Default 5 s.
    public var connectTimeout: Duration
    /// `timeout`: longest wait for the next byte from the upstream (head or body). Default 60 s.
    public var timeout: Duration
    /// `keepalive`: idle connections kept open to each upstream (0 = none). Default 32.
    public var keepalive: Int
    /// `keepalive_timeout`: an idle upstream connection is closed after this. Default 2 s.
    public var keepaliveTimeout: Duration
    /// `max_connections`: connections to each upstream at once; 0 (default) = unlimited.
    public var maxConnections: Int
    /// `health`: active checks; nil (default) = passive only.
    public var health: HealthCheck?
    /// `fail_timeout`: an upstream that refused, failed or timed out is skipped this long
    /// (`0s` = never skipped). Default 10 s.
    public var failTimeout: Duration
    /// `websocket`: tunnel `Upgrade: websocket` requests. Default true.
    public var websocket: Bool
    /// `tunnel_timeout`: idle time after which a tunnel is closed; zero (default) = never.
    public var tunnelTimeout: Duration

    public init(upstreams: Upstreams, balance: Balance = .roundRobin, stripPrefix: Bool = false, host: String = "",
                requestHeaders: HeaderFields = HeaderFields(), connectTimeout: Duration = .seconds(5),
                timeout: Duration = .seconds(60), keepalive: Int = 32, keepaliveTimeout: Duration = .seconds(2),
                maxConnections: Int = 0, health: HealthCheck? = nil, failTimeout: Duration = .seconds(10),
                websocket: Bool = true, tunnelTimeout: Duration = .zero) {
        self.upstreams = upstreams; self.balance = balance; self.stripPrefix = stripPrefix; self.host = host
        self.requestHeaders = requestHeaders; self.connectTimeout = connectTimeout; self.timeout = timeout
        self.keepalive = keepalive; self.keepaliveTimeout = keepaliveTimeout; self.maxConnections = maxConnections
        self.health = health; self.failTimeout = failTimeout; self.websocket = websocket
        self.tunnelTimeout = tunnelTimeout
    }
}
