import FlaksHTTP
import Testing
@testable import FlaksCompression

/// One negotiation rule: Accept-Encoding field lines (nil: no field), the server's order, the answer.
struct NegotiationCase: CustomTestStringConvertible, Sendable {
    var name: String
    var fields: [String]?
    var offered: [ContentCoding] = ContentCoding.allCases
    var expected: Negotiation
    var testDescription: String { name }
}

@Suite("Accept-Encoding negotiation (RFC 9110 §12.5.3)")
struct NegotiationTests {
    static let cases: [NegotiationCase] = [
        .init(name: "no Accept-Encoding: identity", fields: nil, expected: .identity),
        .init(name: "empty value: identity only", fields: [""], expected: .identity),
        .init(name: "only gzip", fields: ["gzip"], expected: .coding(.gzip)),
        .init(name: "equal q: the server's order breaks the tie", fields: ["gzip, br, zstd"], expected: .coding(.zstd)),
        .init(name: "equal q: another server order", fields: ["zstd, br, gzip"], offered: [.gzip, .br, .zstd],
              expected: .coding(.gzip)),
        .init(name: "higher q beats the server's order", fields: ["zstd;q=0.5, gzip;q=0.8"], expected: .coding(.gzip)),
        .init(name: "three decimals are honoured", fields: ["br;q=0.002, zstd;q=0.001"], expected: .coding(.br)),
        .init(name: "four decimals: the element is ignored", fields: ["br;q=0.0001, gzip;q=0.5"], expected: .coding(.gzip)),
        .init(name: "four decimals alone: nothing valid", fields: ["gzip;q=0.1234"], expected: .identity),
        .init(name: "q above 1: ignored", fields: ["br;q=1.5"], expected: .identity),
        .init(name: "q=1.001: ignored", fields: ["br;q=1.001"], expected: .identity),
        .init(name: "q=1.000 is 1", fields: ["gzip;q=0.9, br;q=1.000"], expected: .coding(.br)),
        .init(name: "q not a number: ignored, not read as 0", fields: ["identity;q=abc, *;q=0"], expected: .identityRefused),
        .init(name: "quoted q: ignored", fields: ["gzip;q=\"0.5\""], expected: .identity),
        .init(name: "spaces around '=': ignored", fields: ["gzip;q = 0.5"], expected: .identity),
        .init(name: "q=0 refuses that coding", fields: ["zstd;q=0, br;q=0.1"], expected: .coding(.br)),
        .init(name: "q=0 on the only coding: identity", fields: ["gzip;q=0"], expected: .identity),
        .init(name: "*: the server's first", fields: ["*"], expected: .coding(.zstd)),
        .init(name: "*: the server's first, other order", fields: ["*"], offered: [.gzip, .zstd], expected: .coding(.gzip)),
        .init(name: "* with one coding refused", fields: ["*, zstd;q=0"], expected: .coding(.br)),
        .init(name: "* lower than a named coding", fields: ["*;q=0.1, gzip"], expected: .coding(.gzip)),
        .init(name: "*;q=0 with a named coding", fields: ["gzip, *;q=0"], expected: .coding(.gzip)),
        .init(name: "*;q=0 alone refuses identity too", fields: ["*;q=0"], expected: .identityRefused),
        .init(name: "*;q=0 but identity named", fields: ["*;q=0, identity"], expected: .identity),
        .init(name: "identity;q=0 and nothing offered is acceptable", fields: ["identity;q=0, deflate"],
              expected: .identityRefused),
        .init(name: "identity;q=0 with gzip", fields: ["identity;q=0, gzip"], expected: .coding(.gzip)),
        .init(name: "identity preferred by a higher q", fields: ["gzip;q=0.5, identity"], expected: .identity),
        .init(name: "identity with the same q loses to a coding", fields: ["gzip, identity"], expected: .coding(.gzip)),
        .init(name: "x-gzip is gzip", fields: ["x-gzip"], expected: .coding(.gzip)),
        .init(name: "tokens and q are case-insensitive", fields: ["GZip;Q=0.9, BR"], expected: .coding(.br)),
        .init(name: "repeated fields are one list", fields: ["gzip;q=0.5", "br"], expected: .coding(.br)),
        .init(name: "optional whitespace everywhere", fields: ["  gzip ; q=0.5 ,\tbr;q=0.7  "], expected: .coding(.br)),
        .init(name: "empty list elements are skipped", fields: [",, ,gzip,,"], expected: .coding(.gzip)),
        .init(name: "garbage header", fields: ["@@@, ;;;, q=1, gzip;;q=1, br;q=, zstd;level=3, \u{7F}"], expected: .identity),
        .init(name: "codings Flaks does not have", fields: ["deflate, compress"], expected: .identity),
        .init(name: "a coding listed twice keeps its first entry", fields: ["gzip;q=0, gzip"], expected: .identity),
        .init(name: "gzip and x-gzip are one coding", fields: ["gzip, x-gzip;q=0"], expected: .coding(.gzip)),
        .init(name: "a coding the server does not offer", fields: ["zstd"], offered: [.br, .gzip], expected: .identity),
        .init(name: "compression off", fields: ["gzip"], offered: [], expected: .identity),
    ]

