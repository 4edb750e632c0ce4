import Testing
@testable import FlaksHTTP
import FlaksTestSupport

/// `QuickHead.scan`: what it accepts, what it leaves to the parser, and — differentially — that
/// whatever it accepts the full parser accepts with the same meaning.
@Suite("Quick heads (prepared responses)")
struct QuickHeadTests {
    static let limits = ParseLimits(maxBuffer: 512, maxBody: 4096, maxHeaderCount: 8)

    static func scan(_ s: String, limits: ParseLimits = limits) -> QuickHead? {
        Array(s.utf8).withUnsafeBytes { QuickHead.scan($0, limits: limits) }
    }

    static func text(_ s: String, _ r: Range<Int>) -> String {
        String(decoding: Array(s.utf8)[r], as: UTF8.self)
    }

    @Test func aPlainGetIsQuickWithItsTargetHostAndLength() throws {
        let s = "GET /a/b.html?x=1 HTTP/1.1\r\nHost:  example.org:8080 \r\nUser-Agent: t\r\nAccept: */*\r\n"
            + "Connection: Keep-Alive\r\nSec-Fetch-Mode: navigate\r\n\r\nNEXT"
        let q = try #require(Self.scan(s))
        #expect(Self.text(s, q.target) == "/a/b.html?x=1")
        #expect(Self.text(s, q.host) == "example.org:8080")
        #expect(q.length == s.utf8.count - 4)
    }

    @Test(arguments: [
        "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\n\r\n",
        "get / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, upgrade\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic eA==\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Anything: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nAccept : */*\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nAccept: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\rAccept: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nAccept: a\u{1}b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nAccept: a\u{7F}b\r\n\r\n",
        "GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
    ])
    func whatTheGeneralPathMustDecideIsNotQuick(_ s: String) {
        #expect(Self.scan(s) == nil)
    }

    @Test func theCharacterMasksAreTheParsersClasses() {
        for c in 0...255 {
            let byte = UInt8(c)
            #expect(QuickHead.isTChar(byte) == ASCII.isTChar(byte), "\(c)")
            let host = [byte].withUnsafeBytes { b in
                (try? FieldAccumulator.checkHostValue(b, 0..<1)) != nil
            }
            #expect([byte].withUnsafeBytes { QuickHead.isHostValue($0, 0..<1) } == host, "\(c)")
        }
    }

    @Test func anIncompleteHeadIsNotQuickAtAnyLength() {
        let s = Array("GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n".utf8)
        for n in 0..<s.count {
            #expect(Array(s[0..<n]).withUnsafeBytes { QuickHead.scan($0, limits: Self.limits) } == nil, "\(n) bytes")
        }
        #expect(s.withUnsafeBytes { QuickHead.scan($0, limits: Self.limits) }?.length == s.count)
    }

    @Test func theHeadLimitHoldsAtItsEdge() {
        let base = "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: \r\n\r\n"
        let pad = Self.limits.maxBuffer - base.utf8.count
        let exact = "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: " + String(repeating: "u", count: pad) + "\r\n\r\n"
        #expect(exact.utf8.count == Self.limits.maxBuffer)
        #expect(Self.scan(exact)?.length == Self.limits.maxBuffer)
        let over = "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: " + String(repeating: "u", count: pad + 1) + "\r\n\r\n"
        #expect(Self.scan(over) == nil)
    }

    @Test func theFieldCountLimitHoldsAtItsEdge() {
        let n = Self.limits.maxHeaderCount
        let exact = "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "Accept: x\r\n", count: n - 1) + "\r\n"
        #expect(Self.scan(exact) != nil)
        let over = "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "Accept: x\r\n", count: n) + "\r\n"
        #expect(Self.scan(over) == nil)
    }

    // MARK: differential against the parser

    static func parse(_ bytes: [UInt8]) -> (head: RequestHead, consumed: Int)? {
        var p = RequestParser(limits: limits)
        guard let r = try? bytes.withUnsafeBytes({ try p.parse($0) }), case .head(let h) = r.event else { return nil }
        return (h, r.consumed)
    }

    static let quickNames = ["Host", "host", "HOST", "User-Agent", "Accept", "accept-language", "Referer", "Connection",
                             "Cache-Control", "Pragma", "DNT", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-User",
                             "Sec-Fetch-Dest", "Sec-CH-UA", "Sec-CH-UA-Mobile", "Sec-CH-UA-Platform", "Priority",
                             "Upgrade-Insecure-Requests", "Sec-GPC"]
    static let otherNames = ["Cookie", "Range", "If-None-Match", "Accept-Encoding", "Content-Length", "Transfer-Encoding",
                             "X-Forwarded-For", "Expect", "Hostx", "Hos", "Acceptt", ""]

