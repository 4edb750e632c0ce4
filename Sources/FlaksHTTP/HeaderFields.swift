/// One header field as received or to be sent. The name keeps its original case.
public struct HeaderField: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) { self.name = name; self.value = value }
}

/// Ordered header fields; repeated names are kept in order (RFC 9110 §5.3).
/// Lookups compare names ASCII case-insensitively.
public struct HeaderFields: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [HeaderField]

    public init() { fields = [] }
    public init(_ fields: [HeaderField]) { self.fields = fields }
    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { HeaderField(name: $0.0, value: $0.1) }
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }
    public func makeIterator() -> IndexingIterator<[HeaderField]> { fields.makeIterator() }

    // Lookups are inlinable: they run several times per request in other modules, and inlined
    // they read the fields in place instead of copying (retaining) the array and each field.

    /// The position of the first field named `name`, or nil.
    @inlinable
    public func firstIndex(named name: String) -> Int? {
        for i in fields.indices where Self.equalsIgnoringCase(fields[i].name, name) { return i }
        return nil
    }

    /// The first value of `name`, or nil.
    @inlinable
    public subscript(name: String) -> String? {
        firstIndex(named: name).map { fields[$0].value }
    }

    /// Every value of `name`, in order.
    @inlinable
    public func values(_ name: String) -> [String] {
        var out: [String] = []
        for i in fields.indices where Self.equalsIgnoringCase(fields[i].name, name) { out.append(fields[i].value) }
        return out
    }

    @inlinable
    public func contains(_ name: String) -> Bool { firstIndex(named: name) != nil }

    /// Appends a field, keeping any existing ones of the same name.
    public mutating func add(_ name: String, _ value: String) {
        fields.append(HeaderField(name: name, value: value))
    }

    /// Replaces every field of `name` with one field.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append(HeaderField(name: name, value: value))
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { Self.equalsIgnoringCase($0.name, name) }
    }

    /// ASCII case-insensitive comparison of two header names.
    @inlinable
    public static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        let au = a.utf8, bu = b.utf8
        guard au.count == bu.count else { return false }
        if let r = au.withContiguousStorageIfAvailable({ pa in
            bu.withContiguousStorageIfAvailable { pb -> Bool in
                for i in 0..<pa.count where pa[i] != pb[i] {
                    if pa[i] | 0x20 != pb[i] | 0x20 || !((pa[i] | 0x20) >= 97 && (pa[i] | 0x20) <= 122) { return false }
                }
                return true
            }
        }), let r { return r }
        for (x, y) in zip(au, bu) where x != y {
            let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
            if lx != ly { return false }
        }
        return true
    }
}
