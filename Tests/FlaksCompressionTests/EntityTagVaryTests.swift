import FlaksHTTP
import Testing
@testable import FlaksCompression

@Suite("ETag suffixes and the Vary merge")
struct EntityTagVaryTests {
    @Test(arguments: [
        ("\"abc\"", ContentCoding.gzip, "\"abc-gz\""), ("\"abc\"", .br, "\"abc-br\""), ("\"abc\"", .zstd, "\"abc-zst\""),
        ("W/\"abc\"", .gzip, "W/\"abc-gz\""), (" \"a,b\" ", .gzip, "\"a,b-gz\""), ("\"\"", .br, "\"-br\""),
        ("\"1f-2a-17c9\"", .zstd, "\"1f-2a-17c9-zst\""),
    ] as [(String, ContentCoding, String)])
    func adding(etag: String, coding: ContentCoding, expected: String) {
        #expect(EntityTagCoding.adding(coding, to: etag) == expected)
    }

    @Test(arguments: ["abc", "\"abc", "W/abc", "\"a\", \"b\"", "*", "", "w/\"abc\"", "\"a b\""])
    func addingToInvalidTag(etag: String) {
        #expect(EntityTagCoding.adding(.gzip, to: etag) == nil)
    }

    @Test func strippingEveryCoding() {
        #expect(EntityTagCoding.stripping(from: "\"abc-gz\"") == "\"abc\"")
        #expect(EntityTagCoding.stripping(from: "W/\"abc-gz\", \"def-br\",\"ghi\", \"j-zst\"")
                == "W/\"abc\", \"def\", \"ghi\", \"j\"")
        #expect(EntityTagCoding.stripping(from: "\"a,b-br\"") == "\"a,b\"")
    }

    @Test func strippingOneCoding() {
        #expect(EntityTagCoding.stripping([.gzip], from: "W/\"abc-gz\", \"def-br\"") == "W/\"abc\", \"def-br\"")
    }

    @Test(arguments: ["*", "\"abc\"", "\"-gz\"", "garbage", "\"abc-gz", "\"abc-gzip\"", ""])
    func strippingLeavesOthersUnchanged(value: String) {
        #expect(EntityTagCoding.stripping(from: value) == value)
    }

    @Test func suffixRoundTrip() {
        for c in ContentCoding.allCases {
            for tag in ["\"abc\"", "W/\"x-1\"", "\"\""] {
                guard let added = EntityTagCoding.adding(c, to: tag) else { Issue.record("\(tag)"); continue }
                if tag == "\"\"" { continue }  // "-gz" alone is a tag of its own and is kept
                #expect(EntityTagCoding.stripping([c], from: added) == tag)
            }
        }
    }

    @Test func stripConditionalsForUpstream() {
        var h = HeaderFields([
            HeaderField(name: "If-None-Match", value: "\"abc-gz\", \"abc-br\""),
            HeaderField(name: "If-Match", value: "\"abc-zst\""),
            HeaderField(name: "If-Range", value: "\"abc-gz\""),
        ])
        var identity = h
        EntityTagCoding.stripConditionals(&h, negotiated: .gzip)
        #expect(h["If-None-Match"] == "\"abc\", \"abc-br\"")
        #expect(h["If-Match"] == "\"abc\"")
        #expect(h["If-Range"] == "\"abc-gz\"")  // a range is answered from identity: never stripped
        EntityTagCoding.stripConditionals(&identity, negotiated: nil)
        #expect(identity["If-None-Match"] == "\"abc-gz\", \"abc-br\"")  // identity response: nothing matches a coded tag
        #expect(identity["If-Match"] == "\"abc\"")
    }

    @Test func listContains() {
        #expect(EntityTagCoding.listContains(["\"x\"", "W/\"abc-gz\""], etag: "\"abc\"", coding: .gzip))
        #expect(EntityTagCoding.listContains(["\"abc-gz\""], etag: "W/\"abc\"", coding: .gzip))  // weak comparison
        #expect(!EntityTagCoding.listContains(["\"abc-gz\""], etag: "\"abc\"", coding: .br))
        #expect(!EntityTagCoding.listContains(["*"], etag: "\"abc\"", coding: .gzip))
        #expect(!EntityTagCoding.listContains([], etag: "\"abc\"", coding: .gzip))
    }

    @Test(arguments: [
        (nil, "Accept-Encoding"), ("Cookie", "Cookie, Accept-Encoding"), ("Cookie, Origin", "Cookie, Origin, Accept-Encoding"),
        ("accept-encoding", nil), ("Cookie, ACCEPT-ENCODING", nil), ("*", nil), ("Cookie, *", nil), ("", "Accept-Encoding"),
        (" , ", "Accept-Encoding"),
    ] as [(String?, String?)])
    func varyMerge(existing: String?, expected: String?) {
        #expect(VaryField.addingAcceptEncoding(to: existing) == expected)
    }

    @Test func varyOnHeaderFields() {
        var none = HeaderFields()
        VaryField.addAcceptEncoding(&none)
        #expect(none.values("Vary") == ["Accept-Encoding"])

        var two = HeaderFields([HeaderField(name: "Vary", value: "Cookie"), HeaderField(name: "vary", value: "Origin")])
        VaryField.addAcceptEncoding(&two)
        #expect(two.values("Vary") == ["Cookie", "Origin, Accept-Encoding"])

        let already = HeaderFields([HeaderField(name: "Vary", value: "Accept-Encoding"), HeaderField(name: "Vary", value: "Cookie")])
        var copy = already
        VaryField.addAcceptEncoding(&copy)
        #expect(copy == already)

        let star: HeaderFields = ["Vary": "*"]
        var s = star
        VaryField.addAcceptEncoding(&s)
        #expect(s == star)

        // Twice is the same as once.
        var twice = HeaderFields()
        VaryField.addAcceptEncoding(&twice)
        VaryField.addAcceptEncoding(&twice)
        #expect(twice.values("Vary") == ["Accept-Encoding"])
    }
}
