/// Where in the protocol an order attempt stopped (for the log and the status page).
public enum ACMEStage: String, Sendable, Hashable {
    case configuration, directory, nonce, account, order, authorization, challenge, finalize, certificate, renewalInfo
}

/// Why an order attempt (or an ARI fetch) failed. The renewal schedule retries with back-off;
/// `retryAfter` (absolute Unix seconds, from the CA's Retry-After) is the earliest next try.
public struct ACMEError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// The CA answered with a problem document (RFC 8555 §6.7).
        case problem(ACMEProblem)
        /// An error status without a readable problem document.
        case httpStatus(Int)
        /// A response the client cannot use: not JSON, a missing field, an unusable URL, too large.
        case badResponse(String)
        /// The executor could not talk to the CA (connect, TLS, timeout, body too long).
        case transport(String)
        /// Making a key, CSR, signature or challenge certificate failed, or the issued chain did
        /// not check out (wrong key, a name not covered).
        case crypto(String)
        /// RFC 8555 §7.1.6: the order became invalid; the CA's `error`, if it sent one.
        case orderInvalid(ACMEProblem?)
        /// An authorization became invalid (the challenge failed); the challenge's `error`.
        case authorizationInvalid(name: String, problem: ACMEProblem?)
        /// No challenge the CA offered is in `challenges`.
        case noAllowedChallenge(name: String, offered: [String])
        /// Still pending after `ACMELimits.maxPolls` polls (or finalize refused too often).
        case pollingExhausted(String)
        /// The CA asked to wait longer than `ACMELimits.maxPollDelay`; try again at `retryAfter`.
        case retryLater
        /// The order cannot be made as configured (a wildcard name, a key that is not P-256,
        /// an external account binding required).
        case configuration(String)
        /// The executor reported an event the machine was not waiting for (an executor bug).
        case unexpectedEvent(String)
    }

    public var stage: ACMEStage
    public var reason: Reason
    /// The request URL that failed, when there was one.
    public var url: String?
    /// The HTTP status of the failing response, when there was one.
    public var httpStatus: Int?
    /// Earliest time (Unix seconds) to try again, from the CA's Retry-After.
    public var retryAfter: Int64?

    public init(stage: ACMEStage, reason: Reason, url: String? = nil, httpStatus: Int? = nil, retryAfter: Int64? = nil) {
        self.stage = stage; self.reason = reason; self.url = url; self.httpStatus = httpStatus; self.retryAfter = retryAfter
    }

    /// The CA's problem document behind this failure, if any.
    public var problem: ACMEProblem? {
        switch reason {
        case .problem(let p): return p
        case .orderInvalid(let p), .authorizationInvalid(_, let p): return p
        default: return nil
        }
    }

    /// One log line: `acme order failed stage=order status=429 url=…: urn:…:rateLimited: detail`.
    public var description: String {
        var s = "stage=\(stage.rawValue)"
        if let httpStatus { s += " status=\(httpStatus)" }
        if let url { s += " url=\(url)" }
        if let retryAfter { s += " retry_after=\(retryAfter)" }
        let what: String
        switch reason {
        case .problem(let p): what = p.description
        case .httpStatus(let code): what = "HTTP \(code) without a problem document"
        case .badResponse(let r): what = "unusable response: \(r)"
        case .transport(let r): what = "transport: \(r)"
        case .crypto(let r): what = "crypto: \(r)"
        case .orderInvalid(let p): what = "order invalid" + (p.map { ": \($0)" } ?? "")
        case .authorizationInvalid(let name, let p): what = "authorization for \(name) invalid" + (p.map { ": \($0)" } ?? "")
        case .noAllowedChallenge(let name, let offered):
            what = "no allowed challenge for \(name) (offered: \(offered.joined(separator: ", ")))"
        case .pollingExhausted(let r): what = "gave up polling: \(r)"
        case .retryLater: what = "the CA asked to retry later"
        case .configuration(let r): what = "configuration: \(r)"
        case .unexpectedEvent(let r): what = "unexpected event: \(r)"
        }
        return s + ": " + what
    }
}
