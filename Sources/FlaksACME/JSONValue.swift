/// A JSON value (RFC 8259), the codec the ACME client uses for everything it sends and reads.
///
/// Why our own instead of Foundation's JSONSerialization/JSONDecoder: the JWK thumbprint
/// (RFC 7638 §3) and the JWS protected header must be serialized byte for byte as we say
/// (members in our order, no whitespace), which JSONSerialization does not promise; parsing must
/// be bounded against a hostile CA (nesting depth, counted work) and fuzzable under libFuzzer
/// without Foundation; and it keeps Foundation out of the server binary. It is about 250 lines.
///
/// Objects keep their members in order; a repeated name is kept, and lookup takes the last one
/// (the ECMAScript rule RFC 7515 §4 allows). Numbers keep their text (`intValue` reads it).
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// The number's text as it appeared (valid RFC 8259 number syntax).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// An object from name/value pairs, in this order.
    public static func object(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
        .object(pairs.map { JSONMember(name: $0.key, value: $0.value) })
    }

    /// An integer number.
    public static func int(_ v: Int) -> JSONValue { .number(String(v)) }

    /// The member `name` of an object (the last one if repeated); nil for a non-object.
    public subscript(name: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.name == name }?.value
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var isObject: Bool { if case .object = self { return true } else { return false } }
    /// The number as an Int when it is an integer that fits (no fraction or exponent).
    public var intValue: Int? { if case .number(let n) = self { return Int(n) } else { return nil } }

    /// Compact UTF-8 serialization: no whitespace, members in stored order, strings escaped as
    /// RFC 8259 §7 requires (quote, backslash, controls) and nothing else.
    public var serialized: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    /// `serialized` as a String.
    public var text: String { String(decoding: serialized, as: UTF8.self) }

    private func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .number(let n): out += Array(n.utf8)
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(m.name, into: &out)
                out.append(UInt8(ascii: ":"))
                m.value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    private static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(c >> 4)], hex[Int(c & 15)]]
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// One member of a JSON object.
public struct JSONMember: Sendable, Hashable {
    public var name: String
    public var value: JSONValue
    public init(name: String, value: JSONValue) { self.name = name; self.value = value }
}
