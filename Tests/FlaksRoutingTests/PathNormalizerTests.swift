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

    @Test func acceptsSubstringAndAnswers400() throws {
        let target = "/a/../b?x=1"
        #expect(try PathNormalizer.normalize(target[..<target.firstIndex(of: "?")!]) == "/b")
        #expect(PathError.aboveRoot.status.code == 400)
    }
}
