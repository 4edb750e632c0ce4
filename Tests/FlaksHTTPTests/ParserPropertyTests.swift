import Testing
@testable import FlaksHTTP
import FlaksTestSupport

/// Builds random valid requests, serializes them, and checks the parser gets them back whatever the
/// split; random and mutated bytes never crash, never over-consume, and parse the same at any split.
@Suite struct ParserPropertyTests {
    static let baseSeed: UInt64 = 0xF1A4_5EED

    static let tchars = Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    static let visible = (0x21...0x7E).map { Character(Unicode.Scalar(UInt8($0))) }
    static let valueChars = visible + [" ", "\t", "é", "ü", "€"]

    /// A request plus the bytes that encode it and what the parser must report.
    struct Generated {
        var bytes: [UInt8]
        var expected: SeenRequest
    }

    static func generate(_ rng: inout SplitMix64) -> Generated {
        let version: HTTPVersion = rng.chance(0.8) ? .http1_1 : .http1_0
        var method = rng.pick([HTTPMethod.GET, .HEAD, .POST, .PUT, .DELETE, .OPTIONS, .PATCH, .TRACE])
        var target = "/" + rng.string(visible, 0...40)
        switch rng.int(0...9) {
        case 0: method = .OPTIONS; target = "*"
        case 1: target = rng.pick(["http", "HTTP", "https"]) + "://h" + rng.string(Array("abc.-0123"), 0...10) + target
        default: break
        }
        var headers: [HeaderField] = []
        var text = "\(method.rawValue) \(target) \(version)\r\n"
        func add(_ name: String, _ value: String, _ rng: inout SplitMix64) {
            headers.append(HeaderField(name: name, value: value))
            let pre = rng.string([" ", "\t"], 0...2), post = rng.string([" ", "\t"], 0...2)
            text += name + ":" + pre + value + post + "\r\n"
        }
        // HTTP/1.1 needs a Host; HTTP/1.0 gets one half of the time.
        var hostAdded = !(version == .http1_1 || rng.chance(0.5))
        var keepAlive = version == .http1_1
        var expectContinue = false
        let bodyKind = rng.int(0...(version == .http1_1 ? 2 : 1))  // 0 none, 1 length, 2 chunked
        let body = (0..<(bodyKind == 0 ? 0 : rng.int(0...300))).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var fieldsToAdd = rng.int(0...8)
        var framingAdded = bodyKind == 0
        while fieldsToAdd > 0 || !hostAdded || !framingAdded {
            if !hostAdded && rng.chance(0.3) {
                add(rng.pick(["Host", "host", "HOST"]), rng.pick(["a", "example.com:8080", "[::1]", ""]), &rng)
                hostAdded = true
            } else if !framingAdded && rng.chance(0.3) {
                if bodyKind == 1 {
                    add(rng.pick(["Content-Length", "content-length"]), String(body.count), &rng)
                } else {
                    add(rng.pick(["Transfer-Encoding", "transfer-encoding"]), rng.pick(["chunked", "Chunked", "CHUNKED"]), &rng)
                }
                framingAdded = true
            } else if fieldsToAdd > 0 {
                fieldsToAdd -= 1
                switch rng.int(0...9) {
                case 0:
                    let v = rng.pick(["close", "keep-alive", "Upgrade", "Keep-Alive, foo", "x, CLOSE"])
                    if v.lowercased().contains("close") { keepAlive = false }
                    if v.lowercased().contains("keep-alive") && !headers.contains(where: {
                        $0.name == "Connection" && $0.value.lowercased().contains("close")
                    }) && version == .http1_0 { keepAlive = true }
                    add("Connection", v, &rng)
                case 1:
                    let v = rng.pick(["100-continue", "100-Continue", "foo"])
                    if v.lowercased() == "100-continue" { expectContinue = true }
                    add("Expect", v, &rng)
                default:
                    var value = rng.string(valueChars, 0...30)
                    while let f = value.unicodeScalars.first, f == " " || f == "\t" { value.removeFirst() }
                    while let l = value.unicodeScalars.last, l == " " || l == "\t" { value.removeLast() }
                    add("X-" + rng.string(tchars, 1...12), value, &rng)
                }
            }
        }
        // Connection tokens decide for 1.0 regardless of order: close wins, else keep-alive.
        if version == .http1_0 {
            let tokens = headers.filter { $0.name == "Connection" }.flatMap { $0.value.lowercased().split(separator: ",") }
                .map { $0.trimmingPrefix(" ") }
            keepAlive = !tokens.contains("close") && tokens.contains("keep-alive")
        }
        text += "\r\n"
        var out = Array(text.utf8)
        let framing: BodyFraming
        switch bodyKind {
        case 0: framing = .none
        case 1: framing = .length(body.count); out += body
        default:
            framing = .chunked
            out += chunked(body, &rng)
        }
        let hasContent = bodyKind == 2 || (bodyKind == 1 && !body.isEmpty)
        let expected = SeenRequest(method: method, target: target, version: version, headers: headers, framing: framing,
                                   keepAlive: keepAlive, expectContinue: expectContinue && version == .http1_1 && hasContent,
                                   body: body, complete: true)
        return Generated(bytes: out, expected: expected)
    }

