/// The `Encoder` handed to one value's `encode(to:)`: a writer and the id of the value's slot.
/// A struct of two words, so passing it as `any Encoder` does not allocate.
struct JSONStreamEncoderLevel: Encoder {
    let writer: JSONStreamWriter
    let id: UInt64

    var codingPath: [any CodingKey] { writer.codingPath(id) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if writer.recordsKeyType && writer.recordedKeyType == nil { writer.recordedKeyType = ObjectIdentifier(Key.self) }
        return writer.keyedContainer(Key.self, frame: writer.openKeyed(id))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        JSONStreamUnkeyedContainer(writer: writer, id: writer.openUnkeyed(id))
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        JSONStreamSingleValueContainer(writer: writer, id: id)
    }
}

/// An object being written; every call first makes its frame the innermost (see `JSONStreamWriter`).
/// Its frame is `id`, or, in a box the writer reuses, `writer.cachedFrames[slot]`.
struct JSONStreamKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: JSONStreamWriter
    let fixedID: UInt64
    let slot: Int

    init(writer: JSONStreamWriter, id: UInt64, slot: Int) {
        self.writer = writer
        self.fixedID = id
        self.slot = slot
    }

    @inline(__always)
    var id: UInt64 { slot < 0 ? fixedID : writer.cachedFrames[slot] }

    var codingPath: [any CodingKey] { writer.codingPath(id) }

    @inline(__always)
    private func begin(_ key: Key) throws { try writer.beginKey(id, key.stringValue, Key.self) }

    mutating func encodeNil(forKey key: Key) throws { try begin(key); writer.writeNull() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try begin(key); writer.writeBool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { try begin(key); writer.writeString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try begin(key); try writer.writeDouble(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try begin(key); try writer.writeFloat(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); writer.writeInt(value) }
    mutating func encode(_ value: Int128, forKey key: Key) throws { try begin(key); writer.appendASCII(String(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); writer.writeUInt(value) }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { try begin(key); writer.appendASCII(String(value)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try begin(key); try writer.writeValue(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        writer.keyedContainer(NestedKey.self, frame: writer.openNested(id, key: key.stringValue, keyType: Key.self, .object))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        JSONStreamUnkeyedContainer(writer: writer, id: writer.openNested(id, key: key.stringValue, keyType: Key.self, .array))
    }

    /// Foundation's key for it: "super".
    mutating func superEncoder() -> any Encoder {
        JSONStreamEncoderLevel(writer: writer, id: writer.openNested(id, key: "super", keyType: Key.self, .slot))
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        JSONStreamEncoderLevel(writer: writer, id: writer.openNested(id, key: key.stringValue, keyType: Key.self, .slot))
    }
}

/// An array being written.
struct JSONStreamUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: JSONStreamWriter
    let id: UInt64

    var codingPath: [any CodingKey] { writer.codingPath(id) }
    var count: Int { writer.count(of: id) }

    @inline(__always)
    private func begin() throws { try writer.beginElement(id) }

    mutating func encodeNil() throws { try begin(); writer.writeNull() }
    mutating func encode(_ value: Bool) throws { try begin(); writer.writeBool(value) }
    mutating func encode(_ value: String) throws { try begin(); writer.writeString(value) }
    mutating func encode(_ value: Double) throws { try begin(); try writer.writeDouble(value) }
    mutating func encode(_ value: Float) throws { try begin(); try writer.writeFloat(value) }
    mutating func encode(_ value: Int) throws { try begin(); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int8) throws { try begin(); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int16) throws { try begin(); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int32) throws { try begin(); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int64) throws { try begin(); writer.writeInt(value) }
    mutating func encode(_ value: Int128) throws { try begin(); writer.appendASCII(String(value)) }
    mutating func encode(_ value: UInt) throws { try begin(); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { try begin(); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { try begin(); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { try begin(); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { try begin(); writer.writeUInt(value) }
    mutating func encode(_ value: UInt128) throws { try begin(); writer.appendASCII(String(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try begin(); try writer.writeValue(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        writer.keyedContainer(NestedKey.self, frame: writer.openNested(id, key: nil, keyType: Never.self, .object))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        JSONStreamUnkeyedContainer(writer: writer, id: writer.openNested(id, key: nil, keyType: Never.self, .array))
    }

    /// Foundation reserves the element's index now and fills it when the encoder is done; here the
    /// element is written in place, so it must be finished before the next element starts.
    mutating func superEncoder() -> any Encoder {
        JSONStreamEncoderLevel(writer: writer, id: writer.openNested(id, key: nil, keyType: Never.self, .slot))
    }
}

/// One value in its slot.
struct JSONStreamSingleValueContainer: SingleValueEncodingContainer {
    let writer: JSONStreamWriter
    let id: UInt64

    var codingPath: [any CodingKey] { writer.codingPath(id) }

    @inline(__always)
    private func begin() throws { try writer.beginSingle(id) }

    mutating func encodeNil() throws { try begin(); writer.writeNull() }
    mutating func encode(_ value: Bool) throws { try begin(); writer.writeBool(value) }
    mutating func encode(_ value: String) throws { try begin(); writer.writeString(value) }
    mutating func encode(_ value: Double) throws { try begin(); try writer.writeDouble(value) }
    mutating func encode(_ value: Float) throws { try begin(); try writer.writeFloat(value) }
    mutating func encode(_ value: Int) throws { try begin(); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int8) throws { try begin(); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int16) throws { try begin(); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int32) throws { try begin(); writer.writeInt(Int64(value)) }
    mutating func encode(_ value: Int64) throws { try begin(); writer.writeInt(value) }
    mutating func encode(_ value: Int128) throws { try begin(); writer.appendASCII(String(value)) }
    mutating func encode(_ value: UInt) throws { try begin(); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { try begin(); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { try begin(); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { try begin(); writer.writeUInt(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { try begin(); writer.writeUInt(value) }
    mutating func encode(_ value: UInt128) throws { try begin(); writer.appendASCII(String(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try begin(); try writer.writeValue(value) }
}
