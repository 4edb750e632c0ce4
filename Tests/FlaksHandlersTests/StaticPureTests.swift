import FlaksHTTP
import Testing
@testable import FlaksHandlers

@Suite("Static: media types")
struct StaticMediaTypesTests {
    @Test(arguments: [
        ("index.html", "text/html; charset=utf-8"), ("a.HTM", "text/html; charset=utf-8"),
        ("s.css", "text/css; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8"),
        ("m.mjs", "text/javascript; charset=utf-8"), ("c.CJS", "text/javascript; charset=utf-8"), ("d.json", "application/json; charset=utf-8"),
        ("app.js.map", "application/json; charset=utf-8"), ("logo.svg", "image/svg+xml; charset=utf-8"),
        ("p.png", "image/png"), ("p.JPG", "image/jpeg"), ("p.jpeg", "image/jpeg"), ("g.gif", "image/gif"),
        ("w.webp", "image/webp"), ("a.avif", "image/avif"), ("favicon.ico", "image/x-icon"),
        ("f.woff", "font/woff"), ("f.woff2", "font/woff2"), ("f.ttf", "font/ttf"), ("f.otf", "font/otf"),
        ("m.wasm", "application/wasm"), ("r.txt", "text/plain; charset=utf-8"), ("README.md", "text/markdown; charset=utf-8"),
        ("feed.xml", "application/xml; charset=utf-8"), ("doc.pdf", "application/pdf"), ("v.mp4", "video/mp4"),
        ("v.webm", "video/webm"), ("s.mp3", "audio/mpeg"), ("s.ogg", "audio/ogg"), ("s.wav", "audio/wav"),
        ("a.zip", "application/zip"), ("a.tar.gz", "application/gzip"), ("a.tar", "application/x-tar"),
        ("t.csv", "text/csv; charset=utf-8"), ("c.yaml", "application/yaml; charset=utf-8"),
        ("site.webmanifest", "application/manifest+json; charset=utf-8"),
        ("noext", "application/octet-stream"), (".bashrc", "application/octet-stream"),
        ("x.unknownext", "application/octet-stream"), ("trailingdot.", "application/octet-stream"),
    ])
    func builtinTypes(name: String, expected: String) {
        #expect(MediaTypes().type(forFileName: Substring(name)).contentType == expected)
    }

    @Test func overridesWinAndTextGetsCharset() {
        let t = MediaTypes(overrides: ["md": "text/plain", ".dat": "application/x-data", "JS": "text/javascript; charset=latin1"])
        #expect(t.type(forFileName: "a.md").contentType == "text/plain; charset=utf-8")
        #expect(t.type(forFileName: "a.DAT").contentType == "application/x-data")
        #expect(t.type(forFileName: "a.js").contentType == "text/javascript; charset=latin1")
        #expect(t.type(forFileName: "a.md").compressible)
        #expect(!t.type(forFileName: "a.dat").compressible)
    }

    @Test func compressibleOnlyForTextLikeTypes() {
        let t = MediaTypes()
        #expect(t.type(forFileName: "a.css").compressible)
        #expect(t.type(forFileName: "a.svg").compressible)
        #expect(!t.type(forFileName: "a.png").compressible)
        #expect(!t.type(forFileName: "a.gz").compressible)
        #expect(!t.type(forFileName: "a.woff2").compressible)
    }
}

@Suite("Static: HTTP dates")
struct StaticDatesTests {
    @Test(arguments: [
        "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
        "  Sun, 06 Nov 1994 08:49:37 GMT ",
    ])
    func threeFormsOfTheSameInstant(text: String) {
        #expect(StaticDates.parse(Substring(text)) == 784111777)
    }

    @Test(arguments: ["", "yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
                      "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT",
                      "Sun, 06 Nov 1994 25:49:37 GMT", "1994-11-06T08:49:37Z", "-1"])
    func invalidDates(text: String) {
        #expect(StaticDates.parse(Substring(text)) == nil)
    }

    @Test func roundTripsWithHTTPDateFormat() {
        for t in [0, 1, 86399, 951782400, 1_700_000_000, 4_102_444_800] {
            #expect(StaticDates.parse(Substring(HTTPDate.format(secondsSince1970: t))) == t)
        }
    }

