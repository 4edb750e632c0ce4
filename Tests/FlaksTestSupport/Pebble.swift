#if canImport(Glibc)
import Glibc
#endif
import FlaksTLS
import Foundation

/// A free loopback TCP port (checked by binding it; the caller hands it to a child or a server at once).
public func freeLoopbackPort() throws -> Int {
    // Below the kernel's ephemeral range (32768–60999 by default): a port found free there is not
    // handed to another socket's bind(0) or outgoing connection before the test binds it (one found
    // by bind(0) once was, in a loaded parallel run: "Address already in use").
    for _ in 0..<200 {
        let port = Int.random(in: 20_000..<32_000)
        if onLoopbackSocket(port: port, { fd, a, n in bind(fd, a, n) == 0 }) { return port }
    }
    // All taken: one the kernel picks.
    var found = -1
    _ = onLoopbackSocket(port: 0) { fd, a, n in
        guard bind(fd, a, n) == 0 else { return false }
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        found = Int(UInt16(bigEndian: addr.sin_port))
        return true
    }
    guard found > 0 else { throw CertificateError.openSSL("bind: \(errno)") }
    return found
}

/// Whether something accepts connections on 127.0.0.1:`port`.
public func canConnect(port: Int) -> Bool {
    onLoopbackSocket(port: port) { fd, a, n in connect(fd, a, n) == 0 }
}

