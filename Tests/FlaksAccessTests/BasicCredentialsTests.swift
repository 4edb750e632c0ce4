import Foundation
import Testing
@testable import FlaksAccess
import FlaksTestSupport

@Suite struct BasicCredentialsTests {
    /// Header value, user, password.
    static let valid: [(String, String, String)] = [
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame"),   // RFC 7617 §2
        ("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame"),   // scheme case-insensitive
        ("BASIC QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame"),
        ("bAsIc   QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame"), // 1*SP
        (" \tBasic QWxhZGRpbjpvcGVuIHNlc2FtZQ== \t", "Aladdin", "open sesame"),
        ("Basic dGVzdDoxMjPCow==", "test", "123£"),                        // RFC 7617 §2.1, UTF-8
        ("Basic dXNlcjpwYTpzcw==", "user", "pa:ss"),                        // split at the first colon
        ("Basic dXNlcjo=", "user", ""),                                      // empty password
        ("Basic OnB3", "", "pw"),                                            // empty user
        ("Basic Og==", "", ""),
        ("Basic w6k6w6k=", "é", "é"),
    ]

    @Test(arguments: valid)
    func parsesValidCredentials(value: String, user: String, password: String) throws {
        let c = try #require(BasicCredentials.parse(value))
        #expect(c.user == user)
        #expect(c.password == password)
    }

    /// Header value, what is wrong with it.
    static let invalid: [(String, String)] = [
        ("", "empty"),
        ("Basic", "no token"),
        ("Basic ", "no token"),
        ("Basic    ", "only spaces"),
        ("Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "another scheme"),
        ("Digest username=\"a\"", "another scheme"),
        ("BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==", "no space after the scheme"),
        ("Basic\tQWxhZGRpbjpvcGVuIHNlc2FtZQ==", "tab instead of SP"),
        ("Basics QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "longer scheme"),
        ("Basic QWxhZGRpbg==", "missing colon (\"Aladdin\")"),
        ("Basic QWxh!GRpbjpvcGVu", "character outside the alphabet"),
        ("Basic QWxhZGRpbjpvcGVu-_==", "URL-safe alphabet"),
        ("Basic QWxh ZGRpbjpvcGVu", "space inside the token"),
        ("Basic YTo", "length not a multiple of 4 (unpadded)"),
        ("Basic YToxMg", "unpadded"),
        ("Basic YToxMg=", "short padding"),
        ("Basic YToxMg===", "too much padding"),
        ("Basic YTox====", "a whole block of padding"),
        ("Basic YT==YTox", "padding in the middle"),
        ("Basic =YTo", "padding first"),
        ("Basic YToxMh==", "non-zero bits under the padding (two '=')"),
        ("Basic YToxMjN=", "non-zero bits under the padding (one '=')"),
        ("Basic YTpi€", "non-ASCII in the field"),
        ("Basic YTr/", "decoded octets not UTF-8 (a:\\xFF)"),
        ("Basic YTpiAQ==", "control character in the password (\\x01)"),
        ("Basic YTpiCg==", "LF in the password"),
        ("Basic YQA6Yg==", "NUL in the user"),
        ("Basic YX86Yg==", "DEL in the user"),
        ("Basic YTpiwoU=", "C1 control (U+0085) in the password"),
        ("Basic YTpi, Basic YTpi", "two credentials"),
    ]

    @Test(arguments: invalid)
    func refusesMalformedCredentials(value: String, why: String) {
        #expect(BasicCredentials.parse(value) == nil, "accepted: \(why)")
    }

    /// Whatever user and password (no colon or control characters in the user, none in the password),
    /// encoding and parsing gives them back.
    @Test func roundTripsRandomCredentials() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let alphabet: [Character] = Array("abcXYZ019 !\"#$%&'()*+,-./;<=>?@[\\]^_`{|}~éß€😀\u{A0}")
        for _ in 0..<2000 {
            let user = rng.string(alphabet, 0...12)
            let password = rng.string(alphabet + [":"], 0...40)
            let token = Data("\(user):\(password)".utf8).base64EncodedString()
            let c = BasicCredentials.parse("Basic " + token)
            #expect(c == BasicCredentials(user: user, password: password), "seed \(seed): \(token)")
        }
    }

    /// Random field values never crash the parser and only valid base64 of `x:y` passes.
    @Test func randomBytesNeverPassUnlessCanonical() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let alphabet: [Character] = Array("ABab019+/= :")
        for _ in 0..<5000 {
            let token = rng.string(alphabet, 0...16)
            guard let c = BasicCredentials.parse("Basic " + token) else { continue }
            // Accepted: it must be exactly the canonical encoding of what it decoded to.
            #expect(Data("\(c.user):\(c.password)".utf8).base64EncodedString() == token.trimmingCharacters(in: .whitespaces),
                    "seed \(seed): \(token)")
        }
    }

    @Test func strictBase64DecodesTheRFC4648Vectors() {
        // RFC 4648 §10.
        let vectors = [("", nil), ("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYg==", "foob"),
                       ("Zm9vYmE=", "fooba"), ("Zm9vYmFy", "foobar")]
        for (encoded, decoded) in vectors {
            let bytes = Array(encoded.utf8).withUnsafeBufferPointer { Base64.decodeStrict($0) }
            #expect(bytes.map { String(decoding: $0, as: UTF8.self) } == decoded, "\(encoded)")
        }
    }

    @Test func challengeQuotesTheRealm() {
        #expect(BasicCredentials.challenge(realm: "Staff only") == "Basic realm=\"Staff only\", charset=\"UTF-8\"")
        #expect(BasicCredentials.challenge(realm: "a\"b\\c") == "Basic realm=\"a\\\"b\\\\c\", charset=\"UTF-8\"")
        #expect(BasicCredentials.challenge(realm: "x\r\nSet-Cookie: y") == "Basic realm=\"xSet-Cookie: y\", charset=\"UTF-8\"")
        #expect(BasicCredentials.challenge(realm: "Zoë") == "Basic realm=\"Zoë\", charset=\"UTF-8\"")
        #expect(BasicCredentials.challenge(realm: "") == "Basic realm=\"\", charset=\"UTF-8\"")
    }
}
