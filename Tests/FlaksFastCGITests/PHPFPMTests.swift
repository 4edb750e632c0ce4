import Foundation
import Glibc
import FlaksTestSupport
import Testing
@testable import FlaksFastCGI

/// The codec and the exchange against a real php-fpm, over a plain blocking unix socket.
/// Skipped (with the reason) when no php-fpm binary is installed (Debian: php8.2-fpm).
@Suite(.serialized, .enabled(if: PHPFPM.binary != nil, "php-fpm is not installed (apt-get install php-fpm); FastCGI interop not tested"))
struct PHPFPMTests {
    @Test(.timeLimit(.minutes(1)))
    func echoesParamsAndBodyAndKeepsTheConnection() throws {
        let fpm = try PHPFPM()
        defer { fpm.stop() }
        let socket = try UnixSocket(path: fpm.socketPath)
        defer { socket.close() }

        // 1: a body read whole, in the head's single write; names and values at the
        // 1-byte/4-byte length edge (127 and 128 bytes).
        let body = bytes("name=flaks&x=1")
        var extra = [FastCGIParam(String(repeating: "N", count: 127), "short"),
                     FastCGIParam("HTTP_X_EDGE127", String(repeating: "a", count: 127)),
                     FastCGIParam("HTTP_X_EDGE128", String(repeating: "b", count: 128))]
        extra.append(FastCGIParam("HTTP_X_CUSTOM", "caf\u{E9} \u{1F600}"))
        let first = try socket.run(params: fpm.params(script: "echo.php", query: "a=1&b=2", contentLength: body.count) + extra,
                                   body: body, keep: true)
        #expect(first.completion == .init(appStatus: 0, status: .requestComplete, keep: true))
        #expect(first.headers.contains("X-Flaks-Test: 1"))
        #expect(first.headers.contains { $0.lowercased().hasPrefix("content-type: text/plain") }, "\(first.headers)")
        let lines = first.bodyText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.contains("REQUEST_METHOD=POST"))
        #expect(lines.contains("SCRIPT_NAME=/echo.php"))
        #expect(lines.contains("QUERY_STRING=a=1&b=2"))
        #expect(lines.contains("GET_a=1"))
        #expect(lines.contains("CONTENT_LENGTH=\(body.count)"))
        #expect(lines.contains("HTTP_X_EDGE127=" + String(repeating: "a", count: 127)))
        #expect(lines.contains("HTTP_X_EDGE128=" + String(repeating: "b", count: 128)))
        #expect(lines.contains("HTTP_X_CUSTOM=caf\u{E9} \u{1F600}"))
        #expect(lines.contains("LONGNAME=short"))
        #expect(lines.contains("FCGI_ROLE=RESPONDER"))
        #expect(lines.contains("input-length=\(body.count)"))
        #expect(first.body.suffix(body.count) == body[...])
        let pid1 = lines.first { $0.hasPrefix("pid=") }

        // 2: the same connection again (FCGI_KEEP_CONN), a body streamed in chunks across the
        // STDIN record edge (65535 + 1 + more), and the same php-fpm worker answers.
        let upload = (0..<(65536 + 1000)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        let second = try socket.run(params: fpm.params(script: "echo.php", query: "", contentLength: upload.count),
                                    streamed: [Array(upload[..<65535]), [upload[65535]], Array(upload[65536...])], keep: true)
        #expect(second.completion == .init(appStatus: 0, status: .requestComplete, keep: true))
        let lines2 = second.bodyText.split(separator: "\n").map(String.init)
        #expect(lines2.contains("input-length=\(upload.count)"))
        #expect(second.body.suffix(upload.count) == upload[...])
        #expect(pid1 != nil && lines2.first { $0.hasPrefix("pid=") } == pid1, "the kept connection stays with its worker")

        // 3: without FCGI_KEEP_CONN php-fpm closes after END_REQUEST, and that is not an error.
        let third = try socket.run(params: fpm.params(script: "echo.php", query: "", contentLength: 0), body: [], keep: false)
        #expect(third.completion == .init(appStatus: 0, status: .requestComplete, keep: false))
        #expect(third.closedAfterwards == .some(nil))
    }

