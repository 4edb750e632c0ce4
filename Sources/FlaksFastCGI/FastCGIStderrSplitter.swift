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
/// - php-fpm writes no LF: it joins a request's messages as
///   `PHP message: A; PHP message: B` (nginx logs that as one "FastCGI sent in stderr" line). With
///   `splitsPHPMessages` (the default) the separator `; PHP message: ` also ends a line, and the
///   next line starts with `PHP message: `, so each PHP message is one log line.
/// - A line of exactly `maxLine` bytes (CRs not counted) is whole. When byte `maxLine + 1` of a
///   line arrives, the first `maxLine` bytes are emitted at once with `truncated`, and the rest
///   up to the next line end is dropped: a responder cannot make one log line arbitrarily long.
/// - `flush()` emits an unterminated last line (at END_REQUEST, or when the connection fails).
public struct FastCGIStderrSplitter: Sendable {
    /// Longest line in bytes (default 4096).
    public let maxLine: Int
    /// Whether `; PHP message: ` ends a line (php-fpm's message separator).
    public let splitsPHPMessages: Bool
    var partial: [UInt8] = []
    /// A line was cut: drop bytes until the next line end.
    var dropping = false
    /// How many bytes of `separator` the stream's tail matches. `separator` has a single `;`,
    /// at its start, so on a mismatch the match restarts at 1 (the byte is `;`) or 0.
    var matched = 0

    static let separator: [UInt8] = Array("; PHP message: ".utf8)
    static let messagePrefix: [UInt8] = Array("PHP message: ".utf8)

    public init(maxLine: Int = 4096, splitsPHPMessages: Bool = true) {
        precondition(maxLine > 0, "maxLine must be positive")
        self.maxLine = maxLine
        self.splitsPHPMessages = splitsPHPMessages
    }

    /// Feeds STDERR bytes; returns the lines they complete (possibly none).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [FastCGIStderrLine] {
        var lines: [FastCGIStderrLine] = []
        for b in bytes where b != UInt8(ascii: "\r") {
            if b == UInt8(ascii: "\n") {
                if !dropping { emit(partial, truncated: false, to: &lines) }
                partial.removeAll(keepingCapacity: true)
                dropping = false
                matched = 0
                continue
            }
            if splitsPHPMessages {
                matched = b == Self.separator[matched] ? matched + 1 : (b == Self.separator[0] ? 1 : 0)
                if matched == Self.separator.count {
                    // The separator's first bytes are in `partial` (unless dropping): cut them off.
                    if !dropping { emit(partial.dropLast(Self.separator.count - 1), truncated: false, to: &lines) }
                    partial.removeAll(keepingCapacity: true)
                    partial.append(contentsOf: Self.messagePrefix)
                    dropping = false
                    matched = 0
                    continue
                }
            }
            if dropping { continue }
            if partial.count >= maxLine {  // `>`: only when maxLine is shorter than "PHP message: "
                emit(partial.prefix(maxLine), truncated: true, to: &lines)
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
            matched = 0
        }
        var lines: [FastCGIStderrLine] = []
        if !dropping { emit(partial, truncated: false, to: &lines) }
        return lines.first
    }

    private func emit(_ bytes: some Collection<UInt8>, truncated: Bool, to lines: inout [FastCGIStderrLine]) {
        guard !bytes.isEmpty else { return }
        lines.append(FastCGIStderrLine(text: String(decoding: bytes, as: UTF8.self), truncated: truncated))
    }
}
