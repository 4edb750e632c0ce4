import Testing
@testable import FlaksACME

@Suite("base64url, JSON, times")
struct CodecTests {
    @Test("base64url: RFC 4648 §10 vectors, unpadded, URL alphabet")
    func base64url() {
        let vectors = [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(plain) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
        for bad in ["Zg==", "Z", "Zm9v+", "Zm9v/", "Zh", "a b"] { #expect(Base64URL.decode(bad) == nil, "\(bad)") }
        // Every length round-trips.
        let bytes = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for n in 0...bytes.count { #expect(Base64URL.decode(Base64URL.encode(Array(bytes.prefix(n)))) == Array(bytes.prefix(n))) }
    }

    @Test("JSON accepted", arguments: [
        (#"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#, #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#),
        (" \n{ \"a\" : -0.5e+3 }\t", #"{"a":-0.5e+3}"#),
        (#""\u00e9\ud83d\ude00\n\"\\\/""#, "\"é😀\\n\\\"\\\\/\""),
        ("[]", "[]"), ("{}", "{}"), ("0", "0"), (#""""#, #""""#),
    ])
    func jsonAccepted(input: String, serialized: String) throws {
        #expect(try JSONParser.parse(Array(input.utf8)).text == serialized)
    }

    @Test("JSON refused", arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "{\"a\" 1}", "{1:2}", "[1 2]", "1 2", "\"a\u{01}b\"", "NaN",
    ])
    func jsonRefused(input: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(input.utf8)) }
    }

    @Test("JSON: invalid UTF-8 inside a string is refused")
    func jsonUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }

    @Test("JSON nesting: exactly maxDepth passes, one more fails")
    func jsonDepth() throws {
        let d = JSONParser.defaultMaxDepth
        _ = try JSONParser.parse(Array((String(repeating: "[", count: d) + String(repeating: "]", count: d)).utf8))
        #expect(throws: JSONParseError.self) {
            try JSONParser.parse(Array((String(repeating: "[", count: d + 1) + String(repeating: "]", count: d + 1)).utf8))
        }
        #expect(throws: JSONParseError.self) {
            try JSONParser.parse(Array(String(repeating: "{\"a\":", count: d + 1).utf8))
        }
        // A deep hostile document (far over the limit) fails fast without recursion trouble.
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(repeating: UInt8(ascii: "["), count: 1_000_000)) }
    }

    @Test("JSON: control characters are escaped; lookup takes the last repeated member")
    func jsonSerialize() throws {
        #expect(JSONValue.string("a\u{01}\u{1F}\t\"").text == #""a\u0001\u001f\t\"""#)
        let v = try JSONParser.parse(Array(#"{"a":1,"a":2}"#.utf8))
        #expect(v["a"]?.intValue == 2)
        #expect(v["b"] == nil)
        #expect(JSONValue.string("x")["a"] == nil)
        #expect(try JSONParser.parse(Array("1.5".utf8)).intValue == nil)
    }

    @Test("RFC 3339 timestamps")
    func rfc3339() {
        #expect(ACMETime.rfc3339("2026-01-01T00:00:00Z") == 1_767_225_600)
        #expect(ACMETime.rfc3339("2026-01-01T02:00:00+02:00") == 1_767_225_600)
        #expect(ACMETime.rfc3339("2025-12-31T19:00:00.123456-05:00") == 1_767_225_600)
        #expect(ACMETime.rfc3339("1970-01-01t00:00:00z") == 0)
        #expect(ACMETime.rfc3339("2024-02-29T12:00:00Z") == 1_709_208_000)
        for bad in ["2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00",
                    "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+0200", "2026-01-01", "garbage garbage garb"] {
            #expect(ACMETime.rfc3339(bad) == nil, "\(bad)")
        }
    }

    @Test("Retry-After: delta-seconds, IMF-fixdate, clamped, garbage ignored")
    func retryAfter() {
        let now: Int64 = 1_767_225_600
        #expect(ACMETime.retryAfter("120", now: now) == now + 120)
        #expect(ACMETime.retryAfter(" 0 ", now: now) == now)
        #expect(ACMETime.retryAfter("Thu, 01 Jan 2026 00:10:00 GMT", now: now) == now + 600)
        #expect(ACMETime.retryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now: now) == now)     // past → now
        #expect(ACMETime.retryAfter(String(ACMETime.maxRetryAfter), now: now) == now + ACMETime.maxRetryAfter)
        #expect(ACMETime.retryAfter(String(ACMETime.maxRetryAfter + 1), now: now) == now + ACMETime.maxRetryAfter)
        #expect(ACMETime.retryAfter("99999999999999999999999", now: now) == nil)
        #expect(ACMETime.retryAfter("999999999999999999", now: now) == now + ACMETime.maxRetryAfter)
        for bad in ["", "-5", "1.5", "soon", "Thursday, 01-Jan-26 00:10:00 GMT", "Thu, 01 Jan 2026 00:10:00 UTC"] {
            #expect(ACMETime.retryAfter(bad, now: now) == nil, "\(bad)")
        }
        #expect(ACMETime.imfFixdate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
    }

    @Test("URLs: what the executor's client gets")
    func urls() throws {
        let u = try #require(ACMEURL("https://Acme.Example:8443/dir?x=1#frag"))
        #expect(u.isHTTPS && u.host == "acme.example" && u.port == 8443 && u.target == "/dir?x=1" && u.authority == "acme.example:8443")
        let v = try #require(ACMEURL("http://[::1]/"))
        #expect(!v.isHTTPS && v.host == "::1" && v.port == 80 && v.target == "/")
        #expect(ACMEURL("https://h")?.target == "/")
        for bad in ["ftp://h/", "https://", "https://u@h/", "https://h:0/", "https://h:99999/", "https://h/ x", "/relative",
                    "https://h:x/", "https://[::1/"] {
            #expect(ACMEURL(bad) == nil, "\(bad)")
        }
        #expect(ACMEURL("https://h/" + String(repeating: "a", count: ACMEURL.maxLength - 10)) != nil)
        #expect(ACMEURL("https://h/" + String(repeating: "a", count: ACMEURL.maxLength - 9)) == nil)
    }

    @Test("problem documents: typed kind, clipped text, bounded subproblems")
    func problems() throws {
        let p = try #require(ACMEProblem.parse(Array(#"{"type":"urn:ietf:params:acme:error:badNonce","detail":"x\ny","status":400}"#.utf8)))
        #expect(p.kind == .badNonce && p.detail == "x y" && p.status == 400)
        #expect(ACMEProblem.parse(Array(#"{"type":"urn:ietf:params:acme:error:newThing"}"#.utf8))?.kind == .otherACME("newThing"))
        #expect(ACMEProblem.parse(Array(#"{"detail":"no type"}"#.utf8))?.type == "about:blank")
        #expect(ACMEProblem.parse(Array("[1]".utf8)) == nil)
        #expect(ACMEProblem.parse(Array("<html>".utf8)) == nil)
        let long = String(repeating: "é", count: 2000)
        let clipped = try #require(ACMEProblem.parse(JSONValue.object(["detail": .string(long)]).serialized)?.detail)
        #expect(clipped.utf8.count <= ACMEProblem.maxTextLength + 3)
        let subs = JSONValue.array(Array(repeating: .object(["type": .string("t")]), count: 500))
        let many = try #require(ACMEProblem.parse(JSONValue.object(["subproblems": subs]).serialized))
        #expect(many.subproblems.count == ACMEProblem.maxSubproblems)
    }
}
