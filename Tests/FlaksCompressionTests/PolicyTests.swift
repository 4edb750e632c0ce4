import FlaksHTTP
import Testing
@testable import FlaksCompression

@Suite("Compression policy and the per-response decision")
struct PolicyTests {
    let policy = CompressionPolicy()

    @Test func defaultsMatchTheSchema() {
        #expect(policy.encodings == [.zstd, .br, .gzip])
        #expect(policy.minSize == 1024)
        #expect(policy.types.map(\.description) ==
                ["text/*", "application/json", "application/javascript", "application/xml", "image/svg+xml"])
        #expect(policy.isEnabled)
        #expect(!CompressionPolicy.disabled.isEnabled)
        #expect(CompressionPolicy(encodings: [.gzip, .gzip, .br]).encodings == [.gzip, .br])
    }

    @Test(arguments: [
        ("text/html", true), ("text/html; charset=utf-8", true), ("TEXT/CSS", true), ("Text/Plain;charset=UTF-8", true),
        ("application/json", true), ("application/JSON ; charset=utf-8", true), ("application/javascript", true),
        ("application/xml", true), ("image/svg+xml", true), (" text/csv ", true),
        ("text/event-stream", false), ("text/event-stream; charset=utf-8", false), ("TEXT/EVENT-STREAM", false),
        ("image/png", false), ("application/octet-stream", false), ("application/jsonx", false),
        ("application/ld+json", false), ("text", false), ("", false), ("text/html/x", false),
    ] as [(String, Bool)])
    func compressibleTypes(contentType: String, expected: Bool) {
        #expect(policy.isCompressibleType(contentType) == expected)
    }

    @Test func noContentTypeIsNotCompressed() {
        #expect(!policy.isCompressibleType(nil))
    }

    @Test func eventStreamNeverEvenUnderCatchAll() {
        let all = CompressionPolicy(types: [MediaTypePattern("*/*")].compactMap { $0 })
        #expect(all.isCompressibleType("image/png"))
        #expect(!all.isCompressibleType("text/event-stream"))
    }

    @Test(arguments: [("text/*", "text/*"), ("*/*", "*/*"), ("Application/JSON", "application/json"),
                      ("application/json; charset=utf-8", "application/json")] as [(String, String)])
    func validPatterns(text: String, parsed: String) {
        #expect(MediaTypePattern(text)?.description == parsed)
    }

    @Test(arguments: ["text", "*/json", "a/b/c", "text/ht*", "", "/", "text/", "te xt/html"])
    func invalidPatterns(text: String) {
        #expect(MediaTypePattern(text) == nil)
    }

    @Test func minSizeEdge() {
        #expect(!policy.shouldCompress(contentType: "text/html", contentEncoding: nil, cacheControl: nil, knownLength: 1023))
        #expect(policy.shouldCompress(contentType: "text/html", contentEncoding: nil, cacheControl: nil, knownLength: 1024))
        #expect(policy.shouldCompress(contentType: "text/html", contentEncoding: nil, cacheControl: nil, knownLength: nil))
        let zero = CompressionPolicy(minSize: 0)
        #expect(zero.shouldCompress(contentType: "text/html", contentEncoding: nil, cacheControl: nil, knownLength: 0))
    }

    @Test func alreadyEncodedIsLeftAlone() {
        for ce in ["gzip", "br", "zstd", "deflate", "x-custom", "identity, gzip"] {
            #expect(!policy.shouldCompress(contentType: "text/html", contentEncoding: ce, cacheControl: nil, knownLength: 5000), "\(ce)")
        }
        for ce in ["identity", "", " , "] {
            #expect(policy.shouldCompress(contentType: "text/html", contentEncoding: ce, cacheControl: nil, knownLength: 5000), "\(ce)")
        }
    }

    @Test func noTransformIsRespected() {
        for cc in ["no-transform", "public, No-Transform", "max-age=60,no-transform", " NO-TRANSFORM ",
                   "private=\"a, b\", no-transform"] {
            #expect(!policy.shouldCompress(contentType: "text/html", contentEncoding: nil, cacheControl: cc, knownLength: nil), "\(cc)")
        }
        for cc in ["public, max-age=60", "no-transformer", "private=\"x, no-transform\"", "no-store"] {
            #expect(policy.shouldCompress(contentType: "text/html", contentEncoding: nil, cacheControl: cc, knownLength: nil), "\(cc)")
        }
    }

    @Test func disabledPolicyNeverCompresses() {
        #expect(!CompressionPolicy.disabled.shouldCompress(contentType: "text/html", contentEncoding: nil,
                                                           cacheControl: nil, knownLength: 5000))
    }

    @Test func headerFieldsVariant() {
        let h: HeaderFields = ["Content-Type": "text/html", "Content-Length": "100"]
        #expect(!policy.shouldCompress(responseHeaders: h))  // 100 < 1024, from Content-Length
        #expect(policy.shouldCompress(responseHeaders: h, knownLength: 2000))  // the caller knows better
        var cc: HeaderFields = ["Content-Type": "text/html"]
        cc.add("Cache-Control", "public")
        cc.add("Cache-Control", "no-transform")  // a second line
        #expect(!policy.shouldCompress(responseHeaders: cc))
        let bad: HeaderFields = ["Content-Type": "text/html", "Content-Length": "12x"]
        #expect(policy.shouldCompress(responseHeaders: bad))  // not a length: unknown
    }

    // MARK: - decide

    struct DecideCase: CustomTestStringConvertible, Sendable {
        var name: String
        var method: HTTPMethod = .GET
        var request: [(String, String)] = [("Accept-Encoding", "gzip, br")]
        var status = 200
        var response: [(String, String)] = [("Content-Type", "text/html; charset=utf-8")]
        var length: Int? = 5000
        var expected: CompressionDecision
        var testDescription: String { name }
    }

    static let decideCases: [DecideCase] = [
        .init(name: "GET of HTML with gzip, br: br (server order)", expected: .compress(.br)),
        .init(name: "HEAD is decided like GET", method: .HEAD, expected: .compress(.br)),
        .init(name: "POST answers compress too", method: .POST, expected: .compress(.br)),
        .init(name: "an error page compresses", status: 404, expected: .compress(.br)),
        .init(name: "GET with Range: identity, with Vary", request: [("Accept-Encoding", "gzip"), ("Range", "bytes=0-9")],
              expected: .identity(.range)),
        .init(name: "HEAD ignores Range (RFC 9110 §14.2)", method: .HEAD,
              request: [("Accept-Encoding", "gzip"), ("Range", "bytes=0-9")], expected: .compress(.gzip)),
        .init(name: "206 from upstream: identity", status: 206, expected: .identity(.partialContent)),
        .init(name: "Content-Range: identity", response: [("Content-Type", "text/html"), ("Content-Range", "bytes 0-9/100")],
              expected: .identity(.partialContent)),
        .init(name: "no Accept-Encoding: identity, with Vary", request: [], expected: .identity(.notAccepted)),
        .init(name: "identity refused: identity anyway", request: [("Accept-Encoding", "*;q=0")],
              expected: .identity(.identityRefused)),
        .init(name: "204: unchanged", status: 204, expected: .unchanged),
        .init(name: "101: unchanged", status: 101, expected: .unchanged),
        .init(name: "image: unchanged, no Vary", response: [("Content-Type", "image/png")], expected: .unchanged),
        .init(name: "event stream: unchanged", response: [("Content-Type", "text/event-stream")], length: nil,
              expected: .unchanged),
        .init(name: "already gzip: unchanged", response: [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
              expected: .unchanged),
        .init(name: "no-transform: unchanged", response: [("Content-Type", "text/html"), ("Cache-Control", "no-transform")],
              expected: .unchanged),
        .init(name: "under min_size: unchanged", length: 1023, expected: .unchanged),
        .init(name: "exactly min_size: compressed", length: 1024, expected: .compress(.br)),
        .init(name: "small Content-Length read when no length is given",
              response: [("Content-Type", "text/html"), ("Content-Length", "10")], length: nil, expected: .unchanged),
        .init(name: "streaming, length unknown: compressed", length: nil, expected: .compress(.br)),
        .init(name: "304 for the gzip tag the client holds", request: [("Accept-Encoding", "gzip"), ("If-None-Match", "\"abc-gz\"")],
              status: 304, response: [("ETag", "\"abc\"")], length: nil, expected: .notModified(.gzip)),
        .init(name: "304 for a weak gzip tag", request: [("Accept-Encoding", "gzip"), ("If-None-Match", "\"x\", W/\"abc-gz\"")],
              status: 304, response: [("ETag", "W/\"abc\"")], length: nil, expected: .notModified(.gzip)),
        .init(name: "304 for the identity tag: unchanged", request: [("Accept-Encoding", "gzip"), ("If-None-Match", "\"abc\"")],
              status: 304, response: [("ETag", "\"abc\"")], length: nil, expected: .unchanged),
        .init(name: "304, the client holds br but negotiates gzip now: unchanged",
              request: [("Accept-Encoding", "gzip"), ("If-None-Match", "\"abc-br\"")],
              status: 304, response: [("ETag", "\"abc\"")], length: nil, expected: .unchanged),
    ]

    @Test(arguments: decideCases)
    func decide(_ c: DecideCase) {
        let d = policy.decide(method: c.method, requestHeaders: HeaderFields(c.request.map { HeaderField(name: $0.0, value: $0.1) }),
                              status: c.status, responseHeaders: HeaderFields(c.response.map { HeaderField(name: $0.0, value: $0.1) }),
                              knownLength: c.length)
        #expect(d == c.expected)
    }

    @Test func disabledDecidesNothing() {
        let d = CompressionPolicy.disabled.decide(method: .GET, requestHeaders: ["Accept-Encoding": "gzip"], status: 200,
                                                  responseHeaders: ["Content-Type": "text/html"], knownLength: 5000)
        #expect(d == .unchanged)
    }

    // MARK: - apply

    @Test func applyCompress() {
        var h = HeaderFields([
            HeaderField(name: "Content-Type", value: "text/html"), HeaderField(name: "Content-Length", value: "5000"),
            HeaderField(name: "ETag", value: "\"abc\""), HeaderField(name: "Accept-Ranges", value: "bytes"),
            HeaderField(name: "Vary", value: "Cookie"), HeaderField(name: "Content-Digest", value: "sha-256=:x:"),
        ])
        CompressionDecision.compress(.gzip).apply(to: &h)
        #expect(h["Content-Encoding"] == "gzip")
        #expect(h["Content-Length"] == nil)
        #expect(h["Accept-Ranges"] == nil)
        #expect(h["Content-Digest"] == nil)
        #expect(h["ETag"] == "\"abc-gz\"")
        #expect(h.values("Vary") == ["Cookie, Accept-Encoding"])
        #expect(h["Content-Type"] == "text/html")
    }

    @Test func applyCompressWeakAndInvalidETags() {
        var weak: HeaderFields = ["ETag": "W/\"abc\""]
        CompressionDecision.compress(.zstd).apply(to: &weak)
        #expect(weak["ETag"] == "W/\"abc-zst\"")
        var invalid: HeaderFields = ["ETag": "abc"]
        CompressionDecision.compress(.br).apply(to: &invalid)
        #expect(invalid["ETag"] == nil)  // never shared with the identity representation
        var none = HeaderFields()
        CompressionDecision.compress(.br).apply(to: &none)
        #expect(none["ETag"] == nil)
        #expect(none["Vary"] == "Accept-Encoding")
    }

    @Test func applyIdentityAddsOnlyVary() {
        var h: HeaderFields = ["Content-Length": "5000", "ETag": "\"abc\""]
        CompressionDecision.identity(.range).apply(to: &h)
        #expect(h["Vary"] == "Accept-Encoding")
        #expect(h["Content-Length"] == "5000")
        #expect(h["ETag"] == "\"abc\"")
        #expect(h["Content-Encoding"] == nil)
        var u: HeaderFields = ["ETag": "\"abc\""]
        CompressionDecision.unchanged.apply(to: &u)
        #expect(u == ["ETag": "\"abc\""])
    }

    @Test func applyNotModified() {
        var h: HeaderFields = ["ETag": "\"abc\""]
        CompressionDecision.notModified(.gzip).apply(to: &h)
        #expect(h["ETag"] == "\"abc-gz\"")
        #expect(h["Vary"] == "Accept-Encoding")
        #expect(h["Content-Encoding"] == nil)
    }
}
