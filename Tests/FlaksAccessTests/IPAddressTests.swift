#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import FlaksAccess
import FlaksTestSupport

@Suite struct IPAddressTests {
    /// Text, canonical form (RFC 5952 for IPv6), family.
    static let valid: [(String, String, Bool)] = [
        ("0.0.0.0", "0.0.0.0", true),
        ("255.255.255.255", "255.255.255.255", true),
        ("127.0.0.1", "127.0.0.1", true),
        ("10.0.0.0", "10.0.0.0", true),
        ("::", "::", false),
        ("::1", "::1", false),
        ("1::", "1::", false),
        ("2001:DB8::1", "2001:db8::1", false),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", false),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", false),        // tie: the first run (RFC 5952 §4.2.3)
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", false),     // one zero group is not compressed
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1", false),              // the longest run wins
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", false),               // "::" for exactly one group
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8", false),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("fe80::1:2", "fe80::1:2", false),
        ("::ffff:10.1.2.3", "10.1.2.3", true),                       // IPv4-mapped: IPv4
        ("::FFFF:a01:203", "10.1.2.3", true),
        ("0:0:0:0:0:ffff:10.1.2.3", "10.1.2.3", true),
        ("::10.1.2.3", "::a01:203", false),                          // IPv4-compatible stays IPv6
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221", false),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304", false),
    ]

    @Test(arguments: valid)
    func parsesValidAddresses(text: String, canonical: String, isV4: Bool) throws {
        let a = try #require(IPAddress(text))
        #expect(a.description == canonical)
        #expect(a.isV4 == isV4)
        #expect(IPAddress(canonical) == a)  // the canonical form parses back to the same value
    }

    static let garbage: [String] = [
        "", " ", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "999.1.1.1",
        "01.2.3.4", "1.2.3.04", "1.2.3.00", "1..2.3", "1.2.3.4.", ".1.2.3", "-1.2.3.4", "+1.2.3.4",
        "1.2.3.4/32", "0x7f.0.0.1", "1234", "1.2.3.4:80", "localhost", "１.2.3.4", "1.2.3.4\u{0}",
        ":", ":::", "::1::", "1:::2", "1::2::3", ":1::2", "1::2:", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "12345::", "g::1", "::1%eth0", "[::1]", "::ffff:1.2.3",
        "::ffff:1.2.3.4.5", "1.2.3.4::", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "::ffff:01.2.3.4",
        "1:2:3:4:5:6:7:8 ", "::-1", "1:2:3:4:5:6:7:",
        String(repeating: "1", count: 46),
    ]

    @Test(arguments: garbage)
    func refusesGarbage(text: String) {
        #expect(IPAddress(text) == nil, "\(text.debugDescription) parsed")
    }

    @Test func buildsFromNetworkOrderBytes() throws {
        #expect(IPAddress(bytes: [127, 0, 0, 1]) == IPAddress("127.0.0.1"))
        #expect(IPAddress(bytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]) == IPAddress("2001:db8::1"))
        let mapped = try #require(IPAddress(bytes: [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 10, 1, 2, 3]))
        #expect(mapped.isV4)
        #expect(mapped == IPAddress("10.1.2.3"))
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 5)) == nil)
        #expect(IPAddress(v4: 0x7F00_0001).description == "127.0.0.1")
    }

    @Test func ipv4TextIsTheDottedQuadForEveryOctetWidth() {
        let octets: [UInt32] = [0, 1, 9, 10, 42, 99, 100, 199, 200, 254, 255]
        for a in octets {
            for b in octets {
                for c in [0, 9, 10, 100, 255] as [UInt32] {
                    for d in [0, 1, 99, 100, 255] as [UInt32] {
                        let ip = IPAddress(v4: a << 24 | b << 16 | c << 8 | d)
                        #expect(ip.description == "\(a).\(b).\(c).\(d)")
                    }
                }
            }
        }
    }

    @Test func familiesNeverCompareEqual() throws {
        // 0.0.0.1 and ::1 have the same low bits.
        #expect(IPAddress("0.0.0.1") != IPAddress("::1"))
        #expect(IPAddress("1.2.3.4")!.rateKey != IPAddress("0:0:102:304::")!.rateKey)
        #expect(IPAddress("1.2.3.4")!.rateKey != IPAddress("8000:0:102:304::")!.rateKey)
    }

    /// Differential test: random strings over the address alphabet, accepted and valued exactly as
    /// glibc's inet_pton does (IPv4-mapped results compared as their IPv6 bytes).
    @Test func agreesWithInetPton() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let alphabet: [Character] = Array("0123456789abcdefABCDEF:.") + [":", ":", "0", "1", "f", "."]
        var accepted = 0
        for i in 0..<20_000 {
            let text: String
            if i % 3 == 0 {
                // Shaped like an address, to reach the accepting paths often.
                let groups = rng.int(1...8)
                var parts = (0..<groups).map { _ in rng.chance(0.2) ? "" : String(rng.next() & 0xFFFF, radix: 16) }
                if rng.chance(0.3) { parts[parts.count - 1] = (0..<4).map { _ in String(rng.int(0...300)) }.joined(separator: ".") }
                text = parts.joined(separator: ":")
            } else if i % 3 == 1 {
                text = (0..<rng.int(3...5)).map { _ in String(rng.int(0...300)) }.joined(separator: ".")
            } else {
                text = rng.string(alphabet, 0...20)
            }
            let mine = IPAddress(text)
            var v6 = [UInt8](repeating: 0, count: 16)
            var v4 = [UInt8](repeating: 0, count: 4)
            let theirs6 = inet_pton(AF_INET6, text, &v6) == 1
            let theirs4 = inet_pton(AF_INET, text, &v4) == 1
            if theirs4 {
                #expect(mine == IPAddress(bytes: v4), "seed \(seed): \(text)")
            } else if theirs6 {
                #expect(mine == IPAddress(bytes: v6), "seed \(seed): \(text)")
            } else {
                #expect(mine == nil, "seed \(seed): \(text) accepted, inet_pton refuses it")
            }
            if mine != nil { accepted += 1 }
        }
        #expect(accepted > 1000)  // the generator reaches the accepting paths
    }

    @Test func randomAddressesRoundTripThroughTheirText() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<5000 {
            // Many zero groups, to exercise the "::" choice.
            var h: UInt64 = 0, l: UInt64 = 0
            for _ in 0..<4 { h = h << 16 | (rng.chance(0.5) ? 0 : rng.next() & 0xFFFF) }
            for _ in 0..<4 { l = l << 16 | (rng.chance(0.5) ? 0 : rng.next() & 0xFFFF) }
            let a = IPAddress(v6High: h, low: l)
            #expect(IPAddress(a.description) == a, "seed \(seed): \(a)")
            // inet_ntop agrees with the canonical form (glibc follows RFC 5952 too), IPv4 aside.
            if !a.isV4 {
                var bytes = [UInt8](repeating: 0, count: 16)
                for k in 0..<8 { bytes[k] = UInt8(truncatingIfNeeded: h >> (56 - 8 * k)); bytes[k + 8] = UInt8(truncatingIfNeeded: l >> (56 - 8 * k)) }
                var buf = [CChar](repeating: 0, count: 64)
                _ = inet_ntop(AF_INET6, bytes, &buf, 64)
                let theirs = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !theirs.contains(".") {  // glibc prints ::a.b.c.d for IPv4-compatible addresses
                    #expect(theirs == a.description, "seed \(seed)")
                }
            }
        }
    }
}

