import FlaksTLS

/// The protocol steps: what each response leads to.
extension ACMEOrderMachine {
    mutating func directoryReceived(_ response: ACMEHTTPResponse, now: Int64) -> ACMEStep {
        let url = configuration.directoryURL
        guard (200..<300).contains(response.status) else { return failure(.directory, response, url: url, now: now) }
        guard response.body.count <= limits.maxResponseBody else { return malformed(.directory, "body too large", url: url) }
        let json: JSONValue
        do { json = try JSONParser.parse(response.body) } catch { return malformed(.directory, error.description, url: url) }
        switch ACMEDirectory.parse(json, allowHTTP: allowHTTP) {
        case .failure(let m): return malformed(.directory, m.reason, url: url)
        case .success(let d): directory = d
        }
        return findAccount(now: now)
    }

    /// RFC 8555 §7.3.1: look the key's account up without creating one.
    mutating func findAccount(now: Int64) -> ACMEStep {
        guard let directory else { return unexpected("no directory") }
        return send(Pending(purpose: .findAccount, url: directory.newAccount,
                            payload: .object(["onlyReturnExisting": .bool(true)])), now: now)
    }

    mutating func postReceived(_ response: ACMEHTTPResponse, pending: Pending, now: Int64) -> ACMEStep {
        let stage = Self.stage(of: pending.purpose)
        guard response.body.count <= limits.maxResponseBody else {
            return malformed(stage, "body larger than \(limits.maxResponseBody) bytes", url: pending.url, status: response.status)
        }
        guard (200..<300).contains(response.status) else { return errorReceived(response, pending: pending, now: now) }
        switch pending.purpose {
        case .findAccount, .createAccount: return accountReceived(response, pending: pending, now: now)
        case .newOrder:
            guard let location = response.header("Location"), ACMEURLCheck.ok(location, allowHTTP: allowHTTP) else {
                return malformed(.order, "newOrder answered without a usable Location", url: pending.url, status: response.status)
            }
            orderURL = location
            return orderReceived(response, pending: pending, now: now)
        case .pollOrder, .finalize: return orderReceived(response, pending: pending, now: now)
        case .authorization(let i), .pollAuthorization(let i):
            return authorizationReceived(response, index: i, pending: pending, now: now)
        case .challenge(let i): return challengeReceived(response, index: i, pending: pending, now: now)
        case .certificate:
            guard !response.body.isEmpty else { return malformed(.certificate, "empty certificate chain", url: pending.url) }
            guard let key = certificateKey else { return unexpected("a certificate without a key") }
            state = .checkingChain
            return ACMEStep(next: .run(.checkChain(pem: response.body, key: key, names: names)))
        }
    }

    /// An error status: badNonce is retried (RFC 8555 §6.5: with the nonce of the error
    /// response); a missing account is created; `alreadyReplaced` drops `replaces`
    /// (RFC 9773 §5); `orderNotReady` on finalize polls the order; anything else fails.
    mutating func errorReceived(_ response: ACMEHTTPResponse, pending: Pending, now: Int64) -> ACMEStep {
        let problem = ACMEProblem.parse(response.body)
        switch (problem?.kind, pending.purpose) {
        case (.badNonce?, _) where pending.badNonceRetries < limits.maxBadNonceRetries:
            var again = pending
            again.badNonceRetries += 1
            return send(again, now: now)
        case (.accountDoesNotExist?, .findAccount):
            return createAccount(now: now)
        case (.alreadyReplaced?, .newOrder) where sendReplaces:
            sendReplaces = false
            return newOrder(now: now)
        case (.orderNotReady?, .finalize):
            return pollOrder(now: now, after: response)
        default:
            return failure(Self.stage(of: pending.purpose), response, url: pending.url, now: now)
        }
    }

