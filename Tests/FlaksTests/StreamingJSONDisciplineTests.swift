@testable import Flaks
import Foundation
import Testing

/// A value whose `encode(to:)` is a closure, for container-discipline cases.
struct Custom: Encodable, @unchecked Sendable {
    let body: (any Encoder) throws -> Void
    init(_ body: @escaping (any Encoder) throws -> Void) { self.body = body }
    func encode(to encoder: any Encoder) throws { try body(encoder) }
}

/// Nested containers and encoders used in the order a forward pass can write: streamed, no fallback.
@Suite struct StreamingJSONStreamsTests {
    struct Point: Encodable {
        var x = 1, y = 2
        var tags = ["a", "b"]
        var extra: [String: Int] = ["k": 7]
        enum K: String, CodingKey { case x, pos, tags, extra, after }
        enum P: String, CodingKey { case lat, lon }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(x, forKey: .x)
            var pos = c.nestedContainer(keyedBy: P.self, forKey: .pos)
            try pos.encode(y, forKey: .lat)
            var inner = pos.nestedUnkeyedContainer(forKey: .lon)
            try inner.encode(3)
            var innerObj = inner.nestedContainer(keyedBy: P.self)
            try innerObj.encode(true, forKey: .lat)
            try inner.encode(4)  // closes innerObj
            #expect(inner.count == 3)
            var t = c.nestedUnkeyedContainer(forKey: .tags)  // closes inner and pos
            for tag in tags { try t.encode(tag) }
            try t.encode(contentsOf: [5, 6])
            _ = c.nestedContainer(keyedBy: P.self, forKey: .extra)  // never used: {}
            try c.encode(extra, forKey: .after)
        }
    }

    @Test func nestedContainersInOrder() throws {
        #expect(try streamed(Point()) == #"{"x":1,"pos":{"lat":2,"lon":[3,{"lat":true},4]},"tags":["a","b",5,6],"extra":{},"after":{"k":7}}"#)
        #expect(try canonicalJSON(streamed([Point(), Point()])) == canonicalJSON(foundation([Point(), Point()])))
    }

    @Test func twoKeyedRequestsMerge() throws {
        let v = Custom { e in
            var a = e.container(keyedBy: AnyKey.self)
            try a.encode(1, forKey: "a")
            var b = e.container(keyedBy: AnyKey.self)
            try b.encode(2, forKey: "b")
            try a.encode(3, forKey: "c")
        }
        #expect(try streamed(v) == #"{"a":1,"b":2,"c":3}"#)
        #expect(try canonicalJSON(streamed(v)) == canonicalJSON(foundation(v)))
        let u = Custom { e in
            var a = e.unkeyedContainer(); try a.encode(1)
            var b = e.unkeyedContainer(); try b.encode(2)
        }
        #expect(try streamed([u]) == "[[1,2]]")
        #expect(try foundation([u]) == "[[1,2]]")
    }

    class Animal: Encodable {
        var name = "rex"
        enum K: String, CodingKey { case name }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(name, forKey: .name)
        }
    }

    final class Dog: Animal {
        var good = true
        enum DK: String, CodingKey { case good }
        override func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: DK.self)
            try c.encode(good, forKey: .good)
            try super.encode(to: c.superEncoder())
        }
    }

    final class Cat: Animal {
        var lives = 9
        enum CK: String, CodingKey { case lives }
        override func encode(to encoder: any Encoder) throws {
            try super.encode(to: encoder)  // same encoder: one merged object
            var c = encoder.container(keyedBy: CK.self)
            try c.encode(lives, forKey: .lives)
        }
    }

    @Test func superEncoders() throws {
        #expect(try streamed(Dog()) == #"{"good":true,"super":{"name":"rex"}}"#)
        #expect(try canonicalJSON(streamed(Dog())) == canonicalJSON(foundation(Dog())))
        #expect(try streamed(Cat()) == #"{"name":"rex","lives":9}"#)
        #expect(try canonicalJSON(streamed(Cat())) == canonicalJSON(foundation(Cat())))
        let unusedSuper = Custom { e in
            var c = e.container(keyedBy: AnyKey.self)
            _ = c.superEncoder()
            try c.encode(1, forKey: "a")
        }
        #expect(try streamed(unusedSuper) == #"{"super":{},"a":1}"#)
        #expect(try canonicalJSON(streamed(unusedSuper)) == canonicalJSON(foundation(unusedSuper)))
        let keyedSuper = Custom { e in
            var c = e.container(keyedBy: AnyKey.self)
            var s = c.superEncoder(forKey: "base").unkeyedContainer()
            try s.encode(1)
        }
        #expect(try streamed(keyedSuper) == #"{"base":[1]}"#)
        let unkeyedSuper = Custom { e in
            var u = e.unkeyedContainer()
            try u.encode(1)
            var s = u.superEncoder().singleValueContainer()
            try s.encode("two")
            try u.encode(3)
        }
        #expect(try streamed(unkeyedSuper) == #"[1,"two",3]"#)
        #expect(try foundation(unkeyedSuper) == #"[1,"two",3]"#)
    }

    @Test func valuesThatEncodeNothingAreEmptyObjects() throws {
        let nothing = Custom { _ in }
        let emptySingle = Custom { e in _ = e.singleValueContainer() }
        #expect(try streamed([nothing]) == "[{}]")
        #expect(try streamed(["a": emptySingle]) == #"{"a":{}}"#)
        #expect(try foundation([nothing]) == "[{}]")
        let wrapsNothing = Custom { e in var s = e.singleValueContainer(); try s.encode(nothing) }
        #expect(try streamed(wrapsNothing) == "{}")
        #expect(try foundation(wrapsNothing) == "{}")
    }

    @Test func manyKeysUseTheSetAndDictionariesSkipTheCheck() throws {
        let forty = Custom { e in
            var c = e.container(keyedBy: AnyKey.self)
            for i in 0..<40 { try c.encode(i, forKey: AnyKey(stringValue: "k\(i)")) }
        }
        #expect(try canonicalJSON(streamed(forty)) == canonicalJSON(foundation(forty)))
        let dict = Dictionary(uniqueKeysWithValues: (0..<100).map { ("key\($0)", $0) })
        #expect(try canonicalJSON(streamed(dict)) == canonicalJSON(foundation(dict)))
        #expect(JSONStreamWriter.dictionaryKeyType != nil)
    }

    @Test func rootCodingPathIsKnown() throws {
        let v = Custom { e in
            var s = e.singleValueContainer()
            try s.encode(e.codingPath.count)
        }
        #expect(try streamed(v) == "0")
    }
}

