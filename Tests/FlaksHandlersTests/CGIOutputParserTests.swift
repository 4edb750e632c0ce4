import FlaksHTTP
import Testing
@testable import FlaksHandlers

/// The header section of CGI output (RFC 3875 §6), fed whole, at every split point, and byte by byte.
@Suite("CGI output parser")
struct CGIOutputParserTests {
    /// Feeds `output` in pieces cut at `cuts`; returns the reply and the body bytes that followed the head.
    static func parse(_ output: String, cuts: [Int] = [], limit: Int = 64 * 1024) -> Result<(CGIReply, [UInt8]), CGIOutputError>? {
        let bytes = Array(output.utf8)
        var parser = CGIOutputParser(limit: limit)
        var start = 0
        for end in cuts + [bytes.count] where end >= start {
            let piece = Array(bytes[start..<end])
            start = end
            do {
                if case .head(let reply, let n) = try parser.append(piece) {
                    return .success((reply, Array(piece.suffix(n)) + Array(bytes[end...])))
                }
            } catch { return .failure(error) }
        }
        do { try parser.finish() } catch { return .failure(error) }
        return nil
    }

    /// Every way of cutting `output` gives the same answer.
    static func parseAllWays(_ output: String) -> Result<(CGIReply, [UInt8]), CGIOutputError>? {
        let whole = parse(output)
        let n = output.utf8.count
        for cut in 0...n {
            let split = parse(output, cuts: [cut])
            #expect(describe(split) == describe(whole), "split at \(cut)")
        }
        let bytewise = parse(output, cuts: Array(0...n))
        #expect(describe(bytewise) == describe(whole), "byte by byte")
        return whole
    }

    static func describe(_ r: Result<(CGIReply, [UInt8]), CGIOutputError>?) -> String {
        switch r {
        case nil: "incomplete"
        case .failure(let e): "error \(e)"
        case .success(let (reply, body)): "\(reply) body=\(body)"
        }
    }

    static func document(_ output: String) -> (HTTPStatus, HeaderFields, String)? {
        guard case .success(let (.document(status, headers), body)) = parseAllWays(output) else { return nil }
        return (status, headers, String(decoding: body, as: UTF8.self))
    }

    @Test func documentWithLF() throws {
        let (status, headers, body) = try #require(Self.document("Content-Type: text/plain\n\nhello\n"))
        #expect(status == .ok)
        #expect(headers["Content-Type"] == "text/plain")
        #expect(body == "hello\n")
    }

    @Test func documentWithCRLFAndMixedLineEnds() throws {
        let (_, headers, body) = try #require(Self.document("Content-Type: text/html\r\nX-A: 1\nX-B:2\r\n\r\n<p>\r\n\r\n"))
        #expect(headers["X-A"] == "1")
        #expect(headers["X-B"] == "2")
        #expect(body == "<p>\r\n\r\n")
    }

    @Test func statusLine() throws {
        let (status, headers, body) = try #require(Self.document("Status: 404 Not Found\nContent-Type: text/plain\n\nnope"))
        #expect(status.code == 404)
        #expect(headers["Status"] == nil)
        #expect(body == "nope")
        #expect(try #require(Self.document("Status: 204\n\n")).0.code == 204)
        #expect(try #require(Self.document("status:418 teapot\ncontent-type: a/b\n\n")).0.code == 418)
    }

    @Test(arguments: ["abc", "99", "1000 big", "600 Nope", "101 Switching", "20 x", "2000"])
    func badStatus(_ value: String) {
        guard case .failure(.badStatus) = Self.parseAllWays("Status: \(value)\nContent-Type: a/b\n\n") else {
            Issue.record("Status: \(value) accepted"); return
        }
    }

    @Test func localRedirect() {
        guard case .success(let (.localRedirect(target), _)) = Self.parseAllWays("Location: /other/path?q=1\n\n") else {
            Issue.record("not a local redirect"); return
        }
        #expect(target == "/other/path?q=1")
    }

    @Test func localLocationWithStatusIsADocument() throws {
        let (status, headers, _) = try #require(Self.document("Status: 301 Moved\nLocation: /new\n\n"))
        #expect(status.code == 301)
        #expect(headers["Location"] == "/new")
    }

    @Test func clientRedirectIs302() throws {
        let (status, headers, _) = try #require(Self.document("Location: https://example.test/x\nX-Extra: 1\n\n"))
        #expect(status == .found)
        #expect(headers["Location"] == "https://example.test/x")
        #expect(headers["X-Extra"] == "1")
        // A network-path reference is not local.
        #expect(try #require(Self.document("Location: //evil.test/\n\n")).0 == .found)
    }

