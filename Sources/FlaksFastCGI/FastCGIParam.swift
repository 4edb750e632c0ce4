/// One name-value pair of the PARAMS stream (a CGI/1.1 environment variable, RFC 3875 §4.1),
/// or of GET_VALUES / GET_VALUES_RESULT.
///
/// Names and values are bytes: FastCGI carries them as opaque octets (spec §3.4), and php-fpm
/// takes them as they come. Building the environment itself is `CGIEnvironment`'s job
/// (FlaksHandlers); this type only carries and encodes the result.
public struct FastCGIParam: Sendable, Equatable {
    public var name: [UInt8]
    public var value: [UInt8]

    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.name = Array(name.utf8)
        self.value = Array(value.utf8)
    }

    /// The largest name or value length the 4-byte form can carry (31 bits, spec §3.4).
    public static let maxLength = 0x7fff_ffff

    /// Bytes this pair takes in a PARAMS stream: a 1-byte length for 0...127, else 4 bytes,
    /// for the name and for the value, then both (spec §3.4).
    public var encodedLength: Int {
        Self.lengthFieldSize(name.count) + Self.lengthFieldSize(value.count) + name.count + value.count
    }

    /// 1 for lengths below 128, else 4 (spec §3.4: the 4-byte form has the high bit of its first byte set).
    @inlinable
    public static func lengthFieldSize(_ length: Int) -> Int { length < 128 ? 1 : 4 }

    /// Appends `nameLength valueLength name value` (spec §3.4).
    /// - Precondition: name and value are at most `maxLength` bytes (the encoder checks far smaller limits first).
    public func append(to out: inout [UInt8]) {
        Self.appendLength(name.count, to: &out)
        Self.appendLength(value.count, to: &out)
        out.append(contentsOf: name)
        out.append(contentsOf: value)
    }

    static func appendLength(_ length: Int, to out: inout [UInt8]) {
        precondition(length >= 0 && length <= maxLength, "FastCGI name-value length out of range")
        if length < 128 {
            out.append(UInt8(length))
        } else {
            out.append(UInt8(truncatingIfNeeded: length >> 24) | 0x80)
            out.append(UInt8(truncatingIfNeeded: length >> 16))
            out.append(UInt8(truncatingIfNeeded: length >> 8))
            out.append(UInt8(truncatingIfNeeded: length))
        }
    }

    /// Decodes a complete sequence of name-value pairs (the content of GET_VALUES_RESULT, or a
    /// whole PARAMS stream). Strict: a length or a name/value that runs past the end is
    /// `.malformedNameValuePairs`. The 4-byte form is accepted also for lengths below 128.
    public static func decodePairs(_ bytes: UnsafeRawBufferPointer) throws(FastCGIError) -> [FastCGIParam] {
        var pairs: [FastCGIParam] = []
        var i = 0
        while i < bytes.count {
            let nameLength = try readLength(bytes, &i)
            let valueLength = try readLength(bytes, &i)
            guard nameLength <= bytes.count - i, valueLength <= bytes.count - i - nameLength else {
                throw .malformedNameValuePairs
            }
            let name = Array(bytes[i..<(i + nameLength)])
            i += nameLength
            let value = Array(bytes[i..<(i + valueLength)])
            i += valueLength
            pairs.append(FastCGIParam(name: name, value: value))
        }
        return pairs
    }

    static func readLength(_ bytes: UnsafeRawBufferPointer, _ i: inout Int) throws(FastCGIError) -> Int {
        guard i < bytes.count else { throw .malformedNameValuePairs }
        let b0 = bytes[i]
        if b0 < 0x80 {
            i += 1
            return Int(b0)
        }
        guard bytes.count - i >= 4 else { throw .malformedNameValuePairs }
        let length = Int(b0 & 0x7f) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
        i += 4
        return length
    }
}

extension FastCGIParam {
    /// PARAMS from name/value strings, in the given order (php-fpm keeps the last of repeated names).
    public static func list(_ pairs: [FastCGIPair]) -> [FastCGIParam] {
        pairs.map { FastCGIParam($0.name, $0.value) }
    }

    /// PARAMS from a dictionary (e.g. `CGIEnvironment.metaVariables`), sorted by name so the
    /// bytes sent do not depend on hashing (stable for tests and captures).
    public static func list(_ variables: [String: String]) -> [FastCGIParam] {
        variables.keys.sorted().compactMap { key in variables[key].map { FastCGIParam(key, $0) } }
    }
}

/// A name and value as strings: the form the executor hands to `FastCGIEncoder.appendParams(pairs:)`
/// (and CGI's environment is built from). A struct, not a tuple: an array of tuples is destroyed
/// through the runtime's generic tuple code (~3,000 instructions per PHP request).
public struct FastCGIPair: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}
