import COpenSSL
import Foundation
@testable import FlaksTLS

/// A fixed "now" for certificate validity (2026-01-01T00:00:00Z); tests never read the clock.
let testNow: Int64 = 1_767_225_600

/// A test CA and leaf certificates signed by it, made once per test process.
final class TestPKI: Sendable {
    let caKey: PrivateKey
    let ca: X509Certificate
    /// ECDSA P-256 leaf for a.test.
    let a: ServerCertificate
    /// ECDSA leaf for *.wild.test.
    let wild: ServerCertificate
    /// RSA 2048 leaf for b.test and www.b.test.
    let bRSA: ServerCertificate
    /// Another ECDSA leaf for a.test (a "renewed" certificate).
    let a2: ServerCertificate
    /// An ECDSA leaf for c.test.
    let c: ServerCertificate

    static let shared: TestPKI = {
        do { return try TestPKI() } catch { fatalError("test PKI: \(error)") }   // test fixture, not input
    }()

    init() throws {
        caKey = try PrivateKey.generate(.ecdsaP256)
        ca = try CertificateFactory.makeCA(commonName: "Flaks Test CA", key: caKey, notBefore: testNow - 86400,
                                           notAfter: testNow + 3650 * 86400)
        a = try Self.leaf(["a.test"], ca: ca, caKey: caKey)
        wild = try Self.leaf(["*.wild.test"], ca: ca, caKey: caKey)
        bRSA = try Self.leaf(["b.test", "www.b.test"], ca: ca, caKey: caKey, kind: .rsa(bits: 2048))
        a2 = try Self.leaf(["a.test"], ca: ca, caKey: caKey)
        c = try Self.leaf(["c.test"], ca: ca, caKey: caKey)
    }

    static func leaf(_ names: [String], ca: X509Certificate, caKey: PrivateKey, kind: PrivateKey.Kind = .ecdsaP256,
                     notBefore: Int64 = testNow - 86400, notAfter: Int64 = testNow + 365 * 86400) throws -> ServerCertificate {
        let key = try PrivateKey.generate(kind)
        let cert = try CertificateFactory.makeCertificate(commonName: names[0], names: names, key: key,
                                                          issuer: (ca, caKey), notBefore: notBefore, notAfter: notAfter)
        return try ServerCertificate(chain: [cert, ca], key: key)
    }

    /// Hosts: 0 a.test, 1 *.wild.test, 2 b.test + www.b.test (RSA).
    func standardStore() throws -> CertificateStore {
        try CertificateStore(hosts: [
            .init(index: 0, names: ["a.test"], certificate: a),
            .init(index: 1, names: ["*.wild.test"], certificate: wild),
            .init(index: 2, names: ["b.test", "www.b.test"], certificate: bRSA),
        ])
    }

    func context(policy: TLSPolicy = TLSPolicy(), store: CertificateStore? = nil,
                 tickets: TicketKeyRing? = nil) throws -> TLSServerContext {
        try TLSServerContext(policy: policy, store: store ?? standardStore(), tickets: tickets ?? TicketKeyRing())
    }
}

/// A temporary directory removed when the value is released.
final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "flaks-tls-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let p = path + "/" + name
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
    @discardableResult
    func write(_ name: String, bytes: [UInt8]) throws -> String {
        let p = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
}

/// A seeded generator (SplitMix64), so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
}
