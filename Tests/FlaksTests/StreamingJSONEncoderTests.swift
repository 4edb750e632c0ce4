@testable import Flaks
import Foundation
import Testing
import FlaksTestSupport

/// The one-pass encoder's bytes (failing the test when it gave up and would fall back).
func streamed<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let result = try StreamingJSONEncoder.stream(value)
    guard case .bytes(let b) = result else {
        Issue.record("fell back to Foundation", sourceLocation: sourceLocation)
        return ""
    }
    return String(decoding: b, as: UTF8.self)
}

func foundation<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
}

/// JSON text re-serialized with sorted keys: equal for documents with the same content in any key order.
func canonicalJSON(_ text: String) throws -> String {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed]),
                  as: UTF8.self)
}

/// Runs `body` on a thread with a 64 MiB stack (the deep-nesting tests recurse through `encode(to:)`).
func onBigStack<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let t = Thread { box.value = body(); done.signal() }
    t.stackSize = 64 << 20
    t.start()
    done.wait()
    return box.value!
}

final class ResultBox<T>: @unchecked Sendable {  // written by one thread before a semaphore signal, read after
    var value: T?
}

@Suite struct StreamingJSONScalarTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let value: any Encodable & Sendable
        let expected: String
        var testDescription: String { name }
    }

    static let scalars: [Case] = [
        Case(name: "Int 0", value: 0, expected: "0"),
        Case(name: "Int -1", value: -1, expected: "-1"),
        Case(name: "Int 9", value: 9, expected: "9"),
        Case(name: "Int 10", value: 10, expected: "10"),
        Case(name: "Int.min", value: Int.min, expected: "-9223372036854775808"),
        Case(name: "Int.max", value: Int.max, expected: "9223372036854775807"),
        Case(name: "Int8.min", value: Int8.min, expected: "-128"),
        Case(name: "Int8.max", value: Int8.max, expected: "127"),
        Case(name: "Int16.min", value: Int16.min, expected: "-32768"),
        Case(name: "Int32.min", value: Int32.min, expected: "-2147483648"),
        Case(name: "Int64.min", value: Int64.min, expected: "-9223372036854775808"),
        Case(name: "UInt8.max", value: UInt8.max, expected: "255"),
        Case(name: "UInt16.max", value: UInt16.max, expected: "65535"),
        Case(name: "UInt32.max", value: UInt32.max, expected: "4294967295"),
        Case(name: "UInt64.max", value: UInt64.max, expected: "18446744073709551615"),
        Case(name: "UInt.max", value: UInt.max, expected: "18446744073709551615"),
        Case(name: "Int128.min", value: Int128.min, expected: "-170141183460469231731687303715884105728"),
        Case(name: "UInt128.max", value: UInt128.max, expected: "340282366920938463463374607431768211455"),
        Case(name: "true", value: true, expected: "true"),
        Case(name: "false", value: false, expected: "false"),
        Case(name: "nil", value: Int?.none, expected: "null"),
        Case(name: "top-level string", value: "top", expected: "\"top\""),
        Case(name: "empty string", value: "", expected: "\"\""),
        Case(name: "empty array", value: [Int](), expected: "[]"),
        Case(name: "empty dictionary", value: [String: Int](), expected: "{}"),
        Case(name: "array of optionals", value: [1, nil, 3] as [Int?], expected: "[1,null,3]"),
        Case(name: "int keys", value: [3: "a"], expected: "{\"3\":\"a\"}"),
        Case(name: "Int8 array", value: [Int8.min, 0, Int8.max], expected: "[-128,0,127]"),
        Case(name: "UInt128 in array", value: [UInt128.max], expected: "[340282366920938463463374607431768211455]"),
    ]

    @Test(arguments: scalars)
    func scalarBytes(_ c: Case) throws {
        #expect(try streamed(c.value) == c.expected)
        #expect(try foundation(c.value) == c.expected)
    }

    @Test func everyWidthInEveryContainer() throws {
        struct All: Encodable {
            var i = Int.min, i8 = Int8.min, i16 = Int16.min, i32 = Int32.min, i64 = Int64.min, i128 = Int128.min
            var u = UInt.max, u8 = UInt8.max, u16 = UInt16.max, u32 = UInt32.max, u64 = UInt64.max, u128 = UInt128.max
            var b = true, d = 0.5, f = Float(0.25), s = "s", n: Int? = nil
            func encode(to encoder: any Encoder) throws {
                var u = encoder.unkeyedContainer()
                try u.encode(i); try u.encode(i8); try u.encode(i16); try u.encode(i32); try u.encode(i64); try u.encode(i128)
                try u.encode(self.u); try u.encode(u8); try u.encode(u16); try u.encode(u32); try u.encode(u64); try u.encode(u128)
                try u.encode(b); try u.encode(d); try u.encode(f); try u.encode(s); try u.encodeNil()
                var k = u.nestedContainer(keyedBy: AnyKey.self)
                try k.encode(i, forKey: "i"); try k.encode(i8, forKey: "i8"); try k.encode(i16, forKey: "i16")
                try k.encode(i32, forKey: "i32"); try k.encode(i64, forKey: "i64"); try k.encode(i128, forKey: "i128")
                try k.encode(self.u, forKey: "u"); try k.encode(u8, forKey: "u8"); try k.encode(u16, forKey: "u16")
                try k.encode(u32, forKey: "u32"); try k.encode(u64, forKey: "u64"); try k.encode(u128, forKey: "u128")
                try k.encode(b, forKey: "b"); try k.encode(d, forKey: "d"); try k.encode(f, forKey: "f")
                try k.encode(s, forKey: "s"); try k.encodeNil(forKey: "n"); try k.encodeIfPresent(n, forKey: "absent")
                var single = u.superEncoder().singleValueContainer()
                try single.encode(u128)
            }
        }
        let ours = try streamed(All())
        #expect(ours.hasPrefix("[-9223372036854775808,-128,-32768,-2147483648,-9223372036854775808,-170141183460469231731687303715884105728,"))
        #expect(ours.hasSuffix(",\"n\":null},340282366920938463463374607431768211455]"))
        #expect(!ours.contains("absent"))
        #expect(try canonicalJSON(ours) == canonicalJSON(foundation(All())))
    }

    /// Keys in the order `encode(to:)` writes them (Foundation's order varies between processes).
    @Test func keysInWriteOrder() throws {
        struct Ordered: Encodable { var zebra = 1, apple = 2, mango: String? = nil, kiwi = [3] }
        #expect(try streamed(Ordered()) == #"{"zebra":1,"apple":2,"kiwi":[3]}"#)
        #expect(try streamed(Message(message: "Hello, World!")) == #"{"message":"Hello, World!"}"#)
    }
}

