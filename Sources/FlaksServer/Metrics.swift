import FlaksCompression

/// Request counters of one loop. Written only by its loop thread (under an uncontended Mutex, so a
/// scrape from another loop can read it); summed across loops when the `metrics` or `status`
/// handler asks. This keeps the hot path to one lock and a few additions, no atomics shared
/// between cores, no label hashing beyond one dictionary lookup.
struct LoopMetrics {
    /// Upper bounds (seconds) of the request-duration histogram buckets.
    static let bucketBounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    static let bucketNanos: [UInt64] = bucketBounds.map { UInt64($0 * 1e9) }

    /// Host labels in the order first seen, and their responses by status class, five counters per
    /// host (index 0 = 1xx ... 4 = 5xx). A flat table with the last host remembered: a request to the
    /// same host as the one before (nearly all) costs a string comparison that the identical
    /// storage settles at once, not a hash and a dictionary lookup (~250 instructions).
    private var hostLabels: [String] = []
    private var hostCounts: [Int] = []
    private var lastHost = ""
    private var lastSlot = -1

    /// Host label -> responses by status class (index 0 = 1xx ... 4 = 5xx).
    var byHost: [String: [Int]] {
        var out: [String: [Int]] = [:]
        for (i, h) in hostLabels.enumerated() { out[h] = Array(hostCounts[(i * 5)..<(i * 5 + 5)]) }
        return out
    }

    /// Requests refused by access rules: host label -> counts of 401, 403, 429.
    var denials: [String: [Int]] = [:]

    /// A request refused by `auth` (401), `allow` (403) or `rate` (429).
    mutating func recordDenial(host: String, status: Int) {
        let i = status == 401 ? 0 : status == 403 ? 1 : status == 429 ? 2 : -1
        guard i >= 0 else { return }
        denials[host, default: [0, 0, 0]][i] += 1
    }

    private mutating func slot(for host: String) -> Int {
        if lastSlot >= 0 && host == lastHost { return lastSlot }
        let i: Int
        if let found = hostLabels.firstIndex(of: host) {
            i = found
        } else {
            i = hostLabels.count
            hostLabels.append(host)
            hostCounts.append(contentsOf: [0, 0, 0, 0, 0])
        }
        lastHost = host
        lastSlot = i
        return i
    }
    /// Histogram counts per bucket (cumulative only when exported); last slot = over the top bound.
    var buckets = [Int](repeating: 0, count: bucketBounds.count + 1)
    var durationSumNanos: UInt64 = 0
    var count = 0
    var bytesSent = 0
    /// Responses sent from a loop's prepared responses (counted in the totals above too).
    var prepared = 0

    mutating func record(host: String, status: Int, bytes: Int, durationNanos: UInt64) {
        let c = min(max(status / 100, 1), 5) - 1
        hostCounts[slot(for: host) * 5 + c] += 1
        var i = 0
        while i < Self.bucketNanos.count && durationNanos > Self.bucketNanos[i] { i += 1 }
        buckets[i] += 1
        durationSumNanos &+= durationNanos
        count += 1
        bytesSent += bytes
    }

    mutating func add(_ o: LoopMetrics) {
        for (i, h) in o.hostLabels.enumerated() {
            let s = slot(for: h) * 5
            for k in 0..<5 { hostCounts[s + k] += o.hostCounts[i * 5 + k] }
        }
        for (h, v) in o.denials {
            var mine = denials[h] ?? [0, 0, 0]
            for k in 0..<3 { mine[k] += v[k] }
            denials[h] = mine
        }
        for k in 0..<buckets.count { buckets[k] += o.buckets[k] }
        durationSumNanos &+= o.durationSumNanos
        count += o.count
        bytesSent += o.bytesSent
        prepared += o.prepared
    }

    /// Responses of status class `c` (1...5) across hosts.
    func responses(ofClass c: Int) -> Int {
        stride(from: c - 1, to: hostCounts.count, by: 5).reduce(0) { $0 + hostCounts[$1] }
    }
}

/// A snapshot of everything the `metrics` and `status` handlers report.
public struct MetricsSnapshot: Sendable {
    var requests: LoopMetrics
    public var openConnections: Int
    public var rejectedConnections: Int
    public var reloadsSucceeded: Int
    public var reloadsFailed: Int
    public var cgiProcesses: Int
    public var generation: Int
    public var uptimeSeconds: Double
    public var draining: Bool
    /// TLS handshakes completed, and failed ones by kind.
    var tlsHandshakes = 0
    var tlsHandshakeFailures: [String: Int] = [:]
    /// The compressed-file cache's counters.
    var compressedFiles = CompressedFileCache.Statistics()
    /// Each upstream of the proxy routes: its counters and its health ("up", "down", "checked down").
    var upstreams: [(address: String, counters: ProxyMetrics.Counters, health: String, inFlight: Int)] = []
    /// Each service's instances (pid, state, restarts, last exit).
    public var services: [ServiceStatus] = []
    /// Each `tls: acme` host's certificate and schedule.
    var acme: [ACMEHostReport] = []

