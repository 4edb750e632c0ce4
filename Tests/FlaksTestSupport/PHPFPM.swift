import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A php-fpm master in the foreground (`-F`), with its own pool config, unix socket and error log
/// in a temp dir: nothing of the system's php-fpm setup is used or touched. Stopped by pid
/// (`stop()`, SIGTERM then SIGKILL; php-fpm ends its children itself) and the temp dir removed.
/// Tests using it are skipped when no php-fpm is installed (Debian: php8.2-fpm).
public final class PHPFPM: @unchecked Sendable {  // used by one test at a time
    /// The php-fpm binary, if installed (php-fpm8.2 first, then any php-fpm*).
    public static let binary: String? = {
        let candidates = ["/usr/sbin/php-fpm8.2"] + ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/sbin")) ?? [])
            .filter { $0.hasPrefix("php-fpm") }.sorted().reversed().map { "/usr/sbin/" + $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// The temp dir: fpm.conf, fpm.log, php.sock, sessions/, and any `scripts`.
    public let dir: String
    public let socketPath: String
    private let process = Process()

    /// - Parameters:
    ///   - scripts: files written into `dir` (name -> text).
    ///   - children: `pm.max_children` (pm = static).
    ///   - maxRequests: `pm.max_requests` (0: unlimited): a child exits after that many requests.
    ///   - systemIni: load the system's php.ini and extension list (DokuWiki needs xml, mbstring...);
    ///     false runs with `-n` (no ini: built-in defaults, no shared extensions).
    ///   - settings: extra pool lines (`php_admin_value[...] = ...`).
    public init(scripts: [String: String] = [:], children: Int = 2, maxRequests: Int = 0, systemIni: Bool = false,
                settings: [String] = []) throws {
        guard let binary = Self.binary else { throw Failure("no php-fpm") }
        dir = NSTemporaryDirectory() + "flaks-fpm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        socketPath = dir + "/php.sock"
        try FileManager.default.createDirectory(atPath: dir + "/sessions", withIntermediateDirectories: true)
        for (name, text) in scripts { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        let root = geteuid() == 0
        let config = """
            [global]
            error_log = \(dir)/fpm.log
            daemonize = no
            log_limit = 8192
            [flaks]
            \(root ? "user = root\ngroup = root" : "")
            listen = \(socketPath)
            pm = static
            pm.max_children = \(children)
            pm.max_requests = \(maxRequests)
            php_admin_value[session.save_path] = \(dir)/sessions
            \(settings.joined(separator: "\n"))
            """
        try config.write(toFile: dir + "/fpm.conf", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = (systemIni ? [] : ["-n"]) + ["-F", "-y", dir + "/fpm.conf", "-p", dir] + (root ? ["-R"] : [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready when the socket accepts a connection (bounded: 10 s).
        for _ in 0..<200 {
            if Self.canConnect(socketPath) { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        let log = self.log
        stop()
        throw Failure("php-fpm did not start: \(log)")
    }

    deinit { stop() }

    /// The master's pid (0 once stopped).
    public var pid: Int32 { process.isRunning ? process.processIdentifier : 0 }

    /// php-fpm's own error log so far.
    public var log: String { (try? String(contentsOfFile: dir + "/fpm.log", encoding: .utf8)) ?? "" }

    /// Ends the master (and so its children) by pid, waits for it, removes the temp dir. Idempotent.
    public func stop() {
        if process.isRunning {
            let pid = process.processIdentifier
            kill(pid, SIGTERM)
            // php-fpm ends its children within its process_control_timeout; bounded here at 5 s.
            for _ in 0..<100 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Stops the master but keeps the temp dir (a test of "php-fpm is down").
    public func stopKeepingFiles() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// True when a unix socket at `path` accepts a connection.
    public static func canConnect(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }
}