/// What a forward pass cannot write: `.needsFoundation`, and `encode` gives Foundation's content.
@Suite struct StreamingJSONFallbackTests {
    static func expectFallback<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try StreamingJSONEncoder.stream(value) == .needsFoundation, sourceLocation: sourceLocation)
        let ours = String(decoding: try StreamingJSONEncoder().encode(value), as: UTF8.self)
        #expect(try canonicalJSON(ours) == canonicalJSON(foundation(value)), sourceLocation: sourceLocation)
        let response = try Response.json(value)
        #expect(try canonicalJSON(response.text) == canonicalJSON(foundation(value)), sourceLocation: sourceLocation)
    }

    @Test func containerUsedAfterALaterSibling() throws {
        try Self.expectFallback(Custom { e in
            var c = e.container(keyedBy: AnyKey.self)
            var a = c.nestedUnkeyedContainer(forKey: "a")
            var b = c.nestedUnkeyedContainer(forKey: "b")
            try a.encode(1)
            try b.encode(2)
        })
        try Self.expectFallback([Custom { e in
            var u = e.unkeyedContainer()
            var inner = u.nestedContainer(keyedBy: AnyKey.self)
            try u.encode(0)
            try inner.encode(1, forKey: "late")
        }])
    }

    @Test func unkeyedSuperEncoderFilledLate() throws {
        // Foundation reserves the index: [1,3,2].
        try Self.expectFallback(Custom { e in
            var u = e.unkeyedContainer()
            try u.encode(1)
            let s = u.superEncoder()
            try u.encode(2)
            var sc = s.singleValueContainer()
            try sc.encode(3)
        })
    }

    @Test func repeatedKeys() throws {
        try Self.expectFallback(Custom { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(1, forKey: "a")
            try c.encode(2, forKey: "a")
        })
        try Self.expectFallback(Custom { e in  // canonically equivalent: one key to Foundation
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(1, forKey: "caf\u{E9}")
            try c.encode(2, forKey: "cafe\u{301}")
        })
        try Self.expectFallback(Custom { e in  // Kelvin sign vs K
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(1, forKey: "K")
            try c.encode(2, forKey: "\u{212A}")
        })
        try Self.expectFallback(Custom { e in  // repeat past the linear limit (the Set)
            var c = e.container(keyedBy: AnyKey.self)
            for i in 0..<40 { try c.encode(i, forKey: AnyKey(stringValue: "k\(i)")) }
            try c.encode(99, forKey: "k3")
        })
        try Self.expectFallback(Custom { e in  // a nested container at an earlier key: Foundation merges arrays
            var c = e.container(keyedBy: AnyKey.self)
            var a = c.nestedUnkeyedContainer(forKey: "a")
            try a.encode(1)
            var a2 = c.nestedUnkeyedContainer(forKey: "a")
            try a2.encode(2)
        })
    }

    @Test func codingPathBelowTheRoot() throws {
        struct Pathy: Encodable {
            func encode(to encoder: any Encoder) throws {
                var s = encoder.singleValueContainer()
                try s.encode(encoder.codingPath.map(\.stringValue).joined(separator: "."))
            }
        }
        try Self.expectFallback(["a": [Pathy()]])
        #expect(try StreamingJSONEncoder().encode(["a": [Pathy()]]) == Array("{\"a\":[\"a.Index 0\"]}".utf8))
    }

    @Test func keyedThenSingleValue() throws {
        try Self.expectFallback([Custom { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(1, forKey: "a")
            var s = e.singleValueContainer()
            try s.encode(2)
        }])
    }

    @Test func caughtErrorsStillFallBack() throws {
        try Self.expectFallback(Custom { e in
            var c = e.container(keyedBy: AnyKey.self)
            var a = c.nestedUnkeyedContainer(forKey: "a")
            try c.encode(1, forKey: "b")
            try? a.encode(2)  // fails (a is closed); the value's code drops the error
            try c.encode(3, forKey: "c")
        })
    }

    @Test func topLevelValueEncodingNothingThrowsLikeFoundation() throws {
        let nothing = Custom { _ in }
        #expect(try StreamingJSONEncoder.stream(nothing) == .needsFoundation)
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode(nothing) }
        #expect(throws: EncodingError.self) { try JSONEncoder().encode(nothing) }
    }

    /// Errors of the value's own code pass through unchanged.
    @Test func ownErrorsPassThrough() {
        struct Boom: Error {}
        #expect(throws: Boom.self) { try StreamingJSONEncoder().encode(["a": Custom { _ in throw Boom() }]) }
    }
}