    /// RFC 8555 §7.3: a new account, terms agreed, with the contact address if configured.
    mutating func createAccount(now: Int64) -> ACMEStep {
        guard let directory else { return unexpected("no directory") }
        if directory.externalAccountRequired {
            return fail(ACMEError(stage: .account, reason: .configuration(
                "the CA requires an external account binding (RFC 8555 §7.3.4), which Flaks does not support"),
                url: directory.newAccount))
        }
        var payload: [JSONMember] = [JSONMember(name: "termsOfServiceAgreed", value: .bool(true))]
        if let email = configuration.contactEmail, !email.isEmpty {
            payload.append(JSONMember(name: "contact", value: .array([.string("mailto:" + email)])))
        }
        return send(Pending(purpose: .createAccount, url: directory.newAccount, payload: .object(payload)), now: now)
    }

    mutating func accountReceived(_ response: ACMEHTTPResponse, pending: Pending, now: Int64) -> ACMEStep {
        guard let location = response.header("Location"), ACMEURLCheck.ok(location, allowHTTP: allowHTTP) else {
            return malformed(.account, "newAccount answered without a usable Location", url: pending.url, status: response.status)
        }
        // The body is optional for onlyReturnExisting; when present, the account must be valid.
        if !response.body.isEmpty, let json = try? JSONParser.parse(response.body),
           let status = json["status"]?.stringValue, status != "valid" {
            return fail(ACMEError(stage: .account, reason: .badResponse("the account is \(ACMEProblem.clip(status))"),
                                  url: location, httpStatus: response.status))
        }
        accountURL = location
        var step = newOrder(now: now)
        step.effects.insert(.accountReady(url: location), at: 0)
        return step
    }

    /// RFC 8555 §7.4: one order for the names (RFC 9773 §5 `replaces` when renewing).
    mutating func newOrder(now: Int64) -> ACMEStep {
        guard let directory else { return unexpected("no directory") }
        var payload: [JSONMember] = [JSONMember(name: "identifiers", value: .array(names.map {
            .object(["type": .string("dns"), "value": .string($0)])
        }))]
        if sendReplaces, directory.renewalInfo != nil, let replaces = configuration.replaces {
            payload.append(JSONMember(name: "replaces", value: .string(replaces)))
        } else {
            sendReplaces = false
        }
        return send(Pending(purpose: .newOrder, url: directory.newOrder, payload: .object(payload)), now: now)
    }

    mutating func orderReceived(_ response: ACMEHTTPResponse, pending: Pending, now: Int64) -> ACMEStep {
        let stage = Self.stage(of: pending.purpose)
        let json: JSONValue
        do { json = try JSONParser.parse(response.body) } catch { return malformed(stage, error.description, url: pending.url) }
        let parsed: ACMEOrder
        switch ACMEOrder.parse(json, allowHTTP: allowHTTP, maxAuthorizations: limits.maxAuthorizations) {
        case .failure(let m): return malformed(stage, m.reason, url: pending.url, status: response.status)
        case .success(let o): parsed = o
        }
        order = parsed
        switch parsed.status {
        case .invalid:
            return fail(ACMEError(stage: stage, reason: .orderInvalid(parsed.error), url: orderURL, httpStatus: response.status))
        case .valid:
            guard let certificate = parsed.certificate else {
                return malformed(stage, "a valid order without a certificate URL", url: orderURL, status: response.status)
            }
            guard certificateKey != nil else {
                // Valid before we finalized: the CA reused an order we did not make (no key for it).
                return malformed(stage, "the order is valid but was not finalized by this attempt", url: orderURL)
            }
            return send(Pending(purpose: .certificate, url: certificate, payload: nil), now: now)
        case .ready:
            if csr != nil, finalizeAttempts >= limits.maxFinalizeAttempts {
                return fail(ACMEError(stage: .finalize, reason: .pollingExhausted("the order stayed ready after \(finalizeAttempts) finalize requests"),
                                      url: orderURL))
            }
            if csr != nil { return finalize(now: now) }
            state = .makingCertificateRequest
            return ACMEStep(next: .run(.makeCertificateRequest(names: names)))
        case .pending:
            if !authorizationsDone {
                guard !parsed.authorizations.isEmpty else {
                    return malformed(stage, "a pending order without authorizations", url: orderURL, status: response.status)
                }
                return fetchAuthorization(0, now: now)
            }
            return pollOrder(now: now, after: response)
        case .processing:
            return pollOrder(now: now, after: response)
        }
    }