    @Test func listingTimestamp() {
        #expect(StaticDates.listingTimestamp(784111777) == "1994-11-06 08:49")
    }
}

@Suite("Static: entity tags and preconditions")
struct StaticConditionalTests {
    let v = Validators(etag: "\"abc-10-ff\"", lastModified: 784111777)
    static let lm = "Sun, 06 Nov 1994 08:49:37 GMT"
    static let before = "Sun, 06 Nov 1994 08:49:36 GMT"
    static let after = "Sun, 06 Nov 1994 08:49:38 GMT"

    @Test func tagListParsing() {
        #expect(EntityTag.parseList("*") == .any)
        #expect(EntityTag.parseList(" \"a\" , W/\"b\",\"c,d\"") == .tags([
            EntityTag(opaque: "\"a\"", weak: false), EntityTag(opaque: "\"b\"", weak: true), EntityTag(opaque: "\"c,d\"", weak: false)]))
        #expect(EntityTag.parseList("abc") == .invalid)
        #expect(EntityTag.parseList("\"unterminated") == .invalid)
        #expect(EntityTag.parseList("*, \"a\"") == .invalid)
        #expect(EntityTag.parseList("\"a\" \"b\"") == .invalid)
    }

    @Test func etagFormat() {
        #expect(Validators.etag(inode: 255, size: 16, mtimeNanos: 4096) == "\"ff-10-1000\"")
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var method: HTTPMethod = .GET
        var headers: [(String, String)]
        var expected: ConditionalOutcome
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "no conditionals", headers: [], expected: .proceed(honourRange: true)),
        Case(name: "If-Match matches", headers: [("If-Match", "\"x\", \"abc-10-ff\"")], expected: .proceed(honourRange: true)),
        Case(name: "If-Match star", headers: [("If-Match", "*")], expected: .proceed(honourRange: true)),
        Case(name: "If-Match mismatch 412", headers: [("If-Match", "\"nope\"")], expected: .preconditionFailed),
        Case(name: "If-Match weak never matches (strong comparison)", headers: [("If-Match", "W/\"abc-10-ff\"")], expected: .preconditionFailed),
        Case(name: "If-Match in second field line", headers: [("If-Match", "\"x\""), ("If-Match", "\"abc-10-ff\"")], expected: .proceed(honourRange: true)),
        Case(name: "If-Unmodified-Since before LM 412", headers: [("If-Unmodified-Since", before)], expected: .preconditionFailed),
        Case(name: "If-Unmodified-Since equal ok", headers: [("If-Unmodified-Since", lm)], expected: .proceed(honourRange: true)),
        Case(name: "If-Unmodified-Since ignored when If-Match present", headers: [("If-Match", "*"), ("If-Unmodified-Since", before)], expected: .proceed(honourRange: true)),
        Case(name: "If-Unmodified-Since invalid ignored", headers: [("If-Unmodified-Since", "garbage")], expected: .proceed(honourRange: true)),
        Case(name: "If-None-Match matches 304", headers: [("If-None-Match", "\"abc-10-ff\"")], expected: .notModified),
        Case(name: "If-None-Match weak matches 304 (weak comparison)", headers: [("If-None-Match", "W/\"abc-10-ff\"")], expected: .notModified),
        Case(name: "If-None-Match star 304", headers: [("If-None-Match", "*")], expected: .notModified),
        Case(name: "If-None-Match mismatch proceeds", headers: [("If-None-Match", "\"other\"")], expected: .proceed(honourRange: true)),
        Case(name: "If-None-Match match on HEAD 304", method: .HEAD, headers: [("If-None-Match", "\"abc-10-ff\"")], expected: .notModified),
        Case(name: "If-None-Match match on POST 412", method: .POST, headers: [("If-None-Match", "\"abc-10-ff\"")], expected: .preconditionFailed),
        Case(name: "If-Modified-Since equal 304", headers: [("If-Modified-Since", lm)], expected: .notModified),
        Case(name: "If-Modified-Since later 304", headers: [("If-Modified-Since", after)], expected: .notModified),
        Case(name: "If-Modified-Since earlier 200", headers: [("If-Modified-Since", before)], expected: .proceed(honourRange: true)),
        Case(name: "If-Modified-Since ignored when If-None-Match present", headers: [("If-None-Match", "\"other\""), ("If-Modified-Since", after)], expected: .proceed(honourRange: true)),
        Case(name: "If-Modified-Since invalid ignored", headers: [("If-Modified-Since", "nope")], expected: .proceed(honourRange: true)),
        Case(name: "If-Match fails before If-None-Match", headers: [("If-Match", "\"nope\""), ("If-None-Match", "\"abc-10-ff\"")], expected: .preconditionFailed),
        Case(name: "If-Range etag match", headers: [("Range", "bytes=0-1"), ("If-Range", "\"abc-10-ff\"")], expected: .proceed(honourRange: true)),
        Case(name: "If-Range etag mismatch", headers: [("Range", "bytes=0-1"), ("If-Range", "\"old\"")], expected: .proceed(honourRange: false)),
        Case(name: "If-Range weak etag never matches", headers: [("Range", "bytes=0-1"), ("If-Range", "W/\"abc-10-ff\"")], expected: .proceed(honourRange: false)),
        Case(name: "If-Range date exact", headers: [("Range", "bytes=0-1"), ("If-Range", lm)], expected: .proceed(honourRange: true)),
        Case(name: "If-Range date later is not exact", headers: [("Range", "bytes=0-1"), ("If-Range", after)], expected: .proceed(honourRange: false)),
        Case(name: "If-Range garbage", headers: [("Range", "bytes=0-1"), ("If-Range", "garbage")], expected: .proceed(honourRange: false)),
        Case(name: "If-Range without Range is ignored", headers: [("If-Range", "\"old\"")], expected: .proceed(honourRange: true)),
    ]

    @Test(arguments: cases)
    func rfc9110Order(c: Case) {
        var h = HeaderFields()
        for (k, val) in c.headers { h.add(k, val) }
        #expect(Preconditions.evaluate(method: c.method, headers: h, validators: v) == c.expected)
    }
}

