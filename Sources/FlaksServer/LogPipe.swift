#if canImport(Glibc)
import Glibc
#endif
import FlaksHandlers

/// Reads a child's output pipe on its loop and writes it to the error log line by line, each line
/// prefixed (`cgi /path: `, `[api#0] `): CGI scripts' stderr, supervised services' stdout and
/// stderr. Lines longer than 4 KiB are cut into pieces; nothing of the child's blocks a loop (the
/// error log is written by a background thread).
final class LogPipe: Selectable {
    private(set) var fd: Int32
    private unowned let loop: EventLoop
    /// Made at the first line: most CGI scripts write nothing to stderr, and interpolating the
    /// prefix for each was ~7,000 instructions per CGI request (`CGI=1 bench/instructions.sh`).
    private let makePrefix: () -> String
    private lazy var prefix = makePrefix()
    private var lines = LineSplitter(limit: 4096)
    private var onEnd: (() -> Void)?
    /// Where lines go instead of the error log (a service's `log:` file), if set.
    private let sink: ((String) -> Void)?

    /// Registers `fd` (non-blocking) with `loop`. `onEnd` runs once, when the pipe reaches its end
    /// or is closed by `close(drain:)`. `sink`: where the prefixed lines go (it must not block);
    /// nil: the error log.
    init(fd: Int32, loop: EventLoop, prefix: @escaping @autoclosure () -> String, sink: ((String) -> Void)? = nil,
         onEnd: @escaping () -> Void) throws(SystemError) {
        self.fd = fd; self.loop = loop; self.makePrefix = prefix; self.sink = sink; self.onEnd = onEnd
        try loop.register(fd: fd, interest: [.readable, .edgeTriggered], target: self)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    var isOpen: Bool { fd >= 0 }

    func ready(_ events: SelectorEvents) { drain() }

    /// Reads what is there; at the end of the pipe, logs the last partial line and closes.
    func drain() {
        // On the stack: a zeroed 4 KiB array per call was ~4,000 instructions per CGI request.
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 16) { chunk in
            while fd >= 0 {
                let fd = self.fd
                var n = 0
                do {
                    let r = try syscall("read") { Glibc.read(fd, chunk.baseAddress, chunk.count) }
                    guard case .done(let got) = r else { return }
                    n = got
                } catch { n = 0 }
                if n == 0 { close(drain: false); return }
                lines.feed(UnsafeRawBufferPointer(rebasing: chunk[0..<n]), log)
            }
        }
    }

    /// Stops reading (after reading what is buffered, with `drain`), logs the last partial line.
    func close(drain: Bool = true) {
        guard fd >= 0 else { return }
        // `onEnd` may drop the last reference to this pipe.
        withExtendedLifetime(self) {
            if drain { self.drain(); if fd < 0 { return } }
            lines.finish(log)
            loop.deregister(fd: fd)
            Glibc.close(fd)
            fd = -1
            onEnd?()
        }
    }

    /// The loop stopped while the writer still had this pipe open: see `PipeReader.loopStopped`.
    func loopStopped() {
        onEnd = nil
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    private func log(_ line: String) {
        if let sink { sink(prefix + line) } else { loop.server.logger.error("\(prefix)\(line)") }
    }
}