    /// POST-as-GET the order after Retry-After or the poll interval, bounded by `maxPolls`.
    mutating func pollOrder(now: Int64, after response: ACMEHTTPResponse) -> ACMEStep {
        guard let orderURL else { return unexpected("no order URL") }
        guard orderPolls < limits.maxPolls else {
            return fail(ACMEError(stage: .order, reason: .pollingExhausted("the order was not done after \(orderPolls) polls"),
                                  url: orderURL))
        }
        orderPolls += 1
        return sleepThenSend(Pending(purpose: .pollOrder, url: orderURL, payload: nil), response: response, now: now)
    }

    mutating func fetchAuthorization(_ index: Int, now: Int64) -> ACMEStep {
        guard let order, index < order.authorizations.count else { return unexpected("authorization index") }
        authorizationPolls = 0
        return send(Pending(purpose: .authorization(index), url: order.authorizations[index], payload: nil), now: now)
    }

    /// After authorization `index` is valid: withdraw its challenge response, then the next
    /// authorization, or (all done) the order.
    mutating func authorizationDone(_ index: Int, now: Int64) -> ACMEStep {
        var effects: [ACMEEffect] = []
        if let p = publishedFor.removeValue(forKey: index) {
            published.removeAll { $0 == p }
            switch p {
            case .http01(let token): effects.append(.withdrawHTTP01(token: token))
            case .tlsALPN01(let name): effects.append(.withdrawTLSALPN01(name: name))
            }
        }
        var step: ACMEStep
        if let order, index + 1 < order.authorizations.count {
            step = fetchAuthorization(index + 1, now: now)
        } else {
            authorizationsDone = true
            guard let orderURL else { return unexpected("no order URL") }
            orderPolls += 1
            step = send(Pending(purpose: .pollOrder, url: orderURL, payload: nil), now: now)
        }
        step.effects = effects + step.effects
        return step
    }

    mutating func authorizationReceived(_ response: ACMEHTTPResponse, index: Int, pending: Pending, now: Int64) -> ACMEStep {
        let json: JSONValue
        do { json = try JSONParser.parse(response.body) } catch { return malformed(.authorization, error.description, url: pending.url) }
        let authz: ACMEAuthorization
        switch ACMEAuthorization.parse(json, allowHTTP: allowHTTP) {
        case .failure(let m): return malformed(.authorization, m.reason, url: pending.url, status: response.status)
        case .success(let a): authz = a
        }
        let name = authz.identifierValue.lowercased()
        guard authz.identifierType == "dns", names.contains(name) else {
            return malformed(.authorization, "an authorization for \(ACMEProblem.clip(authz.identifierType)):\(ACMEProblem.clip(name)), which was not ordered",
                             url: pending.url, status: response.status)
        }
        authorizationNames[index] = name
        switch authz.status {
        case .valid:
            return authorizationDone(index, now: now)
        case .pending:
            if case .pollAuthorization = pending.purpose {
                guard authorizationPolls < limits.maxPolls else {
                    return fail(ACMEError(stage: .authorization,
                                          reason: .pollingExhausted("the authorization for \(name) was still pending after \(authorizationPolls) polls"),
                                          url: pending.url))
                }
                authorizationPolls += 1
                return sleepThenSend(Pending(purpose: .pollAuthorization(index), url: pending.url, payload: nil),
                                     response: response, now: now)
            }
            return respond(to: authz, name: name, index: index, authorizationURL: pending.url, now: now)
        case .invalid, .deactivated, .expired, .revoked:
            return fail(ACMEError(stage: .authorization, reason: .authorizationInvalid(name: name, problem: authz.challengeError),
                                  url: pending.url, httpStatus: response.status))
        }
    }