@Suite("Static: byte ranges")
struct StaticByteRangesTests {
    func r(_ o: Int, _ l: Int) -> ByteRange { ByteRange(offset: o, length: l) }

    @Test func singleForms() {
        #expect(ByteRanges.resolve("bytes=0-99", length: 1000) == .partial([r(0, 100)]))
        #expect(ByteRanges.resolve("bytes=100-", length: 1000) == .partial([r(100, 900)]))
        #expect(ByteRanges.resolve("bytes=-100", length: 1000) == .partial([r(900, 100)]))
        #expect(ByteRanges.resolve("bytes=-5000", length: 1000) == .partial([r(0, 1000)]))
        #expect(ByteRanges.resolve("bytes=990-5000", length: 1000) == .partial([r(990, 10)]))
        #expect(ByteRanges.resolve("BYTES = 0-0", length: 1000) == .partial([r(0, 1)]))
        #expect(ByteRanges.resolve("bytes=0-99999999999999999999999", length: 10) == .partial([r(0, 10)]))
    }

    @Test func unsatisfiable() {
        #expect(ByteRanges.resolve("bytes=1000-", length: 1000) == .unsatisfiable)
        #expect(ByteRanges.resolve("bytes=1000-2000, 3000-4000", length: 1000) == .unsatisfiable)
        #expect(ByteRanges.resolve("bytes=-0", length: 1000) == .unsatisfiable)
        #expect(ByteRanges.resolve("bytes=0-", length: 0) == .unsatisfiable)
        #expect(ByteRanges.resolve("bytes=-1", length: 0) == .unsatisfiable)
    }

    @Test(arguments: ["", "bytes", "bytes=", "bytes=abc", "bytes=5-2", "items=0-1", "bytes=0-1;", "bytes=--1",
                      "bytes=1-2-3", "bytes=0x10-", "bytes 0-1", "bytes=99999999999999999999999-"])
    func invalidSyntaxIsIgnored(header: String) {
        #expect(ByteRanges.resolve(Substring(header), length: 1000) == .ignore)
    }

