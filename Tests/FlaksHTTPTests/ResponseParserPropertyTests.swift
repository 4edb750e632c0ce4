import Testing
@testable import FlaksHTTP
import FlaksTestSupport

/// Builds random valid exchanges (interim responses, a final response with any framing, trailers,
/// 101 tunnels, close-delimited bodies ended by EOF), serializes them, and checks the parser gets them
/// back whatever the split; random and mutated bytes never crash, never over-consume, and parse the
/// same at any split.
@Suite struct ResponseParserPropertyTests {
    static let baseSeed: UInt64 = 0x2E5B_0A5E

    static let tchars = Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    static let visible = (0x21...0x7E).map { Character(Unicode.Scalar(UInt8($0))) }
    static let valueChars = visible + [" ", "\t", "é", "ü", "€"]

    /// The bytes of some responses, the requests they answer, whether the input ends with EOF, and
    /// what the parser must report.
    struct Generated {
        var bytes: [UInt8] = []
        var sent: [Sent] = []
        var endInput = false
        var expected: [SeenResponse] = []
        var tunnel: [UInt8]?
    }

    static func trimmedValue(_ rng: inout SplitMix64) -> String {
        var value = rng.string(valueChars, 0...30)
        while let f = value.unicodeScalars.first, f == " " || f == "\t" { value.removeFirst() }
        while let l = value.unicodeScalars.last, l == " " || l == "\t" { value.removeLast() }
        return value
    }

    /// One head: status line and fields (with random OWS), plus framing fields as asked.
    static func head(_ version: HTTPVersion, _ code: Int, _ framingFields: [(String, String)], connection: String?,
                     _ rng: inout SplitMix64) -> (text: String, reason: String, headers: [HeaderField]) {
        var reason: String
        var text = "\(version) \(code)"
        switch rng.int(0...5) {
        case 0: reason = ""  // no SP at all
        case 1: reason = ""; text += " "
        default:
            reason = rng.pick(["OK", "Not Found", "Early Hints", "Continue", "I'm a teapot", "caf\u{E9}"]) + rng.string([" ", "\t", "x"], 0...2)
            text += " " + reason
        }
        text += "\r\n"
        var fields: [(String, String)] = []
        for _ in 0..<rng.int(0...6) {
            fields.append((rng.pick(["X-", "Set-Cookie", "Cache-Control", "Host", "Expect", "x-"]) + rng.string(tchars, 0...8),
                           trimmedValue(&rng)))
        }
        if let connection { fields.append(("Connection", connection)) }
        for f in framingFields { fields.insert(f, at: rng.int(0...fields.count)) }
        for (n, v) in fields {
            text += n + ":" + rng.string([" ", "\t"], 0...2) + v + rng.string([" ", "\t"], 0...2) + "\r\n"
        }
        text += "\r\n"
        return (text, reason, fields.map { HeaderField(name: $0.0, value: $0.1) })
    }

    /// Encodes `body` in random chunks with random extensions, and the given trailers.
    static func chunked(_ body: [UInt8], trailers: [HeaderField], _ rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = []
        func sizeLine(_ n: Int, _ rng: inout SplitMix64) {
            var hex = String(n, radix: 16, uppercase: rng.chance(0.5))
            if rng.chance(0.2) { hex = String(repeating: "0", count: rng.int(1...3)) + hex }
            out += Array(hex.utf8)
            for _ in 0..<(rng.chance(0.3) ? rng.int(1...3) : 0) {
                out += Array((rng.string([" ", "\t"], 0...1) + ";" + rng.string([" "], 0...1) + rng.string(tchars, 1...8)).utf8)
                if rng.chance(0.5) { out += Array(("=" + rng.string(tchars, 1...8)).utf8) }
            }
            out += [13, 10]
        }
        var i = 0
        while i < body.count {
            let n = min(body.count - i, rng.int(1...80))
            sizeLine(n, &rng)
            out += body[i..<(i + n)]
            out += [13, 10]
            i += n
        }
        sizeLine(0, &rng)
        for t in trailers { out += Array((t.name + ":" + rng.string([" "], 0...1) + t.value + "\r\n").utf8) }
        out += [13, 10]
        return out
    }