    /// A head made of likely and unlikely pieces, then perhaps damaged byte by byte.
    static func randomHead(_ g: inout SplitMix64) -> [UInt8] {
        if g.chance(0.5) { return cleanHead(&g) }
        var s: [UInt8] = []
        s += Array(g.pick(["GET", "GET", "GET", "HEAD", "get", "GETT", "POST"]).utf8)
        s += Array(g.pick([" ", " ", " ", "  ", "\t"]).utf8)
        s += Array(g.pick(["/", "/a.html", "/x?y=1", "/%2e%2e/", "*", "http://h/", "/a b", "/\u{7F}", "/é"]).utf8)
        s += Array(g.pick([" HTTP/1.1", " HTTP/1.1", " HTTP/1.0", " HTTP/1.2", " HTTP/2.0", " http/1.1"]).utf8)
        s += Array(g.pick(["\r\n", "\r\n", "\r\n", "\n", "\r"]).utf8)
        for _ in 0..<g.int(0...6) {
            let name = g.chance(0.8) ? g.pick(quickNames) : g.pick(otherNames)
            let sep = g.pick([":", ":", ": ", ":\t", " :", "::"])
            var value = Array(g.pick(["a", "keep-alive", "close", "example.org:80", "[::1]:8", "a b", "x\u{1}y",
                                      "\u{7F}", "é", " trailing ", "", "gzip", "1"]).utf8)
            if g.chance(0.05) { value.append(UInt8(g.int(0...255))) }
            s += Array(name.utf8) + Array(sep.utf8) + value
            s += Array(g.pick(["\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "\r\n "]).utf8)
        }
        s += Array(g.pick(["\r\n", "\r\n", "\r\n", "\n", ""]).utf8)
        if g.chance(0.2) {
            for _ in 0..<g.int(1...3) where !s.isEmpty { s[g.int(0...(s.count - 1))] = UInt8(g.int(0...255)) }
        }
        return s
    }

    /// A head that should be quick, perhaps with one of its bytes replaced.
    static func cleanHead(_ g: inout SplitMix64) -> [UInt8] {
        var s = Array("GET \(g.pick(["/", "/a.html", "/x?y=1", "/%41/b/", "/./a"])) HTTP/1.1\r\n".utf8)
        let count = g.int(0...5), hostAt = g.int(0...count)
        for i in 0...count {
            if i == hostAt {
                s += Array("\(g.pick(["Host", "host", "HOST"])):\(g.pick(["", " ", "  "]))\(g.pick(["a", "example.org:8080", "[::1]", ""]))\(g.pick(["", " "]))\r\n".utf8)
            } else {
                let name = g.pick(quickNames.filter { $0.lowercased() != "host" })
                let value = name == "Connection" ? "keep-alive" : g.pick(["x", "Mozilla/5.0 (X11)", "*/*", "é", ""])
                s += Array("\(name): \(value)\r\n".utf8)
            }
        }
        s += Array("\r\n".utf8)
        if g.chance(0.3) { s[g.int(0...(s.count - 1))] = UInt8(g.int(0...255)) }
        return s
    }

    /// Whatever `scan` accepts, the parser accepts as the same GET: same target, same single Host,
    /// no body, kept alive, the same head length; and on heads made only of quick fields that the
    /// parser accepts as a plain GET/1.1, `scan` does not decline.
    @Test func quickHeadsMeanWhatTheParserMakesOfThem() throws {
        var g = SplitMix64(seed: 0x51C4_11EA_D5EE_D001)
        var accepted = 0
        for _ in 0..<40_000 {
            let bytes = Self.randomHead(&g)
            let q = bytes.withUnsafeBytes { QuickHead.scan($0, limits: Self.limits) }
            let parsed = Self.parse(bytes)
            if let q {
                accepted += 1
                let (h, consumed) = try #require(parsed, "quick accepted what the parser rejects: \(bytes)")
                #expect(h.method == .GET && h.version == .http1_1 && h.framing == .none && h.keepAlive && !h.expectContinue)
                #expect(Array(h.target.utf8) == Array(bytes[q.target]))
                #expect(h.headers.values("Host") == [String(decoding: bytes[q.host], as: UTF8.self)])
                #expect(consumed == q.length)
                for f in h.headers {
                    #expect(Self.quickNames.contains { HeaderFields.equalsIgnoringCase($0, f.name) }, "\(f.name)")
                }
            } else if let (h, _) = parsed, h.method == .GET, h.version == .http1_1, bytes.first == UInt8(ascii: "G"),
                      h.target.hasPrefix("/"), h.keepAlive, h.framing == .none,
                      h.headers.allSatisfy({ f in Self.quickNames.contains { HeaderFields.equalsIgnoringCase($0, f.name) } }),
                      h.headers.values("Connection").allSatisfy({ $0.lowercased() == "keep-alive" }),
                      String(decoding: bytes, as: UTF8.self).contains(" HTTP/1.1\r\n") {
                Issue.record("a plain GET the parser accepts was declined: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            }
        }
        #expect(accepted > 2_000, "the generator must reach the quick path often enough to mean something")
    }
}
