#if canImport(Glibc)
import Glibc
#endif
import FlaksHandlers

/// One supervised service as the supervisor runs it: a program Flaks starts, keeps running, and
/// proxies to (`services:` in the manifest, config-schema.md "Hosting services").
///
/// A value: the supervisor compares the running definition with a reloaded one by `==`, and any
/// difference rolls the service (new instances start and become ready before the old ones stop).
public struct ServiceSpec: Sendable, Hashable {
    /// `restart:` — what to do when an instance exits on its own.
    public enum RestartPolicy: String, Sendable, Hashable, CaseIterable {
        /// Restart after any exit, status 0 included (the default).
        case always
        /// Restart unless it exited with status 0.
        case onFailure = "on-failure"
        /// Never restart; the instance stays down (requests get 503).
        case never

        /// Whether an instance that ended with `exit` on its own is started again.
        func restarts(after exit: ProcessExit) -> Bool {
            switch self {
            case .always: true
            case .onFailure: exit != .code(0)
            case .never: false
            }
        }
    }

    /// `name:` — referred to by routes as `proxy: {service: NAME}`; FLAKS_SERVICE; the log prefix.
    public var name: String
    /// `command:` — argv, run without a shell.
    public var command: [String]
    /// The program to run, absolute (the manifest loader resolves `command[0]`); nil: argv[0] is
    /// looked up at each start, in PATH (the `env` PATH if set, else Flaks' own) when it has no
    /// `/`, else against `cwd`.
    public var executable: String?
    /// `cwd:` — absolute working directory; nil: Flaks' own working directory.
    public var cwd: String?
    /// `env:` — added to Flaks' own environment; PORT, HOST, FLAKS_SERVICE, FLAKS_INSTANCE win over it.
    public var env: [String: String]
    /// `instances:` — processes, each with its own port (at least 1; default 1).
    public var instances: Int
    /// `ready:` — a path answered 2xx to `GET path` with `Host: localhost` once the instance is
    /// ready; nil: ready once its port accepts a connection.
    public var ready: String?
    /// `ready_timeout:` — how long an instance may take to become ready (then it is killed and
    /// restarted with back-off), how long a request waits for a ready instance (then 503), and how
    /// long a roll waits for its new instances (then it is abandoned: "roll stalled"). Default 30 s.
    public var readyTimeout: Duration
    /// `restart:` — default `always`.
    public var restart: RestartPolicy
    /// `stop_signal:` — sent to the instance's main process to stop it (default SIGTERM).
    public var stopSignal: Int32
    /// `stop_timeout:` — after the stop signal, how long before SIGKILL goes to the whole process
    /// group (default 10 s).
    public var stopTimeout: Duration
    /// `log:` — an absolute file the instances' output lines are appended to (prefixed
    /// `[NAME#INSTANCE] `); nil: Flaks' error log.
    public var log: String?

    public init(name: String, command: [String], executable: String? = nil, cwd: String? = nil, env: [String: String] = [:],
                instances: Int = 1, ready: String? = nil, readyTimeout: Duration = .seconds(30),
                restart: RestartPolicy = .always, stopSignal: Int32 = SIGTERM, stopTimeout: Duration = .seconds(10),
                log: String? = nil) {
        self.name = name; self.command = command; self.executable = executable; self.cwd = cwd; self.env = env
        self.instances = instances; self.ready = ready; self.readyTimeout = readyTimeout
        self.restart = restart; self.stopSignal = stopSignal; self.stopTimeout = stopTimeout; self.log = log
    }
}
