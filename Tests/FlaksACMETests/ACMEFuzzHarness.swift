// Shared by the FuzzACME libFuzzer target (FuzzTesting/Sources/FuzzACME, through a symlink) and
// ACMEFuzzReplayTests: turns fuzz input into a hostile CA's responses and checks the machine's
// invariants. Public API only.
import FlaksACME
import FlaksTLS

/// Input format: byte 0 picks the configuration (bits 0-1: challenges http-01 / tls-alpn-01 /
/// both; bit 2: send `replaces`; bit 3: one name instead of two); then records, one per response:
///   u16 status (100 + value % 500), u8 header count (% 9), per header: u8 name index
///   (Replay-Nonce, Location, Retry-After, Content-Type, Link, Junk), u8 length, value bytes;
///   u16 body length, body bytes.
/// When the input is used up, every further request fails at the transport.
public enum ACMEFuzzHarness {
    public static let headerNames = ["Replay-Nonce", "Location", "Retry-After", "Content-Type", "Link", "X-Junk"]
    static let now: Int64 = 1_767_225_600
    static let accountKey: ACMEAccountKey? = {
        // A fixed account key: signing stays cheap and deterministic in cost.
        try? ACMEAccountKey(PrivateKey.generate(.ecdsaP256))
    }()

    public struct Record: Sendable {
        public var status: Int
        public var headers: [ACMEHeader]
        public var body: [UInt8]
        public init(status: Int, headers: [ACMEHeader], body: [UInt8]) { self.status = status; self.headers = headers; self.body = body }
    }

    /// Splits input into (options, responses).
    public static func decode(_ data: [UInt8]) -> (UInt8, [ACMEHTTPResponse]) {
        guard let options = data.first else { return (0, []) }
        var i = 1
        var out: [ACMEHTTPResponse] = []
        func u8() -> Int? { guard i < data.count else { return nil }; defer { i += 1 }; return Int(data[i]) }
        func u16() -> Int? { guard let a = u8(), let b = u8() else { return nil }; return a << 8 | b }
        func bytes(_ n: Int) -> [UInt8] { let e = min(data.count, i + n); defer { i = e }; return Array(data[i..<e]) }
        while i < data.count, out.count < 200 {
            guard let s = u16(), let count = u8() else { break }
            var headers: [ACMEHeader] = []
            for _ in 0..<(count % 9) {
                guard let name = u8(), let len = u8() else { break }
                headers.append(ACMEHeader(headerNames[name % headerNames.count], String(decoding: bytes(len), as: UTF8.self)))
            }
            let body = bytes(u16() ?? 0)
            out.append(ACMEHTTPResponse(status: 100 + s % 500, headers: headers, body: body))
        }
        return (options, out)
    }

