#if canImport(Glibc)
import Glibc
#endif
import FlaksACME
import FlaksConfig
import FlaksTestSupport
import FlaksTLS
import Foundation
import Logging
import Synchronization
import Testing
@testable import FlaksServer

/// A wall clock for the ACME executor that a test moves: fixed at `base` (or the real time when
/// nil) plus `offset`.
final class MovableClock: WallClock {
    private let base: Int64?
    private let offset = Atomic<Int64>(0)
    init(fixedAt base: Int64? = nil) { self.base = base }
    func now() -> Int64 { (base ?? UnixTime.now()) + offset.load(ordering: .relaxed) }
    func advance(by seconds: Int64) { offset.add(seconds, ordering: .relaxed) }
}

/// A temporary directory removed at deinit.
final class TempDir: @unchecked Sendable {   // immutable after init
    let path: String
    init(_ prefix: String = "flaks-acme") throws {
        path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Polls `condition` every 50 ms for at most `seconds`; true once it holds.
func eventually(within seconds: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}

extension Server {
    /// The ACME report of `host`.
    func acmeStatus(_ host: String) -> ACMEHostReport? { acmeReport().first { $0.host == host } }
}

/// A server for the ACME tests: plain and TLS listeners on the given loopback ports (pebble's
/// validation authority connects to them), one loop, logging at warning.
func makeACMEServer(_ config: ServerConfig, httpPort: Int, tlsPort: Int, clock: any WallClock = SystemWallClock(),
                    pollInterval: Int64 = 1) throws -> Server {
    var config = config
    config.server.listen = [ListenAddress(host: "127.0.0.1", port: httpPort)]
    config.server.tlsListen = [ListenAddress(host: "127.0.0.1", port: tlsPort)]
    config.server.loops = 1
    config.log.access = .off
    var logger = Logger(label: "flaks-acme-test")
    logger.logLevel = .warning
    let server = try Server(config: config, logger: logger, acmeClock: clock)
    var limits = ACMELimits()
    limits.pollInterval = pollInterval
    server.acme.setLimits(limits, requestTimeout: 10)
    return server
}

/// A test CA and a certificate signed by it, written where `tls.acme.storage` keeps a host's
/// certificate (as an earlier run would have left it).
struct StoredCertificateFixture {
    let caKey: PrivateKey
    let ca: X509Certificate
    let certificate: ServerCertificate

    init(storage: String, names: [String], notBefore: Int64, notAfter: Int64) throws {
        caKey = try PrivateKey.generate(.ecdsaP256)
        ca = try CertificateFactory.makeCA(commonName: "Flaks old CA", key: caKey, notBefore: notBefore - 86400, notAfter: notAfter + 86400)
        let key = try PrivateKey.generate(.ecdsaP256)
        let leaf = try CertificateFactory.makeCertificate(commonName: names[0], names: names, key: key, issuer: (ca, caKey),
                                                          notBefore: notBefore, notAfter: notAfter)
        certificate = try ServerCertificate(chain: [leaf, ca], key: key)
        let dir = storage + "/certificates/" + names[0]
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try (leaf.pem + ca.pem).write(toFile: dir + "/chain.pem", atomically: true, encoding: .utf8)
        try key.pem.write(toFile: dir + "/key.pem", atomically: true, encoding: .utf8)
    }
}

/// File mode bits (`0o600`).
func fileMode(_ path: String) -> Int {
    var st = stat()
    guard stat(path, &st) == 0 else { return -1 }
    return Int(st.st_mode) & 0o777
}

extension Server {
    /// Sends one request to a CA the way the ACME executor does (`ACMECARequest` on the first loop,
    /// the name looked up on a worker) and waits for the answer; `cancelAfter`: cancel it then.
    func caFetch(_ request: ACMEHTTPRequest, tls: TLSClientContext?, timeout: Int64 = 10, maxBody: Int = 1 << 20,
                 cancelAfter: Duration? = nil) async -> Result<ACMEHTTPResponse, ACMETransportError> {
        guard let loop = loops.first else { return .failure(ACMETransportError("the server is not started")) }
        let workers = self.workers
        let box = RequestBox()
        if let cancelAfter {
            Task {
                try? await Task.sleep(for: cancelAfter)
                loop.execute { _ in box.request?.cancel() }
            }
        }
        return await withCheckedContinuation { continuation in
            loop.execute { loop in
                let r = ACMECARequest(loop: loop, workers: workers, tls: tls, request: request, timeout: timeout,
                                      maxResponseBody: maxBody) { result in
                    box.request = nil
                    continuation.resume(returning: result)
                }
                box.request = r
                r.start()
            }
        }
    }
}

/// Keeps a request alive until it completes (touched on its loop only).
final class RequestBox: @unchecked Sendable {
    var request: ACMECARequest?
}

/// The names of this process's threads (/proc/self/task/*/comm).
func threadNames() -> [String] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
        .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
}
