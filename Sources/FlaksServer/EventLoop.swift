#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHandlers
import FlaksTLS
import Synchronization

/// One selector thread: owns its listeners, connections, child processes and timers. Other threads
/// talk to it only through `execute`, which appends to the inbox and writes the eventfd.
///
/// What runs on a loop reaches it through a small API: `register`/`modify`/`deregister` (the
/// selector), `schedule`/`removeTimer` (the timer heap), `now`, `adopt` and `connection(id:)`
/// (the connection table), `queueJob` (the worker pool) and `resumeNextRound` (fairness between
/// connections sending large files). Everything else is private.
public final class EventLoop: @unchecked Sendable {
    let index: Int
    unowned(unsafe) let server: Server
    /// Cross-thread messages; protected by its lock.
    private let inbox = Locked<[LoopTask]>([])
    /// Set (under the inbox's lock) when the loop has stopped: later tasks are dropped, not kept.
    /// A worker finishing a job (a CGI launch) after the stop would otherwise leave a task that
    /// holds its request's objects, which hold the loop, in an inbox nobody drains.
    private var inboxClosed = false
    /// The inbox's other buffer: swapped in when the inbox is drained, so neither is reallocated.
    private var drained: [LoopTask] = []
    private let wakeFD: Int32
    /// Request counters; written by this loop only, read by scrapes.
    let metrics = Locked(LoopMetrics())
    private let clock: any LoopClock

    // Everything below: loop thread only.
    private let selector: Selector
    private let timers = TimerHeap()
    private var connections: [UInt64: Connection] = [:]
    private var listeners: [Listener] = []
    private var nextConnectionID: UInt64
    private var nextRequestID: UInt64 = 0
    /// The Date and Server fields, formatted at most once a second.
    var dateCache = DateCache()
    /// Shared read buffer: a connection's bytes are parsed in place; only leftovers are copied out.
    private(set) var scratch: UnsafeMutableRawBufferPointer
    /// The time read right after the last wait for events (monotonic nanoseconds): what every
    /// callback of this round sees.
    private(set) var now: UInt64
    private(set) var draining = false
    private var drainDeadline: UInt64 = 0
    private var stopped = false
    private var lastSweep: UInt64 = 0
    private var waker: Waker?
    /// Connections that yielded between slices of a large file: resumed after this round of events.
    private var resumeQueue: [Connection] = []
    /// Blocking jobs queued during this round of events, handed to the worker pool together
    /// (one lock and one wake-up per round instead of per request).
    private var pendingJobs: [WorkerPool.Job] = []
    /// An fd kept open to be closed when accept hits EMFILE, so the pending connection can be refused.
    private var reserveFD: Int32 = -1
    /// TLS connections' transient buffers (loop thread only, used within one call): ciphertext on
    /// its way to a socket, and plaintext gathered for one record run. Made on first TLS use.
    var tlsBuffer: UnsafeMutableRawBufferPointer {
        if let b = tlsBuffers { return b.cipher }
        let b = (cipher: UnsafeMutableRawBufferPointer.allocate(byteCount: 80 * 1024, alignment: 16),
                 stage: UnsafeMutableRawBufferPointer.allocate(byteCount: TLSTransport.stageSize, alignment: 16))
        tlsBuffers = b
        return b.cipher
    }
    var tlsStage: UnsafeMutableRawBufferPointer {
        if let b = tlsBuffers { return b.stage }
        _ = tlsBuffer
        return tlsBuffers!.stage
    }
    private var tlsBuffers: (cipher: UnsafeMutableRawBufferPointer, stage: UnsafeMutableRawBufferPointer)?
    /// Answers kept to send again to identical plain requests (Connection+Prepared).
    let prepared = PreparedResponses()
    /// Idle keep-alive connections to upstreams (proxy, FastCGI), by address, made on first use.
    lazy var upstreamPool = UpstreamPool(loop: self)
    /// Upstream connections with output to write once this wake-up's events are dispatched.
    private var corked: [UpstreamConnection] = []
    /// The FastCGI responder located last on this loop (`FastCGIResponders.Memo`).
    var fastcgiResponder: FastCGIResponders.Memo?
    /// The FastCGI requests' read buffers, reused (see `FastCGIBufferPool`).
    let fastcgiBuffers = FastCGIBufferPool()