    @Test func hopByHopAndServerOwnedFieldsAreDropped() throws {
        let (_, headers, _) = try #require(Self.document(
            "Content-Type: a/b\nConnection: close\nKeep-Alive: 5\nTransfer-Encoding: chunked\nTE: x\nUpgrade: h2c\nDate: x\nServer: x\nX-Kept: y\n\n"))
        #expect(headers.count == 2)
        #expect(headers["X-Kept"] == "y")
    }

    @Test func contentLengthIsKept() throws {
        let (_, headers, _) = try #require(Self.document("Content-Type: a/b\nContent-Length: 12\n\n"))
        #expect(headers["Content-Length"] == "12")
        guard case .failure(.badContentLength) = Self.parseAllWays("Content-Type: a/b\nContent-Length: 1x\n\n") else {
            Issue.record("bad length accepted"); return
        }
    }

    @Test(arguments: [
        ("no colon", "this is not a header\n\nbody"),
        ("space in name", "Content Type: a/b\n\n"),
        ("empty name", ": value\nContent-Type: a/b\n\n"),
        ("folded line", "Content-Type: a/b\n continued\n\n"),
        ("control byte in value", "Content-Type: a\u{1}b\n\n"),
        ("NUL in name", "X\u{0}Y: 1\nContent-Type: a/b\n\n"),
    ])
    func badHeaderLine(_ name: String, _ output: String) {
        guard case .failure(.badHeaderLine) = Self.parseAllWays(output) else {
            Issue.record("\(name) accepted"); return
        }
    }

    @Test func noResponseType() {
        guard case .failure(.noResponseType) = Self.parseAllWays("X-Only: 1\n\nbody") else {
            Issue.record("accepted"); return
        }
        guard case .failure(.noResponseType) = Self.parseAllWays("\nbody") else {
            Issue.record("empty header section accepted"); return
        }
    }

    @Test func duplicates() {
        for f in ["Status: 200", "Location: /a", "Content-Type: a/b", "Content-Length: 1"] {
            guard case .failure(.duplicateField) = Self.parseAllWays("\(f)\n\(f)\nContent-Type: x/y\n\n") else {
                Issue.record("duplicate \(f) accepted"); continue
            }
        }
    }

    @Test func incompleteHeader() {
        guard case .failure(.incompleteHeader) = Self.parse("Content-Type: text/plain\nno blank line") else {
            Issue.record("accepted"); return
        }
        guard case .failure(.incompleteHeader) = Self.parse("") else { Issue.record("empty accepted"); return }
        var p = CGIOutputParser()
        #expect(p.isEmpty)
        #expect((try? p.append(Array("Content-Type: a/b\r\n\r".utf8))) == .needMoreBytes)
        #expect(!p.isEmpty)
    }

    @Test func headerOverTheLimit() {
        let big = "Content-Type: text/plain\nX-Big: " + String(repeating: "a", count: 200) + "\n\nbody"
        guard case .failure(.headerTooLarge(let limit)) = Self.parse(big, limit: 100) else {
            Issue.record("accepted"); return
        }
        #expect(limit == 100)
        // Without any line end at all, it fails as soon as the limit is passed, not at EOF.
        var p = CGIOutputParser(limit: 100)
        #expect(throws: CGIOutputError.headerTooLarge(limit: 100)) { try p.append([UInt8](repeating: 97, count: 101)) }
        // A header section (its lines and their line ends, not the blank line) of exactly the limit is fine.
        let exact = "Content-Type: a/b\nX: " + String(repeating: "b", count: 78) + "\n\n"
        #expect(exact.utf8.count - 1 == 100)
        if case .failure = Self.parse(exact, limit: 100) { Issue.record("limit off by one") }
    }

    @Test func bodyBytesInTheSameReadAreReturned() throws {
        var p = CGIOutputParser()
        let event = try p.append(Array("Content-Type: a/b\r\n\r\nBODY".utf8))
        guard case .head(_, let n) = event else { Issue.record("no head"); return }
        #expect(n == 4)
    }

    /// The byte comparison of field names means what the lowercased names meant.
    @Test func fieldKindsIgnoreCase() {
        func kind(_ s: String) -> CGIOutputParser.FieldKind { CGIOutputParser.fieldKind(ArraySlice(Array(s.utf8))) }
        for name in CGIOutputParser.droppedFields {
            #expect(kind(name) == .dropped, "\(name)")
            #expect(kind(name.uppercased()) == .dropped, "\(name)")
        }
        #expect(kind("Status") == .status && kind("STATUS") == .status && kind("location") == .location)
        #expect(kind("Content-Type") == .contentType && kind("CONTENT-LENGTH") == .contentLength)
        for other in ["X-Status", "Statu", "Statuss", "Content_Type", "Dates", "Servers", "Set-Cookie", "Locatio", "Te-"] {
            #expect(kind(other) == .other, "\(other)")
        }
    }
}
