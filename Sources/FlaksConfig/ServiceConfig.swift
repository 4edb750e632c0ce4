#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One entry of the top-level `services` list: a program Flaks starts, keeps running and proxies
/// to (config-schema.md, "services"). Routes refer to it by `name` (`proxy: {service: NAME}`,
/// `fastcgi: {service: NAME}`); the loader checks that every such name exists.
///
/// Equality is the whole definition: a reload replaces a service whose value changed and keeps
/// one whose value is equal (its processes keep running).
public struct ServiceConfig: Sendable, Equatable {
    /// `restart`: what happens when an instance exits.
    public enum Restart: String, Sendable, Hashable, CaseIterable {
        /// Restart whatever the exit status (with back-off).
        case always
        /// Restart only after a non-zero exit or a signal.
        case onFailure = "on-failure"
        /// Leave it stopped.
        case never
    }

    /// `stop_signal`: written `TERM` or `SIGTERM`.
    public enum StopSignal: String, Sendable, Hashable, CaseIterable {
        case term = "TERM", int = "INT", quit = "QUIT", hup = "HUP", usr1 = "USR1", usr2 = "USR2", kill = "KILL"

        /// The signal number on this system.
        public var number: Int32 {
            switch self {
            case .term: SIGTERM
            case .int: SIGINT
            case .quit: SIGQUIT
            case .hup: SIGHUP
            case .usr1: SIGUSR1
            case .usr2: SIGUSR2
            case .kill: SIGKILL
            }
        }
    }

    /// `name`: unique, `[a-z0-9_-]+`; FLAKS_SERVICE in the instances' environment. Required.
    public var name: String
    /// `command`: the argv as written (run without a shell). Never empty. Required.
    public var command: [String]
    /// The program to run, absolute: `command[0]` found in PATH at load time when it has no "/",
    /// else resolved against the manifest's directory; an executable file either way.
    public var executable: String
    /// `cwd`: absolute working directory of the instances. Default: the manifest's directory.
    public var cwd: String
    /// `env`: extra environment (on top of Flaks' own). PORT, HOST, FLAKS_SERVICE and
    /// FLAKS_INSTANCE are Flaks' to set and refused here. Default none.
    public var env: [String: String]
    /// `instances`: processes, at least 1. Default 1.
    public var instances: Int
    /// `ready`: a path (starting with "/") that must answer 2xx to a GET before an instance gets
    /// traffic; nil (default) = ready once its port accepts a connection.
    public var ready: String?
    /// `ready_timeout`. Default 30 s.
    public var readyTimeout: Duration
    /// `restart`. Default `.always`.
    public var restart: Restart
    /// `stop_signal`. Default `.term`.
    public var stopSignal: StopSignal
    /// `stop_timeout`: after it, SIGKILL to the instance's process group. Default 10 s.
    public var stopTimeout: Duration
    /// `log` (extension): absolute path of a file that gets the instances' stdout and stderr
    /// lines (`[NAME#INSTANCE] line`) instead of the error log; nil (default) = the error log.
    public var log: String?

    public init(name: String, command: [String], executable: String, cwd: String, env: [String: String] = [:],
                instances: Int = 1, ready: String? = nil, readyTimeout: Duration = .seconds(30),
                restart: Restart = .always, stopSignal: StopSignal = .term, stopTimeout: Duration = .seconds(10),
                log: String? = nil) {
        self.name = name; self.command = command; self.executable = executable; self.cwd = cwd; self.env = env
        self.instances = instances; self.ready = ready; self.readyTimeout = readyTimeout; self.restart = restart
        self.stopSignal = stopSignal; self.stopTimeout = stopTimeout; self.log = log
    }
}
