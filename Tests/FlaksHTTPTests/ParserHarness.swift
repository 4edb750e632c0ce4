import Testing
@testable import FlaksHTTP

/// One request as the harness saw it: the head's fields, the concatenated body, and whether `.end` came.
struct SeenRequest: Equatable, CustomStringConvertible {
    var method: HTTPMethod
    var target: String
    var version: HTTPVersion
    var headers: [HeaderField]
    var framing: BodyFraming
    var keepAlive: Bool
    var expectContinue: Bool
    var body: [UInt8] = []
    var complete = false

    init(method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: [HeaderField],
         framing: BodyFraming = .none, keepAlive: Bool = true, expectContinue: Bool = false,
         body: [UInt8] = [], complete: Bool = true) {
        self.method = method; self.target = target; self.version = version; self.headers = headers
        self.framing = framing; self.keepAlive = keepAlive; self.expectContinue = expectContinue
        self.body = body; self.complete = complete
    }

    init(_ head: RequestHead) {
        self.init(method: head.method, target: head.target, version: head.version, headers: head.headers.fields,
                  framing: head.framing, keepAlive: head.keepAlive, expectContinue: head.expectContinue,
                  complete: false)
    }

    var description: String {
        let h = headers.map { "\($0.name): \($0.value)" }.joined(separator: " | ")
        return "\(method) \(target) \(version) [\(h)] \(framing) keepAlive=\(keepAlive) expect=\(expectContinue) "
            + "body=\(String(decoding: body, as: UTF8.self).debugDescription) complete=\(complete)"
    }
}

/// Everything a run of the parser over some input produced.
struct Outcome: Equatable, CustomStringConvertible {
    var requests: [SeenRequest] = []
    var error: HTTPParseError?
    /// Bytes left unconsumed in the accumulation buffer when the input ran out (nil after an error).
    var leftover: Int?

    var description: String {
        var s = requests.map(\.description).joined(separator: "\n")
        if let error { s += "\nerror: \(error) (\(error.status.code))" }
        if let leftover { s += "\nleftover: \(leftover)" }
        return s
    }
}

/// Drives a `RequestParser` exactly as the server will: an accumulation buffer, `parse` on its
/// unconsumed bytes, drop `consumed`, and append the next slice after `.needMoreBytes`.
/// Checks the protocol invariants (consumed within the input, body ranges non-empty and covered by
/// consumed, no endless zero-progress loop) on every call.
enum Harness {
    static func run(_ input: [UInt8], cuts: [Int], limits: ParseLimits,
                    sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
        var parser = RequestParser(limits: limits)
        var buffer: [UInt8] = []
        var outcome = Outcome()
        var current: SeenRequest?
        var boundaries = cuts.filter { $0 > 0 && $0 < input.count }
        boundaries.append(input.count)
        var from = 0
        for to in boundaries {
            buffer.append(contentsOf: input[from..<to])
            from = to
            var idleEvents = 0
            while true {
                let result = buffer.withUnsafeBytes { p in
                    Result { () throws(HTTPParseError) -> ParseResult in try parser.parse(p) }
                }
                let r: ParseResult
                switch result {
                case .success(let ok): r = ok
                case .failure(let error):
                    if let current { outcome.requests.append(current) }
                    outcome.error = error
                    return outcome
                }
                guard r.consumed >= 0 && r.consumed <= buffer.count else {
                    Issue.record("consumed \(r.consumed) of \(buffer.count) bytes", sourceLocation: sourceLocation)
                    return outcome
                }
                switch r.event {
                case .needMoreBytes:
                    break
                case .head(let head):
                    if current != nil { Issue.record("head before end of previous request", sourceLocation: sourceLocation) }
                    if r.consumed == 0 { Issue.record("head consumed 0 bytes", sourceLocation: sourceLocation) }
                    current = SeenRequest(head)
                case .body(let range):
                    guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= r.consumed else {
                        Issue.record("bad body range \(range), consumed \(r.consumed)", sourceLocation: sourceLocation)
                        return outcome
                    }
                    if current == nil { Issue.record("body without head", sourceLocation: sourceLocation) }
                    current?.body.append(contentsOf: buffer[range])
                case .end:
                    if var c = current {
                        c.complete = true
                        outcome.requests.append(c)
                    } else {
                        Issue.record("end without head", sourceLocation: sourceLocation)
                    }
                    current = nil
                }
                buffer.removeFirst(r.consumed)
                if r.event == .needMoreBytes { break }
                idleEvents = r.consumed == 0 ? idleEvents + 1 : 0
                if idleEvents > 1 {
                    Issue.record("two events in a row without progress", sourceLocation: sourceLocation)
                    return outcome
                }
            }
        }
        if let current { outcome.requests.append(current) }
        outcome.leftover = buffer.count
        return outcome
    }

