import Testing
@testable import FlaksHTTP

/// Common field names are taken from literals (`FieldNames`); a name is always the bytes sent.
@Suite struct FieldNamesTests {
    /// Every name `FieldNames` knows (as listed there).
    static let listed = [
        "TE", "DNT", "Host", "host", "Date", "ETag", "Vary", "Range", "Accept", "Cookie", "Origin", "Pragma", "Server",
        "accept", "cookie", "Referer", "Upgrade", "Location", "If-Range", "X-Real-IP", "User-Agent", "Connection",
        "Set-Cookie", "user-agent", "connection", "Keep-Alive", "Content-Type", "content-type", "X-Request-ID",
        "Authorization", "Cache-Control", "If-None-Match", "Last-Modified", "Accept-Ranges", "Content-Length",
        "content-length", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Accept-Encoding",
        "Accept-Language", "X-Forwarded-For", "accept-encoding", "accept-language", "Content-Encoding",
        "X-Forwarded-Host", "If-Modified-Since", "Transfer-Encoding", "X-Forwarded-Proto", "Sec-WebSocket-Key",
        "Upgrade-Insecure-Requests",
    ]

    static func name(_ s: String) -> (known: String?, string: String) {
        Array(s.utf8).withUnsafeBytes { (FieldNames.known($0), FieldNames.string($0)) }
    }

    @Test func everyListedNameIsItsOwnLiteral() {
        for n in Self.listed {
            let r = Self.name(n)
            #expect(r.known == n, "\(n)")
            #expect(r.string == n)
        }
    }

    @Test func anyOtherSpellingIsReadAsSent() {
        // Each listed name with one byte changed (case flipped, or replaced): never known, always
        // read back exactly. With the listed ones, that covers every length the switch has.
        var checked = 0
        for n in Self.listed {
            let bytes = Array(n.utf8)
            for i in bytes.indices {
                for replacement: UInt8 in [bytes[i] ^ 0x20, UInt8(ascii: "x"), UInt8(ascii: "-")] where replacement != bytes[i] {
                    var b = bytes
                    b[i] = replacement
                    let s = String(decoding: b, as: UTF8.self)
                    let r = Self.name(s)
                    #expect(r.string == s)
                    #expect(r.known == nil || Self.listed.contains(s), "\(s)")
                    checked += 1
                }
            }
        }
        #expect(checked > 1000)
        for s in ["", "X", "HOST", "Hostx", "X-Custom-Header", String(repeating: "a", count: 200)] {
            #expect(Self.name(s).string == s)
            #expect(Self.name(s).known == nil)
        }
    }

    @Test func parsedHeadsKeepTheNamesSent() throws {
        var parser = RequestParser()
        let head = "GET / HTTP/1.1\r\nhost: a\r\nUSER-AGENT: b\r\nAccept: c\r\nX-Thing: d\r\n\r\n"
        let r = try Array(head.utf8).withUnsafeBytes { try parser.parse($0) }
        guard case .head(let h) = r.event else {
            Issue.record("no head: \(r)")
            return
        }
        #expect(h.headers.map(\.name) == ["host", "USER-AGENT", "Accept", "X-Thing"])
        #expect(h.headers["Host"] == "a" && h.headers["user-agent"] == "b")
    }
}
