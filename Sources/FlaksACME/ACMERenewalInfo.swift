import FlaksTLS

/// ACME Renewal Information (RFC 9773): the CA's suggested renewal window for a certificate.
public struct ARIWindow: Sendable, Hashable {
    /// Unix seconds.
    public var start: Int64
    public var end: Int64
    /// A page explaining the window (a revocation incident), for the log.
    public var explanationURL: String?
    /// When to ask again (the response's Retry-After, clamped to [`minCheckInterval`, `maxCheckInterval`]).
    public var nextCheck: Int64

    /// RFC 9773 §4.3: clients poll renewalInfo; without a Retry-After we ask again in 6 hours.
    public static let defaultCheckInterval: Int64 = 6 * 3600
    public static let minCheckInterval: Int64 = 60
    public static let maxCheckInterval: Int64 = 24 * 3600

    public init(start: Int64, end: Int64, explanationURL: String? = nil, nextCheck: Int64) {
        self.start = start; self.end = end; self.explanationURL = explanationURL; self.nextCheck = nextCheck
    }

    /// RFC 9773 §4.1: `base64url(AKI keyIdentifier) "." base64url(serial)`; nil when the
    /// certificate has no Authority Key Identifier.
    public static func certificateID(_ certificate: X509Certificate) -> String? {
        guard let aki = certificate.authorityKeyIdentifier else { return nil }
        let serial = certificate.serialNumberBytes
        guard !serial.isEmpty else { return nil }
        return Base64URL.encode(aki) + "." + Base64URL.encode(serial)
    }

    /// Parses a renewalInfo response (RFC 9773 §4.2). nil (and a reason) for anything but a
    /// 200 with a `suggestedWindow` whose start is before its end.
    public static func parse(_ response: ACMEHTTPResponse, now: Int64) -> Result<ARIWindow, ACMEError> {
        func bad(_ why: String) -> Result<ARIWindow, ACMEError> {
            .failure(ACMEError(stage: .renewalInfo, reason: .badResponse(why), httpStatus: response.status))
        }
        guard response.status == 200 else {
            let reason: ACMEError.Reason = ACMEProblem.parse(response.body).map { .problem($0) } ?? .httpStatus(response.status)
            return .failure(ACMEError(stage: .renewalInfo, reason: reason, httpStatus: response.status,
                                      retryAfter: response.header("Retry-After").flatMap { ACMETime.retryAfter($0, now: now) }))
        }
        guard let json = try? JSONParser.parse(response.body) else { return bad("renewalInfo is not JSON") }
        guard let s = json["suggestedWindow"]?["start"]?.stringValue.flatMap(ACMETime.rfc3339),
              let e = json["suggestedWindow"]?["end"]?.stringValue.flatMap(ACMETime.rfc3339) else {
            return bad("renewalInfo has no suggestedWindow with RFC 3339 start and end")
        }
        guard s < e else { return bad("renewalInfo's window ends before it starts") }
        let retry = response.header("Retry-After").flatMap { ACMETime.retryAfter($0, now: now) } ?? now + defaultCheckInterval
        let next = min(max(retry, now + minCheckInterval), now + maxCheckInterval)
        return .success(ARIWindow(start: s, end: e, explanationURL: json["explanationURL"]?.stringValue.map { ACMEProblem.clip($0) },
                                  nextCheck: next))
    }
}

/// Fetches the ARI window of one certificate: the directory (unless known), then
/// `GET renewalInfo/CERT-ID` (unauthenticated, RFC 9773 §4.1). Pure, like the order machine.
public struct ACMERenewalInfoMachine: Sendable {
    /// What the machine wants next.
    public enum Next: Sendable {
        /// Send it; then `received` or `transportFailed`.
        case send(ACMEHTTPRequest)
        /// The window; nil when the CA does not offer renewalInfo (schedule by renew_before).
        case done(ARIWindow?)
        case failed(ACMEError)
    }

    public let directoryURL: String
    public let certificateID: String
    public internal(set) var directory: ACMEDirectory?
    let userAgent: String
    let allowPlainHTTP: Bool
    var waitingForDirectory = false
    var maxResponseBody: Int

    /// `directory`: one the order machine already read (skips a request).
    public init(directoryURL: String, certificateID: String, directory: ACMEDirectory? = nil,
                userAgent: String = "flaks-acme/1", allowPlainHTTP: Bool = false, maxResponseBody: Int = 1 << 20) {
        self.directoryURL = directoryURL; self.certificateID = certificateID; self.directory = directory
        self.userAgent = userAgent; self.allowPlainHTTP = allowPlainHTTP; self.maxResponseBody = maxResponseBody
    }

    public mutating func start(now: Int64) -> Next {
        if let directory { return renewalInfo(directory) }
        waitingForDirectory = true
        return .send(ACMEHTTPRequest(method: .get, url: directoryURL, headers: [ACMEHeader("User-Agent", userAgent)]))
    }

    public mutating func received(_ response: ACMEHTTPResponse, now: Int64) -> Next {
        guard response.body.count <= maxResponseBody else {
            return .failed(ACMEError(stage: .renewalInfo, reason: .badResponse("body too large"), httpStatus: response.status))
        }
        if waitingForDirectory {
            waitingForDirectory = false
            guard (200..<300).contains(response.status) else {
                return .failed(ACMEError(stage: .directory, reason: ACMEProblem.parse(response.body).map { .problem($0) } ?? .httpStatus(response.status),
                                         url: directoryURL, httpStatus: response.status))
            }
            guard let json = try? JSONParser.parse(response.body) else {
                return .failed(ACMEError(stage: .directory, reason: .badResponse("the directory is not JSON"), url: directoryURL))
            }
            switch ACMEDirectory.parse(json, allowHTTP: allowPlainHTTP) {
            case .failure(let m): return .failed(ACMEError(stage: .directory, reason: .badResponse(m.reason), url: directoryURL))
            case .success(let d): directory = d; return renewalInfo(d)
            }
        }
        switch ARIWindow.parse(response, now: now) {
        case .success(let w): return .done(w)
        case .failure(var e):
            e.url = directory?.renewalInfo
            return .failed(e)
        }
    }

    public mutating func transportFailed(_ reason: String, now: Int64) -> Next {
        .failed(ACMEError(stage: waitingForDirectory ? .directory : .renewalInfo, reason: .transport(ACMEProblem.clip(reason))))
    }

    func renewalInfo(_ d: ACMEDirectory) -> Next {
        guard let base = d.renewalInfo else { return .done(nil) }
        let url = base.hasSuffix("/") ? base + certificateID : base + "/" + certificateID
        return .send(ACMEHTTPRequest(method: .get, url: url, headers: [ACMEHeader("User-Agent", userAgent)]))
    }
}
