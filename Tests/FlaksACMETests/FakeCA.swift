import COpenSSL
import Foundation
@testable import FlaksACME
@testable import FlaksTLS

/// A fixed "now" (2026-01-01T00:00:00Z); tests never read the clock.
let testNow: Int64 = 1_767_225_600

/// An in-memory ACME CA that checks what the client sends the way a real one does (JWS
/// signature by the account key, a nonce it issued and not yet used, `url` equal to the request
/// URL, `jwk` only for newAccount and `kid` otherwise, `""` payload for POST-as-GET), validates
/// challenges against what the client published, and issues a real certificate from the CSR.
/// Knobs script the awkward behaviours (badNonce, pending polls, Retry-After, failures).
final class FakeCA {
    let base = "https://ca.test"
    var directoryURL: String { base + "/dir" }
    let caKey: PrivateKey
    let caCert: X509Certificate

    // Knobs.
    var accountExists = false
    var externalAccountRequired = false
    var offerRenewalInfo = false
    var challengeTypes = ["http-01", "tls-alpn-01", "dns-01"]
    /// The next N signed requests get badNonce.
    var badNonces = 0
    /// Authorization polls answered `pending` before `valid` (per authorization).
    var pendingPolls = 0
    /// Order polls answered `processing` after finalize.
    var processingPolls = 0
    /// Retry-After header on polling responses.
    var pollRetryAfter: String?
    /// The challenge fails: the authorization becomes invalid with this problem.
    var failChallenge: JSONValue?
    /// finalize makes the order invalid with this problem.
    var invalidAtFinalize: JSONValue?
    /// newOrder answers with this status and problem.
    var newOrderError: (Int, JSONValue, [ACMEHeader])?
    /// `replaces` in newOrder is refused with alreadyReplaced.
    var refuseReplaces = false
    /// Override: a response for a request, or nil to let the CA answer. Return `.none` for a transport failure.
    var override: ((ACMEHTTPRequest, Int) -> Override?)?
    enum Override { case response(ACMEHTTPResponse), transportFailure }

    // Observed.
    var requests: [ACMEHTTPRequest] = []
    var payloads: [JSONValue?] = []
    var accountKeyJWK: JSONValue?
    var orderPayload: JSONValue?
    var violations: [String] = []

    // State.
    var nonces: Set<String> = []
    var nonceCounter = 0
    var authorizations: [String: (name: String, status: String, token: String, polls: Int)] = [:]
    var orderStatus = "pending"
    var orderPolls = 0
    var names: [String] = []
    var issuedPEM: String?
    /// Served challenge responses, set by the driver.
    let responder = ACMEChallengeResponder()
    var alpnCertificates: [String: ServerCertificate] = [:]
    var thumbprint: String?

    init() throws {
        caKey = try PrivateKey.generate(.ecdsaP256)
        caCert = try CertificateFactory.makeCA(commonName: "Fake ACME CA", key: caKey, notBefore: testNow - 86400,
                                               notAfter: testNow + 3650 * 86400)
    }

    func freshNonce() -> String {
        nonceCounter += 1
        let n = Base64URL.encode("nonce-\(nonceCounter)")
        nonces.insert(n)
        return n
    }

    func json(_ status: Int, _ body: JSONValue, _ headers: [ACMEHeader] = []) -> ACMEHTTPResponse {
        ACMEHTTPResponse(status: status, headers: [ACMEHeader("Replay-Nonce", freshNonce()),
                                                   ACMEHeader("Content-Type", "application/json")] + headers,
                         body: body.serialized)
    }

    func problem(_ status: Int, _ type: String, _ detail: String, _ headers: [ACMEHeader] = []) -> ACMEHTTPResponse {
        ACMEHTTPResponse(status: status, headers: [ACMEHeader("Replay-Nonce", freshNonce()),
                                                   ACMEHeader("Content-Type", "application/problem+json")] + headers,
                         body: JSONValue.object(["type": .string("urn:ietf:params:acme:error:" + type),
                                                 "detail": .string(detail), "status": .int(status)]).serialized)
    }

    var directory: JSONValue {
        var members: [JSONMember] = [
            JSONMember(name: "newNonce", value: .string(base + "/nonce")),
            JSONMember(name: "newAccount", value: .string(base + "/account")),
            JSONMember(name: "newOrder", value: .string(base + "/order")),
            JSONMember(name: "meta", value: .object(["termsOfService": .string(base + "/tos"),
                                                     "externalAccountRequired": .bool(externalAccountRequired)])),
        ]
        if offerRenewalInfo { members.append(JSONMember(name: "renewalInfo", value: .string(base + "/ari"))) }
        return .object(members)
    }

