#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHandlers

/// One selector thread: owns its listeners and connections. Other threads talk to it only
/// through `execute`, which appends to the inbox and writes the eventfd.
public final class EventLoop: @unchecked Sendable {
    let index: Int
    unowned(unsafe) let server: Server
    /// Cross-thread messages; protected by its lock.
    private let inbox = Locked<[@Sendable (EventLoop) -> Void]>([])
    private let wakeFD: Int32
    /// Request counters; written by this loop only, read by scrapes.
    let metrics = Locked(LoopMetrics())

    // Everything below: loop thread only.
    let selector: Selector
    var connections: [UInt64: Connection] = [:]
    var listeners: [Listener] = []
    var nextConnectionID: UInt64
    var nextRequestID: UInt64 = 0
    var dateCache = DateCache()
    /// Shared read buffer: a connection's bytes are parsed in place; only leftovers are copied out.
    var scratch: UnsafeMutableRawBufferPointer
    var now: UInt64 = monotonicNanos()
    var draining = false
    var drainDeadline: UInt64 = 0
    var stopped = false
    private var lastSweep: UInt64 = 0
    private var waker: Waker?
    /// Connections that yielded between slices of a large file: resumed after this round of events.
    var writeReady: [Connection] = []
    /// Blocking jobs queued during this round of events, handed to the worker pool together
    /// (one lock and one wake-up per round instead of per request).
    private var pendingJobs: [@Sendable () -> Void] = []
    /// An fd kept open to be closed when accept hits EMFILE, so the pending connection can be refused.
    var reserveFD: Int32 = -1

    init(index: Int, server: Server) throws(SystemError) {
        self.index = index
        self.server = server
        selector = try Selector()
        wakeFD = try syscallBlocking("eventfd") { cflaks_eventfd() }
        nextConnectionID = UInt64(index) << 48
        scratch = .allocate(byteCount: 64 * 1024, alignment: 16)
        reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    deinit {
        scratch.deallocate()
        close(wakeFD)
        if reserveFD >= 0 { close(reserveFD) }
    }

    /// Runs `task` on this loop's thread soon. Safe from any thread.
    public func execute(_ task: @escaping @Sendable (EventLoop) -> Void) {
        let first = inbox.withLock { q -> Bool in q.append(task); return q.count == 1 }
        if first {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    /// Makes sure the scratch buffer holds at least `bytes`.
    func ensureScratch(_ bytes: Int) {
        if scratch.count < bytes {
            scratch.deallocate()
            scratch = .allocate(byteCount: bytes, alignment: 16)
        }
    }

    /// The loop body; returns when the loop has drained or was stopped.
    func run() {
        let w = Waker(fd: wakeFD, loop: self)
        waker = w
        do { try selector.register(fd: wakeFD, interest: .readable, target: w) } catch {
            server.logger.error("loop \(index): cannot register eventfd: \(error)")
            return
        }
        while !stopped {
            let timeout: Int32 = !writeReady.isEmpty ? 0 : draining ? 50 : 250
            do { try selector.wait(timeoutMs: timeout) } catch {
                server.logger.error("loop \(index): epoll_wait: \(error)")
            }
            if !pendingJobs.isEmpty { flushJobs() }
            if !writeReady.isEmpty {
                let ready = writeReady
                writeReady.removeAll(keepingCapacity: true)
                for c in ready { c.resumeWriting() }
            }
            now = monotonicNanos()
            if now &- lastSweep >= 100_000_000 { sweep() }
            if draining && (connections.isEmpty || now >= drainDeadline) {
                for c in Array(connections.values) { c.close() }
                stopped = true
            }
        }
        selector.deregister(fd: wakeFD)
        for l in listeners { l.close() }
        listeners = []
    }

    /// Queues a blocking job for the worker pool; it is handed over after this round of events.
    func queueJob(_ job: @escaping @Sendable () -> Void) {
        pendingJobs.append(job)
    }

    private func flushJobs() {
        server.workers.submit(batch: pendingJobs)
        pendingJobs.removeAll(keepingCapacity: true)
    }

    /// Runs the queued inbox tasks.
    func drainInbox() {
        var drain: UInt64 = 0
        _ = read(wakeFD, &drain, 8)
        let tasks = inbox.withLock { q -> [@Sendable (EventLoop) -> Void] in let t = q; q.removeAll(); return t }
        now = monotonicNanos()
        for t in tasks { t(self) }
    }

    /// Most connections this loop held since memory was last given back.
    private var peakConnections = 0

    /// Closes connections whose deadline has passed; gives memory back after a burst.
    private func sweep() {
        lastSweep = now
        peakConnections = max(peakConnections, connections.count)
        if peakConnections >= 1024 && connections.count * 8 < peakConnections {
            // After a burst (10,000 idle clients gone): shrink the table and return freed heap pages.
            connections = Dictionary(uniqueKeysWithValues: connections.map { ($0.key, $0.value) })
            selector.shrink()
            peakConnections = connections.count
            _ = cflaks_malloc_trim()
        }
        var expired: [Connection] = []
        for c in connections.values where c.deadline != 0 && c.deadline <= now { expired.append(c) }
        for c in expired { c.timedOut() }
    }

    /// Starts a graceful drain: no new connections, idle ones closed, busy ones finish.
    func beginDrain(deadline: UInt64) {
        draining = true
        drainDeadline = deadline
        for l in listeners { l.close() }
        listeners = []
        for c in Array(connections.values) { c.drain() }
    }

    /// Adds a listening socket to this loop.
    func addListener(fd: Int32, address: SocketAddress) {
        let l = Listener(fd: fd, address: address, loop: self)
        do {
            try selector.register(fd: fd, interest: [.readable, .exclusive], target: l)
            listeners.append(l)
        } catch {
            server.logger.error("loop \(index): cannot watch listener \(address): \(error)")
            Glibc.close(fd)
        }
    }

    /// Closes the listeners bound to `address` (reload removed it).
    func removeListeners(matching address: String) {
        listeners.removeAll { l in
            if l.address.description == address { l.close(); return true }
            return false
        }
    }

    /// Called by a connection when it closes.
    func connectionClosed(_ c: Connection) {
        connections[c.id] = nil
        server.stats.openConnections.subtract(1, ordering: .relaxed)
    }

    /// A unique id for a request on this loop.
    func makeRequestID() -> UInt64 {
        nextRequestID &+= 1
        return (UInt64(index) << 48) | nextRequestID
    }
}

/// The eventfd's selector target: drains the inbox.
final class Waker: Selectable {
    let fd: Int32
    unowned(unsafe) let loop: EventLoop
    init(fd: Int32, loop: EventLoop) { self.fd = fd; self.loop = loop }
    func ready(_ events: SelectorEvents) { loop.drainInbox() }
}
