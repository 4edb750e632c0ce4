import FlaksACME

/// One ARI check (RFC 9773) on a loop: an `ACMERenewalInfoMachine` whose requests (the directory,
/// then `renewalInfo/CERT-ID`, at most three) go out as `ACMECARequest`s. Loop-confined.
final class ACMERenewalInfoRun: @unchecked Sendable {
    private unowned let loop: EventLoop
    private let workers: WorkerPool
    private let context: ACMERequestContext
    private let clock: any WallClock
    private var machine: ACMERenewalInfoMachine
    private var sent = 0
    private var request: ACMECARequest?
    /// Called once with the outcome; nil when cancelled.
    private var completion: ((ACMERenewalInfoMachine.Next?) -> Void)?

    init(machine: ACMERenewalInfoMachine, loop: EventLoop, workers: WorkerPool, context: ACMERequestContext,
         clock: any WallClock, completion: @escaping (ACMERenewalInfoMachine.Next?) -> Void) {
        self.machine = machine; self.loop = loop; self.workers = workers; self.context = context; self.clock = clock
        self.completion = completion
    }

    func start() { advance(machine.start(now: clock.now())) }

    /// Ends the check now (the server is stopping or the host was removed): its request is closed
    /// and the completion gets nil.
    func cancel() {
        guard let done = completion else { return }
        completion = nil
        let r = request
        request = nil
        r?.cancel()
        done(nil)
    }

    private func advance(_ next: ACMERenewalInfoMachine.Next) {
        guard completion != nil else { return }
        guard case .send(let r) = next, sent < 3 else { finish(next); return }
        sent += 1
        let request = context.request(r, loop: loop, workers: workers) { [self] result in
            self.request = nil
            switch result {
            case .success(let response): advance(machine.received(response, now: clock.now()))
            case .failure(let e): advance(machine.transportFailed(e.description, now: clock.now()))
            }
        }
        self.request = request
        request.start()
    }

    private func finish(_ next: ACMERenewalInfoMachine.Next) {
        guard let done = completion else { return }
        completion = nil
        done(next)
    }
}
