/// One line the responder wrote to STDERR (php-fpm: "PHP message: PHP Warning: ..."), for the
/// error log.
public struct FastCGIStderrLine: Sendable, Equatable {
    /// The line without its LF and without any CR, decoded as UTF-8 (invalid sequences become
    /// U+FFFD). Never empty.
    public var text: String
    /// True when the line was longer than the bound and `text` holds only its first bytes; the
    /// rest of that line was dropped.
    public var truncated: Bool

    public init(text: String, truncated: Bool) {
        self.text = text
        self.truncated = truncated
    }
}

/// Cuts a STDERR byte stream into log lines. Pure and bounded: it holds at most `maxLine` bytes.
///
/// - A line ends at LF. Every CR is dropped (CRLF line ends, and a CR cannot rewrite a log line
///   on a terminal). Empty lines are dropped.
/// - A line of exactly `maxLine` bytes (CRs not counted) is whole. When byte `maxLine + 1` of a
///   line arrives, the first `maxLine` bytes are emitted at once with `truncated`, and the rest
///   up to the next LF is dropped: a responder cannot make one log line arbitrarily long.
/// - `flush()` emits an unterminated last line (at END_REQUEST, or when the connection fails).
public struct FastCGIStderrSplitter: Sendable {
    /// Longest line in bytes (default 4096).
    public let maxLine: Int
    var partial: [UInt8] = []
    /// A line was cut: drop bytes until the next LF.
    var dropping = false

    public init(maxLine: Int = 4096) {
        precondition(maxLine > 0, "maxLine must be positive")
        self.maxLine = maxLine
    }

    /// Feeds STDERR bytes; returns the lines they complete (possibly none).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [FastCGIStderrLine] {
        var lines: [FastCGIStderrLine] = []
        for b in bytes {
            if b == UInt8(ascii: "\n") {
                if !dropping, !partial.isEmpty { lines.append(FastCGIStderrLine(text: String(decoding: partial, as: UTF8.self), truncated: false)) }
                partial.removeAll(keepingCapacity: true)
                dropping = false
            } else if dropping || b == UInt8(ascii: "\r") {
                continue
            } else if partial.count == maxLine {
                lines.append(FastCGIStderrLine(text: String(decoding: partial, as: UTF8.self), truncated: true))
                partial.removeAll(keepingCapacity: true)
                dropping = true
            } else {
                partial.append(b)
            }
        }
        return lines
    }

    /// The unterminated last line, if any; the splitter is then empty.
    public mutating func flush() -> FastCGIStderrLine? {
        defer {
            partial.removeAll()
            dropping = false
        }
        guard !dropping, !partial.isEmpty else { return nil }
        return FastCGIStderrLine(text: String(decoding: partial, as: UTF8.self), truncated: false)
    }
}
