#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A real upstream program for the proxy tests (Tests/FlaksServerTests/Upstreams: a Python
/// http.server app, a Node app, raw Python servers). It binds a loopback port itself and prints it;
/// ended by pid when the test is done.
final class UpstreamProcess: @unchecked Sendable {  // used from one test at a time
    let process = Process()
    let port: Int

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Upstreams").path

    /// `python3 app.py 0 NAME`, `node app.js NAME`, `python3 raw.py MODE`.
    init(_ program: String, _ arguments: [String]) throws {
        let out = Pipe()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line is the port; bounded wait.
        let fd = out.fileHandleForReading.fileDescriptor
        var line: [UInt8] = []
        let end = Date().addingTimeInterval(10)
        while Date() < end {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 200) > 0 else { continue }
            var b: UInt8 = 0
            guard read(fd, &b, 1) == 1 else { break }
            if b == 10 { break }
            line.append(b)
        }
        guard let p = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)) else {
            process.terminate()
            throw UpstreamError(description: "\(program) \(arguments) did not print its port")
        }
        port = p
    }

    static func python(_ name: String) throws -> UpstreamProcess {
        try UpstreamProcess("/usr/bin/python3", [directory + "/app.py", "0", name])
    }

    /// The Python app on a unix socket at `path`.
    static func pythonUnix(_ name: String, path: String) throws -> UpstreamProcess {
        try UpstreamProcess("/usr/bin/python3", [directory + "/app.py", "unix:" + path, name])
    }

    static func raw(_ mode: String) throws -> UpstreamProcess {
        try UpstreamProcess("/usr/bin/python3", [directory + "/raw.py", mode])
    }

    static func node(_ name: String) throws -> UpstreamProcess {
        try UpstreamProcess(nodePath ?? "/usr/bin/node", [directory + "/app.js", name])
    }

    static var nodePath: String? {
        ["/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

struct UpstreamError: Error, CustomStringConvertible { let description: String }
