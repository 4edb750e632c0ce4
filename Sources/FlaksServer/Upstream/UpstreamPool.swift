import FlaksHandlers

/// One loop's idle keep-alive connections to its upstreams, by address. Taken last in, first out (the
/// warmest connection, least likely to have been closed by the upstream's own idle timeout); each is
/// closed after its `keepalive_timeout`, or at once when it becomes readable. Loop thread only.
final class UpstreamPool {
    private var idle: [String: [UpstreamConnection]] = [:]
    private unowned let loop: EventLoop

    init(loop: EventLoop) { self.loop = loop }

    /// An idle connection to `key` for `user`, or nil.
    func take(_ key: String, for user: any UpstreamUser) -> UpstreamConnection? {
        guard var list = idle[key] else { return nil }
        while let c = list.popLast() {
            if c.phase == .idle {
                idle[key] = list
                c.onIdleClose = nil
                c.takeFromPool(for: user)
                return c
            }
        }
        idle[key] = nil
        return nil
    }

    /// Keeps `c` for the next request to its upstream if fewer than `max` are idle; else closes it.
    func put(_ c: UpstreamConnection, max: Int, idleTimeout: UInt64) {
        var list = idle[c.key] ?? []
        guard max > 0, list.count < max, c.phase == .open, c.outputEmpty else { c.close(); return }
        c.parkIdle(until: loop.now &+ idleTimeout)
        c.onIdleClose = { [unowned self] closed in remove(closed) }
        list.append(c)
        idle[c.key] = list
    }

    private func remove(_ c: UpstreamConnection) {
        idle[c.key]?.removeAll { $0 === c }
        if idle[c.key]?.isEmpty == true { idle[c.key] = nil }
    }

    /// Idle connections kept now (all upstreams).
    var count: Int { idle.values.reduce(0) { $0 + $1.count } }

    /// Closes every idle connection (shutdown, or upstreams removed by a reload).
    func closeAll(where matches: (String) -> Bool = { _ in true }) {
        for (key, list) in idle where matches(key) {
            idle[key] = nil
            for c in list { c.onIdleClose = nil; c.close() }
        }
    }
}

/// At most `max` connections to one upstream across all loops (FastCGI's `max_connections`:
/// php-fpm serves one request per child, so more connections than children stall), with a queue:
/// a request that finds no free slot waits, and a freed slot goes to the longest waiter, on its own loop.
final class UpstreamSlots: Sendable {
    private struct Waiter {
        let id: UInt64
        let loop: EventLoop
        let granted: @Sendable (EventLoop) -> Void
    }
    private struct State {
        var inUse: [String: Int] = [:]
        var waiters: [String: [Waiter]] = [:]
        var nextID: UInt64 = 0
    }
    // protected by its lock
    private let state = Locked(State())

    /// Takes a slot now (true) or queues `granted`, which later runs on `loop` with the slot taken.
    /// Returns (false, id) when queued; `cancel(id)` takes a waiter back (its request timed out or left).
    func acquire(_ key: String, max: Int, loop: EventLoop,
                 granted: @escaping @Sendable (EventLoop) -> Void) -> (acquired: Bool, waiter: UInt64) {
        state.withLock { s in
            let used = s.inUse[key, default: 0]
            if max <= 0 || used < max {
                s.inUse[key] = used + 1
                return (true, 0)
            }
            s.nextID &+= 1
            s.waiters[key, default: []].append(Waiter(id: s.nextID, loop: loop, granted: granted))
            return (false, s.nextID)
        }
    }

    /// Gives a slot back: it goes to the first waiter, if any.
    func release(_ key: String) {
        let next = state.withLock { s -> Waiter? in
            if var list = s.waiters[key], !list.isEmpty {
                let w = list.removeFirst()
                s.waiters[key] = list.isEmpty ? nil : list
                return w  // the slot passes to it: the count does not change
            }
            s.inUse[key] = max(0, s.inUse[key, default: 0] - 1)
            return nil
        }
        if let w = next { w.loop.execute(w.granted) }
    }

    /// Takes a queued request back (it timed out or its client left).
    func cancel(_ key: String, waiter: UInt64) {
        state.withLock { s in s.waiters[key]?.removeAll { $0.id == waiter } }
    }

    /// Slots in use for `key`.
    func inUse(_ key: String) -> Int { state.withLock { $0.inUse[key, default: 0] } }
}
