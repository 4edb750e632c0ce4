import FlaksACME
import FlaksTLS

/// One driven `ACMEOrderMachine` (or `ACMERenewalInfoMachine`), on a loop: the machine's
/// requests go out as `ACMECARequest`s on the loop, its crypto jobs run on the worker pool and
/// come back through the loop's inbox, its sleeps (poll intervals, Retry-After) are loop timers.
/// Effects are performed as they come (challenge answers published and withdrawn, the account
/// URL written on a worker). Whatever it published is withdrawn when it ends, also when cancelled.
///
/// Loop-confined (created, driven and cancelled on `loop`); Sendable only so that a worker's
/// result can be handed back to it through `EventLoop.execute`.
final class ACMEOrderRun: TimerTarget, @unchecked Sendable {
    /// How a driven order ended.
    enum Outcome {
        case issued(ACMEIssuedCertificate)
        case failed(ACMEError)
        /// The server is stopping or the host was removed by a reload.
        case aborted
    }

    /// Most machine steps one order may take (the machine bounds its own retries and polls far
    /// below this; this only makes sure an executor bug cannot spin).
    static let maxSteps = 5_000

    let key: String
    private unowned let loop: EventLoop
    private let manager: ACMEManager
    private let workers: WorkerPool
    private let context: ACMERequestContext
    private var machine: ACMEOrderMachine
    private let storage: ACMEStorage
    private let directory: String
    private var completion: ((Outcome) -> Void)?
    private var request: ACMECARequest?
    private var steps = 0
    /// The wall-clock time the current sleep ends (nil: not sleeping).
    private var sleepingUntil: Int64?
    private var tokens: Set<String> = []
    private var names: Set<String> = []
    var timerSlot = TimerSlot()

    init(key: String, machine: ACMEOrderMachine, loop: EventLoop, manager: ACMEManager, workers: WorkerPool,
         context: ACMERequestContext, storage: ACMEStorage, directory: String, completion: @escaping (Outcome) -> Void) {
        self.key = key; self.machine = machine; self.loop = loop; self.manager = manager; self.workers = workers
        self.context = context; self.storage = storage; self.directory = directory; self.completion = completion
    }

    /// Starts the machine. Call on the loop.
    func start() {
        apply(machine.start(now: manager.clock.now()))
    }

    /// Ends the order now (the request in flight closed, the sleep dropped, challenges withdrawn).
    func cancel() {
        guard completion != nil else { return }
        end(.aborted)
    }

    private func apply(_ step: ACMEStep) {
        guard completion != nil else { return }
        steps += 1
        for effect in step.effects { perform(effect) }
        guard manager.shouldContinue(key) else { end(.aborted); return }
        guard steps <= Self.maxSteps else {
            end(.failed(ACMEError(stage: .configuration, reason: .unexpectedEvent("the order took more than \(Self.maxSteps) steps"))))
            return
        }
        let clock = manager.clock
        switch step.next {
        case .send(let r):
            let request = context.request(r, loop: loop, workers: workers) { [self] result in
                self.request = nil
                switch result {
                case .success(let response): apply(machine.received(response, now: clock.now()))
                case .failure(let e): apply(machine.transportFailed(e.description, now: clock.now()))
                }
            }
            self.request = request
            request.start()
        case .run(let job):
            workers.submit { [self, loop] in
                let result = job.run(now: clock.now())
                loop.execute { [self] _ in
                    guard completion != nil else { return }
                    apply(machine.cryptoFinished(result, now: clock.now()))
                }
            }
        case .sleep(let until):
            // A poll interval or the CA's Retry-After (at most `maxPollDelay`), on the loop's clock;
            // the machine is then told at least that much wall-clock time has passed.
            sleepingUntil = until
            let seconds = max(until - clock.now(), 0)
            loop.schedule(self, at: loop.now &+ UInt64(seconds) * 1_000_000_000 &+ 1)
        case .finished(let issued):
            end(.issued(issued))
        case .failed(let error):
            end(.failed(error))
        }
    }

    func timerFired(now: UInt64) {
        guard completion != nil, let until = sleepingUntil else { return }
        sleepingUntil = nil
        apply(machine.timerFired(now: max(manager.clock.now(), until)))
    }

    private func perform(_ effect: ACMEEffect) {
        switch effect {
        case .serveHTTP01(let token, let keyAuthorization):
            manager.responder.publish(token: token, keyAuthorization: keyAuthorization)
            tokens.insert(token)
        case .withdrawHTTP01(let token):
            manager.responder.withdraw(token: token)
            tokens.remove(token)
        case .serveTLSALPN01(let name, let certificate):
            manager.setChallenge(certificate, name: name)
            names.insert(name)
        case .withdrawTLSALPN01(let name):
            manager.setChallenge(nil, name: name)
            names.remove(name)
        case .accountReady(let url):
            let storage = self.storage, directory = self.directory, logger = manager.logger
            workers.submit {
                do { try storage.saveAccountURL(url, directoryURL: directory) } catch {
                    logger.warning("acme: cannot record the account URL: \(error)")
                }
            }
        }
    }

    private func end(_ outcome: Outcome) {
        guard let done = completion else { return }
        completion = nil
        request?.cancel()
        request = nil
        loop.removeTimer(self)
        sleepingUntil = nil
        for t in tokens { manager.responder.withdraw(token: t) }
        for n in names { manager.setChallenge(nil, name: n) }
        tokens = []
        names = []
        done(outcome)
    }
}

/// What every request of one attempt shares: the roots to trust, the per-request timeout, the
/// body limit and the User-Agent.
struct ACMERequestContext: Sendable {
    var tls: TLSClientContext?
    var timeout: Int64
    var maxResponseBody: Int
    var userAgent: String

    /// A request to the CA with these settings, on `loop` (the caller starts it).
    func request(_ r: ACMEHTTPRequest, loop: EventLoop, workers: WorkerPool,
                 completion: @escaping ACMECARequest.Completion) -> ACMECARequest {
        ACMECARequest(loop: loop, workers: workers, tls: tls, request: r, timeout: timeout, maxResponseBody: maxResponseBody,
                      userAgent: userAgent, completion: completion)
    }
}
