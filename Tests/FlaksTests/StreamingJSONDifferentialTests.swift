@testable import Flaks
import Foundation
import Testing
import FlaksTestSupport

/// Generated values encoded by the streaming encoder and by Foundation's: both decode back to the value,
/// and both parse (JSONSerialization) to the same document, key order aside.
@Suite struct StreamingJSONDifferentialTests {
    struct Leaf: Codable, Equatable {
        var i: Int
        var s: String
        var d: Double
        var f: Float
        var b: Bool
        var o: Int?
        var u8: UInt8
        var i64: Int64
        var u64: UInt64
        var os: String?
    }

    enum Kind: Codable, Equatable {
        case plain
        case number(Int)
        case labelled(x: String, y: [Int])
        case pair(Leaf, Double?)
    }

    struct Node: Codable, Equatable {
        var name: String
        var leaves: [Leaf]
        var map: [String: Int]
        var kids: [Node]
        var kind: Kind
        var opt: Leaf?
        var grid: [[Int?]]
        var data: Data
        var date: Date
        var url: URL?
        var byInt: [Int: String]
        var amount: Decimal
        var flags: Set<String>
        var tuple: Pair
    }

    /// Custom `encode(to:)` with nested containers, in the order a forward pass can write.
    struct Pair: Codable, Equatable {
        var left: [String]
        var right: [String: [Double]]
        enum K: String, CodingKey { case left, right, meta }
        enum M: String, CodingKey { case count }
        init(left: [String], right: [String: [Double]]) { self.left = left; self.right = right }
        init(from decoder: any Swift.Decoder) throws {
            let c = try decoder.container(keyedBy: K.self)
            var l = try c.nestedUnkeyedContainer(forKey: .left)
            var left: [String] = []
            while !l.isAtEnd { left.append(try l.decode(String.self)) }
            self.left = left
            right = try c.decode([String: [Double]].self, forKey: .right)
        }
        func encode(to encoder: any Swift.Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            var l = c.nestedUnkeyedContainer(forKey: .left)
            for s in left { try l.encode(s) }
            var m = c.nestedContainer(keyedBy: M.self, forKey: .meta)
            try m.encode(left.count, forKey: .count)
            try c.encode(right, forKey: .right)
        }
    }

    struct Gen {
        var rng: SplitMix64
        static let alphabet: [Character] = Array("abcXYZ09 _-\"\\/\n\t\r\u{0}\u{1}\u{1F}\u{7F}é€😀\u{2028}") + ["e\u{301}"]

