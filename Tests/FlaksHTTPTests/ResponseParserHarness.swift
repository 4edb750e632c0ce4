import Testing
@testable import FlaksHTTP

/// Which event reported a response head.
enum SeenKind: String, Sendable {
    case interim, final, switching
}

/// One response as the harness saw it: its head, the concatenated body, its trailers, and whether it ended.
struct SeenResponse: Equatable, CustomStringConvertible {
    var kind: SeenKind
    var version: HTTPVersion
    var code: Int
    var reason: String
    var headers: [HeaderField]
    var framing: ResponseFraming
    var keepAlive: Bool
    var body: [UInt8] = []
    var trailers: [HeaderField] = []
    var complete: Bool

    init(kind: SeenKind, version: HTTPVersion, code: Int, reason: String, headers: [HeaderField],
         framing: ResponseFraming, keepAlive: Bool, body: [UInt8] = [], trailers: [HeaderField] = [], complete: Bool) {
        self.kind = kind; self.version = version; self.code = code; self.reason = reason; self.headers = headers
        self.framing = framing; self.keepAlive = keepAlive; self.body = body; self.trailers = trailers; self.complete = complete
    }

    init(_ head: ResponseHead, kind: SeenKind) {
        self.init(kind: kind, version: head.version, code: head.status.code, reason: head.reason,
                  headers: head.headers.fields, framing: head.framing, keepAlive: head.keepAlive,
                  complete: kind != .final)
    }

    var description: String {
        let h = headers.map { "\($0.name): \($0.value)" }.joined(separator: " | ")
        let t = trailers.map { "\($0.name): \($0.value)" }.joined(separator: " | ")
        return "\(kind) \(version) \(code) \(reason.debugDescription) [\(h)] \(framing) keepAlive=\(keepAlive) "
            + "body=\(String(decoding: body, as: UTF8.self).debugDescription) trailers=[\(t)] complete=\(complete)"
    }
}

/// Everything a run of the response parser over some input produced.
struct ResponseOutcome: Equatable, CustomStringConvertible {
    var responses: [SeenResponse] = []
    var error: ResponseParseError?
    /// Bytes left unconsumed when the input ran out (nil after an error, a 101 or an EOF).
    var leftover: Int?
    /// After a 101: every byte that followed its head, as the proxy would relay it.
    var tunnel: [UInt8]?
    /// When the input was ended: what `inputEnded` returned (nil when it threw).
    var eof: ResponseEvent??

    var description: String {
        var s = responses.map(\.description).joined(separator: "\n")
        if let error { s += "\nerror: \(error)" }
        if let leftover { s += "\nleftover: \(leftover)" }
        if let tunnel { s += "\ntunnel: \(String(decoding: tunnel, as: UTF8.self).debugDescription)" }
        if let eof { s += "\neof: \(String(describing: eof))" }
        return s
    }
}

/// A request the response answers: its method and whether it asked to upgrade.
struct Sent: Sendable {
    var method: HTTPMethod
    var upgrade = false
    static let get = Sent(method: .GET)
    static let head = Sent(method: .HEAD)
    static let upgrade = Sent(method: .GET, upgrade: true)
}