    /// 1 to 4 exchanges; only the last may be close-delimited (then the input ends with EOF) or a 101.
    static func generate(_ rng: inout SplitMix64) -> Generated {
        var g = Generated()
        let count = rng.int(1...4)
        for index in 0..<count {
            let last = index == count - 1
            let method: HTTPMethod = rng.chance(0.15) ? .HEAD : rng.pick([.GET, .POST, .PUT, .DELETE])
            let upgrade = last && method == .GET && rng.chance(0.15)
            g.sent.append(Sent(method: method, upgrade: upgrade))
            let version: HTTPVersion = rng.chance(0.85) ? .http1_1 : .http1_0
            // Interim responses first.
            for _ in 0..<(rng.chance(0.25) ? rng.int(1...2) : 0) {
                let code = rng.pick([100, 102, 103, 199])
                let h = head(version, code, [], connection: nil, &rng)
                g.bytes += Array(h.text.utf8)
                g.expected.append(SeenResponse(kind: .interim, version: version, code: code, reason: h.reason, headers: h.headers,
                                               framing: .none, keepAlive: version == .http1_1, complete: true))
            }
            if upgrade && rng.chance(0.7) {
                let h = head(.http1_1, 101, [("Upgrade", "websocket")], connection: "Upgrade", &rng)
                g.bytes += Array(h.text.utf8)
                g.expected.append(SeenResponse(kind: .switching, version: .http1_1, code: 101, reason: h.reason, headers: h.headers,
                                               framing: .none, keepAlive: false, complete: true))
                let tunnel = (0..<rng.int(0...60)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                g.bytes += tunnel
                g.tunnel = tunnel
                return g
            }
            let code = rng.chance(0.1) ? rng.pick([204, 304]) : rng.chance(0.05) ? rng.int(600...999) : rng.pick([200, 201, 206, 301, 404, 500, 503])
            let connection: String? = rng.chance(0.3) ? rng.pick(["close", "keep-alive", "Keep-Alive, foo", "x, CLOSE", "upgrade"]) : nil
            let noBody = method == .HEAD || code == 204 || code == 304
            // 0: Content-Length, 1: chunked (HTTP/1.1 only), 2: close-delimited (last exchange only).
            var kind = rng.int(0...(last ? 2 : 1))
            if kind == 1 && version == .http1_0 { kind = 0 }
            let body = noBody || kind == 2 && rng.chance(0.1) ? [] : (0..<rng.int(0...300)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var framingFields: [(String, String)] = []
            let trailers = kind == 1 && !noBody && rng.chance(0.4)
                ? (0..<rng.int(1...3)).map { _ in HeaderField(name: "T-" + rng.string(tchars, 1...6), value: rng.string(visible, 0...10)) } : []
            switch kind {
            case 0: framingFields.append((rng.pick(["Content-Length", "content-length"]), String(noBody ? rng.int(0...9999) : body.count)))
            case 1: framingFields.append((rng.pick(["Transfer-Encoding", "transfer-encoding"]), rng.pick(["chunked", "Chunked"])))
            default: break
            }
            let h = head(version, code, framingFields, connection: connection, &rng)
            g.bytes += Array(h.text.utf8)
            let framing: ResponseFraming
            if noBody {
                framing = .none
            } else {
                switch kind {
                case 0: framing = .length(body.count); g.bytes += body
                case 1: framing = .chunked; g.bytes += chunked(body, trailers: trailers, &rng)
                default: framing = .untilClose; g.bytes += body; g.endInput = true
                }
            }
            let tokens = (connection ?? "").lowercased().split(separator: ",").map { String($0.filter { $0 != " " }) }
            var keepAlive = !tokens.contains("close") && (version == .http1_1 || tokens.contains("keep-alive"))
            if framing == .untilClose { keepAlive = false }
            g.expected.append(SeenResponse(kind: .final, version: version, code: code, reason: h.reason, headers: h.headers,
                                           framing: framing, keepAlive: keepAlive, body: body, trailers: trailers, complete: true))
        }
        return g
    }

    static func randomCuts(_ count: Int, _ rng: inout SplitMix64) -> [Int] {
        guard count > 1 else { return [] }
        return (0..<rng.int(0...12)).map { _ in rng.int(1...(count - 1)) }.sorted()
    }

    @Test func randomValidResponsesRoundTrip() {
        var total = 0
        var iteration: UInt64 = 0
        while total < 500 {
            let seed = Self.baseSeed &+ iteration
            iteration += 1
            var rng = SplitMix64(seed: seed)
            let g = Self.generate(&rng)
            total += g.expected.count
            let cuts = Self.randomCuts(g.bytes.count, &rng)
            for run in [ResponseHarness.run(g.bytes, cuts: [], sent: g.sent, endInput: g.endInput),
                        ResponseHarness.run(g.bytes, cuts: cuts, sent: g.sent, endInput: g.endInput)] {
                #expect(run.error == nil, "seed \(seed): \(run.error.map(String.init(describing:)) ?? "")\n\(String(decoding: g.bytes, as: UTF8.self).debugDescription)")
                #expect(run.responses == g.expected, "seed \(seed), cuts \(cuts)\n\(run)")
                #expect(run.tunnel == g.tunnel, "seed \(seed)")
                if g.tunnel == nil && !g.endInput { #expect(run.leftover == 0, "seed \(seed)") }
                if run.responses != g.expected || run.error != nil { return }
            }
        }
    }

    @Test func randomValidResponsesByteByByte() {
        for i: UInt64 in 0..<60 {
            let seed = Self.baseSeed ^ 0xB17E &+ i
            var rng = SplitMix64(seed: seed)
            let g = Self.generate(&rng)
            let run = ResponseHarness.run(g.bytes, cuts: Array(0..<g.bytes.count), sent: g.sent, endInput: g.endInput)
            #expect(run.error == nil, "seed \(seed): \(run)")
            #expect(run.responses == g.expected, "seed \(seed)")
            #expect(run.tunnel == g.tunnel, "seed \(seed)")
        }
    }

    @Test func truncatedValidResponsesFailOrWaitAtEOF() {
        // Cut a valid input short and end it: never a crash, never a complete response that was cut,
        // and the outcome is the same at any split.
        for i: UInt64 in 0..<200 {
            let seed = Self.baseSeed ^ 0x7A11 &+ i
            var rng = SplitMix64(seed: seed)
            let g = Self.generate(&rng)
            guard g.bytes.count > 1, g.tunnel == nil else { continue }
            let cut = rng.int(1...(g.bytes.count - 1))
            let input = Array(g.bytes[0..<cut])
            let whole = ResponseHarness.run(input, cuts: [], sent: g.sent, endInput: true)
            let split = ResponseHarness.run(input, cuts: Self.randomCuts(input.count, &rng), sent: g.sent, endInput: true)
            #expect(whole == split, "seed \(seed)")
            // Every completed response is a prefix of what was generated; only a close-delimited last
            // one may complete with fewer bytes.
            for (k, r) in whole.responses.enumerated() where r.complete && k < g.expected.count {
                if r.framing == .untilClose { continue }
                #expect(r == g.expected[k], "seed \(seed) cut \(cut)")
            }
            if case .truncated = whole.error {} else if whole.error != nil {
                Issue.record("seed \(seed): a cut valid input failed with \(String(describing: whole.error))")
            }
        }
    }

    @Test func randomBytesNeverCrashOrOverConsume() {
        // The harness records an issue for consumed > buffer, empty or out-of-range body ranges, or loops.
        let alphabets: [[UInt8]] = [
            Array(0...255),
            Array("HTTP/1.1 HTTP/1.0 100 101 200 204 304 OK\r\n:Transfer-Encoding: chunked Content-Length 0123456789abcdef;=\"\t ".utf8),
        ]
        for i: UInt64 in 0..<300 {
            let seed = Self.baseSeed ^ 0x6A2B &+ i
            var rng = SplitMix64(seed: seed)
            let alphabet = rng.pick(alphabets)
            var input = rng.chance(0.5) ? Array("HTTP/1.1 ".utf8) : []
            input += (0..<rng.int(0...400)).map { _ in rng.pick(alphabet) }
            let limits = ResponseParseLimits(maxHead: rng.pick([64, 256, 16 * 1024]), maxBody: rng.pick([10, 1000, .max]))
            let sent = (0..<rng.int(0...3)).map { _ in Sent(method: rng.pick([.GET, .HEAD, .CONNECT]), upgrade: rng.chance(0.3)) }
            _ = ResponseHarness.run(input, cuts: Self.randomCuts(input.count, &rng), limits: limits, sent: sent, endInput: rng.chance(0.5))
        }
    }

    @Test func mutatedResponsesParseTheSameAtAnySplit() {
        for i: UInt64 in 0..<300 {
            let seed = Self.baseSeed ^ 0x3E7A &+ i
            var rng = SplitMix64(seed: seed)
            let g = Self.generate(&rng)
            var input = g.bytes
            for _ in 0..<rng.int(1...3) where !input.isEmpty {
                let at = rng.int(0...(input.count - 1))
                let b = rng.pick([0, 9, 10, 13, 32, 34, 44, 58, 59, 0x30, 0x31, 0x41, 0x7F, 0xFF, UInt8.random(in: 0...255, using: &rng)])
                switch rng.int(0...2) {
                case 0: input[at] = b
                case 1: input.insert(b, at: at)
                default: input.remove(at: at)
                }
            }
            let limits = ResponseParseLimits(maxHead: rng.pick([128, 16 * 1024]), maxBody: rng.pick([100, .max]))
            let whole = ResponseHarness.run(input, cuts: [], limits: limits, sent: g.sent, endInput: g.endInput)
            let split = ResponseHarness.run(input, cuts: Self.randomCuts(input.count, &rng), limits: limits, sent: g.sent, endInput: g.endInput)
            let bytewise = ResponseHarness.run(input, cuts: Array(0..<input.count), limits: limits, sent: g.sent, endInput: g.endInput)
            #expect(split == whole, "seed \(seed)")
            #expect(bytewise == whole, "seed \(seed)")
        }
    }
}
