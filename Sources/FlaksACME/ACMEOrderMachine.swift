import FlaksTLS

/// One certificate order (RFC 8555 §7), as a state machine that performs no I/O and reads no
/// clock: it emits HTTP requests, crypto jobs and timers as values (`ACMEStep`) and consumes
/// their results. The executor (on an event loop, with Flaks' upstream client and worker pool)
/// drives it:
///
/// ```
/// var step = machine.start(now: now)
/// loop: perform step.effects; switch step.next {
///   case .send(r):   response → step = machine.received(response, now:)  (error → transportFailed)
///   case .run(job):  on a worker: result = job.run(now:) → step = machine.cryptoFinished(result, now:)
///   case .sleep(t):  at t → step = machine.timerFired(now:)
///   case .finished, .failed: stop }
/// ```
///
/// The flow: directory → newNonce (only when no nonce is held) → newAccount with
/// `onlyReturnExisting` (§7.3.1), then a new account (§7.3: contact, termsOfServiceAgreed) if
/// none exists → newOrder for the names (§7.4) → each authorization (§7.5): publish the response
/// of the preferred allowed challenge, POST `{}` to it (§7.5.1), poll the authorization → poll
/// the order until `ready` → finalize with a CSR for a new P-256 key → poll until `valid` →
/// download the chain (§7.4.2) → check it. Every response's Replay-Nonce is kept (§6.5); a
/// badNonce answer is retried with the new nonce (bounded). Polls honour Retry-After (§8.2).
public struct ACMEOrderMachine: Sendable {
    /// A request the machine will sign and send.
    struct Pending: Sendable, Hashable {
        enum Purpose: Sendable, Hashable {
            case findAccount, createAccount, newOrder
            case authorization(Int), challenge(Int), pollAuthorization(Int)
            case pollOrder, finalize, certificate
        }
        var purpose: Purpose
        var url: String
        /// nil: POST-as-GET (RFC 8555 §6.3).
        var payload: JSONValue?
        var badNonceRetries = 0
    }

    enum State: Sendable {
        case initial
        case fetchingDirectory
        case fetchingNonce(Pending)
        case signing(Pending)
        case posting(Pending)
        case sleeping(until: Int64, Pending)
        case makingChallengeCertificate(index: Int, name: String, then: Pending)
        case makingCertificateRequest
        case checkingChain
        case finished(ACMEIssuedCertificate)
        case failed(ACMEError)
    }

    /// A challenge response the executor is serving for this order.
    enum Publication: Sendable, Hashable {
        case http01(token: String)
        case tlsALPN01(name: String)
    }

    public let configuration: ACMEOrderConfiguration
    let accountKey: ACMEAccountKey
    /// The checked names (lowercased, de-duplicated).
    public let names: [String]
    var state: State = .initial
    /// The CA's directory, once read.
    public internal(set) var directory: ACMEDirectory?
    /// The freshest Replay-Nonce not yet used.
    var nonce: String?
    public internal(set) var accountURL: String?
    public internal(set) var orderURL: String?
    var order: ACMEOrder?
    var authorizationsDone = false
    var authorizationPolls = 0
    var orderPolls = 0
    var finalizeAttempts = 0
    var sendReplaces: Bool
    var certificateKey: PrivateKey?
    var csr: [UInt8]?
    var published: [Publication] = []
    /// The identifier of each authorization, in order (for logs).
    var authorizationNames: [Int: String] = [:]
    /// What is published for each authorization (withdrawn when it becomes valid).
    var publishedFor: [Int: Publication] = [:]

    /// Checks the names and the account key; throws `.configuration` for a wildcard or IP name,
    /// no names, or a directory URL that is not https.
    public init(configuration: ACMEOrderConfiguration, accountKey: ACMEAccountKey) throws(ACMEError) {
        switch ACMEOrderConfiguration.checkedNames(configuration.names) {
        case .success(let n): names = n
        case .failure(let e): throw e
        }
        guard ACMEURLCheck.ok(configuration.directoryURL, allowHTTP: configuration.allowPlainHTTP) else {
            throw ACMEError(stage: .configuration, reason: .configuration("the directory URL must be an absolute https URL"))
        }
        guard !configuration.challenges.isEmpty else {
            throw ACMEError(stage: .configuration, reason: .configuration("no challenge type allowed"))
        }
        self.configuration = configuration
        self.accountKey = accountKey
        sendReplaces = configuration.replaces != nil
    }