    /// Total responses sent.
    public var totalRequests: Int { requests.count }
    /// Responses by host label and status class ("2xx").
    public var byHost: [String: [String: Int]] {
        requests.byHost.mapValues { v in Dictionary(uniqueKeysWithValues: (1...5).map { ("\($0)xx", v[$0 - 1]) }) }
    }
    public func responses(ofClass c: Int) -> Int { requests.responses(ofClass: c) }
    public var bytesSent: Int { requests.bytesSent }

    /// The Prometheus text exposition format (version 0.0.4).
    public var prometheusText: String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("flaks_requests_total", "counter", "Responses sent, by virtual host and status class.")
        for (host, counts) in requests.byHost.sorted(by: { $0.key < $1.key }) {
            for c in 1...5 {
                out += "flaks_requests_total{host=\"\(Self.escape(host))\",class=\"\(c)xx\"} \(counts[c - 1])\n"
            }
        }
        family("flaks_access_denied_total", "counter", "Requests refused by access rules: auth (401), allow (403), rate (429).")
        for (host, counts) in requests.denials.sorted(by: { $0.key < $1.key }) {
            for (i, code) in [401, 403, 429].enumerated() {
                out += "flaks_access_denied_total{host=\"\(Self.escape(host))\",status=\"\(code)\"} \(counts[i])\n"
            }
        }
        family("flaks_sent_bytes_total", "counter", "Response bytes written (heads and bodies).")
        out += "flaks_sent_bytes_total \(requests.bytesSent)\n"
        family("flaks_prepared_responses_total", "counter", "Responses sent again from a loop's prepared responses (plain GETs of unchanged static files and respond: routes).")
        out += "flaks_prepared_responses_total \(requests.prepared)\n"
        family("flaks_open_connections", "gauge", "Client connections open now.")
        out += "flaks_open_connections \(openConnections)\n"
        family("flaks_rejected_connections_total", "counter", "Connections closed at accept (over max_connections, or out of descriptors).")
        out += "flaks_rejected_connections_total \(rejectedConnections)\n"
        family("flaks_cgi_processes", "gauge", "CGI scripts running now.")
        out += "flaks_cgi_processes \(cgiProcesses)\n"
        family("flaks_reloads_total", "counter", "Manifest reloads, by result.")
        out += "flaks_reloads_total{result=\"success\"} \(reloadsSucceeded)\n"
        out += "flaks_reloads_total{result=\"failure\"} \(reloadsFailed)\n"
        family("flaks_config_generation", "gauge", "Generation of the manifest being served.")
        out += "flaks_config_generation \(generation)\n"
        family("flaks_request_duration_seconds", "histogram", "Time from the first byte of a request to the last byte of its response.")
        var cumulative = 0
        for (i, bound) in LoopMetrics.bucketBounds.enumerated() {
            cumulative += requests.buckets[i]
            out += "flaks_request_duration_seconds_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += requests.buckets[LoopMetrics.bucketBounds.count]
        out += "flaks_request_duration_seconds_bucket{le=\"+Inf\"} \(cumulative)\n"
        out += "flaks_request_duration_seconds_sum \(Double(requests.durationSumNanos) / 1e9)\n"
        out += "flaks_request_duration_seconds_count \(requests.count)\n"
        family("flaks_compressed_file_cache_total", "counter", "Compressed static files: cache hits, misses and compressions done.")
        out += "flaks_compressed_file_cache_total{event=\"hit\"} \(compressedFiles.hits)\n"
        out += "flaks_compressed_file_cache_total{event=\"miss\"} \(compressedFiles.misses)\n"
        out += "flaks_compressed_file_cache_total{event=\"compression\"} \(compressedFiles.compressions)\n"
        family("flaks_compressed_file_cache_bytes", "gauge", "Bytes of compressed files kept.")
        out += "flaks_compressed_file_cache_bytes \(compressedFiles.bytes)\n"
        family("flaks_tls_handshakes_total", "counter", "TLS handshakes completed.")
        out += "flaks_tls_handshakes_total \(tlsHandshakes)\n"
        family("flaks_tls_handshake_failures_total", "counter", "TLS handshakes that failed, by kind.")
        for (kind, n) in tlsHandshakeFailures.sorted(by: { $0.key < $1.key }) {
            out += "flaks_tls_handshake_failures_total{kind=\"\(Self.escape(kind))\"} \(n)\n"
        }
        if !upstreams.isEmpty {
            family("flaks_upstream_requests_total", "counter", "Proxied requests answered, by upstream.")
            for u in upstreams { out += "flaks_upstream_requests_total{upstream=\"\(Self.escape(u.address))\"} \(u.counters.requests)\n" }
            family("flaks_upstream_failures_total", "counter", "Failed attempts (refused, timed out, bad answers), by upstream.")
            for u in upstreams { out += "flaks_upstream_failures_total{upstream=\"\(Self.escape(u.address))\"} \(u.counters.failures)\n" }
            family("flaks_upstream_up", "gauge", "1 while the upstream takes traffic, 0 while it is marked or checked down.")
            for u in upstreams { out += "flaks_upstream_up{upstream=\"\(Self.escape(u.address))\"} \(u.health == "up" ? 1 : 0)\n" }
            family("flaks_upstream_in_flight", "gauge", "Requests at the upstream now.")
            for u in upstreams { out += "flaks_upstream_in_flight{upstream=\"\(Self.escape(u.address))\"} \(u.inFlight)\n" }
            family("flaks_upstream_response_seconds", "histogram", "Time from the start of an attempt to the answer's head, by upstream.")
            for u in upstreams {
                let label = "upstream=\"\(Self.escape(u.address))\""
                var cumulative = 0
                for (i, bound) in LoopMetrics.bucketBounds.enumerated() {
                    cumulative += u.counters.buckets[i]
                    out += "flaks_upstream_response_seconds_bucket{\(label),le=\"\(bound)\"} \(cumulative)\n"
                }
                cumulative += u.counters.buckets[LoopMetrics.bucketBounds.count]
                out += "flaks_upstream_response_seconds_bucket{\(label),le=\"+Inf\"} \(cumulative)\n"
                out += "flaks_upstream_response_seconds_sum{\(label)} \(Double(u.counters.sumNanos) / 1e9)\n"
                out += "flaks_upstream_response_seconds_count{\(label)} \(u.counters.requests)\n"
            }
        }
        if !acme.isEmpty { out += acmeText }
        family("flaks_uptime_seconds", "gauge", "Seconds since the server started.")
        out += "flaks_uptime_seconds \(uptimeSeconds)\n"
        if !services.isEmpty { out += servicesText }
        return out
    }

