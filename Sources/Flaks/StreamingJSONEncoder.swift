#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Encodes `Encodable` values to JSON bytes in one forward pass, without Foundation's intermediate
/// tree: what `Response.json` uses when no `JSONEncoder` is given. See docs/json.md.
///
/// The output matches Foundation's `JSONEncoder()` with its default settings (compact; `/` escaped as
/// `\/`; doubles as `description` without a trailing ".0"; `Data` as base64, `URL` as its absolute
/// string, `Date` as seconds since 2001, `Decimal` as a number) except in two ways: object keys come
/// in the order `encode(to:)` writes them (Foundation's order follows its dictionary's hashing and
/// changes from one process to the next), and `Decimal.nan` throws instead of writing a bare `NaN`.
///
/// What one pass cannot write — a container used again after a later sibling started, a repeated key,
/// `codingPath` read below the top level, a non-finite float (to get Foundation's exact error) — makes
/// it encode the whole value with Foundation's `JSONEncoder` instead, so the result is still the same
/// JSON. Such a value's `encode(to:)` then runs twice.
public struct StreamingJSONEncoder: Sendable {
    public init() {}

    /// `value` as JSON bytes. Throws what `JSONEncoder().encode(value)` throws, and
    /// `EncodingError.invalidValue` for container misuse Foundation would trap on (a keyed container
    /// requested after an unkeyed one from the same encoder, two values in one single-value container),
    /// for `Decimal.nan`, and for nesting deeper than 511 arrays/objects (Foundation's limit too).
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        switch try Self.stream(value) {
        case .bytes(let bytes): return bytes
        case .needsFoundation: return Array(try JSONEncoder().encode(value))
        }
    }

    /// What the one-pass encoder made of a value.
    enum StreamResult: Equatable {
        case bytes([UInt8])
        /// Encode it with Foundation instead.
        case needsFoundation
    }

    /// The one-pass encoder alone: the bytes, or `.needsFoundation` where it gives up.
    static func stream<T: Encodable>(_ value: T) throws -> StreamResult {
        let writer = JSONStreamWriter.acquire()
        defer { writer.end() }
        do {
            if try writer.writeKnown(value) { return .bytes(writer.output()) }
            try value.encode(to: JSONStreamEncoderLevel(writer: writer, id: writer.rootID))
            try writer.finishRoot()
            return .bytes(writer.output())
        } catch {
            // A recorded failure wins over whatever the value's own code made of our error.
            switch writer.failure {
            case nil: throw error
            case .needsFoundation: return .needsFoundation
            case .invalid(let why):
                throw EncodingError.invalidValue(value, EncodingError.Context(codingPath: [], debugDescription: why))
            case .tooDeep:
                throw EncodingError.invalidValue(value, EncodingError.Context(
                    codingPath: [], debugDescription: "Unable to encode the given top-level value to JSON: nested deeper than \(JSONStreamWriter.maxContainerDepth) arrays/objects."))
            }
        }
    }
}