struct Message: Codable, Equatable { let message: String }

/// A key made from any string (custom `encode(to:)` tests).
struct AnyKey: CodingKey, ExpressibleByStringLiteral {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
    init(stringLiteral value: String) { stringValue = value }
}

@Suite struct StreamingJSONStringTests {
    /// Foundation's escapes for each byte below 0x20.
    static func expectedEscape(_ b: UInt8) -> String {
        switch b {
        case 0x08: return "\\b"
        case 0x09: return "\\t"
        case 0x0A: return "\\n"
        case 0x0C: return "\\f"
        case 0x0D: return "\\r"
        default:
            let hex = Array("0123456789abcdef")
            return "\\u00" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)])
        }
    }

    @Test(arguments: 0..<0x20)
    func controlCharacter(_ code: Int) throws {
        let s = "a" + String(UnicodeScalar(UInt8(code))) + "b"
        let expected = "\"a" + Self.expectedEscape(UInt8(code)) + "b\""
        #expect(try streamed(s) == expected)
        #expect(try foundation(s) == expected)
        #expect(try streamed(String(UnicodeScalar(UInt8(code)))) == "\"" + Self.expectedEscape(UInt8(code)) + "\"")
    }

    @Test(arguments: [
        ("quote", "\"", #""\"""#),
        ("backslash", "\\", #""\\""#),
        ("slash", "/", #""\/""#),
        ("DEL is raw", "\u{7F}", "\"\u{7F}\""),
        ("U+2028 is raw", "\u{2028}", "\"\u{2028}\""),
        ("two-byte", "é", "\"é\""),
        ("four-byte", "😀", "\"😀\""),
        ("mixed", "a\"b\\c/d\ne", #""a\"b\\c\/d\ne""#),
        ("escape first and last", "/x/", #""\/x\/""#),
        ("only escapes", "\"\"\\\\", #""\"\"\\\\""#),
        ("long run", String(repeating: "abcdefgh", count: 40) + "/", "\"" + String(repeating: "abcdefgh", count: 40) + "\\/\""),
        ("smol and large", "0123456789abcdef", "\"0123456789abcdef\""),
    ])
    func escapes(_ name: String, _ value: String, _ expected: String) throws {
        #expect(try streamed(value) == expected, "\(name)")
        #expect(try foundation(value) == expected, "\(name)")
    }

    /// The word-at-a-time paths (a padded word under 8 bytes, whole words, an overlapping last word):
    /// every length to 24 with one escape, or one non-ASCII character, at every position.
    @Test(arguments: ["/", "\"", "\\", "\u{1}", "\u{1F}", "é", "😀", "\u{7F}"])
    func everyLengthAndPosition(_ special: String) throws {
        for n in 0...24 {
            #expect(try streamed(String(repeating: "x", count: n)) == foundation(String(repeating: "x", count: n)))
            for at in 0..<max(n, 1) {
                let s = String(repeating: "x", count: at) + special + String(repeating: "y", count: max(n - at - 1, 0))
                #expect(try streamed(s) == foundation(s), "length \(n), at \(at)")
                #expect(try streamed([s: 1]) == foundation([s: 1]), "key, length \(n), at \(at)")
            }
        }
    }

    @Test func keysAreEscapedToo() throws {
        let value = ["a/b": 1, "q\"\n": 2]
        let ours = try streamed(value)
        #expect(ours.contains(#""a\/b":1"#) && ours.contains(#""q\"\n":2"#))
        #expect(try canonicalJSON(ours) == canonicalJSON(foundation(value)))
    }

    @Test func stringsFromOtherStorage() throws {
        let sub = "xx/yy"[...].dropFirst()
        let bridged = String(sub) + String(repeating: "é", count: 20)
        #expect(try streamed(bridged) == foundation(bridged))
        let nfd = "e\u{301}"
        #expect(try streamed(nfd) == foundation(nfd))
    }
}

@Suite struct StreamingJSONNumberTests {
    @Test(arguments: [
        (100.0, "100"), (-0.0, "-0"), (0.0, "0"), (1e-7, "1e-07"), (1e16, "1e+16"), (0.1, "0.1"),
        (1.5e300, "1.5e+300"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
        (123456789012345680, "1.2345678901234568e+17"), (1e15, "1000000000000000"), (-2.5, "-2.5"),
        (0.30000000000000004, "0.30000000000000004"),
    ])
    func doubles(_ value: Double, _ expected: String) throws {
        #expect(try streamed(value) == expected)
        #expect(try foundation(value) == expected)
        #expect(try streamed([value]) == "[\(expected)]")
    }

    @Test(arguments: [
        (Float(0.1), "0.1"), (Float(1e10), "1e+10"), (Float(16777216), "16777216"), (Float(1e-7), "1e-07"),
        (Float(-0.0), "-0"), (Float.greatestFiniteMagnitude, "3.4028235e+38"), (Float.leastNonzeroMagnitude, "1e-45"),
    ])
    func floats(_ value: Float, _ expected: String) throws {
        #expect(try streamed(value) == expected)
        #expect(try foundation(value) == expected)
    }

    /// Random finite doubles and floats: the same bytes as Foundation, and they parse back to the value.
    @Test func randomFloatingPointRoundTrips() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<2000 {
            let d = Double(bitPattern: rng.next())
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            for v in [d, Double(Int32(truncatingIfNeeded: rng.next())) / 1000, Double(f)] where v.isFinite {
                let s = try streamed(v)
                #expect(s == (try foundation(v)), "seed \(seed)")
                #expect(Double(s) == v, "seed \(seed): \(s)")
            }
            if f.isFinite {
                let s = try streamed(f)
                #expect(s == (try foundation(f)), "seed \(seed)")
                #expect(Float(s) == f, "seed \(seed): \(s)")
            }
        }
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func nonFiniteDoublesThrowLikeFoundation(_ v: Double) throws {
        #expect(try StreamingJSONEncoder.stream(v) == .needsFoundation)
        #expect(try StreamingJSONEncoder.stream(["x": [v]]) == .needsFoundation)
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode(["x": [v]]) }
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode(Float(v)) }
        #expect(throws: EncodingError.self) { try Response.json([v]) }
    }
}

@Suite struct StreamingJSONFoundationTypeTests {
    @Test func dataIsBase64() throws {
        for data in [Data(), Data([0]), Data([0, 1, 2, 255]), Data((0..<200).map { UInt8($0) })] {
            #expect(try streamed(data) == foundation(data))
            #expect(try streamed(["d": data]) == foundation(["d": data]))
            #expect(try streamed([data]) == foundation([data]))
        }
        #expect(try streamed(Data([0, 1, 2, 255])) == #""AAEC\/w==""#)
        #expect(try streamed(Data?.some(Data([251]))) == #""+w==""#)  // through Optional's single-value container
    }

    @Test func urlIsItsAbsoluteString() throws {
        let urls = [URL(string: "https://example.com/a?b=c")!, URL(string: "b/c", relativeTo: URL(string: "https://example.com/a/"))!,
                    URL(string: "mailto:x@example.com")!]
        for url in urls {
            #expect(try streamed(url) == foundation(url))
            #expect(try streamed([url]) == foundation([url]))
        }
        #expect(try streamed(urls[1]) == #""https:\/\/example.com\/a\/b\/c""#)
    }

    @Test func dateIsSecondsSinceReferenceDate() throws {
        for d in [Date(timeIntervalSinceReferenceDate: 12.5), Date(timeIntervalSinceReferenceDate: -1e9), Date(timeIntervalSince1970: 0)] {
            #expect(try streamed(d) == foundation(d))
            #expect(try streamed(["when": d]) == foundation(["when": d]))
        }
        #expect(try streamed(Date(timeIntervalSinceReferenceDate: 12.5)) == "12.5")
    }

    @Test func decimalIsANumber() throws {
        let values = ["123.4500", "-0.001", "0", "1e30", "-12345678901234567890.123456789"].map { Decimal(string: $0)! }
        for v in values {
            #expect(try streamed(v) == foundation(v))
            #expect(try streamed(["n": v]) == foundation(["n": v]))
        }
        #expect(try streamed(Decimal(string: "123.4500")!) == "123.45")
    }

    /// Foundation writes a bare `NaN` (not JSON); the streaming encoder refuses it.
    @Test func decimalNaNThrows() {
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode([Decimal.nan]) }
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode(Decimal.nan) }
    }
}
