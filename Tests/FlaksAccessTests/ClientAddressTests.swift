import FlaksHTTP
import Testing
@testable import FlaksAccess

@Suite struct ClientAddressTests {
    /// The proxies (an unparsable list would be empty and fail every test that needs one).
    static let trusted: AddressList = (try? AddressList(parsing: ["10.0.0.0/8", "fd00::/8"])) ?? .empty

    private func resolve(_ peer: String, _ xff: [String], trusted list: AddressList? = nil) -> String {
        guard let p = IPAddress(peer) else { return "bad peer" }
        return ClientAddress.resolve(peer: p, xForwardedFor: xff, trusted: list ?? Self.trusted).description
    }

    @Test func anUntrustedPeerIsTheClientWhateverItSends() {
        #expect(resolve("203.0.113.5", []) == "203.0.113.5")
        #expect(resolve("203.0.113.5", ["198.51.100.7"]) == "203.0.113.5")
        #expect(resolve("203.0.113.5", ["10.0.0.1"]) == "203.0.113.5")
        #expect(resolve("2001:db8::5", ["198.51.100.7"]) == "2001:db8::5")
        // No trusted proxies at all (the default): the peer, always.
        #expect(resolve("10.0.0.1", ["198.51.100.7"], trusted: .empty) == "10.0.0.1")
    }

    @Test func aTrustedPeerPassesOnTheAddressItSaw() {
        #expect(resolve("10.0.0.1", ["198.51.100.7"]) == "198.51.100.7")
        #expect(resolve("10.0.0.1", []) == "10.0.0.1")  // no field: the proxy itself
        #expect(resolve("fd00::1", ["2001:db8::5"]) == "2001:db8::5")
        #expect(resolve("::ffff:10.0.0.1", ["198.51.100.7"]) == "198.51.100.7")  // IPv4-mapped peer
        #expect(resolve("10.0.0.1", ["::ffff:198.51.100.7"]) == "198.51.100.7")
    }

    @Test func trustedChainsAreWalkedFromTheRight() {
        #expect(resolve("10.0.0.1", ["198.51.100.7, 10.0.0.2"]) == "198.51.100.7")
        #expect(resolve("10.0.0.1", ["198.51.100.7, 10.0.0.3, fd00::2, 10.0.0.2"]) == "198.51.100.7")
        // Several field lines are one list, in order (RFC 9110 §5.3).
        #expect(resolve("10.0.0.1", ["1.1.1.1, 10.0.0.5", "10.0.0.4"]) == "1.1.1.1")
        #expect(resolve("10.0.0.1", ["198.51.100.7", "10.0.0.4, 203.0.113.9"]) == "203.0.113.9")
    }

    @Test func spoofedLeftEntriesAreIgnored() {
        // The client wrote the first entries itself; our proxy appended the address it saw.
        #expect(resolve("10.0.0.1", ["127.0.0.1, 6.6.6.6, 198.51.100.7"]) == "198.51.100.7")
        // A client pretending to come through a trusted proxy gains nothing.
        #expect(resolve("10.0.0.1", ["10.9.9.9, 198.51.100.7"]) == "198.51.100.7")
        #expect(resolve("10.0.0.1", ["10.9.9.9", "198.51.100.7"]) == "198.51.100.7")
    }

    @Test func allTrustedGivesTheLeftmost() {
        #expect(resolve("10.0.0.1", ["10.0.0.3, 10.0.0.2"]) == "10.0.0.3")
        #expect(resolve("10.0.0.1", ["fd00::9", "10.0.0.2"]) == "fd00::9")
    }

    @Test func garbageStopsTheWalkAtTheLastTrustedAddress() {
        #expect(resolve("10.0.0.1", ["198.51.100.7, unknown"]) == "10.0.0.1")
        #expect(resolve("10.0.0.1", ["1.1.1.1, garbage, 10.0.0.2"]) == "10.0.0.2")
        #expect(resolve("10.0.0.1", ["1.1.1.1, garbage", "10.0.0.2"]) == "10.0.0.2")
        // Garbage left of the client is never read.
        #expect(resolve("10.0.0.1", ["garbage, 198.51.100.7"]) == "198.51.100.7")
        #expect(resolve("10.0.0.1", ["\u{7F}\u{1}", "198.51.100.7"]) == "198.51.100.7")
    }

    static let garbageEntries = [
        "unknown", "_hidden", "unix:", "unix:/run/app.sock", "example.com", "1.2.3.4.5", "[::1", "::1]:80",
        "1.2.3.4:", "1.2.3.4:123456", "1.2.3.4:80:80", "1.2.3.4:http", "[1.2.3.4]", "[::1]x", "[::1]:",
        "\"1.2.3.4\"", "1.2.3.4 5.6.7.8", "€", "010.0.0.1",
    ]

    @Test(arguments: garbageEntries)
    func garbageEntryStopsTheWalk(entry: String) {
        #expect(resolve("10.0.0.1", ["198.51.100.7, \(entry)"]) == "10.0.0.1", "\(entry) was read as an address")
    }

    @Test func emptyElementsAndWhitespaceAreSkipped() {
        // RFC 9110 §5.6.1: empty list elements are ignored.
        #expect(resolve("10.0.0.1", ["198.51.100.7,, 10.0.0.2 ,"]) == "198.51.100.7")
        #expect(resolve("10.0.0.1", ["", " ", ","]) == "10.0.0.1")
        #expect(resolve("10.0.0.1", [" \t198.51.100.7\t "]) == "198.51.100.7")
    }

    @Test func portsAndBracketsAreAccepted() {
        #expect(resolve("10.0.0.1", ["[2001:db8::1]:443"]) == "2001:db8::1")
        #expect(resolve("10.0.0.1", ["[2001:db8::1]"]) == "2001:db8::1")
        #expect(resolve("10.0.0.1", ["198.51.100.7:5000"]) == "198.51.100.7")
        #expect(resolve("10.0.0.1", ["198.51.100.7, 10.0.0.2:8080"]) == "198.51.100.7")
        #expect(resolve("10.0.0.1", ["[::ffff:198.51.100.7]:1"]) == "198.51.100.7")
        // Unbracketed, trailing digits of IPv6 are a group, not a port.
        #expect(resolve("10.0.0.1", ["2001:db8::1:443"]) == "2001:db8::1:443")
    }

    @Test func readsTheFieldsOfARequestHead() {
        var headers = HeaderFields()
        headers.add("Host", "example.test")
        headers.add("X-Forwarded-For", "6.6.6.6, 198.51.100.7")
        headers.add("x-forwarded-for", "10.0.0.9")
        let peer = IPAddress("10.0.0.1")!
        #expect(ClientAddress.resolve(peer: peer, headers: headers, trusted: Self.trusted) == IPAddress("198.51.100.7"))
        #expect(ClientAddress.resolve(peer: IPAddress("192.0.2.1")!, headers: headers, trusted: Self.trusted) == IPAddress("192.0.2.1"))
    }
}