    static func escape(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "\\": o += "\\\\"
            case "\"": o += "\\\""
            case "\n": o += "\\n"
            default: o.append(c)
            }
        }
        return o
    }
}

extension MetricsSnapshot {
    /// The services' families: one series per instance (labels `service`, `instance`, and
    /// `generation` while a roll keeps two of the same index alive).
    var servicesText: String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func labels(_ s: ServiceStatus, _ i: ServiceStatus.Instance) -> String {
            "service=\"\(Self.escape(s.name))\",instance=\"\(i.index)\",generation=\"\(i.generation)\""
        }
        let states = ["starting", "ready", "stopping", "backoff", "exited", "stopped"]
        family("flaks_service_instance_state", "gauge", "1 for the state each service instance is in (starting, ready, stopping, backoff, exited, stopped).")
        for s in services {
            for i in s.instances {
                for st in states { out += "flaks_service_instance_state{\(labels(s, i)),state=\"\(st)\"} \(i.state == st ? 1 : 0)\n" }
            }
        }
        family("flaks_service_instance_pid", "gauge", "Main process of each service instance (0 while it has none).")
        for s in services { for i in s.instances { out += "flaks_service_instance_pid{\(labels(s, i))} \(i.pid ?? 0)\n" } }
        family("flaks_service_restarts_total", "counter", "Restarts of each service instance.")
        for s in services { for i in s.instances { out += "flaks_service_restarts_total{\(labels(s, i))} \(i.restarts)\n" } }
        family("flaks_service_last_exit_code", "gauge", "Exit status of the instance's last process (-1: none yet, or killed by a signal).")
        for s in services {
            for i in s.instances {
                var code = -1
                if case .code(let c) = i.lastExit { code = Int(c) }
                out += "flaks_service_last_exit_code{\(labels(s, i))} \(code)\n"
            }
        }
        family("flaks_service_last_exit_signal", "gauge", "Signal that ended the instance's last process (0: none).")
        for s in services {
            for i in s.instances {
                var sig = 0
                if case .signal(let n) = i.lastExit { sig = Int(n) }
                out += "flaks_service_last_exit_signal{\(labels(s, i))} \(sig)\n"
            }
        }
        family("flaks_service_in_flight", "gauge", "Requests and tunnels in flight to each service instance.")
        for s in services { for i in s.instances { out += "flaks_service_in_flight{\(labels(s, i))} \(i.inFlight)\n" } }
        family("flaks_service_roll_stalled", "gauge", "1 when the service's last roll was abandoned (its new instances never became ready).")
        for s in services { out += "flaks_service_roll_stalled{service=\"\(Self.escape(s.name))\"} \(s.rollStalled ? 1 : 0)\n" }
        return out
    }
}
