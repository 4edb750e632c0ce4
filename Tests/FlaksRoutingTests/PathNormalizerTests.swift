import Testing
import FlaksHTTP

/// PathNormalizer lives in FlaksHTTP; its table runs here, next to the router that consumes it.
@Suite struct PathNormalizerTests {
    @Test(arguments: [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("//a///b//", "/a/b/"),
        ("/a/./b", "/a/b"),
        ("/a/b/.", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/a/b/../c", "/a/c"),
        ("/a/../../", "above"),
        ("/..", "above"),
        ("/../a", "above"),
        ("/a/..", "/"),
        ("/a/%2e%2E/b", "/b"),              // dots are resolved after decoding
        ("/%2e%2e/etc/passwd", "above"),
        ("/.hidden/..x/...", "/.hidden/..x/..."),
        ("/caf%C3%A9", "/café"),
        ("/a%20b", "/a b"),
        ("/100%25", "/100%"),               // decoded once only
        ("/%2525", "/%25"),
        ("/a%2Fb", "slash"),
        ("/a%2fb", "slash"),
        ("/a%5Cb", "backslash"),
        ("/a\\b", "/a\\b"),                  // a raw backslash is an ordinary byte
        ("/a%00b", "nul"),
        ("/a\u{0}b", "nul"),
        ("/a%", "escape"),
        ("/a%4", "escape"),
        ("/a%zz", "escape"),
        ("/%C3%28", "utf8"),
        ("/%FF", "utf8"),
        ("a/b", "relative"),
        ("", "relative"),
    ])
    func normalize(input: String, expected: String) {
        let got: String
        do {
            got = try PathNormalizer.normalize(input)
        } catch {
            switch error {
            case .aboveRoot: got = "above"
            case .encodedSlash: got = "slash"
            case .encodedBackslash: got = "backslash"
            case .nul: got = "nul"
            case .badPercentEscape: got = "escape"
            case .invalidUTF8: got = "utf8"
            case .notAbsolute: got = "relative"
            }
        }
        #expect(got == expected)
    }

    /// `RequestHead.normalizedPath()` (the server's fast path) says exactly what
    /// `PathNormalizer.normalize(head.rawPath)` says, for every target form: origin-form with and
    /// without a query, already normal or not, absolute-form, `*`, errors; over contiguous and
    /// small strings alike.
    @Test func normalizedPathOfAHeadIsNormalizeOfItsRawPath() {
        var targets = ["/", "/json", "/json?", "/?", "/?a=1", "/a/b?x=/../y", "/a/b/", "/a//b?q", "//", "/.",
                       "/..", "/a/.", "/a/..?x", "/a/./b", "/.well-known/acme-challenge/t", "/%2e%2e/x", "/a%2Fb?x",
                       "/a%5Cb", "/a%00", "/a%", "/caf%C3%A9?x", "/café", "/a\\b", "/?/..", "/a?b?c", "/...", "/..a",
                       "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", "/a-long-enough-path-not-to-be-a-small-string?and=a&query",
                       "http://example.com/a/../b?q", "http://example.com", "http://example.com?x", "*", "a/b", "",
                       "/%FF", "/x?%FF", "/a\u{0}b"]
        // Every one- and two-byte path over an alphabet of the bytes that matter, with and without a query.
        let alphabet = ["/", ".", "a", "%", "?", "2", "e"]
        for x in alphabet { for y in alphabet { targets.append("/" + x + y); targets.append("/" + x + y + "?" + x) } }
        for t in targets {
            let head = RequestHead(method: .GET, target: t, version: .http1_1, headers: HeaderFields())
            let expected = Result { () throws(PathError) -> String in try PathNormalizer.normalize(head.rawPath) }
            let got = Result { () throws(PathError) -> String in try head.normalizedPath() }
            switch (expected, got) {
            case (.success(let a), .success(let b)): #expect(a == b, "target \(t)")
            case (.failure(let a), .failure(let b)): #expect(a == b, "target \(t)")
            default: Issue.record("target \(t): \(expected) against \(got)")
            }
        }
    }

    @Test func acceptsSubstringAndAnswers400() throws {
        let target = "/a/../b?x=1"
        #expect(try PathNormalizer.normalize(target[..<target.firstIndex(of: "?")!]) == "/b")
        #expect(PathError.aboveRoot.status.code == 400)
    }
}
