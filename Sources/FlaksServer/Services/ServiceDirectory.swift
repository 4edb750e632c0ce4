import FlaksSync
/// Where the proxy finds the ready instances of a service, per request. Thread-safe: loops read
/// it, the supervisor writes it.
///
/// - `acquire(_:)` picks a ready instance round-robin and counts a request in flight on it (the
///   caller calls `release()` on the endpoint when the request is over); `snapshot(of:)` gives
///   the list for a caller that balances itself (then `ServiceEndpoint.tryAcquire()`).
/// - `waitForReady(_:on:_:)`: a request for a service with no ready instance waits (at most the
///   service's `ready_timeout`) and is called back on its loop with `.ready` (acquire again),
///   `.timedOut` or `.unavailable` (answer 503 with `Retry-After: retryAfter(of:)`).
///
/// The supervisor publishes a service's ready endpoints as a whole list (`update`), so a roll
/// moves every request from the old instances to the new ones at once.
public final class ServiceDirectory: Sendable {
    /// The ready instances of one service at one moment.
    public struct Snapshot: Sendable {
        /// Ready endpoints, by instance index.
        public let endpoints: [ServiceEndpoint]
        /// Changes whenever the list changes (a caller caching a balancer per list rebuilds it).
        public let version: UInt64
        /// How long a request may wait for a ready instance.
        public let readyTimeout: Duration
        /// False when no instance is starting or restarting (restart: never, or the service is
        /// stopping): waiting is pointless, answer 503 at once.
        public let canBecomeReady: Bool
        /// Seconds for `Retry-After` on a 503.
        public let retryAfter: Int
    }

    /// How a wait for a ready instance ended.
    public enum WaitResult: Sendable, Equatable {
        /// An instance is ready: acquire one now.
        case ready
        /// None became ready within the wait: 503.
        case timedOut
        /// None can become ready (the service is gone, stopping, or stays down): 503.
        case unavailable
    }

    /// What `waitForReady` did.
    public enum WaitStart: Sendable, Equatable {
        /// An instance is ready already; the callback will not be called.
        case readyNow
        /// The service is unknown or cannot become ready; the callback will not be called.
        case unavailable
        /// The callback will be called once, unless `cancelWait(token)` comes first.
        case waiting(token: UInt64)
    }

    private struct Entry {
        var endpoints: [ServiceEndpoint] = []
        var readyTimeout: UInt64
        var canBecomeReady = true
        var retryAfter = 1
        /// Round-robin turn for `acquire`.
        var turn = 0
        var version: UInt64 = 0
    }

    private struct Waiter {
        let service: String
        let deadline: UInt64
        let notify: @Sendable (WaitResult) -> Void
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var waiters: [UInt64: Waiter] = [:]
        var nextToken: UInt64 = 0
        var version: UInt64 = 0
    }

    // protected by its lock; held for table updates only (callbacks run after it is released)
    private let state = Locked(State())
    private let clock: any LoopClock
    /// Set by the supervisor: makes sure `expireWaiters` runs at (or soon after) the time given.
    private let wake = Locked<(@Sendable (UInt64) -> Void)?>(nil)

    init(clock: any LoopClock) { self.clock = clock }

    // MARK: - For the proxy

    /// The services known now (sorted).
    public var services: [String] { state.withLock { $0.entries.keys.sorted() } }

    /// The ready instances of `service`; nil when no such service runs.
    public func snapshot(of service: String) -> Snapshot? {
        state.withLock { s in
            s.entries[service].map {
                Snapshot(endpoints: $0.endpoints, version: $0.version, readyTimeout: .nanoseconds(Int64($0.readyTimeout)),
                         canBecomeReady: $0.canBecomeReady, retryAfter: $0.retryAfter)
            }
        }
    }

    /// A ready instance of `service`, chosen round-robin, with one request counted in flight on it
    /// (call `release()` on it when the request is over); nil when none is ready.
    public func acquire(_ service: String) -> ServiceEndpoint? {
        state.withLock { s -> ServiceEndpoint? in
            guard var e = s.entries[service], !e.endpoints.isEmpty else { return nil }
            let n = e.endpoints.count
            for k in 0..<n {
                let candidate = e.endpoints[(e.turn + k) % n]
                if candidate.tryAcquire() {
                    e.turn = (e.turn + k + 1) % n
                    s.entries[service] = e
                    return candidate
                }
            }
            return nil
        }
    }

    /// Seconds for `Retry-After` on a 503 for `service` (1 when unknown).
    public func retryAfter(of service: String) -> Int { state.withLock { $0.entries[service]?.retryAfter ?? 1 } }

