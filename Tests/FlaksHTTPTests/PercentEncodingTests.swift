import Testing
import FlaksHTTP
import FlaksTestSupport

@Suite struct PercentEncodingTests {
    @Test(arguments: [
        ("/plain/path", "/plain/path"),
        ("/keeps/pchar/a:b@c!$&'()*+,;=-._~", "/keeps/pchar/a:b@c!$&'()*+,;=-._~"),
        ("/\\evil.example", "/%5Cevil.example"),
        ("/\t/evil.example", "/%09/evil.example"),
        ("/a?b#c", "/a%3Fb%23c"),
        ("/100%", "/100%25"),
        ("/a b", "/a%20b"),
        ("/caf\u{E9}", "/caf%C3%A9"),
        ("/\r\nSet-Cookie:x", "/%0D%0ASet-Cookie:x"),
        ("//evil.example", "/evil.example"),
        ("///evil.example//x", "/evil.example//x"),
        ("/", "/"),
        ("//", "/"),
        ("relative/part", "relative/part"),
        ("", ""),
    ])
    func encodePath(decoded: String, expected: String) {
        #expect(PercentEncoding.encodePath(decoded) == expected)
    }

    /// Whatever the decoded path holds, the encoded absolute path stays on this host: it never
    /// starts with "//" or "/\", and holds no byte outside pchar, "/" and "%".
    @Test func anEncodedAbsolutePathNeverLeavesTheHost() {
        var rng = SplitMix64(seed: 0x5EED_2024)
        let alphabet: [UInt8] = Array("/\\?#%:@ \t\r\n.a".utf8) + [0x7F, 0xC3, 0xA9]
        for _ in 0..<2000 {
            let n = Int(rng.next() % 8)
            var bytes: [UInt8] = [UInt8(ascii: "/")]
            for _ in 0..<n { bytes.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            let path = String(decoding: bytes, as: UTF8.self)
            let out = PercentEncoding.encodePath(path)
            #expect(out.hasPrefix("/"))
            #expect(!out.hasPrefix("//") && !out.hasPrefix("/\\"), "\(bytes) -> \(out)")
            #expect(out.utf8.allSatisfy { PercentEncoding.isPathCharacter($0) || $0 == 0x2F || $0 == 0x25 }, "\(bytes) -> \(out)")
        }
    }

    @Test func encodeKeepsOnlyWhatItIsTold() {
        #expect(PercentEncoding.encode("a/b c", keeping: PercentEncoding.isUnreserved) == "a%2Fb%20c")
        #expect(PercentEncoding.encode("a/b c", keeping: { PercentEncoding.isUnreserved($0) || $0 == 0x2F }) == "a/b%20c")
        #expect(PercentEncoding.encode("\u{1F600}", keeping: PercentEncoding.isUnreserved) == "%F0%9F%98%80")
        #expect(PercentEncoding.encode("untouched-~._", keeping: PercentEncoding.isUnreserved) == "untouched-~._")
    }
}
