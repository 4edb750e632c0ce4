import FlaksHandlers
import FlaksHTTP

/// The handlers every manifest can mount by name: `health`, `status` and `metrics`.
enum BuiltinHandlers {
    /// Registers the built-ins (unless the app registered its own under those names). They reach
    /// their server through `ref`, which the server fills in at the end of its init.
    static func register(into registry: inout HandlerRegistry, ref: ServerRef) {
        if registry.handler(named: "health") == nil { registry.register("health", HealthHandler(ref: ref)) }
        if registry.handler(named: "status") == nil { registry.register("status", StatusHandler(ref: ref)) }
        if registry.handler(named: "metrics") == nil { registry.register("metrics", MetricsHandler(ref: ref)) }
    }
}

/// A weak, thread-safe reference to the server, for handlers built before the server exists.
final class ServerRef: Sendable {
    private let box = Locked<WeakServer>(WeakServer())
    private struct WeakServer { weak var server: Server? }
    var server: Server? { box.withLock { $0.server } }
    func set(_ s: Server) { box.withLock { $0.server = s } }
}

/// `handler: health` — 200 while serving, 503 once a drain started (for container probes).
struct HealthHandler: Handler {
    let ref: ServerRef
    func handle(_ request: Request) -> HandlerOutcome {
        if ref.server?.isDraining ?? false {
            return .response(.text("draining\n", status: .serviceUnavailable))
        }
        return .response(.text("ok\n"))
    }
}

/// `handler: status` — JSON: version, uptime, open connections, requests by host and status class, reloads,
/// upstreams, ACME certificates.
struct StatusHandler: Handler {
    let ref: ServerRef
    func handle(_ request: Request) -> HandlerOutcome {
        guard let s = ref.server else { return .response(.text("{}", contentType: "application/json")) }
        let m = s.metrics()
        func classes(_ d: [String: Int]) -> String {
            (1...5).map { "\"\($0)xx\":\(d["\($0)xx"] ?? 0)" }.joined(separator: ",")
        }
        let hosts = m.byHost.sorted { $0.key < $1.key }
            .map { "\"\(escapeJSON($0.key))\":{\(classes($0.value))}" }.joined(separator: ",")
        let totals = Dictionary(uniqueKeysWithValues: (1...5).map { ("\($0)xx", m.responses(ofClass: $0)) })
        let upstreams = m.upstreams.map { u in
            "\"\(escapeJSON(u.address))\":{\"health\":\"\(u.health)\",\"requests\":\(u.counters.requests),\"failures\":\(u.counters.failures),\"in_flight\":\(u.inFlight)}"
        }.joined(separator: ",")
        let json = """
        {"version":"\(FlaksVersion.string)","uptime_seconds":\(m.uptimeSeconds),"generation":\(m.generation),\
        "open_connections":\(m.openConnections),"rejected_connections":\(m.rejectedConnections),\
        "requests":\(m.totalRequests),"responses":{\(classes(totals))},"hosts":{\(hosts)},\
        "bytes_sent":\(m.bytesSent),"cgi_processes":\(m.cgiProcesses),\
        "reloads":{"succeeded":\(m.reloadsSucceeded),"failed":\(m.reloadsFailed)},"draining":\(m.draining),\
        "upstreams":{\(upstreams)},"services":{\(servicesJSON(m.services))},"acme":\(m.acmeJSON)}

        """
        return .response(.text(json, contentType: "application/json"))
    }
}

/// `"NAME":{"note":…,"instances":[{"instance":0,"generation":1,"pid":123,"port":40001,"state":"ready",
/// "restarts":0,"last_exit":"exited with status 1","in_flight":0}]}` for each service.
func servicesJSON(_ services: [ServiceStatus]) -> String {
    func str(_ s: String?) -> String { s.map { "\"\(escapeJSON($0))\"" } ?? "null" }
    return services.map { s in
        let instances = s.instances.map { i in
            "{\"instance\":\(i.index),\"generation\":\(i.generation),\"pid\":\(i.pid.map(String.init) ?? "null"),"
                + "\"port\":\(i.port.map(String.init) ?? "null"),\"state\":\"\(i.state)\",\"restarts\":\(i.restarts),"
                + "\"last_exit\":\(str(i.lastExit?.description)),\"in_flight\":\(i.inFlight)}"
        }.joined(separator: ",")
        return "\"\(escapeJSON(s.name))\":{\"note\":\(str(s.note)),\"roll_stalled\":\(s.rollStalled),\"instances\":[\(instances)]}"
    }.joined(separator: ",")
}

/// `handler: metrics` — the Prometheus text format.
struct MetricsHandler: Handler {
    let ref: ServerRef
    func handle(_ request: Request) -> HandlerOutcome {
        let text = ref.server?.metrics().prometheusText ?? ""
        return .response(.text(text, contentType: "text/plain; version=0.0.4; charset=utf-8"))
    }
}

/// The version string of this build.
public enum FlaksVersion {
    public static let string = "0.1.0"
}