    var limits: ACMELimits { configuration.limits }
    var allowHTTP: Bool { configuration.allowPlainHTTP }

    /// True once the machine returned `.finished` or `.failed`.
    public var isDone: Bool {
        switch state {
        case .finished, .failed: return true
        default: return false
        }
    }

    // MARK: events

    /// Starts the order: the first request is the directory (RFC 8555 §7.1.1).
    public mutating func start(now: Int64) -> ACMEStep {
        guard case .initial = state else { return unexpected("start called twice") }
        state = .fetchingDirectory
        return ACMEStep(next: .send(ACMEHTTPRequest(method: .get, url: configuration.directoryURL, headers: baseHeaders)))
    }

    /// The response to the request of the last `.send`.
    public mutating func received(_ response: ACMEHTTPResponse, now: Int64) -> ACMEStep {
        keepNonce(response)
        switch state {
        case .fetchingDirectory: return directoryReceived(response, now: now)
        case .fetchingNonce(let pending):
            guard (200..<300).contains(response.status) else { return failure(.nonce, response, url: directory?.newNonce, now: now) }
            guard nonce != nil else {
                return fail(ACMEError(stage: .nonce, reason: .badResponse("no usable Replay-Nonce from newNonce"),
                                      url: directory?.newNonce, httpStatus: response.status))
            }
            return send(pending, now: now)
        case .posting(let pending): return postReceived(response, pending: pending, now: now)
        default: return unexpected("an HTTP response")
        }
    }

    /// The request of the last `.send` could not be completed (connect, TLS, timeout, a body
    /// over `maxResponseBody`).
    public mutating func transportFailed(_ reason: String, now: Int64) -> ACMEStep {
        let stage: ACMEStage
        let url: String?
        switch state {
        case .fetchingDirectory: stage = .directory; url = configuration.directoryURL
        case .fetchingNonce: stage = .nonce; url = directory?.newNonce
        case .posting(let p): stage = Self.stage(of: p.purpose); url = p.url
        default: return unexpected("a transport failure")
        }
        return fail(ACMEError(stage: stage, reason: .transport(ACMEProblem.clip(reason)), url: url))
    }

    /// The result of the last `.run` job.
    public mutating func cryptoFinished(_ result: ACMECryptoResult, now: Int64) -> ACMEStep {
        switch (state, result) {
        case (_, .failed(let why)):
            guard isWaitingForCrypto else { return unexpected("a crypto result") }
            return fail(ACMEError(stage: cryptoStage, reason: .crypto(why)))
        case (.signing(let pending), .signed(let request)):
            state = .posting(pending)
            return ACMEStep(next: .send(request))
        case (.makingChallengeCertificate(let index, let name, let then), .challengeCertificate(let cert)):
            published.append(.tlsALPN01(name: name))
            publishedFor[index] = .tlsALPN01(name: name)
            var step = send(then, now: now)
            step.effects.insert(.serveTLSALPN01(name: name, certificate: cert), at: 0)
            return step
        case (.makingCertificateRequest, .certificateRequest(let key, let der)):
            certificateKey = key
            csr = der
            return finalize(now: now)
        case (.checkingChain, .chain(let certificate, let pem)):
            guard let key = certificateKey, let accountURL, let orderURL else { return unexpected("a chain without an order") }
            let issued = ACMEIssuedCertificate(certificate: certificate, chainPEM: pem, keyPEM: key.pem, names: names,
                                               accountURL: accountURL, orderURL: orderURL)
            state = .finished(issued)
            return ACMEStep(effects: withdrawAll(), next: .finished(issued))
        default:
            return unexpected("a crypto result of the wrong kind")
        }
    }

    /// A `.sleep` deadline passed. Called early, it sleeps again.
    public mutating func timerFired(now: Int64) -> ACMEStep {
        guard case .sleeping(let until, let pending) = state else { return unexpected("a timer") }
        if now < until { return ACMEStep(next: .sleep(until: until)) }
        return send(pending, now: now)
    }

    // MARK: helpers

    var baseHeaders: [ACMEHeader] { [ACMEHeader("User-Agent", configuration.userAgent)] }

    var isWaitingForCrypto: Bool {
        switch state {
        case .signing, .makingChallengeCertificate, .makingCertificateRequest, .checkingChain: return true
        default: return false
        }
    }