    @Test(.timeLimit(.minutes(1)))
    func stderrRecordsBecomeLogLines() throws {
        let fpm = try PHPFPM()
        defer { fpm.stop() }
        let socket = try UnixSocket(path: fpm.socketPath)
        defer { socket.close() }
        let answer = try socket.run(params: fpm.params(script: "stderr.php", query: "", contentLength: 0), body: [], keep: true)
        #expect(answer.completion == .init(appStatus: 0, status: .requestComplete, keep: true))
        #expect(answer.bodyText == "dodone")
        // php-fpm joins a request's messages with "; " and no LF; each becomes one line. The
        // 5000-byte message (log_limit = 8192 lets php-fpm send it whole) is cut at 4096 bytes.
        let x = "PHP message: " + String(repeating: "x", count: 4096 - 13)
        #expect(answer.stderr == [FastCGIStderrLine(text: "PHP message: flaks first message", truncated: false),
                                  FastCGIStderrLine(text: x, truncated: true),
                                  FastCGIStderrLine(text: "PHP message: flaks second message", truncated: false)],
                "\(answer.stderr.map { ($0.text.prefix(80), $0.text.utf8.count, $0.truncated) })")
        #expect(answer.stderr.allSatisfy { !$0.text.contains("\n") && !$0.text.contains("\r") })
    }

    @Test(.timeLimit(.minutes(1)))
    func largeOutput() throws {
        let fpm = try PHPFPM()
        defer { fpm.stop() }
        let socket = try UnixSocket(path: fpm.socketPath)
        defer { socket.close() }
        for _ in 0..<2 {  // twice on the kept connection: the stream stays in step after 1 MiB
            let answer = try socket.run(params: fpm.params(script: "big.php", query: "", contentLength: 0), body: [], keep: true)
            #expect(answer.completion == .init(appStatus: 0, status: .requestComplete, keep: true))
            #expect(answer.body.count == 1 << 20)
            let pattern = bytes("0123456789abcdef")
            #expect(answer.body.enumerated().allSatisfy { $0.element == pattern[$0.offset & 15] })
            #expect(answer.stdoutActions > 1, "1 MiB arrives in many STDOUT ranges")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func missingScriptAndKeptConnectionClosedByPHPFPM() throws {
        let fpm = try PHPFPM(maxRequests: 2)
        defer { fpm.stop() }
        let socket = try UnixSocket(path: fpm.socketPath)
        defer { socket.close() }
        // A script that does not exist: php-fpm answers 404 itself, with a STDERR line.
        let missing = try socket.run(params: fpm.params(script: "nope.php", query: "", contentLength: 0), body: [], keep: true)
        #expect(missing.headers.contains { $0.hasPrefix("Status: 404") })
        #expect(missing.stderr.contains { $0.text.contains("Primary script unknown") })
        #expect(missing.completion?.keep == true)
        // A kept connection that php-fpm closes while idle (here: the worker reached
        // pm.max_requests = 2 and exits) gives "closed before any byte" on the next request:
        // the one case that may be retried on a fresh connection.
        let last = try socket.run(params: fpm.params(script: "echo.php", query: "", contentLength: 0), body: [], keep: true)
        #expect(last.completion?.keep == true)
        let retry = try socket.run(params: fpm.params(script: "echo.php", query: "", contentLength: 0), body: [], keep: true,
                                   expectingFailure: true)
        #expect(retry.failure == .closedBeforeAnyByte)
    }
}

// MARK: - php-fpm in a temp dir (FlaksTestSupport.PHPFPM) with this suite's scripts

enum FPMScripts {
    static let scripts: [String: String] = [
        "echo.php": """
            <?php
            header('Content-Type: text/plain');
            header('X-Flaks-Test: 1');
            foreach (['REQUEST_METHOD', 'SCRIPT_NAME', 'QUERY_STRING', 'CONTENT_LENGTH', 'HTTP_X_EDGE127',
                      'HTTP_X_EDGE128', 'HTTP_X_CUSTOM', 'FCGI_ROLE'] as $k) {
                echo $k, '=', $_SERVER[$k] ?? '(unset)', "\\n";
            }
            echo 'LONGNAME=', $_SERVER[str_repeat('N', 127)] ?? '(unset)', "\\n";
            echo 'GET_a=', $_GET['a'] ?? '', "\\n";
            echo 'pid=', getmypid(), "\\n";
            $in = file_get_contents('php://input');
            echo 'input-length=', strlen($in), "\\n";
            echo $in;
            """,
        "stderr.php": """
            <?php
            error_log('flaks first message');
            error_log(str_repeat('x', 5000));
            echo 'do';
            flush();
            error_log('flaks second message');
            echo 'done';
            """,
        "big.php": "<?php echo str_repeat('0123456789abcdef', 65536);",
    ]
}

extension PHPFPM {
    /// php-fpm with this suite's scripts in its temp dir.
    convenience init(maxRequests: Int = 0) throws {
        try self.init(scripts: FPMScripts.scripts, children: 2, maxRequests: maxRequests)
    }