/// Container misuse that Foundation's encoder traps on: an `EncodingError` here.
@Suite struct StreamingJSONMisuseTests {
    @Test(arguments: ["keyed then unkeyed", "unkeyed then keyed", "two single values", "single then keyed", "single then unkeyed"])
    func misuseThrows(_ name: String) {
        let v = Custom { e in
            switch name {
            case "keyed then unkeyed":
                var c = e.container(keyedBy: AnyKey.self); try c.encode(1, forKey: "a")
                var u = e.unkeyedContainer(); try u.encode(2)
            case "unkeyed then keyed":
                var u = e.unkeyedContainer(); try u.encode(2)
                var c = e.container(keyedBy: AnyKey.self); try c.encode(1, forKey: "a")
            case "two single values":
                var s = e.singleValueContainer(); try s.encode(1); try s.encode(2)
            case "single then keyed":
                var s = e.singleValueContainer(); try s.encode(1)
                var c = e.container(keyedBy: AnyKey.self); try c.encode(1, forKey: "a")
            default:
                var s = e.singleValueContainer(); try s.encode(1)
                var u = e.unkeyedContainer(); try u.encode(2)
            }
        }
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode([v]) }
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder.stream(v) }
    }
}

@Suite struct StreamingJSONDepthTests {
    /// `depth` nested arrays.
    struct Nest: Encodable {
        let depth: Int
        func encode(to encoder: any Encoder) throws {
            var u = encoder.unkeyedContainer()
            if depth > 1 { try u.encode(Nest(depth: depth - 1)) }
        }
    }

