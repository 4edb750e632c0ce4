import Foundation
import Testing
@testable import FlaksTLS

@Suite("ClientHello extension parsers")
struct ClientHelloExtensionTests {
    static func sni(_ entries: [(UInt8, [UInt8])], listLengthDelta: Int = 0) -> [UInt8] {
        var body: [UInt8] = []
        for (type, name) in entries { body += [type, UInt8(name.count >> 8), UInt8(name.count & 0xFF)] + name }
        let n = body.count + listLengthDelta
        return [UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + body
    }

    static let a = Array("a.test".utf8)

    @Test(arguments: [
        ("one name", sni([(0, a)]), ClientHelloExtensions.ServerName.name("a.test")),
        ("capitals lowered", sni([(0, Array("A.Test".utf8))]), .name("a.test")),
        ("unknown type first", sni([(7, [1, 2]), (0, a)]), .name("a.test")),
        ("only unknown types", sni([(7, [1, 2])]), .absent),
        ("empty list", [0, 0], .absent),
        ("empty name", sni([(0, [])]), .malformed),
        ("NUL in name", sni([(0, [0x61, 0, 0x62])]), .malformed),
        ("space in name", sni([(0, [0x61, 0x20, 0x62])]), .malformed),
        ("high byte", sni([(0, [0x61, 0xC3, 0xA9])]), .malformed),
        ("list length too long", sni([(0, a)], listLengthDelta: 1), .malformed),
        ("list length too short", sni([(0, a)], listLengthDelta: -1), .malformed),
        ("entry past the end", [0, 5, 0, 0, 9, 0x61, 0x62], .malformed),
        ("truncated entry header", [0, 2, 0, 0], .malformed),
        ("one byte", [0], .malformed),
        ("nothing", [], .malformed),
    ] as [(String, [UInt8], ClientHelloExtensions.ServerName)])
    func serverName(_ label: String, bytes: [UInt8], expected: ClientHelloExtensions.ServerName) {
        #expect(bytes.withUnsafeBytes { ClientHelloExtensions.serverName($0) } == expected, "\(label)")
    }

    /// Every truncation of a valid extension is malformed, never a crash or a wrong name.
    @Test func everyTruncationIsMalformed() {
        let full = Self.sni([(0, Self.a)])
        for cut in 0..<full.count {
            let r = Array(full.prefix(cut)).withUnsafeBytes { ClientHelloExtensions.serverName($0) }
            #expect(r == .malformed, "cut \(cut)")
        }
    }

    @Test func alpnLists() {
        let good: [UInt8] = [0, 12, 2, 0x68, 0x32, 8] + Array("http/1.1".utf8)
        let ranges = good.withUnsafeBytes { ClientHelloExtensions.protocols($0) }
        #expect(ranges == [3..<5, 6..<14])
        #expect(good.withUnsafeBytes { ClientHelloExtensions.offers($0, "http/1.1") })
        #expect(!good.withUnsafeBytes { ClientHelloExtensions.offers($0, ALPN.acmeTLS) })
        #expect(([0, 3, 0, 0x61, 0x62] as [UInt8]).withUnsafeBytes { ClientHelloExtensions.protocols($0) } == nil)   // empty entry
        #expect(([0, 3, 5, 0x61, 0x62] as [UInt8]).withUnsafeBytes { ClientHelloExtensions.protocols($0) } == nil)   // past the end
        #expect(([0, 9, 1, 0x61] as [UInt8]).withUnsafeBytes { ClientHelloExtensions.protocols($0) } == nil)         // bad list length
        #expect(([] as [UInt8]).withUnsafeBytes { ClientHelloExtensions.protocolList($0) } == [])
    }

    /// At most 256 protocols are looked at: exactly 256 parse, 257 are refused (no_application_protocol).
    @Test func alpnEntryLimit() {
        let entry: [UInt8] = [1, 0x78]
        let exact = Array([[UInt8]](repeating: entry, count: 256).joined())
        #expect(exact.withUnsafeBytes { ClientHelloExtensions.protocolList($0) }?.count == 256)
        let over = exact + entry
        #expect(over.withUnsafeBytes { ClientHelloExtensions.protocolList($0) } == nil)
    }
}

@Suite("Kernel TLS availability")
struct KernelTLSTests {
    @Test func decidesFromTheULPListAndTheBuild() {
        #expect(KernelTLS.status(availableULPs: "mptcp\n", openSSLHasKTLS: true)
            == .unavailable("the kernel's tls ULP is not loaded (available: mptcp)"))
        #expect(KernelTLS.status(availableULPs: "mptcp tls\n", openSSLHasKTLS: true) == .available)
        #expect(KernelTLS.status(availableULPs: "tls", openSSLHasKTLS: false) == .unavailable("OpenSSL built without kTLS"))
        #expect(KernelTLS.status(availableULPs: nil, openSSLHasKTLS: true)
            == .unavailable("cannot read /proc/sys/net/ipv4/tcp_available_ulp"))
        #expect(KernelTLS.status(availableULPs: "tlsx", openSSLHasKTLS: true) != .available)
    }

    @Test func thisMachineAgreesWithProc() throws {
        let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_ulp", encoding: .utf8)
        #expect(KernelTLS.status() == KernelTLS.status(availableULPs: text, openSSLHasKTLS: true))
    }
}
