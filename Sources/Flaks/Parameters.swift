#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A type a route parameter or a query/form value converts to: `req.parameter("id", as: Int.self)`.
public protocol ParameterValue: Sendable {
    /// The value `text` spells, or nil when it is not one.
    init?(parameter text: String)
}

extension String: ParameterValue { public init?(parameter text: String) { self = text } }
extension Int: ParameterValue { public init?(parameter text: String) { self.init(text) } }
extension Int64: ParameterValue { public init?(parameter text: String) { self.init(text) } }
extension UInt: ParameterValue { public init?(parameter text: String) { self.init(text) } }
extension Double: ParameterValue {
    public init?(parameter text: String) {
        guard let v = Double(text), v.isFinite else { return nil }
        self = v
    }
}
extension Bool: ParameterValue {
    /// "true"/"1"/"yes"/"on" and "false"/"0"/"no"/"off", any case.
    public init?(parameter text: String) {
        switch text.lowercased() {
        case "true", "1", "yes", "on": self = true
        case "false", "0", "no", "off": self = false
        default: return nil
        }
    }
}
extension UUID: ParameterValue { public init?(parameter text: String) { self.init(uuidString: text) } }

/// The route parameters of a matched view, in pattern order (manifest mount parameters first).
/// Values are the decoded path segments, already checked by the pattern's converter.
public struct Parameters: Sendable {
    /// The name/value pairs in order.
    public let pairs: [(name: String, value: String)]

    public init(_ pairs: [(name: String, value: String)] = []) { self.pairs = pairs }

    /// The raw value of `name`, or nil.
    public subscript(name: String) -> String? {
        for p in pairs where p.name == name { return p.value }
        return nil
    }

    /// The value of `name` as `T`. The route's converter already checked the shape, so a failure
    /// means a value out of range (an `<int:>` beyond Int.max) or no such parameter: 404, as a
    /// URL that does not name anything.
    public func get<T: ParameterValue>(_ name: String, as type: T.Type = T.self) throws(HTTPError) -> T {
        guard let raw = self[name], let v = T(parameter: raw) else {
            throw HTTPError(.notFound, self[name] == nil ? "no route parameter \"\(name)\"" : "\(name) out of range")
        }
        return v
    }
}