    /// `depth` nested objects made with nestedContainer.
    struct NestedObjects: Encodable {
        let depth: Int
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyKey.self)
            for _ in 1..<depth { c = c.nestedContainer(keyedBy: AnyKey.self, forKey: "a") }
        }
    }

    /// A chain of single values `depth` deep: no containers.
    struct Chain: Encodable {
        let depth: Int
        func encode(to encoder: any Encoder) throws {
            var s = encoder.singleValueContainer()
            if depth > 0 { try s.encode(Chain(depth: depth - 1)) } else { try s.encode(0) }
        }
    }

    @Test func containerDepthLimitMatchesFoundation() {
        let limit = JSONStreamWriter.maxContainerDepth
        #expect(limit == 511)
        let results = onBigStack { () -> [String] in
            [limit, limit + 1].flatMap { depth -> [String] in
                [Nest(depth: depth) as any Encodable, NestedObjects(depth: depth)].map { value -> String in
                    let ours = (try? StreamingJSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "error"
                    let theirs = (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "error"
                    return ours == theirs ? (ours == "error" ? "both error" : "same") : "differ"
                }
            }
        }
        #expect(results == ["same", "same", "both error", "both error"])
    }

    @Test func runawayRecursionStopsAtTheLevelLimit() {
        let limit = JSONStreamWriter.maxLevels
        let results = onBigStack { () -> [Bool] in
            [limit, limit + 1].map { depth in (try? StreamingJSONEncoder.stream(Chain(depth: depth))) != nil }
        }
        #expect(results == [true, false])
        let ok = onBigStack { (try? StreamingJSONEncoder.stream(Chain(depth: limit))) == .bytes(Array("0".utf8)) }
        #expect(ok)
    }

    /// A cyclic object graph: Foundation recurses until the stack overflows; here an error.
    @Test func cycleThrows() {
        final class Loop: Encodable, @unchecked Sendable {
            var next: Loop?
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: AnyKey.self)
                try c.encode(next, forKey: "next")
            }
        }
        let a = Loop()
        a.next = a
        let threw = onBigStack { () -> Bool in
            do { _ = try StreamingJSONEncoder().encode(a); return false } catch { return error is EncodingError }
        }
        a.next = nil
        #expect(threw)
    }
}

@Suite struct ResponseJSONTests {
    @Test func defaultIsTheStreamingEncoder() throws {
        let r = try Response.json(Message(message: "Hello, World!"))
        #expect(r.text == #"{"message":"Hello, World!"}"#)
        #expect(r.headers["Content-Type"] == "application/json")
        #expect(try Response.json(["b": 1], status: .created).status == .created)
    }

    @Test func aGivenEncoderIsUsedAsItIs() throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.keyEncodingStrategy = .convertToSnakeCase
        struct V: Encodable { var bValue = "x/y", aValue = 1 }
        #expect(try Response.json(V(), encoder: e).text == #"{"a_value":1,"b_value":"x/y"}"#)
    }
}

@Suite struct StreamingJSONReuseTests {
    /// A thread's writer hands the same box out again once the previous container is gone, and a new
    /// one while a container of the same key type is still held (nesting).
    @Test func keyedContainerBoxesAreReused() throws {
        guard JSONStreamWriter.boxReuseWorks else { return }
        struct Tree: Encodable { var name = "n"; var kids: [Tree] = [] }
        // A new thread: a new writer with an empty cache.
        let counts = onBigStack { () -> [Int] in
            func cached() -> Int {
                let w = JSONStreamWriter.acquire()
                defer { w.end() }
                return w.cachedKeyTypes.count
            }
            var counts: [Int] = []
            for _ in 0..<5 { _ = try? StreamingJSONEncoder.stream(Message(message: "m")) }
            counts.append(cached())
            let tree = Tree(kids: [Tree(kids: [Tree()]), Tree()])
            _ = try? StreamingJSONEncoder.stream(tree)
            counts.append(cached())  // three Tree objects open at once at the deepest point
            for _ in 0..<5 { _ = try? StreamingJSONEncoder.stream(tree) }
            counts.append(cached())
            return counts
        }
        #expect(counts == [1, 4, 4])
    }

    /// An encode inside an encode (the thread's writer is busy) gets its own writer.
    @Test func nestedEncodeOnTheSameThread() throws {
        let inner = Custom { e in
            let text = String(decoding: try StreamingJSONEncoder().encode(["x": [1, 2]]), as: UTF8.self)
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(text, forKey: "embedded")
        }
        #expect(try streamed([inner]) == #"[{"embedded":"{\"x\":[1,2]}"}]"#)
    }
}