    var orderJSON: JSONValue {
        var members: [JSONMember] = [
            JSONMember(name: "status", value: .string(orderStatus)),
            JSONMember(name: "identifiers", value: .array(names.map { .object(["type": .string("dns"), "value": .string($0)]) })),
            JSONMember(name: "authorizations", value: .array(names.indices.map { .string(base + "/authz/\($0)") })),
            JSONMember(name: "finalize", value: .string(base + "/finalize")),
        ]
        if orderStatus == "valid" { members.append(JSONMember(name: "certificate", value: .string(base + "/cert"))) }
        if orderStatus == "invalid", let p = invalidAtFinalize { members.append(JSONMember(name: "error", value: p)) }
        return .object(members)
    }

    func authzJSON(_ id: String) -> JSONValue {
        guard let a = authorizations[id] else { return .null }
        let challenges: [JSONValue] = challengeTypes.enumerated().map { i, type in
            var c: [JSONMember] = [JSONMember(name: "type", value: .string(type)),
                                   JSONMember(name: "url", value: .string(base + "/chall/\(id)/\(i)")),
                                   JSONMember(name: "status", value: .string(a.status == "valid" ? "valid" : a.status == "invalid" ? "invalid" : "pending")),
                                   JSONMember(name: "token", value: .string(a.token))]
            if a.status == "invalid", let p = failChallenge { c.append(JSONMember(name: "error", value: p)) }
            return .object(c)
        }
        return .object(["status": .string(a.status),
                        "identifier": .object(["type": .string("dns"), "value": .string(a.name)]),
                        "challenges": .array(challenges)])
    }

    /// Handles one request; nil means a transport failure.
    func handle(_ request: ACMEHTTPRequest) -> ACMEHTTPResponse? {
        requests.append(request)
        if let o = override?(request, requests.count) {
            switch o {
            case .response(let r): payloads.append(nil); return r
            case .transportFailure: payloads.append(nil); return nil
            }
        }
        let path = String(request.url.dropFirst(base.count))
        if request.header("User-Agent") == nil { violations.append("no User-Agent on \(path)") }
        switch (request.method, path) {
        case (.get, "/dir"): payloads.append(nil); return ACMEHTTPResponse(status: 200, body: directory.serialized)
        case (.head, "/nonce"): payloads.append(nil); return ACMEHTTPResponse(status: 200, headers: [ACMEHeader("Replay-Nonce", freshNonce())])
        case (.post, _): break
        default: payloads.append(nil); return problem(404, "malformed", "no such resource \(path)")
        }
        // Check the JWS.
        guard let jws = try? JSONParser.parse(request.body),
              let protected64 = jws["protected"]?.stringValue, let payload64 = jws["payload"]?.stringValue,
              let sig64 = jws["signature"]?.stringValue, let protectedBytes = Base64URL.decode(protected64),
              let header = try? JSONParser.parse(protectedBytes), let sig = Base64URL.decode(sig64) else {
            violations.append("unparsable JWS on \(path)")
            payloads.append(nil)
            return problem(400, "malformed", "bad JWS")
        }
        let payload: JSONValue? = payload64.isEmpty ? nil : Base64URL.decode(payload64).flatMap { try? JSONParser.parse($0) }
        payloads.append(payload)
        if request.header("Content-Type") != "application/jose+json" { violations.append("content type on \(path)") }
        if header["alg"]?.stringValue != "ES256" { violations.append("alg on \(path)") }
        if header["url"]?.stringValue != request.url { violations.append("url header on \(path)") }
        guard let nonce = header["nonce"]?.stringValue, nonces.remove(nonce) != nil else {
            return problem(400, "badNonce", "unknown or reused nonce")
        }
        if path == "/account" {
            if header["kid"] != nil || header["jwk"] == nil { violations.append("newAccount must use jwk") }
            accountKeyJWK = header["jwk"]
            if let jwk = header["jwk"] { thumbprint = Base64URL.encode(Digest.sha256(jwk.serialized)) }
        } else if header["jwk"] != nil || header["kid"]?.stringValue != base + "/acct/1" {
            violations.append("request to \(path) must use kid")
        }
        if !verify(jwk: accountKeyJWK, signature: sig, input: Array((protected64 + "." + payload64).utf8)) {
            violations.append("bad signature on \(path)")
        }
        if badNonces > 0 {
            badNonces -= 1
            return problem(400, "badNonce", "nonce rejected for testing")
        }
        return route(path, payload: payload, payload64: payload64)
    }

