/// The ACME resources the client reads (RFC 8555 §7.1), parsed from JSON leniently where the
/// RFC allows extensions and strictly where the client acts on a value: every URL must be an
/// absolute https URL (http only when the directory itself is http, for tests).

/// RFC 8555 §7.1.1.
public struct ACMEDirectory: Sendable, Hashable {
    public var newNonce: String
    public var newAccount: String
    public var newOrder: String
    /// RFC 9773 §4: present when the CA offers ACME Renewal Information.
    public var renewalInfo: String?
    public var termsOfService: String?
    /// The CA wants an external account binding (RFC 8555 §7.3.4), which Flaks does not do.
    public var externalAccountRequired: Bool

    /// nil and a reason when a required URL is missing or not acceptable.
    static func parse(_ json: JSONValue, allowHTTP: Bool) -> Result<ACMEDirectory, Malformed> {
        func url(_ name: String) -> String? {
            guard let s = json[name]?.stringValue, ACMEURLCheck.ok(s, allowHTTP: allowHTTP) else { return nil }
            return s
        }
        guard json.isObject else { return .failure("the directory is not a JSON object") }
        guard let newNonce = url("newNonce"), let newAccount = url("newAccount"), let newOrder = url("newOrder") else {
            return .failure("the directory lacks a usable newNonce, newAccount or newOrder URL")
        }
        return .success(ACMEDirectory(newNonce: newNonce, newAccount: newAccount, newOrder: newOrder,
                                      renewalInfo: url("renewalInfo"),
                                      termsOfService: json["meta"]?["termsOfService"]?.stringValue,
                                      externalAccountRequired: json["meta"]?["externalAccountRequired"]?.boolValue ?? false))
    }
}

/// RFC 8555 §7.1.3.
struct ACMEOrder: Sendable, Hashable {
    enum Status: String, Sendable { case pending, ready, processing, valid, invalid }
    var status: Status
    var authorizations: [String]
    var finalize: String
    var certificate: String?
    var error: ACMEProblem?

    static func parse(_ json: JSONValue, allowHTTP: Bool, maxAuthorizations: Int) -> Result<ACMEOrder, Malformed> {
        guard json.isObject else { return .failure("the order is not a JSON object") }
        guard let s = json["status"]?.stringValue, let status = Status(rawValue: s) else {
            return .failure("the order has no known status")
        }
        guard let finalize = json["finalize"]?.stringValue, ACMEURLCheck.ok(finalize, allowHTTP: allowHTTP) else {
            return .failure("the order has no usable finalize URL")
        }
        let list = json["authorizations"]?.arrayValue ?? []
        guard list.count <= maxAuthorizations else { return .failure("the order has more than \(maxAuthorizations) authorizations") }
        var authorizations: [String] = []
        for a in list {
            guard let u = a.stringValue, ACMEURLCheck.ok(u, allowHTTP: allowHTTP) else {
                return .failure("the order has an unusable authorization URL")
            }
            authorizations.append(u)
        }
        var certificate: String?
        if let c = json["certificate"]?.stringValue {
            guard ACMEURLCheck.ok(c, allowHTTP: allowHTTP) else { return .failure("the order's certificate URL is unusable") }
            certificate = c
        }
        return .success(ACMEOrder(status: status, authorizations: authorizations, finalize: finalize,
                                  certificate: certificate, error: json["error"].flatMap { ACMEProblem.from($0) }))
    }
}

/// RFC 8555 §7.1.4 and §7.1.5.
struct ACMEAuthorization: Sendable, Hashable {
    enum Status: String, Sendable { case pending, valid, invalid, deactivated, expired, revoked }
    struct Challenge: Sendable, Hashable {
        var type: String
        var url: String
        /// pending | processing | valid | invalid
        var status: String
        var token: String?
        var error: ACMEProblem?
    }
    var status: Status
    var identifierType: String
    var identifierValue: String
    var challenges: [Challenge]

    /// Most challenges read from one authorization (RFC 8555 servers offer about three).
    static let maxChallenges = 32

    static func parse(_ json: JSONValue, allowHTTP: Bool) -> Result<ACMEAuthorization, Malformed> {
        guard json.isObject else { return .failure("the authorization is not a JSON object") }
        guard let s = json["status"]?.stringValue, let status = Status(rawValue: s) else {
            return .failure("the authorization has no known status")
        }
        guard let idType = json["identifier"]?["type"]?.stringValue, let idValue = json["identifier"]?["value"]?.stringValue else {
            return .failure("the authorization has no identifier")
        }
        var challenges: [Challenge] = []
        for c in (json["challenges"]?.arrayValue ?? []).prefix(maxChallenges) {
            // A challenge we cannot read is skipped, not fatal: another one may do (§7.1.5 lets
            // servers add types we do not know).
            guard let type = c["type"]?.stringValue, let url = c["url"]?.stringValue,
                  ACMEURLCheck.ok(url, allowHTTP: allowHTTP) else { continue }
            challenges.append(Challenge(type: type, url: url, status: c["status"]?.stringValue ?? "pending",
                                        token: c["token"]?.stringValue, error: c["error"].flatMap { ACMEProblem.from($0) }))
        }
        return .success(ACMEAuthorization(status: status, identifierType: idType, identifierValue: idValue,
                                          challenges: challenges))
    }

    /// The error of the first failed challenge (what the log shows for an invalid authorization).
    var challengeError: ACMEProblem? { challenges.lazy.compactMap(\.error).first }
}

/// URLs the client will send requests to.
enum ACMEURLCheck {
    static func ok(_ s: String, allowHTTP: Bool) -> Bool {
        guard let u = ACMEURL(s) else { return false }
        return u.isHTTPS || allowHTTP
    }
}

/// Why a CA response could not be used (becomes `ACMEError.Reason.badResponse`).
struct Malformed: Error, Sendable, Hashable, ExpressibleByStringInterpolation {
    var reason: String
    init(_ reason: String) { self.reason = reason }
    init(stringLiteral value: String) { reason = value }
}