/// Runs `body` with a new TCP socket and the address 127.0.0.1:`port`; the socket is closed after.
private func onLoopbackSocket(port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// A throwaway CA and a certificate for `localhost` and `127.0.0.1` signed by it (ECDSA P-256,
/// valid from an hour ago for a day), written as PEM files in `dir`: `ca.pem`, `cert.pem` (leaf
/// then CA) and `key.pem`. For loopback servers that a verifying client talks to.
public struct LoopbackPKI: Sendable {
    public let caFile: String
    public let certFile: String
    public let keyFile: String

    public init(in dir: String, caName: String = "Flaks loopback test CA") throws {
        caFile = dir + "/ca.pem"; certFile = dir + "/cert.pem"; keyFile = dir + "/key.pem"
        let now = UnixTime.now()
        let caKey = try PrivateKey.generate(.ecdsaP256)
        let ca = try CertificateFactory.makeCA(commonName: caName, key: caKey, notBefore: now - 3600, notAfter: now + 86400)
        let key = try PrivateKey.generate(.ecdsaP256)
        let cert = try CertificateFactory.makeCertificate(commonName: "localhost", names: ["localhost", "127.0.0.1"], key: key,
                                                          issuer: (ca, caKey), notBefore: now - 3600, notAfter: now + 86400)
        try ca.pem.write(toFile: caFile, atomically: true, encoding: .utf8)
        try (cert.pem + ca.pem).write(toFile: certFile, atomically: true, encoding: .utf8)
        try key.pem.write(toFile: keyFile, atomically: true, encoding: .utf8)
    }
}

/// Runs Debian's pebble (an RFC 8555 test CA) and pebble-challtestsrv as its DNS (every name
/// answering 127.0.0.1) on loopback ports, with a listener certificate from a throwaway test CA
/// (`caFile`: what a client trusts to reach the directory). Its validation authority connects to
/// `httpPort` (HTTP-01) and `tlsPort` (TLS-ALPN-01) on 127.0.0.1: give a server listening there.
/// `stop()` ends both processes by pid; `stopCA()` / `startCA()` end and restart pebble alone on
/// the same ports (a CA that is down, then comes back with a new root).
public final class Pebble: @unchecked Sendable {   // driven by one test at a time
    public let dir: String
    public private(set) var acmePort: Int, managementPort: Int
    public let httpPort: Int, tlsPort: Int, dnsPort: Int
    private var pebble: Process?
    /// While the CA is down (`stopCA`), bound and not listening sockets keep its two ports:
    /// connecting is refused, as to a CA that is down, and another test's `freeLoopbackPort`
    /// cannot take a port before `startCA` binds it again (pebble once failed to come back with
    /// "bind: Address already in use" in a loaded parallel run).
    private var heldPorts: [Int32] = []
    private let dns = Process()
    private let nonceReject: Int
    public var directoryURL: String { "https://127.0.0.1:\(acmePort)/dir" }
    /// The CA of pebble's own listener certificate (for `tls.acme.ca_roots`).
    public var caFile: String { dir + "/ca.pem" }

    public static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/pebble")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/pebble-challtestsrv")
    }

    /// `nonceReject`: percentage of good nonces pebble rejects (badNonce). `httpPort`/`tlsPort`:
    /// where its validation authority connects (free ports when nil). `validitySeconds`: the
    /// lifetime of issued certificates (pebble's default is five years).
    public init(nonceReject: Int = 0, httpPort: Int? = nil, tlsPort: Int? = nil, validitySeconds: Int? = nil) throws {
        dir = NSTemporaryDirectory() + "flaks-pebble-\(UUID().uuidString)"
        self.nonceReject = nonceReject
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        acmePort = try freeLoopbackPort(); managementPort = try freeLoopbackPort()
        self.httpPort = try httpPort ?? freeLoopbackPort()
        self.tlsPort = try tlsPort ?? freeLoopbackPort()
        dnsPort = try freeLoopbackPort()
        let pki = try LoopbackPKI(in: dir, caName: "Flaks pebble test CA")
        let validity = validitySeconds.map { ", \"certificateValidityPeriod\": \($0)" } ?? ""
        let writeConfig = { [dir, httpPort = self.httpPort, tlsPort = self.tlsPort] (acme: Int, management: Int) throws in
            let config = """
                {"pebble": {"listenAddress": "127.0.0.1:\(acme)", "managementListenAddress": "127.0.0.1:\(management)",
                  "certificate": "\(pki.certFile)", "privateKey": "\(pki.keyFile)", "httpPort": \(httpPort), "tlsPort": \(tlsPort),
                  "ocspResponderURL": "", "externalAccountBindingRequired": false\(validity)}}
                """
            try config.write(toFile: dir + "/pebble.json", atomically: true, encoding: .utf8)
        }
        try writeConfig(acmePort, managementPort)

        dns.executableURL = URL(fileURLWithPath: "/usr/bin/pebble-challtestsrv")
        dns.arguments = ["-dns01", "127.0.0.1:\(dnsPort)", "-http01", "", "-https01", "", "-tlsalpn01", "",
                         "-management", "127.0.0.1:\(try freeLoopbackPort())", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]
        dns.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        dns.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try dns.run()
        FileManager.default.createFile(atPath: dir + "/pebble.log", contents: nil)
        // A port found free can still be taken before pebble binds it (another test of the same
        // parallel run picked it too): pebble then exits. New ports, up to three times.
        for _ in 0..<3 {
            if try startCA() { return }
            stopCA()
            releasePorts()
            acmePort = try freeLoopbackPort(); managementPort = try freeLoopbackPort()
            try writeConfig(acmePort, managementPort)
        }
    }

    /// Starts pebble (again) and waits (bounded, 60 s: sanitizer runs of the whole suite load the
    /// machine) until it says its directory is up and the port accepts. False if it did not (it
    /// exited, or the time ran out).
    @discardableResult
    public func startCA() throws -> Bool {
        releasePorts()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/pebble")
        p.arguments = ["-config", dir + "/pebble.json", "-dnsserver", "127.0.0.1:\(dnsPort)", "-strict=false"]
        var env = ProcessInfo.processInfo.environment
        env["PEBBLE_VA_NOSLEEP"] = "1"
        env["PEBBLE_WFE_NONCEREJECT"] = String(nonceReject)
        env["PEBBLE_AUTHZREUSE"] = "0"
        p.environment = env
        let log = FileHandle(forWritingAtPath: dir + "/pebble.log")
        log?.seekToEndOfFile()
        let readyLinesBefore = readyLines()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        pebble = p
        // Ready when this pebble said so in its log and the port accepts. The port alone was not
        // enough once, under a loaded machine: it accepted while pebble's log had only its start
        // line (probably another test's socket had been given the port meanwhile).
        for _ in 0..<600 {
            if readyLines() > readyLinesBefore && canConnect(port: acmePort) { return true }
            if !p.isRunning { return false }
            usleep(100_000)
        }
        return false
    }

    /// How many times pebble's log says its directory is up.
    private func readyLines() -> Int {
        let text = (try? String(contentsOfFile: dir + "/pebble.log", encoding: .utf8)) ?? ""
        return text.components(separatedBy: "ACME directory available at").count - 1
    }

    /// Ends pebble (SIGTERM to its pid) and waits for it; the DNS server keeps running.
    public func stopCA() {
        guard let p = pebble else { return }
        if p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        pebble = nil
        heldPorts = [acmePort, managementPort].compactMap(Self.hold)
    }

    /// A socket bound to 127.0.0.1:`port` that does not listen, or nil if the port is taken.
    private static func hold(_ port: Int) -> Int32? {
        var held: Int32?
        _ = onLoopbackSocket(port: port) { fd, a, n in
            guard bind(fd, a, n) == 0 else { return false }
            held = fcntl(fd, F_DUPFD_CLOEXEC, 0)   // the original is closed on the way out
            return true
        }
        return held.flatMap { $0 >= 0 ? $0 : nil }
    }

    private func releasePorts() {
        for fd in heldPorts { close(fd) }
        heldPorts = []
    }

    /// pebble's output so far (for failure messages).
    public var log: String { (try? String(contentsOfFile: dir + "/pebble.log", encoding: .utf8)) ?? "" }

    /// Ends pebble and the DNS server and removes the files.
    public func stop() {
        stopCA()
        releasePorts()
        if dns.isRunning {
            kill(dns.processIdentifier, SIGTERM)
            dns.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