/// Drives a `ResponseParser` the way the proxy will: `startResponse` for each request sent (the next
/// one after each `.end`), an accumulation buffer, `parse` on its unconsumed bytes, drop `consumed`,
/// append the next slice after `.needMoreBytes`; after a 101 the rest goes to the tunnel untouched;
/// at the end of the input, optionally, `inputEnded`. Checks the protocol invariants on every call.
enum ResponseHarness {
    static func run(_ input: [UInt8], cuts: [Int], limits: ResponseParseLimits = ResponseParseLimits(),
                    sent: [Sent] = [.get], endInput: Bool = false,
                    sourceLocation: SourceLocation = #_sourceLocation) -> ResponseOutcome {
        var parser = ResponseParser(limits: limits)
        var pending = sent[...]
        if let first = pending.popFirst() { parser.startResponse(to: first.method, upgradeRequested: first.upgrade) }
        var buffer: [UInt8] = []
        var outcome = ResponseOutcome()
        var current: SeenResponse?
        var tunnel: [UInt8]?
        var boundaries = cuts.filter { $0 > 0 && $0 < input.count }
        boundaries.append(input.count)
        var from = 0

        func fail(_ error: ResponseParseError) -> ResponseOutcome {
            if let current { outcome.responses.append(current) }
            outcome.error = error
            return outcome
        }

        for to in boundaries {
            if tunnel != nil {
                tunnel?.append(contentsOf: input[from..<to])
                from = to
                continue
            }
            buffer.append(contentsOf: input[from..<to])
            from = to
            var idleEvents = 0
            parsing: while true {
                let result = buffer.withUnsafeBytes { p in
                    Result { () throws(ResponseParseError) -> ResponseParseResult in try parser.parse(p) }
                }
                let r: ResponseParseResult
                switch result {
                case .success(let ok): r = ok
                case .failure(let error): return fail(error)
                }
                guard r.consumed >= 0 && r.consumed <= buffer.count else {
                    Issue.record("consumed \(r.consumed) of \(buffer.count) bytes", sourceLocation: sourceLocation)
                    return outcome
                }
                switch r.event {
                case .needMoreBytes:
                    break
                case .interim(let head), .head(let head), .switchingProtocols(let head):
                    if current != nil { Issue.record("head before end of previous response", sourceLocation: sourceLocation) }
                    if r.consumed == 0 { Issue.record("head consumed 0 bytes", sourceLocation: sourceLocation) }
                    switch r.event {
                    case .interim:
                        if !(100...199).contains(head.status.code) || head.status.code == 101 {
                            Issue.record("interim event for \(head.status.code)", sourceLocation: sourceLocation)
                        }
                        outcome.responses.append(SeenResponse(head, kind: .interim))
                    case .switchingProtocols:
                        outcome.responses.append(SeenResponse(head, kind: .switching))
                        tunnel = Array(buffer[r.consumed...])
                        buffer = []
                        break parsing
                    default:
                        current = SeenResponse(head, kind: .final)
                    }
                case .body(let range):
                    guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= r.consumed else {
                        Issue.record("bad body range \(range), consumed \(r.consumed)", sourceLocation: sourceLocation)
                        return outcome
                    }
                    if current == nil { Issue.record("body without head", sourceLocation: sourceLocation) }
                    current?.body.append(contentsOf: buffer[range])
                case .trailers(let fields):
                    if current == nil || fields.isEmpty { Issue.record("unexpected trailers", sourceLocation: sourceLocation) }
                    current?.trailers = fields.fields
                case .end:
                    if var c = current {
                        c.complete = true
                        outcome.responses.append(c)
                    } else {
                        Issue.record("end without head", sourceLocation: sourceLocation)
                    }
                    current = nil
                    if !parser.isIdle { Issue.record("not idle after end", sourceLocation: sourceLocation) }
                    if let next = pending.popFirst() { parser.startResponse(to: next.method, upgradeRequested: next.upgrade) }
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
        if let tunnel {
            outcome.tunnel = tunnel
            return outcome
        }
        if endInput {
            do {
                let event = try parser.inputEnded()
                if event == .end {
                    if var c = current { c.complete = true; outcome.responses.append(c) } else {
                        Issue.record("EOF ended a response that had no head", sourceLocation: sourceLocation)
                    }
                    current = nil
                } else if event != nil {
                    Issue.record("inputEnded returned \(String(describing: event))", sourceLocation: sourceLocation)
                }
                outcome.eof = .some(event)
            } catch {
                return fail(error)
            }
            if let current { outcome.responses.append(current) }
            return outcome
        }
        if let current { outcome.responses.append(current) }
        outcome.leftover = buffer.count
        return outcome
    }

    /// Runs `input` all at once, split in two at every byte boundary, and one byte at a time.
    /// Records an issue naming the first split that disagrees with the all-at-once run, and returns that run.
    static func runAllWays(_ input: [UInt8], limits: ResponseParseLimits = ResponseParseLimits(), sent: [Sent] = [.get],
                           endInput: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) -> ResponseOutcome {
        let whole = run(input, cuts: [], limits: limits, sent: sent, endInput: endInput, sourceLocation: sourceLocation)
        if input.count > 1 {
            for k in 1..<input.count {
                let split = run(input, cuts: [k], limits: limits, sent: sent, endInput: endInput, sourceLocation: sourceLocation)
                if split != whole {
                    Issue.record("split at \(k) gives\n\(split)\nbut all at once gives\n\(whole)", sourceLocation: sourceLocation)
                    break
                }
            }
        }
        let bytewise = run(input, cuts: Array(0..<input.count), limits: limits, sent: sent, endInput: endInput,
                           sourceLocation: sourceLocation)
        if bytewise != whole {
            Issue.record("one byte at a time gives\n\(bytewise)\nbut all at once gives\n\(whole)", sourceLocation: sourceLocation)
        }
        return whole
    }
}

/// A compact expected response (Sendable, for test arguments).
struct Resp: Sendable {
    var kind: SeenKind = .final
    var version: HTTPVersion = .http1_1
    var status = 200
    var reason = "OK"
    var headers: [(String, String)] = []
    var framing: ResponseFraming = .none
    var keepAlive = true
    var body = ""
    var trailers: [(String, String)] = []
    var complete = true

    var seen: SeenResponse {
        SeenResponse(kind: kind, version: version, code: status, reason: reason,
                     headers: headers.map { HeaderField(name: $0.0, value: $0.1) }, framing: framing,
                     keepAlive: keepAlive, body: Array(body.utf8),
                     trailers: trailers.map { HeaderField(name: $0.0, value: $0.1) }, complete: complete)
    }

    /// A final response with a Content-Length body.
    static func cl(_ body: String, status: Int = 200, reason: String = "OK", extra: [(String, String)] = [],
                   keepAlive: Bool = true, version: HTTPVersion = .http1_1) -> Resp {
        Resp(version: version, status: status, reason: reason, headers: [("Content-Length", String(body.utf8.count))] + extra,
             framing: .length(body.utf8.count), keepAlive: keepAlive, body: body)
    }
}

/// The expected result of a response case.
struct RExpected: Sendable {
    var responses: [Resp]
    /// A substring of the error's description; nil: no error.
    var error: String?
    /// Bytes relayed to the tunnel after a 101, when one is expected.
    var tunnel: String?
    /// Bytes still buffered at the end (checked only when given).
    var leftover: Int?

    static func ok(_ responses: Resp..., tunnel: String? = nil, leftover: Int? = nil) -> RExpected {
        RExpected(responses: responses, tunnel: tunnel, leftover: leftover)
    }
    static func fails(_ message: String, after responses: [Resp] = []) -> RExpected {
        RExpected(responses: responses, error: message)
    }

    func check(_ outcome: ResponseOutcome, sourceLocation: SourceLocation = #_sourceLocation) {
        if let error {
            // For failures only the responses completed before the error are compared.
            #expect(outcome.responses.filter(\.complete) == responses.map(\.seen), "\(outcome)", sourceLocation: sourceLocation)
            #expect(outcome.error != nil, "\(outcome)", sourceLocation: sourceLocation)
            if let e = outcome.error {
                #expect(e.description.contains(error), "\(e)", sourceLocation: sourceLocation)
                #expect(e.status == .badGateway, sourceLocation: sourceLocation)
            }
        } else {
            #expect(outcome.responses == responses.map(\.seen), "\(outcome)", sourceLocation: sourceLocation)
            #expect(outcome.error == nil, "\(outcome)", sourceLocation: sourceLocation)
        }
        #expect(outcome.tunnel == tunnel.map { Array($0.utf8) }, "\(outcome)", sourceLocation: sourceLocation)
        if let leftover { #expect(outcome.leftover == leftover, "\(outcome)", sourceLocation: sourceLocation) }
    }
}

/// A named response case for the table-driven tests.
struct ResponseCase: Sendable, CustomTestStringConvertible {
    var name: String
    var input: [UInt8]
    var sent: [Sent]
    var endInput: Bool
    var limits: ResponseParseLimits
    var expected: RExpected

    init(_ name: String, _ input: String, sent: [Sent] = [.get], eof: Bool = false,
         limits: ResponseParseLimits = ResponseParseLimits(), _ expected: RExpected) {
        self.init(name, raw: bytes(input), sent: sent, eof: eof, limits: limits, expected)
    }
    init(_ name: String, raw: [UInt8], sent: [Sent] = [.get], eof: Bool = false,
         limits: ResponseParseLimits = ResponseParseLimits(), _ expected: RExpected) {
        self.name = name; self.input = raw; self.sent = sent; self.endInput = eof; self.limits = limits
        self.expected = expected
    }

    var testDescription: String { name }

    /// Runs the case all three ways and checks the expectation.
    func verify(sourceLocation: SourceLocation = #_sourceLocation) {
        let outcome = ResponseHarness.runAllWays(input, limits: limits, sent: sent, endInput: endInput,
                                                 sourceLocation: sourceLocation)
        expected.check(outcome, sourceLocation: sourceLocation)
    }
}
