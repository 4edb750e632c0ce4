import FlaksACME
import FlaksConfig
import FlaksTLS

/// One attempt for one host, and the ARI check: file and key work on a worker, the exchange with
/// the CA on the loop (`ACMEOrderRun`, `ACMERenewalInfoRun`), the result stored on a worker.
extension ACMEManager {
    /// What the worker found before an order: nothing to do, or everything the order needs.
    enum Preparation: @unchecked Sendable {   // handed once from a worker to the loop
        case nothingToDo
        case failed(ACMEError)
        case order(ACMEOrderMachine, ACMEStorageLock, ACMERequestContext)
    }

    /// A host is due: on a worker, look in storage first (a replica, or an earlier run of this
    /// server, may have a newer certificate there), then take the storage lock; on the loop, order.
    func attempt(_ host: Host, settings: ACMESettings, limits: ACMELimits, timeout: Int64, loop: EventLoop,
                 workers: WorkerPool, inFlight: InFlight, done: @escaping @Sendable () -> Void) {
        let key = host.key
        guard let root = settings.storage else { done(); return }
        let storage = ACMEStorage(root: root)
        workers.submit { [self] in
            let prepared = prepare(host, settings: settings, limits: limits, timeout: timeout, storage: storage)
            loop.execute { [self] loop in
                switch prepared {
                case .nothingToDo:
                    done()
                case .failed(let e):
                    fail(key, e)
                    done()
                case .order(let machine, let held, let context):
                    guard shouldContinue(key) else {
                        held.release()
                        logger.info("acme: \(key): order abandoned (server stopping or host removed)")
                        done()
                        return
                    }
                    let run = ACMEOrderRun(key: key, machine: machine, loop: loop, manager: self, workers: workers, context: context,
                                           storage: storage, directory: settings.directory) { [self] outcome in
                        finished(outcome, key: key, storage: storage, directory: settings.directory, held: held, workers: workers, done: done)
                    }
                    inFlight.cancel = { run.cancel() }
                    run.start()
                }
            }
        }
    }

    /// The worker's part before an order: storage, lock, account key, roots, the machine.
    private func prepare(_ host: Host, settings: ACMESettings, limits: ACMELimits, timeout: Int64,
                         storage: ACMEStorage) -> Preparation {
        let key = host.key
        do {
            if case .found(let stored) = try storage.loadCertificate(name: key), Self.isNewer(stored.certificate, than: host.certificate) {
                install(stored.certificate, key: key, issued: false)
                logger.info("acme: \(key): serving the certificate found in storage (serial \(stored.certificate.info.serial), not after \(UnixTime.iso8601(stored.certificate.info.notAfter)))")
                let now = clock.now()
                let due = withState(key) { $0.state.nextAttempt(now: now) } ?? .max
                if due > now { return .nothingToDo }
            }
        } catch {
            return .failed(ACMEError(stage: .configuration, reason: .configuration(error.description)))
        }
        let now = clock.now()
        let held: ACMEStorageLock
        do {
            guard let l = try storage.tryLock(name: key, now: now) else {
                update(key) { $0.state.lockBusy(now: now) }
                logger.info("acme: \(key): another process holds \(storage.certificateDirectory(key)).lock and is ordering; looking at the storage again in \(RenewalSchedule.lockRetryInterval) s")
                return .nothingToDo
            }
            held = l
        } catch {
            return .failed(ACMEError(stage: .configuration, reason: .configuration(error.description)))
        }
        let why = host.certificate == nil ? "no certificate yet" : host.state.coversNames ? "renewal due" : "names added"
        logger.info("acme: ordering a certificate for \(host.names.joined(separator: ", ")) from \(settings.directory) (\(why))")
        update(key) { $0.state.attemptStarted() }
        let accountKey: ACMEAccountKey
        do { accountKey = try storage.loadOrCreateAccountKey(directoryURL: settings.directory) } catch {
            held.release()
            return .failed(ACMEError(stage: .account, reason: .configuration(error.description)))
        }
        let context: ACMERequestContext
        switch makeContext(settings, timeout: timeout, maxBody: limits.maxResponseBody) {
        case .success(let c): context = c
        case .failure(let e): held.release(); return .failed(e)
        }
        let configuration = ACMEOrderConfiguration(
            directoryURL: settings.directory, names: host.names, contactEmail: settings.email,
            challenges: answerableChallenges(settings.challenges),
            replaces: host.certificate != nil ? host.state.certificateID : nil,
            limits: limits, userAgent: context.userAgent)
        do {
            return .order(try ACMEOrderMachine(configuration: configuration, accountKey: accountKey), held, context)
        } catch {
            held.release()
            return .failed(error)
        }
    }

