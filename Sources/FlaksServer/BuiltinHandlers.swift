import FlaksHandlers
import FlaksHTTP
import Synchronization

/// The handlers every manifest can mount by name: `health` and `status`.
enum BuiltinHandlers {
    /// Filled in once the server exists (handlers are built before it); read-only afterwards.
    private static let serverRef = Mutex<ServerRef?>(nil)
    private final class ServerRef: Sendable { weak let server: Server?; init(_ s: Server) { server = s } }

    static func register(into registry: inout HandlerRegistry) {
        if registry.handler(named: "health") == nil { registry.register("health", HealthHandler()) }
        if registry.handler(named: "status") == nil { registry.register("status", StatusHandler()) }
    }

    static func attach(_ server: Server) { serverRef.withLock { $0 = ServerRef(server) } }
    static var server: Server? { serverRef.withLock { $0?.server } }
}

/// `handler: health` — 200 while serving, 503 once a drain started (for container probes).
struct HealthHandler: Handler {
    func handle(_ request: Request) -> HandlerOutcome {
        if BuiltinHandlers.server?.isDraining ?? false {
            return .response(.text("draining\n", status: .serviceUnavailable))
        }
        return .response(.text("ok\n"))
    }
}

/// `handler: status` — JSON: version, uptime, open connections, requests by status class, reloads.
struct StatusHandler: Handler {
    func handle(_ request: Request) -> HandlerOutcome {
        guard let s = BuiltinHandlers.server else { return .response(.text("{}", contentType: "application/json")) }
        let st = s.stats
        let uptime = Double(monotonicNanos() &- s.startedAt) / 1e9
        var classes: [String] = []
        for c in 1...5 { classes.append("\"\(c)xx\":\(st.responses(ofClass: c))") }
        let json = """
        {"version":"\(FlaksVersion.string)","uptime_seconds":\(uptime),"generation":\(s.currentSite.generation),\
        "open_connections":\(st.openConnections.load(ordering: .relaxed)),\
        "rejected_connections":\(st.rejectedConnections.load(ordering: .relaxed)),\
        "requests":\(st.requests.load(ordering: .relaxed)),"responses":{\(classes.joined(separator: ","))},\
        "reloads":{"succeeded":\(st.reloadsSucceeded.load(ordering: .relaxed)),"failed":\(st.reloadsFailed.load(ordering: .relaxed))},\
        "draining":\(s.isDraining)}

        """
        return .response(.text(json, contentType: "application/json"))
    }
}

/// The version string of this build.
public enum FlaksVersion {
    public static let string = "0.1.0"
}