    /// Picks the challenge (http-01 first when both are allowed), publishes its response and
    /// tells the CA to validate (RFC 8555 §7.5.1), or polls when it is already processing.
    mutating func respond(to authz: ACMEAuthorization, name: String, index: Int, authorizationURL: String, now: Int64) -> ACMEStep {
        var chosen: (ACMEChallengeType, ACMEAuthorization.Challenge)?
        for type in configuration.preference {
            if let c = authz.challenges.first(where: { $0.type == type.rawValue }) { chosen = (type, c); break }
        }
        guard let (type, challenge) = chosen else {
            return fail(ACMEError(stage: .challenge, reason: .noAllowedChallenge(
                name: name, offered: authz.challenges.map { ACMEProblem.clip($0.type) }), url: authorizationURL))
        }
        guard let token = challenge.token, !token.isEmpty, token.utf8.count <= 256, Base64URL.isAlphabet(token) else {
            return malformed(.challenge, "the \(type.rawValue) challenge for \(name) has no usable token", url: challenge.url)
        }
        if challenge.status == "invalid" {
            return fail(ACMEError(stage: .challenge, reason: .authorizationInvalid(name: name, problem: challenge.error), url: challenge.url))
        }
        // pending: answer it; processing/valid: a response was sent before, poll.
        authorizationPolls = 0
        let then = challenge.status == "pending"
            ? Pending(purpose: .challenge(index), url: challenge.url, payload: .object([]))
            : Pending(purpose: .pollAuthorization(index), url: authorizationURL, payload: nil)
        if case .pollAuthorization = then.purpose { authorizationPolls = 1 }
        switch type {
        case .http01:
            let keyAuthorization = accountKey.keyAuthorization(token: token)
            published.append(.http01(token: token))
            publishedFor[index] = .http01(token: token)
            var step = send(then, now: now)
            step.effects.insert(.serveHTTP01(token: token, keyAuthorization: keyAuthorization), at: 0)
            return step
        case .tlsALPN01:
            state = .makingChallengeCertificate(index: index, name: name, then: then)
            return ACMEStep(next: .run(.makeChallengeCertificate(name: name,
                                                                 keyAuthorizationDigest: accountKey.keyAuthorizationDigest(token: token))))
        }
    }

    /// RFC 8555 §7.5.1: the challenge object comes back; then poll the authorization.
    mutating func challengeReceived(_ response: ACMEHTTPResponse, index: Int, pending: Pending, now: Int64) -> ACMEStep {
        let json = try? JSONParser.parse(response.body)
        let name = authorizationNames[index] ?? "?"
        if let json, json["status"]?.stringValue == "invalid" {
            return fail(ACMEError(stage: .challenge, reason: .authorizationInvalid(
                name: name, problem: json["error"].flatMap { ACMEProblem.from($0) }), url: pending.url, httpStatus: response.status))
        }
        guard let order, index < order.authorizations.count else { return unexpected("challenge without authorization") }
        let authorizationURL = order.authorizations[index]
        authorizationPolls = 1
        return sleepThenSend(Pending(purpose: .pollAuthorization(index), url: authorizationURL, payload: nil),
                             response: response, now: now)
    }

    /// RFC 8555 §7.4: finalize with the CSR (base64url DER).
    mutating func finalize(now: Int64) -> ACMEStep {
        guard let order, let csr else { return unexpected("finalize without an order") }
        finalizeAttempts += 1
        return send(Pending(purpose: .finalize, url: order.finalize,
                            payload: .object(["csr": .string(Base64URL.encode(csr))])), now: now)
    }
}