    /// Runs `input` all at once, split in two at every byte boundary, and one byte at a time.
    /// Records an issue naming the first split that disagrees with the all-at-once run, and returns that run.
    static func runAllWays(_ input: [UInt8], limits: ParseLimits,
                           sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
        let whole = run(input, cuts: [], limits: limits, sourceLocation: sourceLocation)
        if input.count > 1 {
            for k in 1..<input.count {
                let split = run(input, cuts: [k], limits: limits, sourceLocation: sourceLocation)
                if split != whole {
                    Issue.record("split at \(k) gives\n\(split)\nbut all at once gives\n\(whole)", sourceLocation: sourceLocation)
                    break
                }
            }
        }
        let bytewise = run(input, cuts: Array(0..<input.count), limits: limits, sourceLocation: sourceLocation)
        if bytewise != whole {
            Issue.record("one byte at a time gives\n\(bytewise)\nbut all at once gives\n\(whole)", sourceLocation: sourceLocation)
        }
        return whole
    }
}

/// The expected result of a parser case.
struct Expected: Sendable {
    var requests: [Req]
    var status: Int?
    var message: String?

    static func ok(_ requests: Req...) -> Expected { Expected(requests: requests) }
    static func fails(_ status: Int, _ message: String? = nil, after requests: [Req] = []) -> Expected {
        Expected(requests: requests, status: status, message: message)
    }

    /// Checks `outcome` against this expectation.
    func check(_ outcome: Outcome, sourceLocation: SourceLocation = #_sourceLocation) {
        if let status {
            // For failures only the requests completed before the error are compared.
            #expect(outcome.requests.filter(\.complete) == requests.map(\.seen), "\(outcome)", sourceLocation: sourceLocation)
            #expect(outcome.error?.status.code == status, "\(outcome)", sourceLocation: sourceLocation)
            if let message, let error = outcome.error {
                #expect(error.description.contains(message), "\(error)", sourceLocation: sourceLocation)
            }
        } else {
            #expect(outcome.requests == requests.map(\.seen), "\(outcome)", sourceLocation: sourceLocation)
            #expect(outcome.error == nil, "\(outcome)", sourceLocation: sourceLocation)
        }
    }
}

/// A compact expected request (Sendable, for test arguments).
struct Req: Sendable {
    var method: HTTPMethod = .GET
    var target = "/"
    var version: HTTPVersion = .http1_1
    var headers: [(String, String)] = [("Host", "a")]
    var framing: BodyFraming = .none
    var keepAlive = true
    var expectContinue = false
    var body = ""
    var complete = true

    var seen: SeenRequest {
        SeenRequest(method: method, target: target, version: version,
                    headers: headers.map { HeaderField(name: $0.0, value: $0.1) }, framing: framing,
                    keepAlive: keepAlive, expectContinue: expectContinue, body: Array(body.utf8), complete: complete)
    }
}

/// The UTF-8 bytes of `s`.
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A named parser case for the table-driven tests.
struct ParserCase: Sendable, CustomTestStringConvertible {
    var name: String
    var input: [UInt8]
    var limits = ParseLimits()
    var expected: Expected

    init(_ name: String, _ input: String, _ expected: Expected, limits: ParseLimits = ParseLimits()) {
        self.name = name; self.input = bytes(input); self.expected = expected; self.limits = limits
    }
    init(_ name: String, raw: [UInt8], _ expected: Expected, limits: ParseLimits = ParseLimits()) {
        self.name = name; self.input = raw; self.expected = expected; self.limits = limits
    }

    var testDescription: String { name }

    /// Runs the case all three ways and checks the expectation.
    func verify(sourceLocation: SourceLocation = #_sourceLocation) {
        let outcome = Harness.runAllWays(input, limits: limits, sourceLocation: sourceLocation)
        expected.check(outcome, sourceLocation: sourceLocation)
    }
}
