/// A problem document (RFC 7807; RFC 8555 §6.7): how an ACME server says no. Logged whole
/// (type, detail, status and the per-identifier subproblems) when an order fails.
public struct ACMEProblem: Sendable, Hashable, CustomStringConvertible {
    /// The ACME error types of RFC 8555 §6.7 (and RFC 9773's alreadyReplaced), from the type URI
    /// `urn:ietf:params:acme:error:NAME`.
    public enum Kind: Sendable, Hashable {
        case accountDoesNotExist, alreadyRevoked, alreadyReplaced, badCSR, badNonce, badPublicKey,
             badRevocationReason, badSignatureAlgorithm, caa, compound, connection, dns,
             externalAccountRequired, incorrectResponse, invalidContact, malformed, orderNotReady,
             rateLimited, rejectedIdentifier, serverInternal, tls, unauthorized, unsupportedContact,
             unsupportedIdentifier, userActionRequired
        /// Another `urn:ietf:params:acme:error:` name.
        case otherACME(String)
        /// A type outside the ACME namespace (`about:blank` included).
        case other
    }

    /// The type URI (`about:blank` when the document had none).
    public var type: String
    public var kind: Kind
    public var title: String?
    public var detail: String?
    /// The HTTP status the document states (may differ from the response's).
    public var status: Int?
    /// For a subproblem: the identifier it is about (`dns:example.test`).
    public var identifier: String?
    /// RFC 8555 §6.7.1: one entry per identifier that failed.
    public var subproblems: [ACMEProblem]

    /// Longest detail kept (a hostile CA cannot make one log line megabytes long).
    public static let maxTextLength = 1024
    /// Most subproblems kept.
    public static let maxSubproblems = 100
    static let acmePrefix = "urn:ietf:params:acme:error:"

    public init(type: String, title: String? = nil, detail: String? = nil, status: Int? = nil,
                identifier: String? = nil, subproblems: [ACMEProblem] = []) {
        self.type = type
        self.kind = Self.kind(of: type)
        self.title = title; self.detail = detail; self.status = status
        self.identifier = identifier; self.subproblems = subproblems
    }

    /// Reads a problem from a JSON value; nil when it is not an object. Missing or mistyped
    /// members are left out rather than refusing the document: its purpose is the log.
    public static func from(_ json: JSONValue, depth: Int = 0) -> ACMEProblem? {
        guard json.isObject else { return nil }
        let type = json["type"]?.stringValue.map { clip($0) } ?? "about:blank"
        var identifier: String?
        if let id = json["identifier"], let t = id["type"]?.stringValue, let v = id["value"]?.stringValue {
            identifier = clip("\(t):\(v)")
        }
        var subs: [ACMEProblem] = []
        if depth == 0, let list = json["subproblems"]?.arrayValue {
            for s in list.prefix(maxSubproblems) { if let p = from(s, depth: 1) { subs.append(p) } }
        }
        return ACMEProblem(type: type, title: json["title"]?.stringValue.map { clip($0) },
                           detail: json["detail"]?.stringValue.map { clip($0) },
                           status: json["status"]?.intValue, identifier: identifier, subproblems: subs)
    }

    /// Parses a response body as a problem document; nil when it is not JSON or not an object.
    public static func parse(_ body: [UInt8]) -> ACMEProblem? {
        guard let json = try? JSONParser.parse(body) else { return nil }
        return from(json)
    }

    static func kind(of type: String) -> Kind {
        guard type.hasPrefix(acmePrefix) else { return .other }
        let name = String(type.dropFirst(acmePrefix.count))
        let known: [String: Kind] = [
            "accountDoesNotExist": .accountDoesNotExist, "alreadyRevoked": .alreadyRevoked,
            "alreadyReplaced": .alreadyReplaced, "badCSR": .badCSR, "badNonce": .badNonce,
            "badPublicKey": .badPublicKey, "badRevocationReason": .badRevocationReason,
            "badSignatureAlgorithm": .badSignatureAlgorithm, "caa": .caa, "compound": .compound,
            "connection": .connection, "dns": .dns, "externalAccountRequired": .externalAccountRequired,
            "incorrectResponse": .incorrectResponse, "invalidContact": .invalidContact, "malformed": .malformed,
            "orderNotReady": .orderNotReady, "rateLimited": .rateLimited, "rejectedIdentifier": .rejectedIdentifier,
            "serverInternal": .serverInternal, "tls": .tls, "unauthorized": .unauthorized,
            "unsupportedContact": .unsupportedContact, "unsupportedIdentifier": .unsupportedIdentifier,
            "userActionRequired": .userActionRequired,
        ]
        return known[name] ?? .otherACME(name)
    }

    /// Control characters replaced, cut at `maxTextLength` bytes: safe for one log line.
    static func clip(_ s: String) -> String {
        var out = ""
        var count = 0
        for ch in s.unicodeScalars {
            let c: Unicode.Scalar = ch.value < 0x20 || ch.value == 0x7F ? " " : ch
            count += String(c).utf8.count
            if count > maxTextLength { out += "…"; break }
            out.unicodeScalars.append(c)
        }
        return out
    }

    /// `urn:ietf:params:acme:error:rejectedIdentifier: detail (status 400); dns:a.test: ...`.
    public var description: String {
        var s = type
        if let identifier { s = "\(identifier): " + s }
        if let detail, !detail.isEmpty { s += ": \(detail)" } else if let title { s += ": \(title)" }
        if let status { s += " (status \(status))" }
        for sub in subproblems { s += "; \(sub.description)" }
        return s
    }
}