@Suite struct CIDRTests {
    static let valid: [(String, String)] = [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("1.2.3.4", "1.2.3.4/32"),
        ("1.2.3.4/32", "1.2.3.4/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("192.168.1.128/25", "192.168.1.128/25"),
        ("::1", "::1/128"),
        ("::/0", "::/0"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("2001:DB8:0:0::/64", "2001:db8::/64"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),   // IPv4-mapped block: the IPv4 block
        ("::ffff:0:0/96", "0.0.0.0/0"),
        ("::ffff:10.1.2.3", "10.1.2.3/32"),
        ("fd00::/8", "fd00::/8"),
    ]

    @Test(arguments: valid)
    func parsesBlocks(text: String, canonical: String) throws {
        let c = try CIDR(parsing: text)
        #expect(c.description == canonical)
        #expect(try CIDR(parsing: canonical) == c)
    }

    static let invalid: [(String, AddressRuleError)] = [
        ("10.0.0.1/8", .hostBitsSet("10.0.0.1/8", network: "10.0.0.0/8")),
        ("192.168.1.129/25", .hostBitsSet("192.168.1.129/25", network: "192.168.1.128/25")),
        ("2001:db8::1/32", .hostBitsSet("2001:db8::1/32", network: "2001:db8::/32")),
        ("::ffff:10.0.0.0/95", .hostBitsSet("::ffff:10.0.0.0/95", network: "::fffe:0:0/95")),
        ("::ffff:10.0.0.1/104", .hostBitsSet("::ffff:10.0.0.1/104", network: "10.0.0.0/8")),
        ("10.0.0.0/33", .invalidPrefix("10.0.0.0/33")),
        ("::/129", .invalidPrefix("::/129")),
        ("10.0.0.0/", .invalidPrefix("10.0.0.0/")),
        ("10.0.0.0/-1", .invalidPrefix("10.0.0.0/-1")),
        ("10.0.0.0/+8", .invalidPrefix("10.0.0.0/+8")),
        ("10.0.0.0/08", .invalidPrefix("10.0.0.0/08")),
        ("10.0.0.0/ 8", .invalidPrefix("10.0.0.0/ 8")),
        ("10.0.0.0/8 ", .invalidPrefix("10.0.0.0/8 ")),
        ("10.0.0.0/8/8", .invalidPrefix("10.0.0.0/8/8")),
        ("10.0.0.0/1000", .invalidPrefix("10.0.0.0/1000")),
        ("foo/8", .invalidAddress("foo/8")),
        ("/8", .invalidAddress("/8")),
        ("", .invalidAddress("")),
        ("10.0.0.0 /8", .invalidAddress("10.0.0.0 /8")),
        ("[::1]/128", .invalidAddress("[::1]/128")),
        ("10.0.0/8", .invalidAddress("10.0.0/8")),
    ]

    @Test(arguments: invalid)
    func refusesBadBlocks(text: String, error: AddressRuleError) {
        #expect(throws: error) { try CIDR(parsing: text) }
    }

    @Test func errorMessagesNameTheBlockMeant() {
        #expect(AddressRuleError.hostBitsSet("10.0.0.1/8", network: "10.0.0.0/8").description
                    == "\"10.0.0.1/8\" has bits set after the prefix length (did you mean 10.0.0.0/8?)")
    }

    /// (block, inside, outside): the first and last address of the block, and the neighbours just past each end.
    static let edges: [(String, [String], [String])] = [
        ("0.0.0.0/0", ["0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4"], ["::", "::1", "ffff::"]),
        ("::/0", ["::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1"], ["0.0.0.0", "1.2.3.4"]),
        ("10.0.0.0/8", ["10.0.0.0", "10.255.255.255", "::ffff:10.1.1.1"], ["9.255.255.255", "11.0.0.0", "::a00:0"]),
        ("192.168.1.128/25", ["192.168.1.128", "192.168.1.255"], ["192.168.1.127", "192.168.2.0"]),
        ("1.2.3.4/32", ["1.2.3.4"], ["1.2.3.3", "1.2.3.5"]),
        ("128.0.0.0/1", ["128.0.0.0", "255.255.255.255"], ["127.255.255.255"]),
        ("::1/128", ["::1"], ["::", "::2", "0.0.0.1"]),
        ("2001:db8::/32", ["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"], ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"]),
        ("2001:db8::/64", ["2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"], ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:0:1::"]),
        ("2001:db8::/65", ["2001:db8::7fff:ffff:ffff:ffff"], ["2001:db8::8000:0:0:0"]),
        ("2001:db8::/127", ["2001:db8::", "2001:db8::1"], ["2001:db8::2", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"]),
        ("8000::/1", ["8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], ["7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]),
    ]

    @Test(arguments: edges)
    func containsAtTheEdges(block: String, inside: [String], outside: [String]) throws {
        let c = try CIDR(parsing: block)
        let list = AddressList([c])
        for a in inside {
            let address = try #require(IPAddress(a))
            #expect(c.contains(address), "\(block) should contain \(a)")
            #expect(list.contains(address))
        }
        for a in outside {
            let address = try #require(IPAddress(a))
            #expect(!c.contains(address), "\(block) should not contain \(a)")
            #expect(!list.contains(address))
        }
    }

    /// Any block contains its first and last address and neither neighbour outside it.
    @Test func randomBlocksContainExactlyTheirRange() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<5000 {
            let v4 = rng.chance(0.5)
            let bits = v4 ? 32 : 128
            let prefix = rng.int(0...bits)
            let a = v4 ? IPAddress(v4: UInt32(truncatingIfNeeded: rng.next())) : IPAddress(rawV6High: rng.next(), low: rng.next())
            let c = try CIDR(network: a.masked(toPrefix: prefix), prefix: prefix)
            #expect(c.contains(a), "seed \(seed)")
            // First and last, as 128-bit numbers (hi, lo) in the family's width.
            let (mh, ml) = IPAddress.mask(prefix: prefix, isV4: v4)
            let first = (c.network.high, c.network.low)
            let last = (first.0 | ~mh, v4 ? first.1 | (~ml & 0xFFFF_FFFF) : first.1 | ~ml)
            func make(_ h: UInt64, _ l: UInt64) -> IPAddress {
                v4 ? IPAddress(v4: UInt32(truncatingIfNeeded: l)) : IPAddress(rawV6High: h, low: l)
            }
            #expect(c.contains(make(first.0, first.1)), "seed \(seed)")
            #expect(c.contains(make(last.0, last.1)), "seed \(seed)")
            let top: (UInt64, UInt64) = v4 ? (0, 0xFFFF_FFFF) : (.max, .max)
            if last != top {  // one past the end
                let l = last.1 &+ 1
                let h = l == 0 || (v4 && l > 0xFFFF_FFFF) ? last.0 &+ 1 : last.0
                if !(v4 && l > 0xFFFF_FFFF) {
                    #expect(!c.contains(make(h, l)), "seed \(seed): \(c) contains \(make(h, l))")
                }
            }
            if first != (0, 0) {  // one before the start
                let l = first.1 &- 1
                let h = first.1 == 0 ? first.0 &- 1 : first.0
                #expect(!c.contains(make(h, l)), "seed \(seed): \(c) contains \(make(h, l))")
            }
        }
    }

    @Test func listsMatchAnyBlockOfTheRightFamily() throws {
        let list = try AddressList(parsing: ["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
        #expect(list.contains(IPAddress("127.0.0.1")!))
        #expect(!list.contains(IPAddress("127.0.0.2")!))
        #expect(list.contains(IPAddress("10.200.0.1")!))
        #expect(list.contains(IPAddress("fdff::1")!))
        #expect(!list.contains(IPAddress("fe00::1")!))
        #expect(!list.contains(IPAddress("::1")!))
        #expect(!AddressList.empty.contains(IPAddress("127.0.0.1")!))
        #expect(!AddressList.empty.contains(IPAddress("::1")!))
        #expect(throws: AddressRuleError.invalidAddress("nope")) { try AddressList(parsing: ["10.0.0.0/8", "nope"]) }
        #expect(list.description == "[127.0.0.1/32, 10.0.0.0/8, fd00::/8]")
    }
}