    @Test func severalSortedAndCoalesced() {
        #expect(ByteRanges.resolve("bytes=500-599, 0-99", length: 1000) == .partial([r(0, 100), r(500, 100)]))
        #expect(ByteRanges.resolve("bytes=0-99, 50-150, 151-160", length: 1000) == .partial([r(0, 161)]))
        #expect(ByteRanges.resolve("bytes=0-9,,20-29, 2000-", length: 1000) == .partial([r(0, 10), r(20, 10)]))
        #expect(ByteRanges.resolve("bytes=-10, 995-", length: 1000) == .partial([r(990, 10)]))
    }

    @Test func tooManyRangesIgnoredButOverlappingOnesCoalesce() {
        let many = "bytes=" + (0..<20).map { "\($0 * 10)-\($0 * 10 + 1)" }.joined(separator: ",")
        #expect(ByteRanges.resolve(Substring(many), length: 1000) == .ignore)
        let same = "bytes=" + Array(repeating: "0-9", count: 200).joined(separator: ",")
        #expect(ByteRanges.resolve(Substring(same), length: 1000) == .partial([r(0, 10)]))
        let abusive = "bytes=" + Array(repeating: "0-0", count: 300).joined(separator: ",")
        #expect(ByteRanges.resolve(Substring(abusive), length: 1000) == .ignore)
    }

    @Test func contentRange() {
        #expect(r(0, 100).contentRange(of: 1000) == "bytes 0-99/1000")
    }
}

@Suite("Static: Accept-Encoding")
struct StaticContentCodingTests {
    @Test(arguments: [
        (nil, []), ("", []), ("identity", []), ("gzip", [.gzip]), ("br", [.br]), ("gzip, br", [.br, .gzip]),
        ("gzip;q=1, br;q=0.5", [.gzip, .br]), ("br;q=0, gzip", [.gzip]), ("BR;Q=0.000, GZIP", [.gzip]),
        ("*", [.br, .gzip]), ("*;q=0", []), ("*, br;q=0", [.gzip]), ("x-gzip", [.gzip]), ("gzip;q=0", []),
        ("deflate, zstd", []), ("gzip;q=0.8, *;q=0.9", [.br, .gzip]), ("br;q=bogus, gzip", [.gzip]),
    ] as [(String?, [PrecompressedCoding])])
    func preferences(header: String?, expected: [PrecompressedCoding]) {
        #expect(PrecompressedCoding.preferred(header) == expected)
    }
}

@Suite("Static: path checks and URI encoding")
struct StaticPathTests {
    @Test(arguments: [
        ("", StaticPath.Verdict.ok), ("index.html", .ok), ("a/b/c.css", .ok), ("a//b", .ok), ("dir/", .ok),
        ("..", .invalid), ("../etc/passwd", .invalid), ("a/../../x", .invalid), ("a/..", .invalid), ("./a", .invalid),
        ("a/./b", .invalid), ("a\\..\\b", .invalid), ("..\\x", .invalid), ("a\u{0}b", .invalid), ("x.html\u{0}.png", .invalid),
        (".env", .hidden), (".git/config", .hidden), ("a/.htpasswd", .hidden), ("...", .hidden), ("a/.b/c", .hidden),
        (".well-known/security.txt", .ok), (".well-known/acme-challenge/tok", .ok), (".well-known/.secret", .hidden),
        ("a/.well-known/x", .hidden), (".well-knownx/y", .hidden), ("a..b", .ok), ("..a", .hidden), ("%2e%2e/x", .ok),
        ("\u{FF0E}\u{FF0E}/x", .ok), (".well-known", .ok), (".well-known/", .ok), (".well-know/x", .hidden),
        (".Well-known/x", .hidden), (".well-knowm/x", .hidden),
    ])
    func verdicts(path: String, expected: StaticPath.Verdict) {
        #expect(StaticPath.check(path, dotfiles: false) == expected)
    }

    @Test func dotfilesOptionAllowsThemButNeverDotSegments() {
        #expect(StaticPath.check(".env", dotfiles: true) == .ok)
        #expect(StaticPath.check(".git/config", dotfiles: true) == .ok)
        #expect(StaticPath.check("../x", dotfiles: true) == .invalid)
    }

