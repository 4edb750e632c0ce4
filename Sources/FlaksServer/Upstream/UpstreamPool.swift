import FlaksHandlers

/// One loop's idle keep-alive connections to its upstreams, by address. Taken last in, first out (the
/// warmest connection, least likely to have been closed by the upstream's own idle timeout); each is
/// closed after its `keepalive_timeout`, or at once when it becomes readable. Loop thread only.
final class UpstreamPool {
    /// Idle connections by upstream key, searched linearly: a loop talks to a few upstreams, and a
    /// key is usually the very string the route holds, so `==` is a pointer comparison (a dictionary
    /// hashed the key at every take and put: ~2,000 instructions of a FastCGI request).
    private var buckets: [Bucket] = []
    private unowned let loop: EventLoop

    private struct Bucket {
        let key: String
        var list: [UpstreamConnection]
    }

    init(loop: EventLoop) { self.loop = loop }

    private func bucket(_ key: String) -> Int? {
        var i = 0
        while i < buckets.count {
            if buckets[i].key == key { return i }
            i += 1
        }
        return nil
    }

    /// An idle connection to `key` for `user`, or nil.
    func take(_ key: String, for user: any UpstreamUser) -> UpstreamConnection? {
        // The list is changed in place (`buckets[i].list`): a copy out and back cost an array copy per
        // request (take 2,100 instructions before, 830 with a dictionary).
        guard let i = bucket(key) else { return nil }
        // An emptied key stays for the next put (removing and re-adding it cost ~1,100 instructions
        // a FastCGI request); empty keys are swept when a new key comes (`put`).
        while let c = buckets[i].list.popLast() {
            guard c.phase == .idle else { continue }
            // `onIdleClose` stays: it is only called while the connection is idle, i.e. in this pool.
            c.takeFromPool(for: user)
            return c
        }
        return nil
    }

    /// Keeps `c` for the next request to its upstream if fewer than `max` are idle; else closes it.
    func put(_ c: UpstreamConnection, max: Int, idleTimeout: UInt64) {
        let i = bucket(c.key)
        guard max > 0, (i.map { buckets[$0].list.count } ?? 0) < max, c.phase == .open, c.outputEmpty else { c.close(); return }
        c.parkIdle(until: loop.now &+ idleTimeout)
        if c.onIdleClose == nil { c.onIdleClose = { [unowned self] closed in remove(closed) } }
        if let i {
            buckets[i].list.append(c)
        } else {
            // A new key: first drop the keys left without connections (keys of service instances
            // come and go with every roll; kept, each would be scanned by every later request).
            buckets.removeAll { $0.list.isEmpty }
            buckets.append(Bucket(key: c.key, list: [c]))
        }
    }

    private func remove(_ c: UpstreamConnection) {
        guard let i = bucket(c.key) else { return }
        buckets[i].list.removeAll { $0 === c }
        if buckets[i].list.isEmpty { buckets.remove(at: i) }
    }

    /// Upstream keys known now (with idle connections, or emptied since the last new key).
    var keyCount: Int { buckets.count }

    /// Idle connections kept now (all upstreams).
    var count: Int { buckets.reduce(0) { $0 + $1.list.count } }

    /// Closes every idle connection (shutdown, or upstreams removed by a reload).
    func closeAll(where matches: (String) -> Bool = { _ in true }) {
        var closing: [UpstreamConnection] = []
        buckets.removeAll { b in
            guard matches(b.key) else { return false }
            closing += b.list
            return true
        }
        for c in closing { c.onIdleClose = nil; c.close() }
    }
}

/// At most `max` connections to one upstream across all loops (FastCGI's `max_connections`:
/// php-fpm serves one request per child, so more connections than children stall), with a queue:
/// a request that finds no free slot waits, and a freed slot goes to the longest waiter, on its own loop.
final class UpstreamSlots: Sendable {
    private struct Waiter {
        let id: UInt64
        let loop: EventLoop
        /// What the waiter left to be found by `passOn` on its own loop (nil: hand it slots only).
        let token: (any Sendable)?
        let granted: @Sendable (EventLoop) -> Void
    }

    /// The outcome of `acquire(_:max:loop:token:granted:)`.
    enum Acquisition {
        /// A slot is taken: connect.
        case slot
        /// Queued as `waiter`, with `ahead` waiters before it (0: the first, all slots just ran out).
        case queued(waiter: UInt64, ahead: Int)
    }

    /// What to do with a kept connection whose request is over (see `passOn`).
    enum PassOn {
        /// Nobody waits: keep it idle (in the pool; its slot stays taken).
        case keep
        /// The longest waiter waits on this loop: give it this connection (slot and all). The waiter
        /// is out of the queue; `token` is what it left there.
        case handOff(token: any Sendable)
        /// The longest waiter waits on another loop: close the connection; its slot already went
        /// to that waiter (do not `release` it).
        case slotPassed
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
        switch acquire(key, max: max, loop: loop, token: nil, granted: granted) {
        case .slot: (true, 0)
        case .queued(let id, _): (false, id)
        }
    }

    /// `acquire`, leaving `token` with a queued waiter so that `passOn` on the waiter's loop can hand
    /// it a connection directly, and telling how many wait ahead of it.
    func acquire(_ key: String, max: Int, loop: EventLoop, token: (any Sendable)?,
                 granted: @escaping @Sendable (EventLoop) -> Void) -> Acquisition {
        state.withLock { s in
            let used = s.inUse[key, default: 0]
            if max <= 0 || used < max {
                s.inUse[key] = used + 1
                return .slot
            }
            s.nextID &+= 1
            let ahead = s.waiters[key]?.count ?? 0
            s.waiters[key, default: []].append(Waiter(id: s.nextID, loop: loop, token: token, granted: granted))
            return .queued(waiter: s.nextID, ahead: ahead)
        }
    }

    /// A connection to `key` on `loop` finished its request and could be kept. Strictly first come,
    /// first served across loops: the longest waiter gets it if it waits on this loop (no reconnect),
    /// else it gets this connection's slot (the connection is closed, the waiter connects on its loop).
    func passOn(_ key: String, loop: EventLoop) -> PassOn {
        let (outcome, grant) = state.withLock { s -> (PassOn, Waiter?) in
            guard var list = s.waiters[key], !list.isEmpty else { return (.keep, nil) }
            let w = list.removeFirst()
            s.waiters[key] = list.isEmpty ? nil : list
            if w.loop === loop, let token = w.token { return (.handOff(token: token), nil) }
            return (.slotPassed, w)       // the slot passes to it: the count does not change
        }
        if let w = grant { w.loop.execute(w.granted) }
        return outcome
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

    /// Takes a queued request back (it timed out or its client left). False when it was no longer
    /// queued: a slot was already granted to it (its `granted` will run, and must release the slot).
    @discardableResult
    func cancel(_ key: String, waiter: UInt64) -> Bool {
        state.withLock { s in
            guard var list = s.waiters[key], let i = list.firstIndex(where: { $0.id == waiter }) else { return false }
            list.remove(at: i)
            s.waiters[key] = list.isEmpty ? nil : list
            return true
        }
    }

    /// Requests waiting for `key`.
    func waiting(_ key: String) -> Int { state.withLock { $0.waiters[key]?.count ?? 0 } }

    /// Slots in use for `key`.
    func inUse(_ key: String) -> Int { state.withLock { $0.inUse[key, default: 0] } }
}