    var cryptoStage: ACMEStage {
        switch state {
        case .signing(let p): return Self.stage(of: p.purpose)
        case .makingChallengeCertificate: return .challenge
        case .makingCertificateRequest: return .finalize
        default: return .certificate
        }
    }

    static func stage(of purpose: Pending.Purpose) -> ACMEStage {
        switch purpose {
        case .findAccount, .createAccount: return .account
        case .newOrder, .pollOrder: return .order
        case .authorization, .pollAuthorization: return .authorization
        case .challenge: return .challenge
        case .finalize: return .finalize
        case .certificate: return .certificate
        }
    }

    /// RFC 8555 §6.5.1: a nonce is base64url; anything else is not kept.
    mutating func keepNonce(_ response: ACMEHTTPResponse) {
        guard let n = response.header("Replay-Nonce")?.trimmingASCIIWhitespace(),
              !n.isEmpty, n.utf8.count <= 512, Base64URL.isAlphabet(n) else { return }
        nonce = n
    }

    /// Signs `pending` with the held nonce, first fetching one (HEAD newNonce, §7.2) if none.
    mutating func send(_ pending: Pending, now: Int64) -> ACMEStep {
        guard let directory else { return unexpected("a request before the directory") }
        guard let n = nonce else {
            state = .fetchingNonce(pending)
            return ACMEStep(next: .send(ACMEHTTPRequest(method: .head, url: directory.newNonce, headers: baseHeaders)))
        }
        nonce = nil   // a nonce is good for one request
        let signer: ACMEAccountKey.Signer
        switch pending.purpose {
        case .findAccount, .createAccount: signer = .jwk
        default:
            guard let accountURL else { return unexpected("a request before the account") }
            signer = .kid(accountURL)
        }
        var headers = baseHeaders
        if pending.purpose == .certificate { headers.append(ACMEHeader("Accept", "application/pem-certificate-chain")) }
        state = .signing(pending)
        return ACMEStep(next: .run(.sign(ACMESigningJob(accountKey: accountKey, url: pending.url, nonce: n, signer: signer,
                                                        payload: pending.payload, headers: headers))))
    }

    /// Waits for `retryAfter` (or the poll interval) and then sends `pending`; a wait beyond
    /// `maxPollDelay` ends the attempt (the schedule honours the time).
    mutating func sleepThenSend(_ pending: Pending, response: ACMEHTTPResponse, now: Int64) -> ACMEStep {
        let retry = response.header("Retry-After").flatMap { ACMETime.retryAfter($0, now: now) }
        let until = max(retry ?? now + limits.pollInterval, now + 1)
        if until - now > limits.maxPollDelay {
            return fail(ACMEError(stage: Self.stage(of: pending.purpose), reason: .retryLater, url: pending.url,
                                  httpStatus: response.status, retryAfter: until))
        }
        state = .sleeping(until: until, pending)
        return ACMEStep(next: .sleep(until: until))
    }

    mutating func withdrawAll() -> [ACMEEffect] {
        let effects: [ACMEEffect] = published.map {
            switch $0 {
            case .http01(let token): return .withdrawHTTP01(token: token)
            case .tlsALPN01(let name): return .withdrawTLSALPN01(name: name)
            }
        }
        published = []
        return effects
    }

    mutating func fail(_ error: ACMEError) -> ACMEStep {
        state = .failed(error)
        return ACMEStep(effects: withdrawAll(), next: .failed(error))
    }

    /// A failure from an error response: its problem document if it has one, and Retry-After.
    mutating func failure(_ stage: ACMEStage, _ response: ACMEHTTPResponse, url: String?, now: Int64) -> ACMEStep {
        let reason: ACMEError.Reason = ACMEProblem.parse(response.body).map { .problem($0) } ?? .httpStatus(response.status)
        return fail(ACMEError(stage: stage, reason: reason, url: url, httpStatus: response.status,
                              retryAfter: response.header("Retry-After").flatMap { ACMETime.retryAfter($0, now: now) }))
    }

    mutating func malformed(_ stage: ACMEStage, _ why: String, url: String?, status: Int? = nil) -> ACMEStep {
        fail(ACMEError(stage: stage, reason: .badResponse(why), url: url, httpStatus: status))
    }

    mutating func unexpected(_ what: String) -> ACMEStep {
        if case .failed(let e) = state { return ACMEStep(next: .failed(e)) }
        if case .finished(let c) = state { return ACMEStep(next: .finished(c)) }
        return fail(ACMEError(stage: .configuration, reason: .unexpectedEvent(what)))
    }
}