    /// Encodes responses in the input format (for seeds).
    public static func encode(options: UInt8, _ responses: [ACMEHTTPResponse]) -> [UInt8] {
        var out: [UInt8] = [options]
        for r in responses {
            let s = max(r.status - 100, 0)
            out += [UInt8(s >> 8 & 0xFF), UInt8(s & 0xFF)]
            let headers = r.headers.filter { h in headerNames.contains { $0.lowercased() == h.name.lowercased() } }.prefix(8)
            out.append(UInt8(headers.count))
            for h in headers {
                let idx = headerNames.firstIndex { $0.lowercased() == h.name.lowercased() } ?? 0
                let v = Array(h.value.utf8.prefix(255))
                out += [UInt8(idx), UInt8(v.count)] + v
            }
            let body = Array(r.body.prefix(65535))
            out += [UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        }
        return out
    }

    /// Runs the order machine on the decoded responses; returns the broken invariants (empty: fine).
    public static func run(_ data: [UInt8]) -> [String] {
        var problems: [String] = []
        let (options, responses) = decode(data)
        guard let key = accountKey else { return ["no account key"] }
        let challenges: [ACMEChallengeType] = [[.http01, .tlsALPN01], [.http01], [.tlsALPN01], [.tlsALPN01, .http01]][Int(options & 3)]
        var limits = ACMELimits()
        limits.maxPolls = 5
        limits.maxBadNonceRetries = 3
        let names = options & 8 == 0 ? ["a.test", "www.a.test"] : ["a.test"]
        guard var machine = try? ACMEOrderMachine(configuration: ACMEOrderConfiguration(
            directoryURL: "https://ca.test/dir", names: names, challenges: challenges,
            replaces: options & 4 == 0 ? nil : "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", limits: limits), accountKey: key)
        else { return ["init failed"] }
        var now = now
        var step = machine.start(now: now)
        var next = 0
        var served = Set<String>()
        var steps = 0
        let maxSteps = 10 * (responses.count + 2)
        while true {
            steps += 1
            if steps > maxSteps { problems.append("no progress: \(steps) steps for \(responses.count) responses"); break }
            for e in step.effects {
                switch e {
                case .serveHTTP01(let token, let ka):
                    if !ka.hasPrefix(token + ".") { problems.append("key authorization \(ka) for \(token)") }
                    served.insert("http:" + token)
                case .withdrawHTTP01(let token):
                    if served.remove("http:" + token) == nil { problems.append("withdrew unpublished \(token)") }
                case .serveTLSALPN01(let name, let cert):
                    if !names.contains(name) || !cert.leaf.covers(name) { problems.append("challenge certificate for \(name)") }
                    served.insert("alpn:" + name)
                case .withdrawTLSALPN01(let name):
                    if served.remove("alpn:" + name) == nil { problems.append("withdrew unpublished \(name)") }
                case .accountReady(let url):
                    if ACMEURL(url)?.isHTTPS != true { problems.append("account URL \(url)") }
                }
            }
            switch step.next {
            case .send(let request):
                guard let u = ACMEURL(request.url), u.isHTTPS else { problems.append("request to \(request.url)"); return problems }
                if request.method == .post, request.body.count > 64 * 1024 { problems.append("huge request") }
                if next < responses.count {
                    let r = responses[next]
                    next += 1
                    step = machine.received(r, now: now)
                } else {
                    step = machine.transportFailed("input ended", now: now)
                }
            case .run(let job):
                step = machine.cryptoFinished(job.run(now: now), now: now)
            case .sleep(let until):
                if until < now || until > now + limits.maxPollDelay { problems.append("sleep until \(until) at \(now)") }
                now = until
                step = machine.timerFired(now: now)
            case .finished(let issued):
                if !names.allSatisfy({ issued.certificate.leaf.covers($0) }) { problems.append("issued without the names") }
                if !served.isEmpty { problems.append("left served: \(served)") }
                return problems
            case .failed(let e):
                if !served.isEmpty { problems.append("left served after failure: \(served)") }
                _ = e.description   // must not trap
                return problems
            }
        }
        return problems
    }

    /// The codecs on raw bytes: JSON round-trips, problem documents and ARI windows never trap.
    public static func codecs(_ data: [UInt8]) -> [String] {
        var problems: [String] = []
        if let v = try? JSONParser.parse(data) {
            let again = try? JSONParser.parse(v.serialized)
            if again != v { problems.append("JSON does not round-trip") }
        }
        if let p = ACMEProblem.parse(data) {
            _ = p.description
            if p.subproblems.count > ACMEProblem.maxSubproblems { problems.append("too many subproblems") }
        }
        let text = String(decoding: data.prefix(64), as: UTF8.self)
        _ = ACMETime.rfc3339(text)
        if let t = ACMETime.retryAfter(text, now: now), t < now || t > now + ACMETime.maxRetryAfter { problems.append("retry-after \(t)") }
        _ = ACMEURL(text)
        _ = Base64URL.decode(text)
        if case .success(let w) = ARIWindow.parse(ACMEHTTPResponse(status: 200, headers: [ACMEHeader("Retry-After", text)], body: data), now: now),
           w.start >= w.end || w.nextCheck < now + ARIWindow.minCheckInterval || w.nextCheck > now + ARIWindow.maxCheckInterval {
            problems.append("ARI window \(w)")
        }
        return problems
    }
}