        mutating func string() -> String { rng.string(Self.alphabet, 0...12) }
        mutating func key() -> String { rng.string(Array("abcdefghijklmnop_/\"é"), 1...6) }
        mutating func double() -> Double {
            switch rng.int(0...3) {
            case 0: return Double(rng.int(-1000...1000))
            case 1: return Double(rng.int(-1_000_000...1_000_000)) / 1000
            case 2: let d = Double(bitPattern: rng.next()); return d.isFinite ? d : 0
            default: return rng.pick([0.0, -0.0, 1e-7, 1e16, Double.leastNonzeroMagnitude, 1.7976931348623157e308, 0.1])
            }
        }
        mutating func float() -> Float {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            return f.isFinite && rng.chance(0.5) ? f : Float(rng.int(-100...100)) / 8
        }
        mutating func leaf() -> Leaf {
            Leaf(i: rng.chance(0.2) ? rng.pick([Int.min, Int.max]) : rng.int(-100_000...100_000),
                 s: string(), d: double(), f: float(), b: rng.chance(0.5),
                 o: rng.chance(0.5) ? rng.int(-5...5) : nil, u8: UInt8(truncatingIfNeeded: rng.next()),
                 i64: Int64(bitPattern: rng.next()), u64: rng.next(), os: rng.chance(0.3) ? string() : nil)
        }
        mutating func kind() -> Kind {
            switch rng.int(0...3) {
            case 0: return .plain
            case 1: return .number(rng.int(-9...9))
            case 2: return .labelled(x: string(), y: (0..<rng.int(0...3)).map { _ in rng.int(0...99) })
            default: return .pair(leaf(), rng.chance(0.5) ? double() : nil)
            }
        }
        mutating func node(depth: Int) -> Node {
            Node(name: string(),
                 leaves: (0..<rng.int(0...3)).map { _ in leaf() },
                 map: Dictionary((0..<rng.int(0...5)).map { _ in (key(), rng.int(-9...9)) }, uniquingKeysWith: { a, _ in a }),
                 kids: depth > 0 ? (0..<rng.int(0...3)).map { _ in node(depth: depth - 1) } : [],
                 kind: kind(),
                 opt: rng.chance(0.5) ? leaf() : nil,
                 grid: (0..<rng.int(0...3)).map { _ in (0..<rng.int(0...3)).map { _ in rng.chance(0.3) ? nil : rng.int(0...9) } },
                 data: Data((0..<rng.int(0...10)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }),
                 date: Date(timeIntervalSinceReferenceDate: double()),
                 url: rng.chance(0.5) ? URL(string: "https://example.com/\(rng.int(0...99))/x?q=\(rng.int(0...9))") : nil,
                 byInt: Dictionary((0..<rng.int(0...3)).map { _ in (rng.int(-50...50), string()) }, uniquingKeysWith: { a, _ in a }),
                 amount: Decimal(string: rng.pick(["0", "1.5", "-12.25", "123456789.000001", "1e-10"]))!,
                 flags: Set((0..<rng.int(0...3)).map { _ in key() }),
                 tuple: Pair(left: (0..<rng.int(0...3)).map { _ in string() },
                             right: Dictionary((0..<rng.int(0...2)).map { _ in (key(), [double()]) }, uniquingKeysWith: { a, _ in a })))
        }
    }

    @Test func generatedValuesMatchFoundation() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var gen = Gen(rng: SplitMix64(seed: seed))
        for n in 0..<300 {
            let value = gen.node(depth: n % 4)
            let result = try StreamingJSONEncoder.stream(value)
            guard case .bytes(let ours) = result else {
                Issue.record("seed \(seed) value \(n): fell back to Foundation")
                continue
            }
            let theirs = try JSONEncoder().encode(value)
            let decoded = try JSONDecoder().decode(Node.self, from: Data(ours))
            #expect(decoded == value, "seed \(seed) value \(n)")
            #expect(try JSONDecoder().decode(Node.self, from: theirs) == value, "seed \(seed) value \(n)")
            let oursText = String(decoding: ours, as: UTF8.self)
            let theirsText = String(decoding: theirs, as: UTF8.self)
            #expect(try canonicalJSON(oursText) == canonicalJSON(theirsText), "seed \(seed) value \(n)")
            #expect(ours.count == theirs.count, "seed \(seed) value \(n): same bytes up to key order")
        }
    }

    /// Arrays of scalars go through the writer's direct paths (`writeKnown`); mixed with Optionals, which do not.
    @Test func scalarArraysMatchFoundationExactly() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var gen = Gen(rng: SplitMix64(seed: seed))
        for _ in 0..<100 {
            let ints = (0..<gen.rng.int(0...8)).map { _ in Int(bitPattern: UInt(gen.rng.next())) }
            let strings = (0..<gen.rng.int(0...8)).map { _ in gen.string() }
            let doubles = (0..<gen.rng.int(0...8)).map { _ in gen.double() }
            let optionals = (0..<gen.rng.int(0...8)).map { _ in gen.rng.chance(0.5) ? gen.string() : nil }
            let bools = (0..<gen.rng.int(0...8)).map { _ in gen.rng.chance(0.5) }
            #expect(try streamed(ints) == foundation(ints), "seed \(seed)")
            #expect(try streamed(strings) == foundation(strings), "seed \(seed)")
            #expect(try streamed(doubles) == foundation(doubles), "seed \(seed)")
            #expect(try streamed(optionals) == foundation(optionals), "seed \(seed)")
            #expect(try streamed(bools) == foundation(bools), "seed \(seed)")
        }
    }
}
