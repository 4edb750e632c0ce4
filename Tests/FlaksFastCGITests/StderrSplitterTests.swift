import Testing
@testable import FlaksFastCGI

@Suite struct StderrSplitterTests {
    func lines(_ input: [UInt8], maxLine: Int = 4096, php: Bool = true, step: Int? = nil) -> [FastCGIStderrLine] {
        var s = FastCGIStderrSplitter(maxLine: maxLine, splitsPHPMessages: php)
        var out: [FastCGIStderrLine] = []
        var i = 0
        let n = step ?? max(input.count, 1)
        while i < input.count {
            let chunk = Array(input[i..<min(i + n, input.count)])
            out += chunk.withUnsafeBytes { s.feed($0) }
            i += n
        }
        if let last = s.flush() { out.append(last) }
        #expect(s.flush() == nil, "flush empties the splitter")
        return out
    }

    func line(_ s: String, truncated: Bool = false) -> FastCGIStderrLine { FastCGIStderrLine(text: s, truncated: truncated) }

    @Test func splitsAtLFAndDropsCRAndEmptyLines() {
        let input = bytes("PHP message: one\r\n\n\r\nPHP message: two\nthree\rfour\nlast without LF")
        let expected = [line("PHP message: one"), line("PHP message: two"), line("threefour"), line("last without LF")]
        #expect(lines(input) == expected)
        for step in 1...7 { #expect(lines(input, step: step) == expected, "step \(step)") }
    }

    @Test func lineLengthEdge() {
        let exact = [UInt8](repeating: 0x61, count: 4096)
        #expect(lines(exact + [10]) == [line(String(repeating: "a", count: 4096))])
        #expect(lines(exact) == [line(String(repeating: "a", count: 4096))], "unterminated, flushed")
        // CRs do not count toward the bound.
        #expect(lines(exact + [13, 10]) == [line(String(repeating: "a", count: 4096))])
        // One byte more: the first 4096 bytes, marked, and the rest of that line dropped.
        let over = exact + bytes("b") + [UInt8](repeating: 0x63, count: 10_000) + bytes("\nnext\n")
        let expected = [line(String(repeating: "a", count: 4096), truncated: true), line("next")]
        #expect(lines(over) == expected)
        #expect(lines(over, step: 1) == expected)
        #expect(lines(over, step: 4097) == expected)
        // A cut line with no LF after it leaves nothing to flush.
        #expect(lines(exact + bytes("bbb")) == [line(String(repeating: "a", count: 4096), truncated: true)])
        #expect(lines(bytes("a234567890123456\n"), maxLine: 15) == [line("a23456789012345", truncated: true)])
        #expect(lines(bytes("a23456789012345\n"), maxLine: 15) == [line("a23456789012345")])
    }

    @Test func phpFPMMessagesBecomeOneLineEach() {
        // What php-fpm 8.2 sends (seen in PHPFPMTests): messages joined by "; ", no LF, split
        // across records anywhere.
        let input = bytes("PHP message: flaks first message; PHP message: PHP Warning:  x in /a.php on line 3; PHP message: last")
        let expected = [line("PHP message: flaks first message"), line("PHP message: PHP Warning:  x in /a.php on line 3"),
                        line("PHP message: last")]
        #expect(lines(input) == expected)
        for step in 1...16 { #expect(lines(input, step: step) == expected, "step \(step)") }
        // A record may begin with the separator.
        #expect(lines(bytes("PHP message: a") + bytes("; PHP message: b"), step: 14) == [line("PHP message: a"), line("PHP message: b")])
        // Almost-separators are text.
        #expect(lines(bytes("x; PHP messages; ; PHP message:; PHP message y")) == [line("x; PHP messages; ; PHP message:; PHP message y")])
        #expect(lines(bytes(";; PHP message: z")) == [line(";"), line("PHP message: z")])
        // Off: the separator stays in the line.
        #expect(lines(input, php: false) == [line(String(decoding: input, as: UTF8.self))])
        // A cut message does not swallow the next one.
        let long = bytes("PHP message: ") + [UInt8](repeating: 0x78, count: 5000) + bytes("; PHP message: after")
        let cut = [line("PHP message: " + String(repeating: "x", count: 4096 - 13), truncated: true), line("PHP message: after")]
        #expect(lines(long) == cut)
        #expect(lines(long, step: 1) == cut)
    }

    @Test func invalidUTF8IsReplaced() {
        #expect(lines([0x61, 0xff, 0x62, 10]) == [line("a\u{FFFD}b")])
    }
}