    func route(_ path: String, payload: JSONValue?, payload64: String) -> ACMEHTTPResponse {
        let loc = ACMEHeader("Location", base + "/acct/1")
        if path == "/account" {
            if payload?["onlyReturnExisting"]?.boolValue == true {
                return accountExists ? json(200, .object(["status": .string("valid")]), [loc])
                    : problem(400, "accountDoesNotExist", "no account for this key")
            }
            if payload?["termsOfServiceAgreed"]?.boolValue != true { violations.append("terms not agreed") }
            accountExists = true
            return json(201, .object(["status": .string("valid"), "contact": payload?["contact"] ?? .array([])]), [loc])
        }
        if path == "/order" {
            orderPayload = payload
            if let (status, body, headers) = newOrderError {
                return ACMEHTTPResponse(status: status, headers: [ACMEHeader("Replay-Nonce", freshNonce())] + headers, body: body.serialized)
            }
            if refuseReplaces, payload?["replaces"] != nil { return problem(409, "alreadyReplaced", "already replaced") }
            names = (payload?["identifiers"]?.arrayValue ?? []).compactMap { $0["value"]?.stringValue }
            for (i, n) in names.enumerated() {
                authorizations["\(i)"] = (n, "pending", Base64URL.encode("token-\(i)-for-\(n)-0123456789"), 0)
            }
            orderStatus = "pending"
            return json(201, orderJSON, [ACMEHeader("Location", base + "/order/1")])
        }
        if path.hasPrefix("/authz/") {
            if !payload64.isEmpty { violations.append("POST-as-GET with a payload") }
            let id = String(path.dropFirst("/authz/".count))
            guard var a = authorizations[id] else { return problem(404, "malformed", "no authz") }
            if a.status == "processing" {
                a.polls += 1
                if a.polls > pendingPolls { a.status = failChallenge == nil ? "valid" : "invalid" }
                authorizations[id] = a
            }
            var out = authzJSON(id)
            if case .object(var m) = out, m.first?.value == .string("processing") { m[0].value = .string("pending"); out = .object(m) }
            let headers = pollRetryAfter.map { [ACMEHeader("Retry-After", $0)] } ?? []
            if authorizations.values.allSatisfy({ $0.status == "valid" }), orderStatus == "pending" { orderStatus = "ready" }
            return json(200, out, headers)
        }
        if path.hasPrefix("/chall/") {
            let parts = path.split(separator: "/")
            let id = String(parts[1])
            guard var a = authorizations[id], let idx = Int(parts[2]), idx < challengeTypes.count else {
                return problem(404, "malformed", "no challenge")
            }
            if payload != .object([]) { violations.append("challenge response payload must be {}") }
            let type = challengeTypes[idx]
            let expected = a.token + "." + (thumbprint ?? "?")
            switch type {
            case "http-01":
                if responder.response(forPath: ACMEChallengeResponder.pathPrefix + a.token) != Array(expected.utf8) {
                    violations.append("http-01 response not published for \(a.name)")
                }
            case "tls-alpn-01":
                if alpnCertificates[a.name]?.leaf.covers(a.name) != true { violations.append("tls-alpn-01 certificate not served for \(a.name)") }
            default: violations.append("answered \(type)")
            }
            a.status = "processing"
            authorizations[id] = a
            return json(200, .object(["type": .string(type), "url": .string(base + path), "status": .string("processing"),
                                      "token": .string(a.token)]),
                        [ACMEHeader("Link", "<\(base)/authz/\(id)>;rel=\"up\"")] + (pollRetryAfter.map { [ACMEHeader("Retry-After", $0)] } ?? []))
        }
        if path == "/finalize" {
            guard orderStatus == "ready" else { return problem(403, "orderNotReady", "order is \(orderStatus)") }
            guard let csr64 = payload?["csr"]?.stringValue, let der = Base64URL.decode(csr64) else {
                return problem(400, "badCSR", "no csr")
            }
            if let p = invalidAtFinalize { _ = p; orderStatus = "invalid"; return json(200, orderJSON) }
            do { issuedPEM = try issue(csrDER: der) } catch { return problem(400, "badCSR", "\(error)") }
            orderStatus = processingPolls > 0 ? "processing" : "valid"
            return json(200, orderJSON, pollRetryAfter.map { [ACMEHeader("Retry-After", $0)] } ?? [])
        }
        if path == "/order/1" {
            if orderStatus == "processing" {
                orderPolls += 1
                if orderPolls >= processingPolls { orderStatus = "valid" }
            }
            return json(200, orderJSON, pollRetryAfter.map { [ACMEHeader("Retry-After", $0)] } ?? [])
        }
        if path == "/cert" {
            guard let pem = issuedPEM else { return problem(404, "malformed", "no certificate") }
            return ACMEHTTPResponse(status: 200, headers: [ACMEHeader("Replay-Nonce", freshNonce()),
                                                           ACMEHeader("Content-Type", "application/pem-certificate-chain")],
                                    body: Array(pem.utf8))
        }
        return problem(404, "malformed", "no such resource \(path)")
    }