    /// Encodes `body` in random chunks with random extensions and trailers.
    static func chunked(_ body: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        func sizeLine(_ n: Int, _ rng: inout SplitMix64) {
            var hex = String(n, radix: 16, uppercase: rng.chance(0.5))
            if rng.chance(0.2) { hex = String(repeating: "0", count: rng.int(1...3)) + hex }
            out += Array(hex.utf8)
            for _ in 0..<(rng.chance(0.3) ? rng.int(1...3) : 0) {
                out += Array((rng.string([" ", "\t"], 0...1) + ";" + rng.string([" "], 0...1) + rng.string(tchars, 1...8)).utf8)
                switch rng.int(0...2) {
                case 0: break
                case 1: out += Array(("=" + rng.string(tchars, 1...8)).utf8)
                default:
                    let quoted = rng.string(Array("abc ,;=\t\\\"é"), 0...10)
                        .map { $0 == "\\" || $0 == "\"" ? "\\" + String($0) : String($0) }.joined()
                    out += Array(("=\"" + quoted + "\"").utf8)
                }
            }
            out += [13, 10]
        }
        while i < body.count {
            let n = min(body.count - i, rng.int(1...80))
            sizeLine(n, &rng)
            out += body[i..<(i + n)]
            out += [13, 10]
            i += n
        }
        sizeLine(0, &rng)
        for _ in 0..<(rng.chance(0.3) ? rng.int(1...3) : 0) {
            out += Array(("T-" + rng.string(tchars, 1...6) + ": " + rng.string(visible, 0...10) + "\r\n").utf8)
        }
        out += [13, 10]
        return out
    }

    static func randomCuts(_ count: Int, _ rng: inout SplitMix64) -> [Int] {
        guard count > 1 else { return [] }
        return (0..<rng.int(0...12)).map { _ in rng.int(1...(count - 1)) }.sorted()
    }

    @Test func randomValidRequestsRoundTrip() {
        var total = 0
        var iteration: UInt64 = 0
        while total < 500 {
            let seed = Self.baseSeed &+ iteration
            iteration += 1
            var rng = SplitMix64(seed: seed)
            let requests = (0..<rng.int(1...4)).map { _ in Self.generate(&rng) }
            total += requests.count
            let input = requests.flatMap(\.bytes)
            let expected = requests.map(\.expected)
            let cuts = Self.randomCuts(input.count, &rng)
            for run in [Harness.run(input, cuts: [], limits: ParseLimits()), Harness.run(input, cuts: cuts, limits: ParseLimits())] {
                #expect(run.error == nil, "seed \(seed): \(run.error.map(String.init(describing:)) ?? "")\n\(String(decoding: input, as: UTF8.self).debugDescription)")
                #expect(run.requests == expected, "seed \(seed), cuts \(cuts)")
                #expect(run.leftover == 0, "seed \(seed)")
                if run.requests != expected || run.error != nil { return }
            }
        }
    }

    @Test func randomValidRequestsByteByByte() {
        for i: UInt64 in 0..<60 {
            let seed = Self.baseSeed ^ 0xB17E &+ i
            var rng = SplitMix64(seed: seed)
            let g = Self.generate(&rng)
            let run = Harness.run(g.bytes, cuts: Array(0..<g.bytes.count), limits: ParseLimits())
            #expect(run.error == nil, "seed \(seed): \(run)")
            #expect(run.requests == [g.expected], "seed \(seed)")
        }
    }

    @Test func randomBytesNeverCrashOrOverConsume() {
        // The harness records an issue for consumed > buffer, empty or out-of-range body ranges, or loops.
        let alphabets: [[UInt8]] = [
            Array(0...255),
            Array("GET POST / HTTP/1.1\r\n:Host: chunked Transfer-Encoding Content-Length 0123456789abcdef;=\"\t ".utf8),
        ]
        for i: UInt64 in 0..<300 {
            let seed = Self.baseSeed ^ 0x6A2B &+ i
            var rng = SplitMix64(seed: seed)
            let alphabet = rng.pick(alphabets)
            let input = (0..<rng.int(0...400)).map { _ in rng.pick(alphabet) }
            let limits = ParseLimits(maxBuffer: rng.pick([64, 256, 16 * 1024]), maxBody: rng.pick([10, 1000]))
            _ = Harness.run(input, cuts: Self.randomCuts(input.count, &rng), limits: limits)
        }
    }

    @Test func mutatedRequestsParseTheSameAtAnySplit() {
        for i: UInt64 in 0..<300 {
            let seed = Self.baseSeed ^ 0x3E7A &+ i
            var rng = SplitMix64(seed: seed)
            var input = (0..<rng.int(1...3)).flatMap { _ in Self.generate(&rng).bytes }
            for _ in 0..<rng.int(1...3) where !input.isEmpty {
                let at = rng.int(0...(input.count - 1))
                let b = rng.pick([0, 9, 10, 13, 32, 34, 44, 58, 59, 0x30, 0x41, 0x7F, 0xFF, UInt8.random(in: 0...255, using: &rng)])
                switch rng.int(0...2) {
                case 0: input[at] = b
                case 1: input.insert(b, at: at)
                default: input.remove(at: at)
                }
            }
            let limits = ParseLimits(maxBuffer: rng.pick([128, 16 * 1024]), maxBody: rng.pick([100, 1000]))
            let whole = Harness.run(input, cuts: [], limits: limits)
            let split = Harness.run(input, cuts: Self.randomCuts(input.count, &rng), limits: limits)
            let bytewise = Harness.run(input, cuts: Array(0..<input.count), limits: limits)
            #expect(split == whole, "seed \(seed)")
            #expect(bytewise == whole, "seed \(seed)")
        }
    }
}