    /// A CGI environment for a script in the temp dir (as the executor will send it).
    func params(script: String, query: String, contentLength: Int) -> [FastCGIParam] {
        var env = [
            "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "flaks", "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_NAME": "localhost", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "5555",
            "REQUEST_METHOD": contentLength > 0 ? "POST" : "GET", "QUERY_STRING": query,
            "SCRIPT_NAME": "/" + script, "SCRIPT_FILENAME": dir + "/" + script, "DOCUMENT_ROOT": dir,
            "REQUEST_URI": "/" + script + (query.isEmpty ? "" : "?" + query),
        ]
        if contentLength > 0 {
            env["CONTENT_LENGTH"] = String(contentLength)
            env["CONTENT_TYPE"] = "application/octet-stream"
        }
        return FastCGIParam.list(env)
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

// MARK: - A blocking unix socket client driving FastCGIExchange

struct Answer {
    struct Completion: Equatable { var appStatus: UInt32; var status: FastCGI.ProtocolStatus; var keep: Bool }
    var stdout: [UInt8] = []
    var stderr: [FastCGIStderrLine] = []
    var completion: Completion?
    var failure: FastCGIError?
    /// For a request without KEEP_CONN: what `responderClosed()` said on the EOF that followed.
    var closedAfterwards: FastCGIError??
    var stdoutActions = 0

    var headerEnd: Int {
        stdout.withUnsafeBufferPointer { b in
            (0..<max(b.count - 3, 0)).first { b[$0] == 13 && b[$0 + 1] == 10 && b[$0 + 2] == 13 && b[$0 + 3] == 10 } ?? b.count
        }
    }
    var headers: [String] { String(decoding: stdout[..<headerEnd], as: UTF8.self).components(separatedBy: "\r\n") }
    var body: [UInt8] { Array(stdout[min(headerEnd + 4, stdout.count)...]) }
    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

struct UnixSocket {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { Glibc.close(fd); throw Failure("path too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: pathBytes) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw Failure("connect \(path): errno \(e)")
        }
    }

    func close() { Glibc.close(fd) }

    func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure("send: errno \(errno)")
            }
            offset += n
        }
    }

    /// One request: the head in one write (with the whole body, or followed by streamed
    /// chunks), then the executor's read loop until `.complete` or `.failed`.
    func run(params: [FastCGIParam], body: [UInt8]? = nil, streamed: [[UInt8]]? = nil, keep: Bool,
             expectingFailure: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> Answer {
        var ex = FastCGIExchange(keepConnection: keep)
        var answer = Answer()
        do {
            try writeAll(try ex.start(params: params, body: streamed == nil ? body : nil))
            if let streamed {
                for chunk in streamed {
                    var out: [UInt8] = []
                    chunk.withUnsafeBytes { ex.stdinBytes($0, appendingTo: &out) }
                    try writeAll(out)
                }
                var end: [UInt8] = []
                ex.stdinEnded(appendingTo: &end)
                try writeAll(end)
            }
        } catch where expectingFailure {
            // php-fpm may already have closed: the read below reports it.
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<1_000_000 {
            let step = buffer.withUnsafeBytes { ex.bytesReceived($0) }
            switch step.action {
            case .stdout(let r):
                answer.stdout += buffer[r]
                answer.stdoutActions += 1
            case .stderr(let lines):
                answer.stderr += lines
            case .complete(let a, let s, let k):
                answer.completion = .init(appStatus: a, status: s, keep: k)
                #expect(step.consumed == buffer.count, "nothing after END_REQUEST", sourceLocation: sourceLocation)
                if !keep {
                    let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    if n == 0 { answer.closedAfterwards = .some(ex.responderClosed()) }
                }
                return answer
            case .failed(let e):
                answer.failure = e
                if !expectingFailure { Issue.record("exchange failed: \(e)", sourceLocation: sourceLocation) }
                return answer
            case .needMoreBytes:
                buffer.removeFirst(step.consumed)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 {
                    buffer += chunk[..<n]
                } else if n == 0 || errno != EINTR {
                    if n < 0, errno == EAGAIN { throw Failure("read timed out") }
                    answer.failure = ex.responderClosed()
                    if !expectingFailure { Issue.record("responder closed: \(String(describing: answer.failure))", sourceLocation: sourceLocation) }
                    return answer
                }
                continue
            }
            buffer.removeFirst(step.consumed)
        }
        throw Failure("no progress")
    }
}