    @Test func encoding() {
        #expect(URIPath.encodeSegment("a b?#%") == "a%20b%3F%23%25")
        #expect(URIPath.encodeSegment("a:b@c!") == "a:b@c!")
        #expect(URIPath.encodeSegment("a:b", relativeSafe: true) == "a%3Ab")
        #expect(URIPath.encodeSegment("é") == "%C3%A9")
        #expect(URIPath.directoryLocation("/docs/my dir") == "/docs/my%20dir/")
        #expect(URIPath.directoryLocation("//evil.example//x") == "/evil.example/x/")
    }

    @Test func lastSegment() {
        #expect(StaticPath.lastSegment("a/b/c.txt") == "c.txt")
        #expect(StaticPath.lastSegment("c.txt") == "c.txt")
        #expect(StaticPath.lastSegment("a/b/") == "b")
    }
}

@Suite("Static: directory listing HTML")
struct StaticListingHTMLTests {
    @Test func sortedDirsFirstThenNameCaseInsensitive() {
        let e = [
            DirectoryListing.Entry(name: "b.txt", isDirectory: false, size: 1, modified: 0),
            DirectoryListing.Entry(name: "Zeta", isDirectory: true, size: 0, modified: 0),
            DirectoryListing.Entry(name: "A.txt", isDirectory: false, size: 1, modified: 0),
            DirectoryListing.Entry(name: "alpha", isDirectory: true, size: 0, modified: 0),
        ]
        #expect(DirectoryListing.sorted(e).map(\.name) == ["alpha", "Zeta", "A.txt", "b.txt"])
    }

    @Test func namesEscapedAndLinksEncoded() {
        let html = DirectoryListing.html(urlPath: "/d<x>/", entries: [
            DirectoryListing.Entry(name: "<script>alert(1)</script>.txt", isDirectory: false, size: 2048, modified: 784111777),
            DirectoryListing.Entry(name: "a b&c", isDirectory: true, size: 0, modified: 0),
            DirectoryListing.Entry(name: "x:y#z?.txt", isDirectory: false, size: 5, modified: 0),
        ], showParent: true)
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.txt"))
        #expect(html.contains("href=\"%3Cscript%3Ealert%281%29%3C%2Fscript%3E.txt\""))
        #expect(html.contains("href=\"a%20b%26c/\">a b&amp;c/</a>"))
        #expect(html.contains("href=\"x%3Ay%23z%3F.txt\""))
        #expect(html.contains("Index of /d&lt;x&gt;/"))
        #expect(html.contains("href=\"../\""))
        #expect(html.contains("2 KiB"))
        #expect(html.contains("1994-11-06 08:49"))
        #expect(html.firstRange(of: "a%20b%26c/")!.lowerBound < html.firstRange(of: "%3Cscript")!.lowerBound)
    }

    @Test(arguments: [(0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (1536, "1.5 KiB"), (10 * 1024 * 1024, "10 MiB"), (123_456_789, "118 MiB")])
    func humanSizes(n: Int, s: String) {
        #expect(DirectoryListing.humanSize(n) == s)
    }
}

@Suite("Static: fast formatters match the reference ones")
struct StaticFormatterTests {
    @Test func imfFixdateMatchesHTTPDate() {
        var t = -86400 * 400
        while t < 4_102_444_800 {
            #expect(StaticDates.format(t) == HTTPDate.format(secondsSince1970: t), "\(t)")
            t += 7_777_777
        }
        for t in [0, 59, 86399, 951_782_400, 1_700_000_000, 253_402_300_799] {
            #expect(StaticDates.format(t) == HTTPDate.format(secondsSince1970: t))
        }
    }

    @Test func etagHexMatchesStringRadix() {
        for (i, s, m) in [(UInt64(0), 0, 0), (1, 15, 16), (UInt64.max, Int.max, 1_700_000_000_123_456_789)] {
            #expect(Validators.etag(inode: i, size: s, mtimeNanos: m)
                    == "\"" + String(i, radix: 16) + "-" + String(s, radix: 16) + "-" + String(m, radix: 16) + "\"")
        }
    }
}