    @Test(arguments: cases)
    func rule(_ c: NegotiationCase) {
        var headers = HeaderFields()
        for v in c.fields ?? [] { headers.add("Accept-Encoding", v) }
        #expect(AcceptEncoding.negotiate(headers, offered: c.offered) == c.expected)
        // The same answer with the field name in another case (field names are case-insensitive).
        var lower = HeaderFields()
        for v in c.fields ?? [] { lower.add("accept-encoding", v) }
        #expect(AcceptEncoding.negotiate(lower, offered: c.offered) == c.expected)
    }

    @Test(arguments: [
        ("0", 0), ("0.", 0), ("0.5", 500), ("0.05", 50), ("0.005", 5), ("0.999", 999), ("1", 1000), ("1.", 1000),
        ("1.0", 1000), ("1.000", 1000),
    ] as [(String, Int)])
    func validQValues(text: String, thousandths: Int) {
        #expect(AcceptEncoding.qvalue(ArraySlice(text.utf8)) == thousandths)
    }

    @Test(arguments: ["", "2", "1.5", "1.0001", "0.1234", ".5", "-0", "0,5", "0.5 ", "1e0", "01"])
    func invalidQValues(text: String) {
        #expect(AcceptEncoding.qvalue(ArraySlice(text.utf8)) == nil)
    }

    @Test func parsedValues() {
        let ae = AcceptEncoding(["br;q=0.8, *;q=0.1", "identity;q=0"])
        #expect(ae.listedQValue(for: .br) == 800)
        #expect(ae.listedQValue(for: .gzip) == nil)
        #expect(ae.qvalue(for: .gzip) == 100)  // from *
        #expect(ae.identityQValue == 0)
        #expect(ae.anyQValue == 100)
        #expect(ae.refusesIdentity)
        #expect(!ae.isEmpty)
        #expect(AcceptEncoding("").isEmpty)
        #expect(AcceptEncoding(headers: HeaderFields()) == nil)
    }

    @Test func tokens() {
        #expect(ContentCoding(token: "GZIP") == .gzip)
        #expect(ContentCoding(token: "X-Gzip") == .gzip)
        #expect(ContentCoding(token: "Br") == .br)
        #expect(ContentCoding(token: "ZSTD") == .zstd)
        #expect(ContentCoding(token: "identity") == nil)
        #expect(ContentCoding(token: "gzip2") == nil)
        #expect(ContentCoding(token: "zstandard") == nil)
        #expect(ContentCoding.allCases.map(\.token) == ["zstd", "br", "gzip"])
        #expect(ContentCoding.allCases.map(\.etagSuffix) == ["-zst", "-br", "-gz"])
        #expect(ContentCoding.allCases.map(\.fileSuffix) == [".zst", ".br", ".gz"])
    }
}
