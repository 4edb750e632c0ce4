import FlaksHandlers

/// What `handler: status` and `handler: metrics` show about one service.
public struct ServiceStatus: Sendable, Equatable {
    /// One instance (a process slot: restarted in place, replaced by a roll).
    public struct Instance: Sendable, Equatable {
        /// FLAKS_INSTANCE.
        public var index: Int
        /// The roll generation it belongs to (1 for the first definition served).
        public var generation: Int
        /// The main process, while there is one.
        public var pid: Int32?
        /// Its port, while it has a process.
        public var port: Int?
        /// starting, ready, stopping, backoff (waiting to restart), exited (not restarted), stopped.
        public var state: String
        /// Restarts so far.
        public var restarts: Int
        /// How its last process ended.
        public var lastExit: ProcessExit?
        /// Requests and tunnels in flight to it.
        public var inFlight: Int
    }

    public var name: String
    /// "rolling to generation N", "roll stalled: …", or nil.
    public var note: String?
    /// Current instances, then a roll's new ones, then those stopping.
    public var instances: [Instance]

    /// True when the last roll was abandoned.
    public var rollStalled: Bool { note?.hasPrefix("roll stalled") ?? false }
}

/// Something the supervisor did, kept (the last few thousand) for tests and debugging: the order
/// of spawns, readiness, signals, exits and rolls.
struct ServiceEvent: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case spawned
        case ready
        case signalled(Int32)
        /// SIGKILL to the process group.
        case killed
        case exited(ProcessExit)
        case rollStarted(Int)
        case rollCompleted(Int)
        case rollStalled(Int)
    }
    /// Monotonic nanoseconds (the supervisor loop's clock).
    var time: UInt64
    var service: String
    var instance: Int?
    var generation: Int?
    var pid: Int32?
    var kind: Kind
}