    /// Waits until `service` has a ready instance, at most `timeout` nanoseconds (default: the
    /// service's `ready_timeout`). `notify` runs once, on any thread (the supervisor's or the one
    /// calling `update`), outside every lock — unless the answer is known at once (`.readyNow`,
    /// `.unavailable`: then it never runs) or the wait is cancelled.
    public func waitForReady(_ service: String, timeout: UInt64? = nil,
                             notify: @escaping @Sendable (WaitResult) -> Void) -> WaitStart {
        let now = clock.now()
        let r = state.withLock { s -> (WaitStart, UInt64) in
            guard let e = s.entries[service] else { return (.unavailable, 0) }
            if e.endpoints.contains(where: { !$0.isRetired }) { return (.readyNow, 0) }
            guard e.canBecomeReady else { return (.unavailable, 0) }
            s.nextToken &+= 1
            let deadline = now &+ (timeout ?? e.readyTimeout)
            s.waiters[s.nextToken] = Waiter(service: service, deadline: deadline, notify: notify)
            return (.waiting(token: s.nextToken), deadline)
        }
        if case .waiting = r.0 { wake.withLock { $0 }?(r.1) }
        return r.0
    }

    /// `waitForReady` with the answer delivered on `loop` (through `EventLoop.execute`): what a
    /// request handled on that loop uses.
    public func waitForReady(_ service: String, on loop: EventLoop, timeout: UInt64? = nil,
                             _ body: @escaping @Sendable (EventLoop, WaitResult) -> Void) -> WaitStart {
        waitForReady(service, timeout: timeout) { result in loop.execute { body($0, result) } }
    }

    /// Forgets a wait (the client went away); its callback will not run (unless it already did).
    public func cancelWait(_ token: UInt64) {
        _ = state.withLock { $0.waiters.removeValue(forKey: token) }
    }

    /// Requests waiting now, all services.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    // MARK: - For the supervisor

    /// Sets how the supervisor is asked to call `expireWaiters` at a time.
    func setWake(_ body: @escaping @Sendable (UInt64) -> Void) { wake.withLock { $0 = body } }

    /// Makes `service` known (no ready instance yet; requests wait for one).
    func register(_ service: String, readyTimeout: UInt64) {
        state.withLock { s in
            if s.entries[service] == nil { s.entries[service] = Entry(readyTimeout: readyTimeout) }
            else { s.entries[service]?.readyTimeout = readyTimeout }
        }
    }

    /// Publishes the ready instances of `service` (replacing the list), whether it may still get
    /// one (`canBecomeReady`), and the Retry-After to give. Wakes the waiters it settles.
    func update(_ service: String, endpoints: [ServiceEndpoint], readyTimeout: UInt64, canBecomeReady: Bool, retryAfter: Int) {
        let settled = state.withLock { s -> [(@Sendable (WaitResult) -> Void, WaitResult)] in
            var e = s.entries[service] ?? Entry(readyTimeout: readyTimeout)
            if e.endpoints.map(\.id) != endpoints.map(\.id) {
                s.version &+= 1
                e.version = s.version
                e.turn = 0
            }
            e.endpoints = endpoints
            e.readyTimeout = readyTimeout
            e.canBecomeReady = canBecomeReady
            e.retryAfter = max(1, retryAfter)
            s.entries[service] = e
            let result: WaitResult? = !endpoints.isEmpty ? .ready : (canBecomeReady ? nil : .unavailable)
            guard let result else { return [] }
            return Self.take(&s, service: service, result: result)
        }
        for (notify, result) in settled { notify(result) }
    }

    /// Forgets `service` (removed from the manifest, or the server stops); its waiters get `.unavailable`.
    func remove(_ service: String) {
        let settled = state.withLock { s -> [(@Sendable (WaitResult) -> Void, WaitResult)] in
            s.entries[service] = nil
            return Self.take(&s, service: service, result: .unavailable)
        }
        for (notify, result) in settled { notify(result) }
    }

    /// Answers `.timedOut` to the waits whose time is up; returns the next wait's deadline.
    @discardableResult
    func expireWaiters(now: UInt64) -> UInt64? {
        let (due, next) = state.withLock { s -> ([@Sendable (WaitResult) -> Void], UInt64?) in
            var due: [@Sendable (WaitResult) -> Void] = []
            var next: UInt64?
            for (token, w) in s.waiters {
                if w.deadline <= now {
                    due.append(w.notify)
                    s.waiters[token] = nil
                } else {
                    next = min(next ?? w.deadline, w.deadline)
                }
            }
            return (due, next)
        }
        for notify in due { notify(.timedOut) }
        return next
    }

    private static func take(_ s: inout State, service: String, result: WaitResult) -> [(@Sendable (WaitResult) -> Void, WaitResult)] {
        var out: [(@Sendable (WaitResult) -> Void, WaitResult)] = []
        for (token, w) in s.waiters where w.service == service {
            out.append((w.notify, result))
            s.waiters[token] = nil
        }
        return out
    }
}