    init(index: Int, server: Server, clock: any LoopClock) throws(SystemError) {
        self.index = index
        self.server = server
        self.clock = clock
        now = clock.now()
        selector = try Selector()
        wakeFD = try syscallBlocking("eventfd") { cflaks_eventfd() }
        nextConnectionID = UInt64(index) << 48
        scratch = .allocate(byteCount: 64 * 1024, alignment: 16)
        reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    deinit {
        scratch.deallocate()
        if let b = tlsBuffers { b.cipher.deallocate(); b.stage.deallocate() }
        close(wakeFD)
        if reserveFD >= 0 { close(reserveFD) }
    }

    /// Runs `task` on this loop's thread soon. Safe from any thread.
    public func execute(_ task: @escaping @Sendable (EventLoop) -> Void) {
        post(LoopTask(run: task, call: nil))
    }

    /// Finishes `call` (a worker ran its job) on this loop's thread.
    func execute(_ call: consuming BlockingCall) {
        post(LoopTask(run: nil, call: call))
    }

    /// `task` is moved into the inbox: the worker that posts a call keeps no reference to it, so
    /// the loop lets go of it last (see `ViewTaskRunner.serve`).
    private func post(_ task: consuming LoopTask) {
        var pending: LoopTask? = consume task
        let first = inbox.withLock { q -> Bool in
            if inboxClosed { return false }   // `pending` is freed below, outside the lock
            if let t = pending.take() { q.append(t) }
            return q.count == 1
        }
        if let d = pending {
            // A runner that came back after the loop stopped ends (it would wait for ever).
            d.call?.takeRunner()?.resume(returning: nil)
            return
        }
        if first {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    // MARK: - The API for what runs on the loop

    /// Watches `fd` for `interest`; events go to `target` until `deregister`.
    func register(fd: Int32, interest: SelectorEvents, target: any Selectable) throws(SystemError) {
        try selector.register(fd: fd, interest: interest, target: target)
    }

    func modify(fd: Int32, interest: SelectorEvents) throws(SystemError) {
        try selector.modify(fd: fd, interest: interest)
    }

    /// Stops watching `fd` (call before closing it).
    func deregister(fd: Int32) { selector.deregister(fd: fd) }

    /// Sets `target`'s deadline on this loop's timers (0 = none).
    func schedule(_ target: any TimerTarget, at deadline: UInt64) { timers.schedule(target, at: deadline) }

    /// Takes `target` off the timers (it is going away).
    func removeTimer(_ target: any TimerTarget) { timers.remove(target) }

    /// Makes sure the scratch buffer holds at least `bytes`.
    func ensureScratch(_ bytes: Int) {
        if scratch.count < bytes {
            scratch.deallocate()
            scratch = .allocate(byteCount: bytes, alignment: 16)
        }
    }

    /// A connection accepted on this loop; it is reachable by id until it closes.
    func adopt(fd: Int32, peer: SocketAddress, local: SocketAddress, tls: Bool = false) -> Connection? {
        var transport: TLSTransport?
        if tls {
            // The context current at accept time: a reload changes the certificates of new handshakes only.
            guard let context = server.currentSite.tls?.context, let session = try? context.makeSession() else {
                server.logger.debug("tls: no certificate configured; closing a connection on a TLS listener")
                return nil
            }
            transport = TLSTransport(session: session)
        }
        nextConnectionID &+= 1
        let c = Connection(id: nextConnectionID, fd: fd, peer: peer, local: local, loop: self, tls: transport)
        do {
            try selector.register(fd: fd, interest: [.readable, .writable, .readHangup, .edgeTriggered], target: c)
        } catch {
            server.logger.warning("register connection: \(error)")
            return nil
        }
        connections[c.id] = c
        c.started()
        return c
    }

    /// The open connection `id`, if it still exists (a late completion for a closed one finds nil).
    func connection(id: UInt64) -> Connection? { connections[id] }

    /// Called by a connection when it closes.
    func connectionClosed(_ c: Connection) {
        connections[c.id] = nil
        timers.remove(c)
        server.stats.openConnections.subtract(1, ordering: .relaxed)
    }

    /// Calls `c.resumeWriting()` after this round of events (a large file yields between slices).
    func resumeNextRound(_ c: Connection) { resumeQueue.append(c) }

    /// Queues a blocking job for the worker pool; it is handed over after this round of events.
    func queueJob(_ job: @escaping @Sendable () -> Void) {
        pendingJobs.append(WorkerPool.Job(run: job))
    }

    /// Queues a job of an async view's task for the worker pool (`ViewTaskExecutor`: a continuation
    /// resumed on this loop, such as a stream writer woken when its socket drained).
    func queueTask(_ job: UnownedJob) {
        pendingJobs.append(WorkerPool.Job(task: job))
    }

    /// Queues a blocking handler's call for the worker pool (see `BlockingCall`).
    func queueCall(_ call: BlockingCall) {
        pendingJobs.append(WorkerPool.Job(call: call))
    }

    /// Runs an async handler's call: in a runner parked here (resumed on this loop, its task's job
    /// joins this round's batch for the workers), or in a new one that the worker which takes the
    /// call starts (`ViewTaskRunner`).
    func queueAsyncCall(_ call: BlockingCall) {
        if let runner = parkedRunners.popLast() {
            runner.resume(returning: call)
        } else {
            pendingJobs.append(WorkerPool.Job(call: call))
        }
    }

    /// Runner tasks waiting for this loop's next async request (`ViewTaskRunner`), the last parked
    /// at the end (its task's memory is the warmest).
    private var parkedRunners: [ViewTaskRunner.Parked] = []

    /// Runners kept parked per loop; one finishing when this many are parked ends. A runner costs
    /// ~1.5 KiB while it waits; a burst of slow async views makes as many as run at once.
    static let maxParkedRunners = 64

    /// Parks a runner that finished a call of this loop, or ends it if enough are parked.
    func park(_ runner: ViewTaskRunner.Parked) {
        if parkedRunners.count < Self.maxParkedRunners {   // (a stopped loop ends those parked)
            parkedRunners.append(runner)
        } else {
            runner.resume(returning: nil)
        }
    }

    /// Runners parked here now (tests; loop thread).
    var parkedRunnerCount: Int { parkedRunners.count }

    /// Runner tasks of this loop's calls that have not ended (parked or running a view): a runner
    /// serves only the loop of its first call, which it parks on. Counted for tests (that none is
    /// left waiting once the loop stopped); touched twice per runner, not per request.
    let runnersAlive = Atomic<Int>(0)

    /// A unique id for a request on this loop.
    func makeRequestID() -> UInt64 {
        nextRequestID &+= 1
        return (UInt64(index) << 48) | nextRequestID
    }

    /// Out of descriptors: the reserve descriptor is given up so one pending connection can be
    /// accepted and refused; `restoreReserve` takes it back.
    func releaseReserve() {
        if reserveFD >= 0 { _ = Glibc.close(reserveFD); reserveFD = -1 }
    }

    func restoreReserve() {
        if reserveFD < 0 { reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC) }
    }

    // MARK: - The loop

    /// Writes `c`'s queued output after this wake-up's events (`UpstreamConnection.writeAfterDispatch`).
    func writeAfterDispatch(_ c: UpstreamConnection) { corked.append(c) }

    /// Until none is left: a write that fails may end a request whose client's next request
    /// queues another (bounded by the requests in flight).
    private func uncorkAll() {
        while !corked.isEmpty {
            let list = corked
            corked.removeAll(keepingCapacity: true)
            for c in list { c.uncork() }
        }
    }

    /// The loop body; returns when the loop has drained or was stopped.
    func run() {
        pthread_setspecific(CurrentThread.loopKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(CurrentThread.loopKey, nil) }
        let w = Waker(fd: wakeFD, loop: self)
        waker = w
        do { try selector.register(fd: wakeFD, interest: .readable, target: w) } catch {
            server.logger.error("loop \(index): cannot register eventfd: \(error)")
            return
        }
        while !stopped {
            if submittedJobs || backlogMark != nil { watchBacklog() }
            let n: Int
            do { n = try selector.poll(timeoutMs: waitTimeout()) } catch {
                server.logger.error("loop \(index): epoll_wait: \(error)")
                n = 0
            }
            // The time after the wait, before any callback: handlers never see a stale `now`.
            now = clock.now()
            selector.dispatch(n)
            if !corked.isEmpty { uncorkAll() }
            if !pendingJobs.isEmpty { flushJobs() }
            if !resumeQueue.isEmpty {
                let ready = resumeQueue
                resumeQueue.removeAll(keepingCapacity: true)
                for c in ready { c.resumeWriting() }
            }
            timers.fireDue(now: now)
            if !corked.isEmpty { uncorkAll() }
            if !pendingJobs.isEmpty { flushJobs() }
            if now &- lastSweep >= 1_000_000_000 { sweep() }
            if draining && (connections.isEmpty || now >= drainDeadline) {
                for c in Array(connections.values) { c.close() }
                stopped = true
            }
        }
        // Parked runners end: resumed here, their last steps join this round's jobs for the workers.
        for runner in parkedRunners { runner.resume(returning: nil) }
        parkedRunners.removeAll()
        // From here on, tasks' jobs go to the workers directly (`ViewTaskExecutor`); those queued
        // this round go now (a task's job dropped would leave its task suspended for ever).
        pthread_setspecific(CurrentThread.loopKey, nil)
        if !pendingJobs.isEmpty { flushJobs() }
        selector.deregister(fd: wakeFD)
        for l in listeners { l.close() }
        listeners = []
        // Stopped: let go of what is still here (a CGI or an upstream connection the drain cut off,
        // timers, queued tasks). They hold this loop and it held them: kept, neither would be freed.
        timers.removeAll()
        selector.releaseTargets()
        connections.removeAll()
        resumeQueue.removeAll()
        corked.removeAll()
        pendingJobs.removeAll()
        drained.removeAll()
        var left: [LoopTask] = []
        inbox.withLock { q in
            inboxClosed = true
            swap(&q, &left)
        }
        for t in left { t.call?.takeRunner()?.resume(returning: nil) }
        withExtendedLifetime(left) {}   // freed outside the lock: a task's deinit may post again
    }

    /// How long to wait for events: until the next timer (rounded up to a millisecond), at most a
    /// second; no wait when connections are waiting to resume.
    private func waitTimeout() -> Int32 {
        if !resumeQueue.isEmpty { return 0 }
        var limit: UInt64 = draining ? 50_000_000 : 1_000_000_000
        if let next = timers.nextKey {
            let t = clock.now()
            if next <= t { return 0 }
            limit = min(limit, next - t)
        }
        if backlogMark != nil { limit = min(limit, WorkerPool.backlogGrace) }
        return Int32((limit + 999_999) / 1_000_000)
    }

    private func flushJobs() {
        server.workers.submit(batch: pendingJobs)
        pendingJobs.removeAll(keepingCapacity: true)
        submittedJobs = true
    }

    /// Jobs went to the workers since the loop last waited (see `watchBacklog`).
    private var submittedJobs = false
    /// Jobs were still queued for the workers at the last check: the pool's progress mark then, and
    /// when to check again (`WorkerPool.checkBacklog`).
    private var backlogMark: UInt64?
    private var backlogCheckAt: UInt64 = 0

    /// Before the loop waits: after it submitted jobs, and while jobs stay queued, every
    /// `WorkerPool.backlogGrace`, the pool wakes more workers if the queued jobs made no progress.
    private func watchBacklog() {
        submittedJobs = false
        if let mark = backlogMark {
            guard now >= backlogCheckAt else { return }
            backlogMark = server.workers.checkBacklog(mark: mark)
        } else {
            backlogMark = server.workers.checkBacklog(mark: nil)
        }
        if backlogMark != nil { backlogCheckAt = now &+ WorkerPool.backlogGrace }
    }

    /// Runs the queued inbox tasks.
    fileprivate func drainInbox() {
        var drain: UInt64 = 0
        _ = read(wakeFD, &drain, 8)
        var tasks = drained
        drained = []
        inbox.withLock { swap(&$0, &tasks) }
        for t in tasks {
            if let call = t.call { call.finish(on: self) } else { t.run?(self) }
        }
        tasks.removeAll(keepingCapacity: true)
        drained = tasks
    }

    /// Most connections this loop held since memory was last given back.
    private var peakConnections = 0

    /// Gives memory back after a burst of connections (10,000 idle clients gone).
    private func sweep() {
        lastSweep = now
        peakConnections = max(peakConnections, connections.count)
        if peakConnections >= 1024 && connections.count * 8 < peakConnections {
            connections = Dictionary(uniqueKeysWithValues: connections.map { ($0.key, $0.value) })
            selector.shrink()
            peakConnections = connections.count
            _ = cflaks_malloc_trim()
        }
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
    func addListener(fd: Int32, address: SocketAddress, tls: Bool = false) {
        let l = Listener(fd: fd, address: address, loop: self, tls: tls)
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
}

/// The eventfd's selector target: drains the inbox.
final class Waker: Selectable {
    let fd: Int32
    unowned(unsafe) let loop: EventLoop
    init(fd: Int32, loop: EventLoop) { self.fd = fd; self.loop = loop }
    func ready(_ events: SelectorEvents) { loop.drainInbox() }
}

/// A closure for a loop's inbox. In a struct, an array keeps the closure as it is: an array of bare
/// closures stores each one behind a reabstraction thunk with an allocation of its own, and calls it
/// through that thunk (five nested thunks per blocking view request, ~1,600 instructions).
struct LoopTask: Sendable {
    let run: (@Sendable (EventLoop) -> Void)?
    let call: BlockingCall?
}

/// A blocking handler's round trip: made once per request on the loop, run by a worker, finished
/// back on the loop with its response. One object where two closure contexts (the job's and the
/// completion's, which copied the `Response`) were: ~700 instructions per blocking view request.
/// An async handler's call goes to a `ViewTaskRunner`: one parked on the loop, resumed with it, or
/// a new one that the worker which takes the call starts (`Task.immediate`: the view runs at once
/// on this worker until it first suspends; starting a task by enqueueing its first job on
/// `ViewTaskExecutor` cost ~1,200 more instructions per async view request). The job hands its
/// response over through `receive`, from whichever thread the task is on, and the runner posts
/// the call back. `response` (and `runner`) are written by the worker or the task before
/// `loop.execute(self)` and read by the loop after it takes the task from its inbox: the inbox's
/// lock orders the two.
final class BlockingCall: ResponseReceiver, @unchecked Sendable {
    /// What the worker runs: a blocking handler's job, or an async one's (run by a runner task).
    enum Work {
        case blocking(@Sendable () -> Response)
        case async(AsyncHandlerJob)
    }

    private let work: Work
    let loop: EventLoop
    /// Held, not looked up by id when the response comes back (~150 instructions per view
    /// request: a hashed dictionary lookup); `Connection.complete` skips a closed one.
    private let connection: Connection
    private let request: Int
    private var response: Response?
    /// The runner that ran this call's async job, to park on the loop once the call is finished.
    private var runner: ViewTaskRunner.Parked?

    init(_ work: Work, loop: EventLoop, connection: Connection, request: Int) {
        self.work = work; self.loop = loop; self.connection = connection; self.request = request
    }

    /// On a worker.
    func run() {
        switch work {
        case .blocking(let job):
            receive(job())
            loop.execute(self)
        case .async:
            ViewTaskRunner.start(self)
        }
    }

    /// The async job, for a runner task.
    var asyncJob: AsyncHandlerJob? {
        guard case .async(let job) = work else { return nil }
        return job
    }

    /// On the worker or the task: the response, to be sent on the loop. Once.
    func receive(_ r: consuming Response) {
        response = consume r
    }

    /// In a runner task, after the job: back to the loop, with the runner to park there (nil: the
    /// runner ends). Consumes the runner's reference to the call.
    static func post(_ call: consuming BlockingCall?, parking runner: ViewTaskRunner.Parked?) {
        guard let call = call.take() else { return }
        call.runner = runner
        call.loop.execute(call)
    }

    /// The runner, taken out (the loop stopped before it could park it: it is resumed to end).
    func takeRunner() -> ViewTaskRunner.Parked? { runner.take() }

    /// On the loop.
    func finish(on loop: EventLoop) {
        if let r = response.take() { connection.complete(r, request: request) }
        if let p = runner.take() { loop.park(p) }
    }
}