    func verify(jwk: JSONValue?, signature: [UInt8], input: [UInt8]) -> Bool {
        guard let jwk, let x = jwk["x"]?.stringValue.flatMap(Base64URL.decode), let y = jwk["y"]?.stringValue.flatMap(Base64URL.decode),
              x.count == 32, y.count == 32 else { return false }
        guard let key = Self.publicKey(x: x, y: y) else { return false }
        return key.verifyES256(signature, of: input)
    }

    /// A P-256 public key from JWK coordinates (the fake CA's side of the check).
    static func publicKey(x: [UInt8], y: [UInt8]) -> PrivateKey? {
        // SubjectPublicKeyInfo for id-ecPublicKey / prime256v1 with an uncompressed point.
        let prefix: [UInt8] = [0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
                               0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04]
        let der = prefix + x + y
        let pkey: OpaquePointer? = der.withUnsafeBufferPointer { buf in
            var p = buf.baseAddress
            return d2i_PUBKEY(nil, &p, buf.count)
        }
        return pkey.map { PrivateKey(taking: $0) }
    }

    /// Issues a leaf for the CSR's key and SANs, signed by the fake CA; returns leaf + CA PEM.
    func issue(csrDER: [UInt8]) throws -> String {
        let req: OpaquePointer? = csrDER.withUnsafeBufferPointer { buf in
            var p = buf.baseAddress
            return d2i_X509_REQ(nil, &p, buf.count)
        }
        guard let req else { throw CertificateError.openSSL("bad CSR") }
        defer { X509_REQ_free(req) }
        guard X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1, let pub = X509_REQ_get_pubkey(req) else {
            throw CertificateError.openSSL("CSR signature")
        }
        let key = PrivateKey(taking: pub)
        let leaf = try CertificateFactory.makeCertificate(commonName: names.first ?? "x", names: names, key: key,
                                                          issuer: (caCert, caKey), notBefore: testNow - 60,
                                                          notAfter: testNow + 90 * 86400)
        return leaf.pem + caCert.pem
    }
}

/// What a driven order did.
struct Transcript {
    var effects: [ACMEEffect] = []
    var sleeps: [Int64] = []
    var jobs: [String] = []
    var issued: ACMEIssuedCertificate?
    var error: ACMEError?
    var steps = 0
}

/// Runs `machine` against `ca` to the end: crypto inline, sleeps advance a fake clock, effects
/// applied to the CA's responder and ALPN table (as the executor would to the server).
func drive(_ machine: inout ACMEOrderMachine, _ ca: FakeCA, now start: Int64 = testNow, maxSteps: Int = 2000) -> Transcript {
    var t = Transcript()
    var now = start
    var step = machine.start(now: now)
    while t.steps < maxSteps {
        t.steps += 1
        for e in step.effects {
            t.effects.append(e)
            switch e {
            case .serveTLSALPN01(let name, let cert): ca.alpnCertificates[name] = cert
            case .withdrawTLSALPN01(let name): ca.alpnCertificates[name] = nil
            default: ca.responder.perform(e)
            }
        }
        switch step.next {
        case .send(let request):
            if let response = ca.handle(request) { step = machine.received(response, now: now) }
            else { step = machine.transportFailed("connection refused", now: now) }
        case .run(let job):
            switch job {
            case .sign: t.jobs.append("sign")
            case .makeCertificateRequest: t.jobs.append("csr")
            case .makeChallengeCertificate: t.jobs.append("challengeCertificate")
            case .checkChain: t.jobs.append("checkChain")
            }
            step = machine.cryptoFinished(job.run(now: now), now: now)
        case .sleep(let until):
            t.sleeps.append(until - now)
            now = max(now, until)
            step = machine.timerFired(now: now)
        case .finished(let issued): t.issued = issued; return t
        case .failed(let error): t.error = error; return t
        }
    }
    return t
}

func makeMachine(_ ca: FakeCA, names: [String] = ["a.test", "www.a.test"], email: String? = "ops@a.test",
                 challenges: [ACMEChallengeType] = [.http01, .tlsALPN01], replaces: String? = nil,
                 limits: ACMELimits = ACMELimits(), key: ACMEAccountKey? = nil) throws -> ACMEOrderMachine {
    let accountKey = try key ?? ACMEAccountKey(PrivateKey.generate(.ecdsaP256))
    return try ACMEOrderMachine(configuration: ACMEOrderConfiguration(directoryURL: ca.directoryURL, names: names,
                                                                      contactEmail: email, challenges: challenges,
                                                                      replaces: replaces, limits: limits),
                                accountKey: accountKey)
}

extension ACMEHTTPRequest {
    var path: String { ACMEURL(url)?.target ?? url }
}