    /// The order ended (on the loop): an issued certificate is stored on a worker, then served;
    /// a failure is recorded. The storage lock is released either way, after the files are written.
    private func finished(_ outcome: ACMEOrderRun.Outcome, key: String, storage: ACMEStorage, directory: String,
                          held: ACMEStorageLock, workers: WorkerPool, done: @escaping @Sendable () -> Void) {
        switch outcome {
        case .issued(let issued):
            workers.submit { [self] in
                do { try storage.saveCertificate(issued, directoryURL: directory, now: clock.now()) } catch {
                    logger.error("acme: \(key): the certificate was issued but could not be stored (served until the next restart): \(error)")
                }
                held.release()
                install(issued.certificate, key: key, issued: true)
                let info = issued.certificate.info
                logger.info("acme issued names=\(issued.names.joined(separator: ",")) serial=\(info.serial) not_after=\(UnixTime.iso8601(info.notAfter)) issuer=\"\(info.issuer)\"")
                done()
            }
        case .failed(let error):
            held.release()
            fail(key, error)
            done()
        case .aborted:
            held.release()
            logger.info("acme: \(key): order abandoned (server stopping or host removed)")
            done()
        }
    }

    /// `challenges` without the ones no listener can answer now (HTTP-01 needs a plain listener,
    /// TLS-ALPN-01 a TLS one), unless that leaves none (then the CA says why it failed).
    func answerableChallenges(_ challenges: [ACMESettings.Challenge]) -> [ACMEChallengeType] {
        let all: [ACMEChallengeType] = challenges.map { $0 == .http01 ? .http01 : .tlsALPN01 }
        guard let server = currentSite()?.config.server else { return all }
        let usable = all.filter { $0 == .http01 ? !server.listen.isEmpty : !server.tlsListen.isEmpty }
        return usable.isEmpty ? all : usable
    }

    /// What the requests of one attempt share: the system's roots plus `ca_roots`, read now on a
    /// worker (a changed file is picked up by the next attempt), the timeout and the body limit.
    func makeContext(_ settings: ACMESettings, timeout: Int64, maxBody: Int) -> Result<ACMERequestContext, ACMEError> {
        let tls: TLSClientContext
        do { tls = try TLSClientContext(extraRootsFile: settings.caRoots) } catch {
            return .failure(ACMEError(stage: .directory, reason: .transport("tls.acme.ca_roots: \(error)"), url: settings.directory))
        }
        return .success(ACMERequestContext(tls: tls, timeout: timeout, maxResponseBody: maxBody,
                                           userAgent: "flaks/\(FlaksVersion.string) flaks-acme/1"))
    }

    /// Records a failed attempt (back-off, Retry-After) and logs it with the CA's problem document.
    func fail(_ key: String, _ error: ACMEError) {
        let now = clock.now()
        let next = withState(key) { h -> Int64 in
            h.state.failed(error, now: now)
            h.failedCount += 1
            return h.state.nextAttempt(now: now)
        }
        logger.error("acme order failed host=\(key) \(error); next attempt at \(next.map { UnixTime.iso8601($0) } ?? "-")")
    }

    /// RFC 9773: asks the CA for the certificate's suggested renewal window. A CA without
    /// renewalInfo is not asked again (the schedule uses `renew_before` alone); a failure is
    /// logged and retried at the default interval.
    func checkRenewalInfo(key: String, certificateID: String, settings: ACMESettings, timeout: Int64, loop: EventLoop,
                          workers: WorkerPool, inFlight: InFlight, done: @escaping @Sendable () -> Void) {
        workers.submit { [self] in
            let made = makeContext(settings, timeout: timeout, maxBody: 1 << 20)
            loop.execute { [self] loop in
                let context: ACMERequestContext
                switch made {
                case .success(let c): context = c
                case .failure(let e):
                    logger.warning("acme: \(key): renewal information: \(e)")
                    update(key) { $0.nextARICheck = clock.now() + ARIWindow.defaultCheckInterval }
                    done()
                    return
                }
                guard shouldContinue(key) else { done(); return }   // stopped, or the host removed meanwhile
                let machine = ACMERenewalInfoMachine(directoryURL: settings.directory, certificateID: certificateID,
                                                     userAgent: context.userAgent)
                let run = ACMERenewalInfoRun(machine: machine, loop: loop, workers: workers, context: context, clock: clock) { [self] next in
                    if let next { renewalInfoFinished(next, key: key, directory: settings.directory) }
                    done()
                }
                inFlight.cancel = { run.cancel() }
                run.start()
            }
        }
    }

    private func renewalInfoFinished(_ next: ACMERenewalInfoMachine.Next, key: String, directory: String) {
        switch next {
        case .done(let window?):
            update(key) {
                $0.state.renewalInfoReceived(window)
                $0.nextARICheck = window.nextCheck
            }
            logger.debug("acme: \(key): the CA suggests renewing between \(UnixTime.iso8601(window.start)) and \(UnixTime.iso8601(window.end))")
        case .done(nil):
            markWithoutARI(directory)
            update(key) { $0.nextARICheck = nil }
        case .failed(let e):
            logger.warning("acme: \(key): renewal information: \(e)")
            update(key) { $0.nextARICheck = clock.now() + ARIWindow.defaultCheckInterval }
        case .send:
            update(key) { $0.nextARICheck = clock.now() + ARIWindow.defaultCheckInterval }
        }
    }
}
