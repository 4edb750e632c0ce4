import FlaksSync

/// Whether one upstream address is usable, shared by every route that proxies to it and by every
/// loop (thread-safe: the state sits in a `Locked`, held for a few comparisons). Time is passed in
/// (monotonic nanoseconds), never read.
///
/// Two independent marks; the upstream is down while either holds:
/// - **passive** (config-schema: "An upstream that refused or failed a connect, or timed out, is
///   marked down for `fail_timeout` for every route that uses it"): `markFailed(now:failTimeout:)`
///   holds it down until `now + failTimeout` (a later mark extends, never shortens, the time).
///   `markSucceeded(connectedAt:)` lifts it early when a connection made after the mark worked (a
///   route whose upstreams were all down tried it anyway, and it answered).
/// - **active** (`health:` checks): `checkResult(ok:now:fails:passes:)` counts consecutive results;
///   `fails` failures in a row take it down, `passes` successes in a row bring it back. It starts up
///   (requests flow before the first check has run) unless created with `startsDown`.
/// The thresholds and `fail_timeout` are arguments rather than stored settings because two routes
/// may share the address with different settings; each passes its own.
public final class UpstreamHealth: Sendable {
    /// What holds the upstream down, if anything.
    public enum Status: Sendable, Hashable {
        case up
        /// A passive mark, until this time.
        case passivelyDown(until: UInt64)
        /// Active checks failed (and, maybe, a passive mark also holds).
        case activelyDown
    }

    struct State: Sendable {
        /// The passive mark holds while `now < downUntil`.
        var downUntil: UInt64 = 0
        /// When the latest passive mark was made.
        var markedAt: UInt64 = 0
        var activelyDown: Bool
        var consecutiveFails = 0
        var consecutivePasses = 0
        /// When the last active check result arrived (nil: none yet).
        var lastCheck: UInt64?
    }

    // protected by its own lock; any thread
    private let state: Locked<State>

    /// - Parameter startsDown: held down by active checks until they pass (for an upstream that
    ///   must prove itself first); false by default.
    public init(startsDown: Bool = false) {
        state = Locked(State(activelyDown: startsDown))
    }

    /// A connect was refused or failed, or the upstream timed out: down until `now + failTimeout`.
    public func markFailed(now: UInt64, failTimeout: UInt64) {
        state.withLock { s in
            s.downUntil = max(s.downUntil, now &+ failTimeout)
            s.markedAt = now
        }
    }

    /// A request on a connection made at `connectedAt` got an answer: lifts a passive mark made no
    /// later than that connection (a success that began before the failure proves nothing).
    public func markSucceeded(connectedAt: UInt64) {
        state.withLock { s in
            if s.downUntil != 0 && connectedAt >= s.markedAt { s.downUntil = 0 }
        }
    }

    /// The result of one active check. `fails` failures in a row mark the upstream down, `passes`
    /// successes in a row mark it up (each at least 1). Returns true when this result changed the
    /// active state (for the log).
    @discardableResult
    public func checkResult(ok: Bool, now: UInt64, fails: Int, passes: Int) -> Bool {
        state.withLock { s in
            s.lastCheck = now
            if ok {
                s.consecutiveFails = 0
                s.consecutivePasses += 1
                if s.activelyDown && s.consecutivePasses >= max(1, passes) {
                    s.activelyDown = false
                    return true
                }
            } else {
                s.consecutivePasses = 0
                s.consecutiveFails += 1
                if !s.activelyDown && s.consecutiveFails >= max(1, fails) {
                    s.activelyDown = true
                    return true
                }
            }
            return false
        }
    }

    /// Whether the upstream should be skipped at `now`.
    public func isDown(now: UInt64) -> Bool {
        state.withLock { s in s.activelyDown || now < s.downUntil }
    }

    /// Whether active checks hold the upstream down (a passive mark does not count).
    public var isActivelyDown: Bool {
        state.withLock { $0.activelyDown }
    }

    /// The full picture at `now` (for `status` output and the log).
    public func status(now: UInt64) -> Status {
        state.withLock { s in
            if s.activelyDown { return .activelyDown }
            if now < s.downUntil { return .passivelyDown(until: s.downUntil) }
            return .up
        }
    }

    /// When the last active check result arrived, if any.
    public var lastCheck: UInt64? {
        state.withLock { $0.lastCheck }
    }
}
