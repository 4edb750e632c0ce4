import FlaksACME
import FlaksConfig
import FlaksTLS

/// One attempt for one host, and the ARI check: what the ACME thread runs, blocking, outside
/// the manager's lock.
extension ACMEManager {
    /// How one driven order ended.
    enum Outcome {
        case issued(ACMEIssuedCertificate)
        case failed(ACMEError)
        /// The server is stopping or the host was removed by a reload.
        case aborted
    }

    /// Most machine steps one order may take (the machine bounds its own retries and polls far
    /// below this; this only makes sure an executor bug cannot spin).
    static let maxSteps = 5_000

    /// A host is due: look in storage first (a replica, or an earlier run of this server, may
    /// have a newer certificate there), then take the storage lock and order.
    func attempt(_ host: Host, settings: ACMESettings, limits: ACMELimits, timeout: Int64) {
        let key = host.key
        guard let root = settings.storage else { return }
        let storage = ACMEStorage(root: root)
        do {
            if case .found(let stored) = try storage.loadCertificate(name: key), Self.isNewer(stored.certificate, than: host.certificate) {
                install(stored.certificate, key: key, issued: false)
                logger.info("acme: \(key): serving the certificate found in storage (serial \(stored.certificate.info.serial), not after \(UnixTime.iso8601(stored.certificate.info.notAfter)))")
                let now = clock.now()
                let due = withState(key) { $0.state.nextAttempt(now: now) } ?? .max
                if due > now { return }
            }
        } catch {
            fail(key, ACMEError(stage: .configuration, reason: .configuration(error.description)))
            return
        }
        let now = clock.now()
        let held: ACMEStorageLock
        do {
            guard let l = try storage.tryLock(name: key, now: now) else {
                update(key) { $0.state.lockBusy(now: now) }
                logger.info("acme: \(key): another process holds \(storage.certificateDirectory(key)).lock and is ordering; looking at the storage again in \(RenewalSchedule.lockRetryInterval) s")
                return
            }
            held = l
        } catch {
            fail(key, ACMEError(stage: .configuration, reason: .configuration(error.description)))
            return
        }
        defer { held.release() }

        let why = host.certificate == nil ? "no certificate yet" : host.state.coversNames ? "renewal due" : "names added"
        logger.info("acme: ordering a certificate for \(host.names.joined(separator: ", ")) from \(settings.directory) (\(why))")
        update(key) { $0.state.attemptStarted() }
        let accountKey: ACMEAccountKey
        do { accountKey = try storage.loadOrCreateAccountKey(directoryURL: settings.directory) } catch {
            fail(key, ACMEError(stage: .account, reason: .configuration(error.description)))
            return
        }
        let transport: ACMEHTTPSClient
        switch makeTransport(settings, key: key, timeout: timeout, maxBody: limits.maxResponseBody) {
        case .success(let t): transport = t
        case .failure(let e): fail(key, e); return
        }
        let configuration = ACMEOrderConfiguration(
            directoryURL: settings.directory, names: host.names, contactEmail: settings.email,
            challenges: answerableChallenges(settings.challenges),
            replaces: host.certificate != nil ? host.state.certificateID : nil,
            limits: limits, userAgent: "flaks/\(FlaksVersion.string) flaks-acme/1")
        var machine: ACMEOrderMachine
        do { machine = try ACMEOrderMachine(configuration: configuration, accountKey: accountKey) } catch {
            fail(key, error)
            return
        }
        switch drive(&machine, key: key, transport: transport, storage: storage, directory: settings.directory) {
        case .issued(let issued):
            do { try storage.saveCertificate(issued, directoryURL: settings.directory, now: clock.now()) } catch {
                logger.error("acme: \(key): the certificate was issued but could not be stored (served until the next restart): \(error)")
            }
            install(issued.certificate, key: key, issued: true)
            let info = issued.certificate.info
            logger.info("acme issued names=\(issued.names.joined(separator: ",")) serial=\(info.serial) not_after=\(UnixTime.iso8601(info.notAfter)) issuer=\"\(info.issuer)\"")
        case .failed(let error):
            fail(key, error)
        case .aborted:
            logger.info("acme: \(key): order abandoned (server stopping or host removed)")
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

    /// The HTTPS client for `settings`: the system's roots plus `ca_roots`, read now (a changed
    /// file is picked up by the next attempt).
    func makeTransport(_ settings: ACMESettings, key: String, timeout: Int64, maxBody: Int) -> Result<ACMEHTTPSClient, ACMEError> {
        let tls: TLSClientContext
        do { tls = try TLSClientContext(extraRootsFile: settings.caRoots) } catch {
            return .failure(ACMEError(stage: .directory, reason: .transport("tls.acme.ca_roots: \(error)"), url: settings.directory))
        }
        return .success(ACMEHTTPSClient(tls: tls, timeout: timeout, maxResponseBody: maxBody,
                                        cancelled: { [weak self] in !(self?.shouldContinue(key) ?? false) }))
    }

    /// Runs the machine to its end: effects performed at once (challenge answers published and
    /// withdrawn, the account URL written), requests sent, crypto run inline (this is not a loop
    /// thread), sleeps slept in real time. Whatever was published is withdrawn when it returns,
    /// also when abandoned.
    func drive(_ machine: inout ACMEOrderMachine, key: String, transport: any ACMETransport, storage: ACMEStorage,
               directory: String) -> Outcome {
        var tokens: Set<String> = []
        var names: Set<String> = []
        defer {
            for t in tokens { responder.withdraw(token: t) }
            for n in names { setChallenge(nil, name: n) }
        }
        var step = machine.start(now: clock.now())
        for _ in 0..<Self.maxSteps {
            for effect in step.effects {
                switch effect {
                case .serveHTTP01(let token, let keyAuthorization):
                    responder.publish(token: token, keyAuthorization: keyAuthorization)
                    tokens.insert(token)
                case .withdrawHTTP01(let token):
                    responder.withdraw(token: token)
                    tokens.remove(token)
                case .serveTLSALPN01(let name, let certificate):
                    setChallenge(certificate, name: name)
                    names.insert(name)
                case .withdrawTLSALPN01(let name):
                    setChallenge(nil, name: name)
                    names.remove(name)
                case .accountReady(let url):
                    do { try storage.saveAccountURL(url, directoryURL: directory) } catch {
                        logger.warning("acme: cannot record the account URL: \(error)")
                    }
                }
            }
            guard shouldContinue(key) else { return .aborted }
            switch step.next {
            case .send(let request):
                switch transport.perform(request) {
                case .success(let response): step = machine.received(response, now: clock.now())
                case .failure(let e): step = machine.transportFailed(e.description, now: clock.now())
                }
            case .run(let job):
                step = machine.cryptoFinished(job.run(now: clock.now()), now: clock.now())
            case .sleep(let until):
                // A poll interval or the CA's Retry-After (at most `maxPollDelay`), slept in real
                // time; the machine is then told at least that much time has passed.
                pause(seconds: until - clock.now(), key: key)
                step = machine.timerFired(now: max(clock.now(), until))
            case .finished(let issued):
                return .issued(issued)
            case .failed(let error):
                return .failed(error)
            }
        }
        return .failed(ACMEError(stage: .configuration, reason: .unexpectedEvent("the order took more than \(Self.maxSteps) steps")))
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
    func checkRenewalInfo(key: String, certificateID: String, settings: ACMESettings, timeout: Int64) {
        let transport: ACMEHTTPSClient
        switch makeTransport(settings, key: key, timeout: timeout, maxBody: 1 << 20) {
        case .success(let t): transport = t
        case .failure(let e):
            logger.warning("acme: \(key): renewal information: \(e)")
            update(key) { $0.nextARICheck = clock.now() + ARIWindow.defaultCheckInterval }
            return
        }
        var machine = ACMERenewalInfoMachine(directoryURL: settings.directory, certificateID: certificateID,
                                             userAgent: "flaks/\(FlaksVersion.string) flaks-acme/1")
        var next = machine.start(now: clock.now())
        for _ in 0..<3 {
            guard case .send(let request) = next else { break }
            switch transport.perform(request) {
            case .success(let response): next = machine.received(response, now: clock.now())
            case .failure(let e): next = machine.transportFailed(e.description, now: clock.now())
            }
        }
        switch next {
        case .done(let window?):
            update(key) {
                $0.state.renewalInfoReceived(window)
                $0.nextARICheck = window.nextCheck
            }
            logger.debug("acme: \(key): the CA suggests renewing between \(UnixTime.iso8601(window.start)) and \(UnixTime.iso8601(window.end))")
        case .done(nil):
            markWithoutARI(settings.directory)
            update(key) { $0.nextARICheck = nil }
        case .failed(let e):
            logger.warning("acme: \(key): renewal information: \(e)")
            update(key) { $0.nextARICheck = clock.now() + ARIWindow.defaultCheckInterval }
        case .send:
            update(key) { $0.nextARICheck = clock.now() + ARIWindow.defaultCheckInterval }
        }
    }
}
