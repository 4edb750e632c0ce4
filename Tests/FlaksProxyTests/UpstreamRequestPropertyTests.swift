import FlaksAccess
import FlaksHTTP
import Testing
@testable import FlaksProxy
import FlaksTestSupport

/// Random client heads (hop-by-hop fields, Connection naming random fields, forwarding fields, repeats,
/// random case) through the rewriting: the invariants hold for every one, and the encoded head parses
/// back to the same fields. The seed is in the failure message.
@Suite struct UpstreamRequestPropertyTests {
    static let hop = ["Connection", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Connection", "Proxy-Authorization",
                      "HTTP2-Settings", "Expect"]
    static let forwarding = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP",
                             "X-Forwarded-Port", "X-Forwarded-Prefix"]
    static let ordinary = ["Accept", "Cookie", "X-A", "X-B", "X-C", "Authorization", "User-Agent", "Via"]

    static func randomCase(_ name: String, _ r: inout SplitMix64) -> String {
        String(name.map { r.chance(0.5) ? Character($0.lowercased()) : Character($0.uppercased()) })
    }

    @Test func invariants() throws {
        for seed in UInt64(1)...400 {
            var r = SplitMix64(seed: seed)
            var lines: [(String, String)] = [("Host", "site\(r.int(0...9)).test")]
            var connectionNames: [String] = []
            for _ in 0..<r.int(0...14) {
                let kind = r.int(0...2)
                let name = r.pick(kind == 0 ? Self.hop : kind == 1 ? Self.forwarding : Self.ordinary)
                var value = "v\(r.int(0...99))"
                if name == "Connection" {
                    let named = (0..<r.int(1...3)).map { _ in r.pick(Self.ordinary + Self.forwarding + ["keep-alive", "close"]) }
                    connectionNames += named
                    value = named.map { Self.randomCase($0, &r) }.joined(separator: ", ")
                }
                if name == "X-Forwarded-For" { value = "198.51.100.\(r.int(1...254))" }
                if name == "Expect" { value = "100-continue" }
                lines.append((Self.randomCase(name, &r), value))
            }
            let raw = "GET /p/\(r.int(0...9))?q=\(r.int(0...9)) HTTP/1.1\r\n" + lines.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
            let head = try #require(parseHead(raw), "seed \(seed)")
            let trusted = r.chance(0.5)
            let peer = IPAddress(v4: 0x0A00_0000 | UInt32(r.int(1...250)))
            let framing = r.pick([BodyFraming.none, .length(r.int(0...9)), .chunked])
            let up = try UpstreamRequest(client: head, rules: UpstreamRequest.Rules(),
                                         connection: UpstreamRequest.ClientConnection(peer: peer, peerIsTrusted: trusted, isTLS: r.chance(0.5)),
                                         framing: framing)
            let h = up.headers
            let why = "seed \(seed): \(raw)"
            #expect(h.fields.first?.name == "Host" && h.values("Host").count == 1, "\(why)")
            for name in Self.hop { #expect(!h.contains(name), "\(name) passed, \(why)") }
            let named = Set(connectionNames.map { $0.lowercased() })
            // Only what the proxy sets itself may carry a name Connection named (a new value, not the client's).
            for f in h.fields where named.contains(f.name.lowercased()) && !(f.name == "Via" && f.value == "1.1 flaks") {
                #expect(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"].contains(f.name.lowercased()),
                        "\(f.name) named by Connection passed, \(why)")
            }
            let xff = h.values("X-Forwarded-For")
            #expect(xff.count == 1 && xff[0].hasSuffix(peer.description), "\(why)")
            if !trusted {
                #expect(xff == [peer.description], "\(why)")
                for name in ["Forwarded", "X-Real-IP", "X-Forwarded-Port", "X-Forwarded-Prefix"] {
                    #expect(!h.contains(name), "\(name) from an untrusted peer, \(why)")
                }
            }
            #expect(h.values("X-Forwarded-Proto").count >= 1 && h.values("X-Forwarded-Host").count >= 1, "\(why)")
            // Everything else is passed in order.
            let dropped = Set((Self.hop + Self.forwarding + ["Host"]).map { $0.lowercased() }).union(named)
            let expectedOthers = head.headers.fields.filter { !dropped.contains($0.name.lowercased()) }
            let others = h.fields.filter { !dropped.contains($0.name.lowercased()) && $0.name != "Content-Length"
                && $0.name != "Transfer-Encoding" && !($0.name == "Via" && $0.value == "1.1 flaks") }
            #expect(others == expectedOthers, "\(why)")
            let back = try #require(parseHead(String(decoding: up.encoded, as: UTF8.self)), "\(why)")
            #expect(back.headers == h && back.framing == framing && back.target == up.target, "\(why)")
        }
    }
}
